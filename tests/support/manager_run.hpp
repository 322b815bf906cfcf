// Test support: a kcoro::Manager against the fake API server, run on a thread of its own.
#pragma once

#include "kcoro/manager.hpp"
#include "kcoro/testing/fake_apiserver.hpp"

#include "support/fake.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>

namespace kcoro::test {

using namespace std::chrono_literals;

/// Options for a Manager against `server`: no signal handlers, a metrics registry of its own.
inline ManagerOptions options_for(const testing::FakeApiServer& server) {
  ManagerOptions o;
  o.config = config_for(server);
  o.runtime.handle_signals = false;
  o.metrics = std::make_shared<MetricsRegistry>();
  o.graceful_shutdown_timeout = 5s;
  return o;
}

/// Polls `pred` every millisecond on the calling thread; false when `limit` passes first. For
/// effects of a manager running on another thread, where nothing can be awaited.
inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// Manager::run() on its own thread; finish() stops it and returns its exit code. Leaving the
/// scope early (a failed REQUIRE) stops and joins it too, so a test never hangs on it.
class Running {
 public:
  explicit Running(Manager& mgr)
      : mgr_(mgr), done_(std::async(std::launch::async, [&mgr] { return mgr.run(); })) {}
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;
  ~Running() {
    if (done_.valid()) {
      mgr_.stop();
      done_.wait();
    }
  }
  /// The exit code of run() once it returned by itself (e.g. a lost lease).
  int wait() {
    REQUIRE_MESSAGE(done_.wait_for(30s) == std::future_status::ready, "run() did not return");
    return done_.get();
  }
  int finish() {
    mgr_.stop();
    return wait();
  }

 private:
  Manager& mgr_;
  std::future<int> done_;
};

/// Set by the first caller of set() (a reconcile that got far enough); later calls do nothing.
class Reached {
 public:
  void set() {
    if (!set_.exchange(true)) promise_.set_value();
  }
  bool wait_for(std::chrono::milliseconds d) {
    return future_.wait_for(d) == std::future_status::ready;
  }

 private:
  std::promise<void> promise_;
  std::future<void> future_ = promise_.get_future();
  std::atomic<bool> set_{false};
};

}  // namespace kcoro::test
