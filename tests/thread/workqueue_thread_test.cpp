// WorkQueue across threads: many producers and consumers, each consumer thread with its own
// io_context. Every test ends on a count of completed work (never on elapsed time) and then shuts
// the queue down, so termination is deterministic; run under ThreadSanitizer in CI.
#include "kcoro/workqueue.hpp"

#include <doctest/doctest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <future>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
using Queue = kcoro::WorkQueue<std::string>;

namespace {

// An io_context on its own thread, for the queue's timer.
struct TimerThread {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  ~TimerThread() {
    guard.reset();
    io.stop();
    thread.join();
  }
};

// Per-key bookkeeping: how often it was processed, and whether a worker holds it now.
struct Ledger {
  explicit Ledger(std::size_t n) : processed(n), busy(n) {}
  std::vector<std::atomic<int>> processed;
  std::vector<std::atomic<bool>> busy;
  std::atomic<int> overlaps{0};
  std::atomic<int> completed{0};
};

std::string key(int i) {
  return "namespace-" + std::to_string(i % 7) + "/obj-" + std::to_string(i);
}
int index_of(const std::string& k) {
  return std::stoi(k.substr(k.rfind('-') + 1));
}

// Runs `workers_per_thread` worker coroutines on each of `threads` threads until get() yields
// nullopt. `work` is called for every item between get() and done().
template <class Work>
void run_consumers(Queue& q, int threads, int workers_per_thread, Work work) {
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&q, workers_per_thread, &work] {
      asio::io_context io;
      for (int w = 0; w < workers_per_thread; ++w) {
        asio::co_spawn(
            io,
            [&q, &work]() -> asio::awaitable<void> {
              while (auto item = co_await q.get()) {
                work(*item);
                q.done(*item);
              }
            },
            asio::detached);
      }
      io.run();
    });
  }
  for (auto& t : pool)
    t.join();
}

}  // namespace

// client-go TestAddWhileProcessing, made exact: every key is added once by the producers and
// once more by the worker that first processes it (while processing), so each key must be
// processed exactly twice, never by two workers at once.
TEST_CASE("threads: every item processed exactly as often as required, never concurrently") {
  constexpr int kProducers = 4, kPerProducer = 500, kKeys = kProducers * kPerProducer;
  for (bool drain : {false, true}) {
    CAPTURE(drain);
    TimerThread timer;
    Queue q(timer.io.get_executor());
    Ledger ledger(kKeys);
    std::promise<void> drained;  // the queue must outlive shutdown_with_drain()'s coroutine
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&q, p] {
        for (int i = 0; i < kPerProducer; ++i)
          q.add(key(p * kPerProducer + i));
      });
    }
    auto work = [&](const std::string& k) {
      const int i = index_of(k);
      if (ledger.busy[i].exchange(true)) ledger.overlaps++;
      if (ledger.processed[i].fetch_add(1) == 0) q.add(k);  // dirty while processing
      ledger.busy[i].store(false);
      if (ledger.completed.fetch_add(1) + 1 == 2 * kKeys) {
        if (drain) {
          asio::co_spawn(timer.io, q.shutdown_with_drain(),
                         [&drained](std::exception_ptr) { drained.set_value(); });
        } else {
          q.shutdown();
        }
      }
    };
    run_consumers(q, 3, 4, work);
    for (auto& t : producers)
      t.join();
    if (drain) {
      REQUIRE(drained.get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    }
    CHECK(ledger.overlaps == 0);
    int wrong = 0;
    for (auto& n : ledger.processed)
      wrong += n.load() == 2 ? 0 : 1;
    CHECK(wrong == 0);
    CHECK(q.len() == 0);
    CHECK(q.processing_len() == 0);
  }
}

// client-go TestBasic: producers add the same keys over and over while workers run; every key
// is processed at least once after its last add, and never by two workers at once.
TEST_CASE("threads: repeated adds of the same keys are coalesced, never run concurrently") {
  constexpr int kProducers = 4, kRounds = 200, kKeys = 16;
  TimerThread timer;
  Queue q(timer.io.get_executor());
  Ledger ledger(kKeys);
  std::atomic<int> producers_left{kProducers};
  // After the producers end, one last add of every key is made ("final"); a key counts as settled
  // once a processing began after that add.
  std::vector<std::atomic<bool>> final_added(kKeys), settled(kKeys);
  std::atomic<int> settled_count{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r) {
        for (int k = 0; k < kKeys; ++k)
          q.add(key(k));
      }
      if (producers_left.fetch_sub(1) == 1) {
        for (int k = 0; k < kKeys; ++k) {
          final_added[k] = true;
          q.add(key(k));
        }
      }
    });
  }
  auto work = [&](const std::string& k) {
    const int i = index_of(k);
    if (ledger.busy[i].exchange(true)) ledger.overlaps++;
    const bool after_final = final_added[i].load();
    ledger.processed[i]++;
    ledger.busy[i].store(false);
    if (after_final && !settled[i].exchange(true) && settled_count.fetch_add(1) + 1 == kKeys) {
      q.shutdown();
    }
  };
  run_consumers(q, 2, 3, work);
  for (auto& t : producers)
    t.join();
  CHECK(ledger.overlaps == 0);
  CHECK(settled_count == kKeys);
  int total = 0;
  for (auto& n : ledger.processed)
    total += n.load();
  CHECK(total <= kProducers * kRounds * kKeys + kKeys);
}

// Delayed and rate-limited adds from many threads, on the steady clock with tiny delays: only the
// count of processed items is checked, never when they came.
TEST_CASE("threads: delayed and rate-limited items all come out") {
  constexpr int kProducers = 4, kPerProducer = 300, kKeys = kProducers * kPerProducer;
  TimerThread timer;
  Queue q(
      timer.io.get_executor(),
      Queue::Options{.rate_limiter =
                         std::make_shared<kcoro::ExponentialRateLimiter<std::string>>(1us, 1ms)});
  Ledger ledger(kKeys);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&q, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        const int k = p * kPerProducer + i;
        if (k % 3 == 0) {
          q.add_rate_limited(key(k));
        } else {
          q.add_after(key(k), std::chrono::microseconds(k % 200));
        }
      }
    });
  }
  auto work = [&](const std::string& k) {
    const int i = index_of(k);
    if (ledger.busy[i].exchange(true)) ledger.overlaps++;
    ledger.processed[i]++;
    ledger.busy[i].store(false);
    if (ledger.completed.fetch_add(1) + 1 == kKeys) q.shutdown();
  };
  run_consumers(q, 2, 2, work);
  for (auto& t : producers)
    t.join();
  CHECK(ledger.overlaps == 0);
  int wrong = 0;
  for (auto& n : ledger.processed)
    wrong += n.load() == 1 ? 0 : 1;
  CHECK(wrong == 0);
}

TEST_CASE("threads: shutdown releases consumers waiting on many threads") {
  TimerThread timer;
  Queue q(timer.io.get_executor());
  std::atomic<int> waiting{0};
  std::vector<std::thread> pool;
  std::atomic<int> ended{0};
  for (int t = 0; t < 4; ++t) {
    pool.emplace_back([&] {
      asio::io_context io;
      for (int w = 0; w < 3; ++w) {
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              waiting++;
              auto item = co_await q.get();
              CHECK_FALSE(item.has_value());
              ended++;
            },
            asio::detached);
      }
      io.run();
    });
  }
  // Shut down once every consumer has at least started its get(); those not yet suspended see the
  // shutdown on their fast path, the others are woken.
  while (waiting.load() < 12)
    std::this_thread::yield();
  q.shutdown();
  for (auto& t : pool)
    t.join();
  CHECK(ended == 12);
}

// Cancellation racing with adds from another thread: every item added is either delivered to a
// consumer or still in the queue afterwards.
TEST_CASE("threads: cancelled gets never lose an item") {
  constexpr int kItems = 2000;
  TimerThread timer;
  Queue q(timer.io.get_executor());
  std::atomic<int> delivered{0}, aborted{0}, started{0};
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::thread consumer([&] { io.run(); });
  std::thread producer([&] {
    for (int i = 0; i < kItems; ++i)
      q.add(key(i));
  });
  // On the consumer's executor: start a get() bound to a fresh signal, then cancel it right away
  // from a posted handler, many times over while the producer adds.
  for (int round = 0; round < 500; ++round) {
    asio::post(io, [&] {
      auto sig = std::make_shared<asio::cancellation_signal>();
      started++;
      asio::co_spawn(
          io,
          [&, sig]() -> asio::awaitable<void> {
            try {
              auto item = co_await q.get();
              if (item) {
                delivered++;
                q.done(*item);
              }
            } catch (const boost::system::system_error& e) {
              CHECK(e.code() == asio::error::operation_aborted);
              aborted++;
            }
          },
          asio::bind_cancellation_slot(sig->slot(), asio::detached));
      asio::post(io, [sig] { sig->emit(asio::cancellation_type::terminal); });
    });
  }
  producer.join();
  // Let every round finish, then count.
  std::atomic<bool> flushed{false};
  asio::post(io, [&] {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          while (delivered + aborted < 500) {
            co_await asio::post(io, asio::use_awaitable);
          }
          flushed = true;
        },
        asio::detached);
  });
  while (!flushed.load())
    std::this_thread::yield();
  guard.reset();
  q.shutdown();
  consumer.join();
  CHECK(delivered + aborted == 500);
  CHECK(static_cast<int>(q.len()) + delivered.load() == kItems);
}
