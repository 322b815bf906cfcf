// WorkQueue's Asio shell on one thread and in virtual time: driven by io_context::poll() and a
// ManualClock (the rules themselves: tests/unit/workqueue_test.cpp). Nothing here sleeps or reads
// wall time. The scenarios of client-go's queue_test.go, delaying_queue_test.go and
// rate_limiting_queue_test.go are marked "client-go".
#include "kcoro/workqueue.hpp"
#include "support/recording_metrics.hpp"

#include <doctest/doctest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
using kcoro::test::RecordingMetrics;

namespace {

using Queue = kcoro::WorkQueue<std::string>;

// Runs what is ready. An io_context that ran out of work stops, hence the restart.
void poll(asio::io_context& io) {
  io.restart();
  io.poll();
}

// The completion token for test coroutines: an escaped exception fails the test from poll().
const auto rethrow = [](std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
};

struct Fixture {
  asio::io_context io;
  std::shared_ptr<kcoro::ManualClock> clock = std::make_shared<kcoro::ManualClock>();
  std::shared_ptr<RecordingMetrics> metrics = std::make_shared<RecordingMetrics>();
  Queue q{io.get_executor(),
          Queue::Options{std::make_shared<kcoro::ExponentialRateLimiter<std::string>>(1ms, 1s),
                         metrics, clock}};

  // A consumer that takes `n` items (calling done on each) and records them.
  void consume(std::vector<std::string>& got, int n, bool* ended = nullptr) {
    asio::co_spawn(
        io,
        [&, n, ended]() -> asio::awaitable<void> {
          for (int i = 0; i < n; ++i) {
            auto item = co_await q.get();
            if (!item) break;
            got.push_back(*item);
            q.done(*item);
          }
          if (ended) *ended = true;
        },
        rethrow);
  }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "shell: a ready get() does not suspend") {
  std::vector<std::string> order;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::post(io, [&] { order.push_back("posted"); });
        q.add("a");
        auto item = co_await q.get();
        order.push_back("got " + *item);  // before the posted handler: no round trip
        q.done(*item);
      },
      rethrow);
  poll(io);
  CHECK(order == std::vector<std::string>{"got a", "posted"});
}

TEST_CASE_FIXTURE(Fixture, "shell: a waiting consumer is resumed by a post, on its executor") {
  asio::io_context other;  // the consumer's own context
  std::vector<std::string> got;
  asio::co_spawn(
      other,
      [&]() -> asio::awaitable<void> {
        auto item = co_await q.get();
        got.push_back(*item);
        q.done(*item);
      },
      rethrow);
  poll(other);  // suspended in get()
  q.add("a");
  CHECK(got.empty());  // not resumed inside add()
  poll(io);
  CHECK(got.empty());  // not on the queue's executor either
  poll(other);
  CHECK(got == std::vector<std::string>{"a"});
}

TEST_CASE_FIXTURE(Fixture, "shell: waiting consumers are served first come, first served") {
  std::vector<std::string> a, b;
  consume(a, 1);
  consume(b, 1);
  poll(io);
  q.add("x");
  q.add("y");
  poll(io);
  CHECK(a == std::vector<std::string>{"x"});
  CHECK(b == std::vector<std::string>{"y"});
}

TEST_CASE_FIXTURE(Fixture, "shell: shutdown wakes waiting consumers with nullopt") {
  std::vector<std::string> got;
  bool ended = false;
  consume(got, 10, &ended);
  poll(io);
  CHECK_FALSE(ended);
  q.shutdown();
  q.add("after shutdown");
  poll(io);
  CHECK(ended);
  CHECK(got.empty());
  CHECK(q.len() == 0);
}

TEST_CASE_FIXTURE(Fixture, "shell: get() hands out what was queued before shutdown, then nullopt") {
  q.add("a");
  q.add("b");
  q.shutdown();
  std::vector<std::string> got;
  bool ended = false;
  consume(got, 10, &ended);
  poll(io);
  CHECK(got == std::vector<std::string>{"a", "b"});
  CHECK(ended);
}

TEST_CASE_FIXTURE(Fixture, "shell: destroying the queue wakes waiting consumers") {
  bool ended = false;
  std::optional<std::optional<std::string>> result;
  {
    Queue local(io.get_executor());
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          result = co_await local.get();
          ended = true;
        },
        rethrow);
    poll(io);
  }
  poll(io);
  CHECK(ended);
  REQUIRE(result.has_value());
  CHECK_FALSE(result->has_value());
}

// client-go TestQueueDrainageUsingShutDownWithDrain and TestQueueDrainageUsing...WithDirtyItem.
TEST_CASE_FIXTURE(Fixture, "shell: shutdown_with_drain waits for the items in hand") {
  std::vector<std::string> steps;
  std::vector<std::string> held;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        q.add("foo");
        q.add("bar");
        held.push_back(*co_await q.get());
        held.push_back(*co_await q.get());
        q.add("foo");  // dirty while processing
      },
      rethrow);
  poll(io);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await q.shutdown_with_drain();
        steps.push_back("drained");
      },
      rethrow);
  poll(io);
  CHECK(steps.empty());
  CHECK(q.shutting_down());
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto none = co_await q.get();  // queue empty: shutting down
        steps.push_back(none ? "item" : "nullopt");
        q.done("bar");
        q.done("foo");  // foo is requeued: get() yields it again
        auto again = co_await q.get();
        steps.push_back(again ? *again : "nullopt");
        q.done(*again);
        auto end = co_await q.get();
        steps.push_back(end ? *end : "nullopt");
      },
      rethrow);
  poll(io);
  // The drain ends at the done() that leaves no item in hand (foo is requeued, as in client-go);
  // its completion is posted, so the running coroutine finishes first.
  CHECK(steps == std::vector<std::string>{"nullopt", "foo", "nullopt", "drained"});
}

// client-go TestForceQueueShutdownUsingShutDown and TestNoQueueDrainageUsingShutDown.
TEST_CASE_FIXTURE(Fixture, "shell: shutdown() ends a drain wait at once") {
  q.add("foo");
  bool drained = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto item = co_await q.get();
        CHECK(item == "foo");
        co_await q.shutdown_with_drain();
        drained = true;
      },
      rethrow);
  poll(io);
  CHECK_FALSE(drained);
  q.shutdown();
  poll(io);
  CHECK(drained);
  CHECK(q.processing_len() == 1);  // foo was never done
}

TEST_CASE_FIXTURE(Fixture, "shell: delayed items come out when virtual time reaches them") {
  std::vector<std::string> got;
  consume(got, 3);
  poll(io);
  q.add_after("late", 100ms);
  q.add_after("early", 50ms);
  q.add_after("early", 70ms);  // the earlier time stays
  CHECK(q.delayed_len() == 2);
  CHECK(clock->armed_alarms() == 1);
  clock->advance(49ms);
  poll(io);
  CHECK(got.empty());
  clock->advance(1ms);
  poll(io);
  CHECK(got == std::vector<std::string>{"early"});
  clock->advance(50ms);
  poll(io);
  CHECK(got == std::vector<std::string>{"early", "late"});
  q.add_after("now", 0ms);
  poll(io);
  CHECK(got == std::vector<std::string>{"early", "late", "now"});
  CHECK(clock->armed_alarms() == 0);
}

TEST_CASE_FIXTURE(Fixture, "shell: an earlier delay re-arms the alarm; shutdown drops delays") {
  q.add_after("a", 1s);
  q.add_after("b", 10ms);
  clock->advance(10ms);
  CHECK(q.len() == 1);
  clock->advance(990ms);
  CHECK(q.len() == 2);
  q.add_after("c", 1s);
  q.shutdown();
  CHECK(q.delayed_len() == 0);
  CHECK(clock->armed_alarms() == 0);
  clock->advance(1s);
  CHECK(q.len() == 2);
}

// client-go TestRateLimitingQueue, with an exponential limiter of 1 ms doubling to 1 s.
TEST_CASE_FIXTURE(Fixture, "shell: add_rate_limited, forget and num_requeues") {
  q.add_rate_limited("one");  // 1 ms
  q.add_rate_limited("one");  // 2 ms: the 1 ms retry stays
  CHECK(q.num_requeues("one") == 2);
  q.add_rate_limited("two");
  q.add_rate_limited("two");
  CHECK(q.delayed_len() == 2);
  clock->advance(1ms);
  CHECK(q.len() == 2);
  q.forget("one");
  CHECK(q.num_requeues("one") == 0);
  CHECK(q.num_requeues("two") == 2);
  CHECK(metrics->count("workqueue_retries_total") == 4);
}

TEST_CASE_FIXTURE(Fixture, "shell: a failing item with events arriving is retried at its backoff") {
  // The scenario of kubernetes #132805: an item fails every time, and events for it keep coming.
  // Each run is a failure, so runs must be spaced by the backoff (1, 2, 4, 8... ms), never sooner.
  std::vector<Queue::time_point> runs;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        while (auto item = co_await q.get()) {
          runs.push_back(clock->now());
          q.add(*item);  // an event during the attempt
          q.add_rate_limited(*item);
          q.done(*item);
        }
      },
      rethrow);
  q.add("x");
  poll(io);
  for (int ms = 0; ms < 40; ++ms) {
    q.add("x");  // an event every millisecond
    clock->advance(1ms);
    poll(io);
  }
  q.shutdown();
  poll(io);
  REQUIRE(runs.size() == 6);  // at 0, 1, 3, 7, 15, 31 ms
  for (std::size_t i = 1; i < runs.size(); ++i) {
    CHECK(runs[i] - runs[i - 1] == std::chrono::milliseconds(1 << (i - 1)));
  }
  CHECK(q.num_requeues("x") == 6);
}

TEST_CASE_FIXTURE(Fixture, "shell: a cancelled get() completes with operation_aborted") {
  asio::cancellation_signal sig;
  std::string outcome;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          auto item = co_await q.get();
          outcome = item ? *item : "nullopt";
        } catch (const boost::system::system_error& e) {
          outcome = e.code() == asio::error::operation_aborted ? "aborted" : "other";
        }
      },
      asio::bind_cancellation_slot(sig.slot(), rethrow));
  poll(io);
  sig.emit(asio::cancellation_type::terminal);
  poll(io);
  CHECK(outcome == "aborted");
  // Nothing lost: the next add goes to the next consumer.
  q.add("x");
  std::vector<std::string> got;
  consume(got, 1);
  poll(io);
  CHECK(got == std::vector<std::string>{"x"});
  sig.emit(asio::cancellation_type::terminal);  // late: nothing installed any more
  poll(io);
}

TEST_CASE_FIXTURE(Fixture, "shell: cancelling after the item was handed over delivers the item") {
  asio::cancellation_signal sig;
  std::string outcome;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          auto item = co_await q.get();
          outcome = item ? *item : "nullopt";
        } catch (const boost::system::system_error&) {
          outcome = "aborted";
        }
      },
      asio::bind_cancellation_slot(sig.slot(), rethrow));
  poll(io);
  q.add("x");                                   // handed to the consumer, completion posted
  sig.emit(asio::cancellation_type::terminal);  // too late: a no-op
  poll(io);
  CHECK(outcome == "x");
  CHECK(q.processing_len() == 1);
}

TEST_CASE_FIXTURE(Fixture, "shell: a cancelled drain wait completes with operation_aborted") {
  q.add("x");
  asio::cancellation_signal sig;
  std::string outcome;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await q.get();
        try {
          co_await q.shutdown_with_drain();
          outcome = "drained";
        } catch (const boost::system::system_error&) {
          outcome = "aborted";
        }
      },
      asio::bind_cancellation_slot(sig.slot(), rethrow));
  poll(io);
  sig.emit(asio::cancellation_type::terminal);
  poll(io);
  CHECK(outcome == "aborted");
}

TEST_CASE_FIXTURE(Fixture, "shell: unfinished-work gauges follow virtual time") {
  q.add("a");
  std::optional<std::string> got;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { got = co_await q.get(); }, rethrow);
  poll(io);
  clock->advance(2s);
  q.update_unfinished_work();
  CHECK(metrics->last["workqueue_unfinished_work_seconds"] == doctest::Approx(2.0));
  CHECK(metrics->last["workqueue_longest_running_processor_seconds"] == doctest::Approx(2.0));
  clock->advance(1s);
  q.done("a");
  CHECK(metrics->last["workqueue_work_duration_seconds"] == doctest::Approx(3.0));
}
