// kcoro/controller.hpp — informers' events to keys on a work queue, keys to reconciler runs.
//
// Contract
// - Sources. watches(informer) enqueues each notified object's own key; owns(informer, kind)
//   enqueues the key of the object's controlling owner of that kind (owner_request in
//   reconcile.hpp; for an update both the old and the new owner); watches(informer, map) enqueues
//   the keys `map` returns (for an update, of the old and the new object). Deletions count,
//   tombstones included (the informer hands over the last known object). A Predicate filters each
//   source. Sources are added before run(); their handlers run on the informer's handler executor
//   and only add keys to the queue, so events arriving before the workers start are kept.
// - Workers. run() starts the watched informers (Informer::start is idempotent), waits until all
//   have synced, then runs `workers` coroutines, each on its own strand of the controller's
//   executor (a thread pool runs them in parallel). A key is reconciled by at most one worker at a
//   time and keys added while it runs are coalesced into one more run after it (WorkQueue).
// - Reads. Context::get and list read the caches of the controller's sources (and of reads());
//   asking for anything else throws NotWatchedError, a terminal error naming the resource. A
//   reconciler that declares its typed reads (Reads<Ts...>) has them checked before it runs.
// - Reconciler. `awaitable<Result>(const Request&, Context&)`, any callable. It runs on its
//   worker's strand. Its answer, or a thrown exception (TerminalError: terminal; anything else:
//   error), goes through retry_policy() (reconcile.hpp): errors are retried with the queue's rate
//   limiter up to `max_retries` (default 5, as the seed controllers), then the key is dropped with
//   an error log line. The Context it gets lives for that one call.
// - Stop. stop() (any thread, idempotent) ends run(): the queue stops taking keys and handing out
//   new work at once; reconciles in flight may finish for `stop_timeout`, after which their
//   coroutines are cancelled (terminal cancellation through the worker's cancellation slot, so
//   the awaited operation, a timer or a Client request, fails with operation_aborted / cancelled);
//   run() returns once every worker has ended. A reconcile that ignores cancellation delays run()
//   until it returns. Stopping before run() makes run() return at once. run() may be called once.
//   A fatal sync error (Informer::wait_for_sync throws) is thrown from run().
// - Metrics (when `metrics` is set; the global registry by default), labelled controller=<name>:
//   controller_runtime_reconcile_total{result=success|error|requeue|requeue_after},
//   controller_runtime_reconcile_errors_total, controller_runtime_terminal_reconcile_errors_total,
//   controller_runtime_reconcile_time_seconds, controller_runtime_active_workers,
//   controller_runtime_max_concurrent_reconciles, and the queue's workqueue_* series (labels
//   controller and name), with the unfinished-work gauges refreshed every 500 ms while running.
// - Lifetimes. The controller keeps its own handle on the Client (a Client is a shared handle),
//   so the Client object passed in may go away first. The informers and the EventRecorder must
//   outlive the controller; the controller must outlive run(). Handlers left in an informer
//   after the controller is destroyed do nothing.
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include "kcoro/client.hpp"
#include "kcoro/informer.hpp"
#include "kcoro/label_selector.hpp"
#include "kcoro/metrics.hpp"
#include "kcoro/predicates.hpp"
#include "kcoro/reconcile.hpp"
#include "kcoro/workqueue.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <optional>
#include <vector>

namespace kcoro {

class EventRecorder;

/// An spdlog logger that starts every line with the key being reconciled ("ns/name: ...").
class KeyLogger {
 public:
  KeyLogger(std::shared_ptr<spdlog::logger> logger, std::string key)
      : logger_(std::move(logger)), key_(std::move(key)) {}

  template <class... A>
  void log(spdlog::level::level_enum lvl, spdlog::format_string_t<A...> fmt, A&&... args) const {
    if (!logger_->should_log(lvl)) return;
    logger_->log(lvl, "{}: {}", key_, fmt::format(fmt, std::forward<A>(args)...));
  }
  template <class... A>
  void debug(spdlog::format_string_t<A...> fmt, A&&... args) const {
    log(spdlog::level::debug, fmt, std::forward<A>(args)...);
  }
  template <class... A>
  void info(spdlog::format_string_t<A...> fmt, A&&... args) const {
    log(spdlog::level::info, fmt, std::forward<A>(args)...);
  }
  template <class... A>
  void warn(spdlog::format_string_t<A...> fmt, A&&... args) const {
    log(spdlog::level::warn, fmt, std::forward<A>(args)...);
  }
  template <class... A>
  void error(spdlog::format_string_t<A...> fmt, A&&... args) const {
    log(spdlog::level::err, fmt, std::forward<A>(args)...);
  }
  spdlog::logger& logger() const noexcept { return *logger_; }
  const std::string& key() const noexcept { return key_; }

 private:
  std::shared_ptr<spdlog::logger> logger_;
  std::string key_;
};

namespace detail {
struct ControllerState;
}

/// A reconciler asked the cache for a resource its controller does not watch or read (or for a
/// namespace its cache does not hold). Retrying cannot help: the key is dropped with this message.
class NotWatchedError : public TerminalError {
 public:
  using TerminalError::TerminalError;
};

/// What a reconciler may use during one call.
class Context {
 public:
  const Request& request() const noexcept { return request_; }
  Client& client() const noexcept;
  /// From the cache: the object `ns/name` of `r` (ns ignored for cluster-scoped resources), or
  /// nullptr when the cache has none. Throws NotWatchedError when no source caches `r` in `ns`.
  ObjectPtr get(const Resource& r, std::string_view ns, std::string_view name) const;
  /// From the cache: the objects of `r` in `ns` (empty: every cached namespace) whose labels
  /// match `selector`. Throws NotWatchedError when no source caches `r` (in `ns`).
  std::vector<ObjectPtr> list(const Resource& r, std::string_view ns = {},
                              const LabelSelector& selector = {}) const;
  /// Typed reads (a generated kind or a custom resource, from T::resource()): get and list as
  /// above, each object decoded with Object::as<T>() (the cache stays JSON; each call decodes),
  /// with apiVersion and kind filled from T::resource() when the cached text lacks them (list
  /// items do), so the result can be written back. Throws api::DecodeError when one does not fit.
  template <class T>
  std::optional<T> get(std::string_view ns, std::string_view name) const {
    ObjectPtr o = get(T::resource(), ns, name);
    if (!o) return std::nullopt;
    return typed<T>(*o);
  }
  template <class T>
  std::vector<T> list(std::string_view ns = {}, const LabelSelector& selector = {}) const {
    std::vector<T> out;
    for (const ObjectPtr& o : list(T::resource(), ns, selector))
      out.push_back(typed<T>(*o));
    return out;
  }
  /// The store of the first source watching `r`; throws NotWatchedError if none does.
  std::shared_ptr<const Store> store(const Resource& r) const;
  /// The store of the first source whose resource plural ("pods", "foos") is `name`; throws
  /// NotWatchedError if none is.
  std::shared_ptr<const Store> store(std::string_view name) const;
  const KeyLogger& log() const noexcept { return log_; }
  /// ControllerOptions::recorder; nullptr when none was given.
  EventRecorder* recorder() const noexcept;
  /// Failures on record for this key (0 on a first attempt).
  int retries() const noexcept { return retries_; }

  Context(const detail::ControllerState& st, Request req, KeyLogger log, int retries)
      : st_(st), request_(std::move(req)), log_(std::move(log)), retries_(retries) {}

 private:
  template <class T>
  static T typed(const Object& o) {
    T t = o.as<T>();
    if (!t.apiVersion) t.apiVersion = T::resource().api_version();
    if (!t.kind) t.kind = T::resource().kind;
    return t;
  }
  const detail::ControllerState& st_;
  Request request_;
  KeyLogger log_;
  int retries_;
};

/// The typed reads a reconciler declares, checked twice: a get or list of a type not among `Ts`
/// does not compile, and ControllerBuilder::complete throws std::logic_error, when the controller
/// is built, if one of `Ts` is not cached for it (for_, owns, watches or reads). So an undeclared
/// read is never found in the middle of a reconcile. A reconciler taking one as its third
/// parameter gets it built on its Context:
///   mgr.controller("foo").for_<Foo>().owns<Deployment>().complete(
///       [](const Request& req, Context& ctx, Reads<Foo, Deployment> cache) -> awaitable<Result> {
///         std::optional<Foo> foo = cache.get<Foo>(req.ns, req.name);  // cache.get<Secret>: error
///         ...
///       });
/// A Reads is a view of the Context it was made from and lives as long as it (one reconcile).
template <class... Ts>
class Reads {
 public:
  explicit Reads(const Context& ctx) noexcept : ctx_(&ctx) {}

  /// The reconciler declared T among Ts: the constraint of get and list.
  template <class T>
  static constexpr bool declares = (std::is_same_v<T, Ts> || ...);

  /// Context::get<T>, for a T among Ts.
  template <class T>
  requires declares<T> std::optional<T> get(std::string_view ns, std::string_view name)
  const { return ctx_->get<T>(ns, name); }
  /// Context::list<T>, for a T among Ts.
  template <class T>
  requires declares<T> std::vector<T> list(std::string_view ns = {},
                                           const LabelSelector& selector = {})
  const { return ctx_->list<T>(ns, selector); }
  /// The resources of Ts, in order.
  static std::vector<Resource> resources() { return {Ts::resource()...}; }

 private:
  const Context* ctx_;
};

using Reconciler = std::function<boost::asio::awaitable<Result>(const Request&, Context&)>;

namespace detail {
// The Reads<Ts...> a reconciler's call operator takes as its third parameter (no `type` if none).
template <class Call>
struct reads_param {};
template <class C, class R, class... Ts>
struct reads_param<R (C::*)(const Request&, Context&, Reads<Ts...>)> {
  using type = Reads<Ts...>;
};
template <class C, class R, class... Ts>
struct reads_param<R (C::*)(const Request&, Context&, Reads<Ts...>) const> {
  using type = Reads<Ts...>;
};
template <class R, class... Ts>
struct reads_param<R (*)(const Request&, Context&, Reads<Ts...>)> {
  using type = Reads<Ts...>;
};
template <class F, class = void>
struct reads_of : reads_param<F> {};
template <class F>
struct reads_of<F, std::void_t<decltype(&F::operator())>> : reads_param<decltype(&F::operator())> {
};
}  // namespace detail
/// Keys to enqueue for an object (watches(informer, map)).
using MapFunc = std::function<std::vector<Request>(const Object& obj)>;

struct ControllerOptions {
  std::string name = "controller";  ///< the `controller` label and the log prefix
  int workers = 1;                  ///< MaxConcurrentReconciles
  int max_retries = 5;              ///< errors retried per key; unlimited_retries: forever
  std::chrono::milliseconds stop_timeout{30000};  ///< grace for in-flight reconciles at stop
  /// The queue's rate limiter and clock (tests pass a ManualClock). If `queue.metrics` is empty
  /// and `metrics` is set, the controller fills it with the workqueue_* series.
  WorkQueue<std::string>::Options queue;
  /// Where the controller's series go; nullptr: no metrics.
  std::shared_ptr<MetricsRegistry> metrics = MetricsRegistry::global();
  /// Default: spdlog's default logger.
  std::shared_ptr<spdlog::logger> logger;
  /// Handed to reconcilers through Context::recorder().
  EventRecorder* recorder = nullptr;
  /// The sources' handlers get every cached object again this often (an update of the object to
  /// itself, client-go's resync); 0: never.
  std::chrono::milliseconds resync_period{0};
};

class Controller {
 public:
  /// Workers run on strands of `executor`, and the queue's delays on `executor` itself.
  Controller(Client& client, boost::asio::any_io_executor executor, Reconciler reconciler,
             ControllerOptions options = {});
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  /// Enqueues the key of each object `informer` notifies.
  Controller& watches(Informer& informer, Predicate predicate = {});
  /// Enqueues the key `map` returns for each object `informer` notifies.
  Controller& watches(Informer& informer, MapFunc map, Predicate predicate = {});
  /// Enqueues the key of the controlling owner of kind `owner_kind` of each notified object.
  Controller& owns(Informer& informer, std::string owner_kind, Predicate predicate = {});
  /// Enqueues the key of the controlling owner of each notified object when that owner is of
  /// `owner`'s API group and kind.
  Controller& owns(Informer& informer, const Resource& owner, Predicate predicate = {});
  /// Makes `informer`'s cache readable through Context::get and list, enqueuing nothing; run()
  /// starts it and waits for its sync like the others.
  Controller& reads(Informer& informer);

  /// Waits for the informers' sync, runs the workers until stop(); see the contract.
  boost::asio::awaitable<void> run();
  /// Ends run(); any thread, idempotent.
  void stop();

  /// Adds `key` to the queue by hand (e.g. periodic resyncs, tests).
  void enqueue(const Request& key);
  WorkQueue<std::string>& queue() noexcept;
  const ControllerOptions& options() const noexcept;

 private:
  std::shared_ptr<detail::ControllerState> st_;
};

}  // namespace kcoro
