#include "kcoro/runtime.hpp"

#include "kcoro/error.hpp"
#include "transport/signal.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace kcoro {

namespace net = boost::asio;

namespace {

using Guard = net::executor_work_guard<net::io_context::executor_type>;
// Wakes one wait_for_stop(); thread-safe, so stop() may send from any thread.
using detail::Signal;

// An io_context whose pending work can be destroyed before any context is: handlers queued on
// one context often hold objects bound to another (a reflector's frame on the I/O context keeps
// an informer whose timer lives on the informer context). Shutting every context down first
// destroys those handlers while every service still exists.
class Context : public net::io_context {
 public:
  using net::execution_context::shutdown;
  using net::io_context::io_context;
};

// A context of its own, with the work guard that keeps its threads running while idle.
struct OwnContext {
  Context ctx;
  std::optional<Guard> guard;
  explicit OwnContext(int threads) : ctx(threads), guard(ctx.get_executor()) {}
};

// Runs a context until it stops; a handler that throws is logged, not fatal to the process.
void run_context(net::io_context& ctx, spdlog::logger& log) {
  for (;;) {
    try {
      ctx.run();
      return;
    } catch (...) {
      log.error("runtime: a handler threw: {}", exception_message(std::current_exception()));
    }
  }
}

// Hands the allocator's free pages back to the system. glibc keeps freed memory in its arenas
// (only the top of each heap shrinks on its own); malloc_trim(0) also releases the whole pages
// inside free chunks.
#if defined(__GLIBC__)
constexpr bool kTrims = true;
void trim_memory() {
  ::malloc_trim(0);
}
#else
constexpr bool kTrims = false;  // no trimmer thread is started: it would have nothing to do
void trim_memory() {}
#endif

}  // namespace

struct Runtime::Impl {
  RuntimeOptions opts;
  std::shared_ptr<spdlog::logger> log;
  Context io;
  std::unique_ptr<OwnContext> informers;                // null: the I/O context
  std::unique_ptr<OwnContext> workers;                  // null: the I/O context
  net::strand<net::io_context::executor_type> control;  // signals and the deadline
  net::signal_set signals;
  net::steady_timer deadline;
  std::optional<std::chrono::milliseconds> stop_delay;
  std::vector<std::thread> threads;
  std::thread trimmer;  // memory_trim_interval > 0: hands free memory back while run() runs
  bool ran = false;
  std::atomic<std::uint64_t> trims{0};

  std::mutex finish_mu;  // serialises finish()
  std::mutex mu;         // guards the three fields below
  bool stopping = false;
  std::vector<std::function<void()>> stop_fns;
  std::vector<std::shared_ptr<Signal>> waiters;
  std::condition_variable stopped_cv;  // with mu: wakes the trimmer at stop
  std::atomic<bool> stopped_flag{false};
  std::atomic<int> signal{0};

  explicit Impl(RuntimeOptions o)
      : opts(std::move(o)),
        log(opts.logger ? opts.logger : spdlog::default_logger()),
        io(std::max(1, opts.io_threads)),
        control(io.get_executor()),
        signals(control),
        deadline(control) {
    if (opts.io_threads < 1) throw std::invalid_argument("RuntimeOptions::io_threads must be >= 1");
    if (opts.informer_threads < 0 || opts.worker_threads < 0) {
      throw std::invalid_argument("RuntimeOptions: thread counts must not be negative");
    }
    if (opts.memory_trim_interval.count() < 0) {
      throw std::invalid_argument("RuntimeOptions::memory_trim_interval must not be negative");
    }
    if (opts.informer_threads > 0) informers = std::make_unique<OwnContext>(opts.informer_threads);
    if (opts.worker_threads > 0) workers = std::make_unique<OwnContext>(opts.worker_threads);
  }

  void stop() {
    std::vector<std::function<void()>> fns;
    std::vector<std::shared_ptr<Signal>> wake;
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      stopping = true;
      fns.swap(stop_fns);
      wake.swap(waiters);
    }
    stopped_cv.notify_all();
    stopped_flag.store(true);
    net::post(control, [this] {
      boost::system::error_code ec;
      signals.cancel(ec);
      deadline.cancel();
    });
    for (auto& fn : fns)
      run_callback(fn);
    for (auto& w : wake)
      w->try_send(boost::system::error_code{});
  }

  void run_callback(const std::function<void()>& fn) {
    try {
      fn();
    } catch (...) {
      log->error("runtime: a stop callback threw: {}", exception_message(std::current_exception()));
    }
  }

  // main is over: stop, and let every context run dry. Called from main's completion (on any
  // I/O thread), by run() once the I/O context returns, and by the destructor: serialised.
  void finish() {
    stop();
    std::lock_guard lock(finish_mu);
    io.stop();
    for (OwnContext* c : {informers.get(), workers.get()}) {
      if (!c) continue;
      c->guard.reset();
      c->ctx.stop();
    }
  }

  void join() {
    for (auto& t : threads)
      if (t.joinable()) t.join();
    threads.clear();
    if (trimmer.joinable()) trimmer.join();
  }

  // The trimmer's loop: until stop(), every memory_trim_interval.
  void trim_until_stopped() {
    std::unique_lock lock(mu);
    while (!stopped_cv.wait_for(lock, opts.memory_trim_interval, [this] { return stopping; })) {
      lock.unlock();
      const auto start = std::chrono::steady_clock::now();
      trim_memory();
      trims.fetch_add(1);
      log->debug("runtime: free memory handed back in {} us",
                 std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::steady_clock::now() - start)
                     .count());
      lock.lock();
    }
  }

  ~Impl() {
    for (OwnContext* c : {informers.get(), workers.get()})
      if (c) c->ctx.shutdown();
    io.shutdown();
  }
};

Runtime::Runtime(RuntimeOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}

Runtime::~Runtime() {
  impl_->finish();
  impl_->join();
}

net::any_io_executor Runtime::io_executor() const {
  return impl_->io.get_executor();
}
net::any_io_executor Runtime::informer_executor() const {
  return impl_->informers ? impl_->informers->ctx.get_executor() : impl_->io.get_executor();
}
net::any_io_executor Runtime::worker_executor() const {
  return impl_->workers ? impl_->workers->ctx.get_executor() : impl_->io.get_executor();
}
net::io_context& Runtime::io_context() noexcept {
  return impl_->io;
}

void Runtime::on_stop(std::function<void()> fn) {
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->stopping) {
      impl_->stop_fns.push_back(std::move(fn));
      return;
    }
  }
  impl_->run_callback(fn);
}

net::awaitable<void> Runtime::wait_for_stop() {
  auto w = std::make_shared<Signal>(co_await net::this_coro::executor, 1);
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) co_return;
    impl_->waiters.push_back(w);
  }
  boost::system::error_code ec;  // set when the context shuts down with the wait pending
  co_await w->async_receive(net::redirect_error(net::use_awaitable, ec));
}

void Runtime::stop() {
  impl_->stop();
}

bool Runtime::stopping() const noexcept {
  return impl_->stopped_flag.load();
}

void Runtime::stop_after(std::chrono::milliseconds delay) {
  impl_->stop_delay = delay;
}

int Runtime::stop_signal() const noexcept {
  return impl_->signal.load();
}

std::uint64_t Runtime::memory_trims() const noexcept {
  return impl_->trims.load();
}

int Runtime::run(net::awaitable<void> main) {
  Impl& s = *impl_;
  if (s.ran) throw std::logic_error("Runtime::run may be called once");
  s.ran = true;
  if (s.opts.handle_signals) {
    // SIGINT (Ctrl-C) and SIGTERM (the kubelet stopping the pod) stop the process cleanly.
    s.signals.add(SIGINT);
    s.signals.add(SIGTERM);
    s.signals.async_wait([&s](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      s.signal.store(signo);
      s.log->info("Received {}, shutting down", signo == SIGINT ? "SIGINT" : "SIGTERM");
      s.stop();
    });
  }
  if (s.stop_delay) {
    s.deadline.expires_after(*s.stop_delay);
    s.deadline.async_wait([&s](const boost::system::error_code& ec) {
      if (ec) return;
      s.log->info("Run time elapsed, shutting down");
      s.stop();
    });
  }
  int code = 0;
  net::co_spawn(s.io, std::move(main), [&s, &code](std::exception_ptr e) {
    if (e) {
      s.log->error("{}", exception_message(e));
      code = 1;
    }
    s.finish();
  });
  for (OwnContext* c : {s.informers.get(), s.workers.get()}) {
    if (!c) continue;
    const int n = c == s.informers.get() ? s.opts.informer_threads : s.opts.worker_threads;
    for (int i = 0; i < n; ++i)
      s.threads.emplace_back([c, &s] { run_context(c->ctx, *s.log); });
  }
  for (int i = 1; i < s.opts.io_threads; ++i)
    s.threads.emplace_back([&s] { run_context(s.io, *s.log); });
  if (kTrims && s.opts.memory_trim_interval.count() > 0)
    s.trimmer = std::thread([&s] { s.trim_until_stopped(); });
  run_context(s.io, *s.log);
  s.finish();
  s.join();
  return code;
}

}  // namespace kcoro
