// kcoro::Runtime: its contexts run on their own threads, and stop() — from any thread, from a
// signal or from a delay — reaches every callback and waiter once.
#include "kcoro/client.hpp"
#include "kcoro/leader_election.hpp"
#include "kcoro/metrics_server.hpp"
#include "kcoro/runtime.hpp"
#include "transport/signal.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

namespace net = boost::asio;
using kcoro::Runtime;
using kcoro::RuntimeOptions;
using kcoro::detail::Signal;
using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

// This process's resident memory, from /proc/self/statm.
long resident_bytes() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

// The id of the thread that runs a handler posted to `ex`.
net::awaitable<std::thread::id> thread_of(net::any_io_executor ex) {
  co_return co_await net::co_spawn(
      ex, []() -> net::awaitable<std::thread::id> { co_return std::this_thread::get_id(); },
      net::use_awaitable);
}

}  // namespace

TEST_CASE("runtime: I/O, informers and workers run on threads of their own by default") {
  Runtime rt;
  std::thread::id io, informer, worker;
  const int code = rt.run([&]() -> net::awaitable<void> {
    io = co_await thread_of(rt.io_executor());
    informer = co_await thread_of(rt.informer_executor());
    worker = co_await thread_of(rt.worker_executor());
  }());
  CHECK(code == 0);
  CHECK(io == std::this_thread::get_id());  // run() lends its thread to the I/O context
  CHECK(informer != io);
  CHECK(worker != io);
  CHECK(worker != informer);
}

TEST_CASE("runtime: one thread for everything is a valid configuration") {
  // The constructors' options are aggregates: designated initializers, the rest defaulted.
  static_assert(std::is_aggregate_v<RuntimeOptions>);
  static_assert(std::is_aggregate_v<kcoro::ClientOptions>);
  static_assert(std::is_aggregate_v<kcoro::LeaderElectionOptions>);
  static_assert(std::is_aggregate_v<kcoro::MetricsServerOptions>);
  Runtime rt({.informer_threads = 0, .worker_threads = 0});
  std::vector<std::thread::id> ids;
  CHECK(rt.run([&]() -> net::awaitable<void> {
    ids.push_back(co_await thread_of(rt.informer_executor()));
    ids.push_back(co_await thread_of(rt.worker_executor()));
  }()) == 0);
  CHECK(ids ==
        std::vector<std::thread::id>{std::this_thread::get_id(), std::this_thread::get_id()});
}

TEST_CASE(
    "runtime: stop from another thread runs each callback once, in order, and wakes waiters") {
  RuntimeOptions o;
  o.io_threads = 2;
  Runtime rt(o);
  std::mutex mu;
  std::vector<std::string> calls;
  rt.on_stop([&] {
    std::lock_guard lock(mu);
    calls.push_back("controller");
  });
  rt.on_stop([&] {
    std::lock_guard lock(mu);
    calls.push_back("informer");
  });
  std::atomic<bool> worker_woke{false};
  std::thread stopper;
  const int code = rt.run([&]() -> net::awaitable<void> {
    // A waiter on the worker context and one here; a thread outside the runtime stops it.
    // stop() wakes the waiters one after the other, so this one may resume before the worker's
    // is even woken: main waits for the worker's to say it woke (bounded, so a waiter that is
    // never woken fails the check instead of hanging the test).
    auto woke = std::make_shared<Signal>(rt.io_executor(), 1);
    net::co_spawn(
        rt.worker_executor(),
        [&, woke]() -> net::awaitable<void> {
          co_await rt.wait_for_stop();
          worker_woke = true;
          woke->try_send(boost::system::error_code{});
        },
        net::detached);
    stopper = std::thread([&] {
      rt.stop();
      rt.stop();  // idempotent
    });
    co_await rt.wait_for_stop();
    CHECK(rt.stopping());
    net::steady_timer deadline(co_await net::this_coro::executor, std::chrono::seconds(20));
    co_await (woke->async_receive(net::use_awaitable) || deadline.async_wait(net::use_awaitable));
  }());
  stopper.join();
  CHECK(code == 0);
  CHECK(calls == std::vector<std::string>{"controller", "informer"});
  CHECK(worker_woke.load());
  CHECK(rt.stop_signal() == 0);
  // Added after the stop: runs at once.
  bool late = false;
  rt.on_stop([&] { late = true; });
  CHECK(late);
}

TEST_CASE("runtime: stop_after ends a bounded run") {
  Runtime rt;
  rt.stop_after(20ms);
  bool stopped = false;
  rt.on_stop([&] { stopped = true; });
  CHECK(rt.run([&]() -> net::awaitable<void> { co_await rt.wait_for_stop(); }()) == 0);
  CHECK(stopped);
}

TEST_CASE("runtime: SIGTERM stops it cleanly and is reported") {
  Runtime rt;
  bool stopped = false;
  rt.on_stop([&] { stopped = true; });
  CHECK(rt.run([&]() -> net::awaitable<void> {
    ::raise(SIGTERM);  // caught by the runtime's signal set while run() is in progress
    co_await rt.wait_for_stop();
  }()) == 0);
  CHECK(stopped);
  CHECK(rt.stop_signal() == SIGTERM);
}

TEST_CASE("runtime: a main that throws is exit code 1, and a throwing callback is contained") {
  Runtime rt;
  rt.on_stop([] { throw std::runtime_error("callback failed"); });
  bool second = false;
  rt.on_stop([&] { second = true; });
  CHECK(rt.run([]() -> net::awaitable<void> {
    throw std::runtime_error("main failed");
    co_return;
  }()) == 1);
  CHECK(second);  // the stop at the end of run() reached every callback
  CHECK_THROWS_AS(rt.run([]() -> net::awaitable<void> { co_return; }()), std::logic_error);
}

TEST_CASE("runtime: work left behind by main does not keep run() going") {
  Runtime rt;
  CHECK(rt.run([&]() -> net::awaitable<void> {
    // A coroutine that would wait forever on each context.
    for (auto ex : {rt.io_executor(), rt.informer_executor(), rt.worker_executor()}) {
      net::co_spawn(
          ex,
          []() -> net::awaitable<void> {
            net::steady_timer forever(co_await net::this_coro::executor,
                                      net::steady_timer::time_point::max());
            co_await forever.async_wait(net::use_awaitable);
          },
          net::detached);
    }
    co_return;
  }()) == 0);
}

TEST_CASE("runtime: invalid thread counts and trim intervals are refused") {
  RuntimeOptions o;
  o.io_threads = 0;
  CHECK_THROWS_AS(Runtime{o}, std::invalid_argument);
  RuntimeOptions n;
  n.worker_threads = -1;
  CHECK_THROWS_AS(Runtime{n}, std::invalid_argument);
  RuntimeOptions t;
  t.memory_trim_interval = -1ms;
  CHECK_THROWS_AS(Runtime{t}, std::invalid_argument);
}

TEST_CASE("runtime: freed memory goes back to the system every memory_trim_interval") {
  RuntimeOptions o;
  o.memory_trim_interval = 10ms;
  Runtime rt(o);
  long resident_held = 0, resident_trimmed = 0;
  std::uint64_t trims = 0;
  CHECK(rt.run([&]() -> net::awaitable<void> {
    // 64 MiB of small blocks, each below the mmap threshold, so the heap holds them; all but the
    // last are freed. The last pins the top of the heap: free() alone returns nothing.
    constexpr std::size_t kBlock = 4096, kBlocks = 16384;
    std::vector<char*> blocks(kBlocks);
    bool allocated = true;
    for (auto& b : blocks) {
      b = static_cast<char*>(std::malloc(kBlock));
      if (b == nullptr) {
        allocated = false;
        break;
      }
      std::memset(b, 1, kBlock);
    }
    REQUIRE(allocated);
    volatile char touched = blocks[kBlocks / 2][kBlock - 1];  // the pages were written
    CHECK(touched == 1);
    // Measured while every block is held: a trim may run at any moment of the frees below, and
    // then part of what they free is gone before they end.
    resident_held = resident_bytes();
    for (std::size_t i = 0; i + 1 < kBlocks; ++i)
      std::free(blocks[i]);
    // Two trims later at least one ran wholly after the frees.
    const std::uint64_t before = rt.memory_trims();
    net::steady_timer tick(co_await net::this_coro::executor);
    for (int i = 0; i < 1000 && rt.memory_trims() < before + 2; ++i) {
      tick.expires_after(5ms);
      co_await tick.async_wait(net::use_awaitable);
    }
    trims = rt.memory_trims() - before;
    resident_trimmed = resident_bytes();
    std::free(blocks.back());
  }()) == 0);
#if defined(__GLIBC__)
  CHECK(trims >= 2);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // glibc's allocator (a sanitizer's has its own): the freed pages left the process.
  CHECK(resident_held - resident_trimmed > 32L << 20);
#endif
#else
  CHECK(trims == 0);  // nothing to trim with: no trimmer runs
#endif
}

TEST_CASE("runtime: a trim interval of zero never trims") {
  RuntimeOptions o;
  o.memory_trim_interval = 0ms;
  Runtime rt(o);
  rt.stop_after(50ms);
  CHECK(rt.run([&]() -> net::awaitable<void> { co_await rt.wait_for_stop(); }()) == 0);
  CHECK(rt.memory_trims() == 0);
}
