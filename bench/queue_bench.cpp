// kcoro-bench queue: WorkQueue add/get/done cycles per second.
//
// One cycle is add(key), co_await get(), done(key). Measured on one thread (a coroutine loop on
// one io_context: every get() finds its item ready and must not suspend) and with 1, 2 and 4
// worker threads (each thread runs its own io_context and one worker coroutine doing the same
// cycle against the shared queue), for distinct keys (every add is new) and for repeated keys (a
// handful of keys shared by every worker: adds coalesce, gets may wait). Keys look like real
// namespace/name keys (longer than std::string's small buffer). Each run lasts --ms milliseconds.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bench.hpp"
#include "kcoro/workqueue.hpp"

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Queue = kcoro::WorkQueue<std::string>;

std::vector<std::string> make_keys(const std::string& prefix, std::size_t n) {
  std::vector<std::string> keys;
  keys.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    keys.push_back(prefix + "/pod-" + std::to_string(100000 + i));
  return keys;
}

// One coroutine, one thread: cycles per second.
double single_thread(const std::vector<std::string>& keys, std::chrono::milliseconds budget) {
  asio::io_context io;
  Queue q(io.get_executor());
  const std::size_t mask = keys.size() - 1;  // keys.size() is a power of two
  uint64_t cycles = 0;
  double seconds = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const auto start = Clock::now();
        for (;;) {
          for (int i = 0; i < 4096; ++i) {
            q.add(keys[cycles & mask]);
            auto item = co_await q.get();
            q.done(*item);
            ++cycles;
          }
          const auto now = Clock::now();
          if (now - start >= budget) {
            seconds = std::chrono::duration<double>(now - start).count();
            break;
          }
        }
      },
      asio::detached);
  io.run();
  return static_cast<double>(cycles) / seconds;
}

// `threads` worker threads against one queue: cycles per second.
double multi_thread(int threads, bool repeated, std::chrono::milliseconds budget) {
  asio::io_context queue_io;  // runs nothing: no delayed adds here
  Queue q(queue_io.get_executor());
  std::vector<std::vector<std::string>> keys;
  const auto shared = make_keys("default", 8);
  for (int t = 0; t < threads; ++t) {
    keys.push_back(repeated ? shared : make_keys("ns-" + std::to_string(t), 65536));
  }
  std::vector<uint64_t> cycles(threads, 0);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      asio::io_context io;
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            const auto& mine = keys[t];
            const std::size_t mask = mine.size() - 1;
            uint64_t n = 0;
            for (;;) {
              q.add(mine[n & mask]);
              auto item = co_await q.get();
              if (!item) break;
              q.done(*item);
              ++n;
            }
            cycles[t] = n;
          },
          asio::detached);
      ready++;
      while (!go.load())
        std::this_thread::yield();
      io.run();
    });
  }
  while (ready.load() < threads)
    std::this_thread::yield();
  const auto start = Clock::now();
  go = true;
  std::this_thread::sleep_for(budget);
  q.shutdown();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& th : pool)
    th.join();
  uint64_t total = 0;
  for (auto c : cycles)
    total += c;
  return static_cast<double>(total) / seconds;
}

}  // namespace

int kcoro_bench_queue(int argc, char** argv) {
  kcoro::bench::Args args(argc, argv);
  const bool json = args.flag("--json");
  const auto budget = std::chrono::milliseconds(args.get_size("--ms", 150));
  if (!args.ok()) return 2;

  const auto distinct = make_keys("default", 65536);
  const auto one = make_keys("default", 1);
  const double st_distinct = single_thread(distinct, budget);
  const double st_repeated = single_thread(one, budget);
  const int thread_counts[] = {1, 2, 4};
  double mt[3][2];
  for (int i = 0; i < 3; ++i) {
    mt[i][0] = multi_thread(thread_counts[i], false, budget);
    mt[i][1] = multi_thread(thread_counts[i], true, budget);
  }

  if (json) {
    std::printf(
        "{\"bench\":\"queue\",\"cycles_per_s_1thread\":%.0f,"
        "\"cycles_per_s_1thread_repeated\":%.0f",
        st_distinct, st_repeated);
    for (int i = 0; i < 3; ++i) {
      std::printf(
          ",\"cycles_per_s_%dworkers_distinct\":%.0f,\"cycles_per_s_%dworkers_repeated\":%.0f",
          thread_counts[i], mt[i][0], thread_counts[i], mt[i][1]);
    }
    std::printf(",\"run_ms\":%lld}\n", static_cast<long long>(budget.count()));
    return 0;
  }
  std::printf("WorkQueue add/get/done cycles per second (%lld ms per run)\n",
              static_cast<long long>(budget.count()));
  std::printf("%-34s %14s %14s\n", "", "distinct keys", "repeated keys");
  std::printf("%-34s %14.0f %14.0f\n", "1 thread, coroutine loop", st_distinct, st_repeated);
  for (int i = 0; i < 3; ++i) {
    std::printf("%d worker thread%-19s %14.0f %14.0f\n", thread_counts[i],
                thread_counts[i] == 1 ? "" : "s", mt[i][0], mt[i][1]);
  }
  return 0;
}
