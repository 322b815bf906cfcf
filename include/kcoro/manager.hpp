// kcoro/manager.hpp — everything a controller process runs, wired once: the Runtime, the Client,
// one shared cache, event recorders, /metrics and the probes, leader election, and the
// controllers built on them (controller-runtime's Manager and builder, kube-rs's Controller).
//
// Contract
// - Construction. `Manager(ManagerOptions)` finds the cluster configuration as controller-runtime
//   does (ManagerOptions::config if given, else `load`: --kubeconfig, $KUBECONFIG, in-cluster,
//   ~/.kube/config) and binds the endpoints, so a missing configuration, a malformed option or a
//   busy port throws here (std::invalid_argument, std::runtime_error, std::system_error), before
//   anything runs.
// - The cache. Every informer comes from one SharedInformerFactory: two controllers watching pods
//   share one informer. CacheOptions restricts it: `namespaces` (one informer per namespace, or
//   one for all), per-resource namespaces, label and field selectors and transforms (`by_object`,
//   controller-runtime's ByObject), a transform for every resource (after the managedFields cut,
//   then the resource's own), and a resync period for the controllers' handlers. Cluster-scoped
//   resources ignore namespaces.
// - Runnables. add(fn, needs_leader) registers a coroutine. Caches and runnables that do not need
//   the leader start on every replica, so a standby's cache is warm and a new leader reconciles at
//   once; controllers and leader-only runnables start when the lease is acquired (at once without
//   leader election). A runnable ends by returning; at stop its coroutine gets terminal
//   cancellation (its timers and requests fail with operation_aborted), and it may also poll
//   stopping() or await wait_for_stop(). A runnable or controller that throws stops the manager,
//   and run() reports it.
// - run() blocks: it starts the endpoints, the caches, the runnables, campaigns for the lease, and
//   waits for stop() (any thread), SIGINT or SIGTERM (RuntimeOptions::handle_signals), the end of
//   RuntimeOptions-style stop_after(), or a failure. It then stops in order: controllers (their
//   in-flight reconciles get graceful_shutdown_timeout, then are cancelled), runnables (the same
//   grace), the lease released, caches, event recorders (queued events written), endpoints.
//   It returns 0 after a clean stop, 1 when the lease was lost (another replica may already
//   lead: everything stops at once, as controller-runtime exits) or something failed (logged).
//   run() may be called once.
// - Endpoints. `metrics_bind_address` serves /metrics from `metrics`; `health_probe_bind_address`
//   serves /healthz, /livez (alive while running) and /readyz: ready once every cache synced, on
//   a standby replica too (a rollout must not wait for the lease). "0" serves nothing; port 0
//   picks a free port (metrics_port(), health_probe_port()). User checks may be added.
// - Controllers. controller(name) returns a ControllerBuilder; complete() registers the controller
//   (before run()). Its informers come from the shared cache, its EventRecorder is
//   recorder(name), its metrics go to `metrics`, its stop_timeout is graceful_shutdown_timeout.
// - Threads: the Manager's members may be called from any thread before run(); stop(),
//   stopping(), is_leader() and the ports at any time.
#pragma once

#include "kcoro/detail/asio_config.hpp"
#include "kcoro/client.hpp"
#include "kcoro/controller.hpp"
#include "kcoro/informer.hpp"
#include "kcoro/kubeconfig.hpp"
#include "kcoro/metrics.hpp"
#include "kcoro/metrics_server.hpp"
#include "kcoro/predicates.hpp"
#include "kcoro/runtime.hpp"
#include "kcoro/transform.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace spdlog {
class logger;
}

namespace kcoro {

class EventRecorder;
class Manager;

/// One resource's cache settings (controller-runtime's cache.ByObject).
struct ByObject {
  Resource resource;
  /// Replaces CacheOptions::namespaces for this resource; empty: CacheOptions::namespaces.
  std::vector<std::string> namespaces{};
  std::string label_selector{};
  std::string field_selector{};
  Transform transform{};                ///< after CacheOptions::transform
  std::size_t channel_capacity = 1024;  ///< InformerOptions::channel_capacity
  int64_t page_size = 500;              ///< the list's page size (ReflectorPolicyOptions)
};

struct CacheOptions {
  std::vector<std::string> namespaces{};  ///< DefaultNamespaces; empty: every namespace
  std::vector<ByObject> by_object{};
  Transform transform{};  ///< DefaultTransform: every cached object, after the managedFields cut
  /// SyncPeriod: the controllers' handlers get every cached object again this often (as an
  /// update of the object to itself); 0: never.
  std::chrono::milliseconds resync_period{0};
  /// Each watch asks the server to end it after a timeoutSeconds drawn from [min, max) (client-go's
  /// reflector: 5 to 10 minutes); the informer then resumes it from its last resourceVersion.
  /// A max at or below min gives every watch exactly min.
  std::chrono::seconds min_watch_timeout{300};
  std::chrono::seconds max_watch_timeout{600};
};

struct ManagerOptions {
  /// The cluster; when unset, found with `load` (load_cluster_config).
  std::optional<ClusterConfig> config{};
  LoadOptions load{};
  ClientOptions client{};
  /// Threads and signal handling (RuntimeOptions::logger defaults to `logger`).
  RuntimeOptions runtime{};
  std::string metrics_bind_address = "0";       ///< e.g. ":8080"; "0": no /metrics
  std::string health_probe_bind_address = "0";  ///< e.g. ":8081"; "0": no probes
  bool leader_election = false;
  std::string leader_election_namespace{};  ///< default: the configuration's namespace
  std::string leader_election_id{};         ///< the Lease's name; required with leader_election
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  bool leader_election_release_on_cancel = true;
  CacheOptions cache{};
  /// How long controllers' reconciles and runnables may take to finish once stopping.
  std::chrono::milliseconds graceful_shutdown_timeout{30000};
  std::shared_ptr<MetricsRegistry> metrics = MetricsRegistry::global();
  std::shared_ptr<spdlog::logger> logger{};  ///< default: spdlog's default logger
};

/// A coroutine the manager runs; see the contract.
using Runnable = std::function<boost::asio::awaitable<void>()>;

/// Builds a controller on a Manager (controller-runtime's builder):
///   mgr.controller("foo").for_(foos).owns(res::deployments).workers(2).complete(reconcile);
class ControllerBuilder {
 public:
  /// The reconciled resource: each event enqueues the object's own key. Exactly one.
  ControllerBuilder& for_(const Resource& r, Predicate predicate = {});
  /// Objects whose controller ownerReference names the For resource's group and kind enqueue
  /// that owner's key.
  ControllerBuilder& owns(const Resource& r, Predicate predicate = {});
  /// Each event enqueues the keys `map` returns.
  ControllerBuilder& watches(const Resource& r, MapFunc map, Predicate predicate = {});
  /// Cached for Context::get and list, without enqueuing anything.
  ControllerBuilder& reads(const Resource& r);
  /// The typed forms: the resource is T::resource() (a generated kind or a custom resource),
  ///   mgr.controller("foo").for_<Foo>().owns<api::apps::v1::Deployment>().complete(reconcile);
  /// and the reconciler reads typed objects with Context::get<T> and list<T>.
  template <class T>
  ControllerBuilder& for_(Predicate predicate = {}) {
    return for_(T::resource(), std::move(predicate));
  }
  template <class T>
  ControllerBuilder& owns(Predicate predicate = {}) {
    return owns(T::resource(), std::move(predicate));
  }
  /// `map` takes the Object, or the object decoded as T (`const T&`); one that does not decode
  /// as T enqueues nothing and is logged as an error (a handler must not throw).
  template <class T, class F>
  ControllerBuilder& watches(F map, Predicate predicate = {}) {
    if constexpr (std::is_invocable_v<F&, const Object&>) {
      return watches(T::resource(), MapFunc(std::move(map)), std::move(predicate));
    } else {
      static_assert(std::is_invocable_r_v<std::vector<Request>, F&, const T&>,
                    "watches<T>(map): map takes const T& or const Object& and returns "
                    "std::vector<Request>");
      auto log = opts_.logger ? opts_.logger : spdlog::default_logger();
      MapFunc typed = [map = std::move(map), log](const Object& o) -> std::vector<Request> {
        std::optional<T> t;
        try {
          t = o.as<T>();
        } catch (const std::exception& e) {
          log->error("watches<{}>: {} does not decode: {}", T::resource().kind, o.key(), e.what());
          return {};
        }
        return map(*t);
      };
      return watches(T::resource(), std::move(typed), std::move(predicate));
    }
  }
  template <class T>
  ControllerBuilder& reads() {
    return reads(T::resource());
  }
  /// A predicate every source applies (after its own).
  ControllerBuilder& with_event_filter(Predicate predicate);
  /// MaxConcurrentReconciles (default 1).
  ControllerBuilder& workers(int n);
  /// Any other option (queue, max_retries...); the manager's defaults are already set.
  ControllerBuilder& with_options(const std::function<void(ControllerOptions&)>& edit);
  /// Builds and registers the controller; throws std::logic_error without for_(), or once the
  /// manager runs. The Controller lives as long as the Manager.
  Controller& complete(Reconciler reconciler);
  /// The same for a reconciler that declares its typed reads,
  ///   awaitable<Result>(const Request&, Context&, Reads<Ts...>)
  /// (a lambda, a function object with one call operator, or a function pointer): throws
  /// std::logic_error naming the resources among Ts that no for_, owns, watches or reads caches.
  template <class F>
  requires requires { typename detail::reads_of<std::decay_t<F>>::type; }
  Controller& complete(F reconciler) {
    using R = typename detail::reads_of<std::decay_t<F>>::type;
    check_reads(R::resources());
    return complete(
        Reconciler([f = std::move(reconciler)](const Request& req, Context& ctx) mutable {
          return f(req, ctx, R(ctx));
        }));
  }

 private:
  friend class Manager;
  struct Watch {
    enum class Kind { for_, owns, watches, reads } kind;
    Resource resource;
    MapFunc map;
    Predicate predicate;
  };
  ControllerBuilder(Manager& mgr, std::string name);
  void check_reads(const std::vector<Resource>& reads) const;
  Manager& mgr_;
  ControllerOptions opts_;
  std::vector<Watch> watches_;
  std::optional<Predicate> filter_;
  bool completed_ = false;
};

class Manager {
 public:
  /// Throws as the contract says.
  explicit Manager(ManagerOptions options = {});
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  Client& client() noexcept;
  Runtime& runtime() noexcept;
  const ManagerOptions& options() const noexcept;

  /// The shared cache's informers for `r`: one per namespace the cache is restricted to for `r`,
  /// or one for all namespaces. Created on first request (started if the manager runs).
  std::vector<std::shared_ptr<Informer>> informers(const Resource& r);
  /// The same for a typed kind (T::resource()); read their stores typed with Store::get<T>.
  template <class T>
  std::vector<std::shared_ptr<Informer>> informers() {
    return informers(T::resource());
  }
  /// True once every informer created so far has synced.
  bool caches_synced() const;

  /// The EventRecorder for `component`, created on first request (written in the background
  /// while the manager runs; flushed at stop).
  EventRecorder& recorder(const std::string& component);

  ControllerBuilder controller(std::string name);
  void add(Runnable runnable, bool needs_leader = true);
  void add_health_check(std::string name, HealthCheck check);
  void add_ready_check(std::string name, HealthCheck check);

  /// Runs until stopped; see the contract. Returns the process exit code.
  int run();
  /// Stops run(); any thread, idempotent.
  void stop();
  bool stopping() const noexcept;
  /// Completes when stop() was called; any executor.
  boost::asio::awaitable<void> wait_for_stop();
  /// True while this replica holds the lease (always true without leader election once run()
  /// started the controllers).
  bool is_leader() const noexcept;
  /// The ports the endpoints listen on (0 when not served).
  uint16_t metrics_port() const noexcept;
  uint16_t health_probe_port() const noexcept;

  struct Impl;

 private:
  friend class ControllerBuilder;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kcoro
