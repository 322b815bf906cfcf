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
// - Memory. Every `memory_trim_interval` (default 30 s; 0: never) a thread of the runtime hands the
//   allocator's free pages back to the system (glibc's malloc_trim; with another C library no
//   such thread is started, and memory_trims() stays 0). A burst
//   of objects in flight (a relist, a full delta channel) otherwise leaves the process's RSS at
//   the burst's height for as long as it runs, as Go's scavenger exists to prevent. The trim
//   runs on a thread no executor runs on, but holds each allocator arena's lock while it walks
//   that arena's free chunks: measured 0.2 ms on a 12 MiB heap, 10-40 ms on 100-250 MiB heaps
//   whose free space is scattered in small chunks. Raise the interval, or set 0, where such a
//   pause of allocations every interval matters more than the memory.
// - The destructor stops and joins whatever still runs. Objects that use the executors
//   (informers, controllers, clients) must be destroyed before the Runtime or be stopped.
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace spdlog {
class logger;
}

namespace kcoro {

struct RuntimeOptions {
  int io_threads = 1;          ///< >= 1; run() lends its own thread as the first
  int informer_threads = 1;    ///< 0: informers run on the I/O context
  int worker_threads = 1;      ///< 0: workers run on the I/O context
  bool handle_signals = true;  ///< SIGINT and SIGTERM call stop()
  /// How often the allocator's free pages go back to the system (see the contract); 0: never.
  std::chrono::milliseconds memory_trim_interval{std::chrono::seconds(30)};
  /// Where the runtime logs signals, escaped exceptions and main's failure; default: spdlog's
  /// default logger.
  std::shared_ptr<spdlog::logger> logger{};
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

  /// How many times run() has handed free memory back to the system so far.
  std::uint64_t memory_trims() const noexcept;

  /// Runs `main`; see the contract. Blocks the calling thread.
  int run(boost::asio::awaitable<void> main);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kcoro
