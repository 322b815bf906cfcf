// kcoro/runtime.hpp — the executors and threads a controller process runs on, and its clean stop.
//
// Contract
// - A Runtime owns up to three execution contexts (ARCHITECTURE.md, "Threads"):
//   * the I/O context (`io_executor()`): the Client's sockets and the informers' reflectors;
//   * the informer context (`informer_executor()`): informers' consumer loops, the stores' single
//     writers, and handlers by default;
//   * the worker context (`worker_executor()`): controllers' workers (each on its own strand).
//   By default each has one thread. A count of 0 for informers or workers shares the I/O
//   context instead; {io 1, informers 0, workers 0} runs everything on the thread that calls
//   run(), a valid configuration too.
// - run(main) runs the coroutine `main` on the I/O context and blocks until it returns, with the
//   other contexts' threads running meanwhile. It returns 0, or 1 when `main` threw (the error is
//   logged). When `main` is over the contexts stop and their threads are joined: work left behind
//   (idle keep-alive connections, say) does not keep the process alive. run() may be called once.
// - Stop. stop() (any thread, idempotent; also SIGINT and SIGTERM when `handle_signals`, and the
//   delay given to stop_after()) calls the on_stop callbacks once, in the order they were added,
//   on the thread that stopped, and completes every wait_for_stop(). Callbacks stop controllers
//   and informers (both stop from any thread); `main` then winds down and returns.
// - The destructor stops and joins whatever still runs. Objects that use the executors
//   (informers, controllers, clients) must be destroyed before the Runtime or be stopped.
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace kcoro {

struct RuntimeOptions {
  // Not an aggregate on purpose: GCC 12 destroys aggregate temporaries inside co_await
  // expressions twice (GCC bug 100611).
  RuntimeOptions() {}
  int io_threads = 1;          ///< >= 1; run() lends its own thread as the first
  int informer_threads = 1;    ///< 0: informers run on the I/O context
  int worker_threads = 1;      ///< 0: workers run on the I/O context
  bool handle_signals = true;  ///< SIGINT and SIGTERM call stop()
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions opts = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  boost::asio::any_io_executor io_executor() const;
  boost::asio::any_io_executor informer_executor() const;
  boost::asio::any_io_executor worker_executor() const;
  /// The I/O context itself (for Asio objects that want one).
  boost::asio::io_context& io_context() noexcept;

  /// Adds a callback run once at stop(). Add before stop; one added later runs at once.
  void on_stop(std::function<void()> fn);
  /// Completes when stop() has been called (at once if it already was). Any executor.
  boost::asio::awaitable<void> wait_for_stop();
  /// Stops: see the contract. Any thread, idempotent.
  void stop();
  bool stopping() const noexcept;
  /// Calls stop() after `delay` of run() (a bounded run: demos, smoke tests).
  void stop_after(std::chrono::milliseconds delay);
  /// The signal that stopped the runtime, or 0.
  int stop_signal() const noexcept;

  /// Runs `main`; see the contract. Blocks the calling thread.
  int run(boost::asio::awaitable<void> main);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kcoro
