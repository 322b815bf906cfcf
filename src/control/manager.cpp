// The Manager: one Runtime, Client and shared cache for every controller, with the endpoints,
// leader election and the stop order of manager.hpp's contract.
#include "kcoro/manager.hpp"

#include "kcoro/error.hpp"
#include "kcoro/event_recorder.hpp"
#include "kcoro/leader_election.hpp"
#include "transport/signal.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>

namespace kcoro {

namespace net = boost::asio;

namespace {

// Coroutines started together and awaited together: each on its own strand with a cancellation
// slot, so that cancel() can reach it from any thread.
class TaskGroup {
 public:
  explicit TaskGroup(net::any_io_executor ex) : ex_(std::move(ex)), done_(ex_, 1) {}

  /// Runs `task`; `on_end` gets its exception (or nullptr) on the task's strand.
  void spawn(net::awaitable<void> task, std::function<void(std::exception_ptr)> on_end) {
    auto strand = net::make_strand(ex_);
    auto cancel = std::make_shared<net::cancellation_signal>();
    {
      std::lock_guard lock(mu_);
      tasks_.push_back({strand, cancel});
    }
    ++live_;
    net::co_spawn(strand, std::move(task),
                  net::bind_cancellation_slot(
                      cancel->slot(), [this, on_end = std::move(on_end)](std::exception_ptr e) {
                        if (on_end) on_end(e);
                        if (--live_ == 0) done_.try_send(boost::system::error_code{});
                      }));
  }

  /// Terminal cancellation for every task still running.
  void cancel() {
    std::lock_guard lock(mu_);
    for (auto& t : tasks_)
      net::post(t.strand, [c = t.cancel] { c->emit(net::cancellation_type::terminal); });
  }

  /// Completes once every task spawned so far has ended.
  net::awaitable<void> wait() {
    while (live_.load() > 0)
      co_await done_.async_receive(net::use_awaitable);
  }

  int live() const noexcept { return live_.load(); }

 private:
  struct Task {
    net::strand<net::any_io_executor> strand;
    std::shared_ptr<net::cancellation_signal> cancel;
  };
  net::any_io_executor ex_;
  detail::Signal done_;
  std::atomic<int> live_{0};
  std::mutex mu_;
  std::vector<Task> tasks_;
};

std::string resource_key(const Resource& r) {
  return r.group + "/" + r.version + "/" + r.plural;
}

ClusterConfig find_config(const ManagerOptions& o) {
  if (o.config) return *o.config;
  return load_cluster_config(o.load);
}

RuntimeOptions runtime_options(const ManagerOptions& o, std::shared_ptr<spdlog::logger> logger) {
  RuntimeOptions r = o.runtime;
  if (!r.logger) r.logger = std::move(logger);
  return r;
}

}  // namespace

struct Manager::Impl {
  explicit Impl(ManagerOptions o)
      : opts(std::move(o)),
        logger(opts.logger ? opts.logger : spdlog::default_logger()),
        runtime(runtime_options(opts, logger)),
        client(runtime.io_executor(), find_config(opts), opts.client),
        factory(client, runtime.informer_executor(), runtime.io_executor()),
        controllers_group(runtime.io_executor()),
        runnables_group(runtime.io_executor()),
        background_group(runtime.io_executor()),
        endpoints_group(runtime.io_executor()) {
    if (opts.graceful_shutdown_timeout.count() < 0)
      throw std::invalid_argument("ManagerOptions::graceful_shutdown_timeout must be >= 0");
    if (opts.leader_election) {
      if (opts.leader_election_id.empty())
        throw std::invalid_argument("ManagerOptions::leader_election_id is required");
      LeaderElectionOptions lo;
      lo.lease_namespace = opts.leader_election_namespace.empty()
                               ? client.config().default_namespace
                               : opts.leader_election_namespace;
      lo.lease_name = opts.leader_election_id;
      lo.lease_duration = opts.lease_duration;
      lo.renew_deadline = opts.renew_deadline;
      lo.retry_period = opts.retry_period;
      lo.release_on_cancel = opts.leader_election_release_on_cancel;
      lo.metrics = opts.metrics;
      lo.logger = logger;
      // "<identity> became leader" on the Lease, as controller-runtime's elector records it.
      lo.recorder = &recorder(opts.leader_election_id);
      elector = std::make_unique<LeaderElector>(client, lo);  // throws on bad timings
    }
    if (opts.metrics_bind_address != "0") {
      MetricsServerOptions mo;
      mo.bind_address = opts.metrics_bind_address;
      mo.registry = opts.metrics ? opts.metrics : std::make_shared<MetricsRegistry>();
      mo.logger = logger;
      metrics_server = std::make_unique<MetricsServer>(runtime.io_executor(), mo);
    }
    if (opts.health_probe_bind_address != "0") {
      MetricsServerOptions po;
      po.bind_address = opts.health_probe_bind_address;
      po.registry = nullptr;
      po.logger = logger;
      probe_server = std::make_unique<MetricsServer>(runtime.io_executor(), po);
      probe_server->add_health_check("ping", [] { return std::nullopt; });
      probe_server->add_ready_check("caches", [this]() -> std::optional<std::string> {
        if (caches_synced()) return std::nullopt;
        return "caches not synced yet";
      });
    }
  }

  bool caches_synced() const {
    std::lock_guard lock(mu);
    for (const auto& [key, list] : informers)
      for (const auto& i : list)
        if (!i->has_synced()) return false;
    return true;
  }

  std::vector<std::shared_ptr<Informer>> informers_for(const Resource& r) {
    std::lock_guard lock(mu);
    auto& slot = informers[resource_key(r)];
    if (!slot.empty()) return slot;
    const CacheOptions& c = opts.cache;
    const ByObject* by = nullptr;
    for (const auto& b : c.by_object)
      if (b.resource == r) by = &b;
    std::vector<std::string> namespaces =
        by && !by->namespaces.empty() ? by->namespaces : c.namespaces;
    if (!r.namespaced || namespaces.empty()) namespaces = {""};
    for (const auto& ns : namespaces) {
      InformerOptions io;
      io.resource = r;
      io.ns = ns;
      if (by) {
        io.label_selector = by->label_selector;
        io.field_selector = by->field_selector;
        io.channel_capacity = by->channel_capacity;
        io.policy.page_size = by->page_size;
      }
      io.policy.min_watch_timeout = c.min_watch_timeout;
      io.policy.max_watch_timeout = c.max_watch_timeout;
      io.transform = compose(c.transform, by ? by->transform : Transform{});
      io.logger = logger;
      slot.push_back(factory.informer(std::move(io)));
    }
    return slot;
  }

  EventRecorder& recorder(const std::string& component) {
    std::lock_guard lock(mu);
    auto& slot = recorders[component];
    if (!slot) {
      EventRecorderOptions ro;
      ro.component = component;
      ro.logger = logger;
      slot = std::make_unique<EventRecorder>(client, ro);
      if (running) start_recorder(*slot);
    }
    return *slot;
  }

  void start_recorder(EventRecorder& r) { background_group.spawn(r.run(), failure_handler("")); }

  // Logs a failed task and stops the manager; `what` names it.
  std::function<void(std::exception_ptr)> failure_handler(std::string what) {
    return [this, what = std::move(what)](std::exception_ptr e) {
      if (!e) return;
      if (stopping() && is_cancellation(e)) return;
      logger->error("manager: {}{}failed: {}", what, what.empty() ? "" : " ", exception_message(e));
      failed = true;
      runtime.stop();
    };
  }

  static bool is_cancellation(std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const boost::system::system_error& se) {
      return se.code() == net::error::operation_aborted;
    } catch (...) {
      return false;
    }
  }

  bool stopping() const noexcept { return runtime.stopping(); }

  // What starts once this replica leads: controllers, then the runnables that need the leader.
  void start_leader_work() {
    if (stopping()) return;
    leading = true;
    for (auto& c : controllers)
      controllers_group.spawn(c->run(), failure_handler("controller " + c->options().name));
    for (auto& r : runnables)
      if (r.needs_leader) runnables_group.spawn(r.fn(), failure_handler("runnable"));
  }

  net::awaitable<void> campaign() {
    logger->info("manager: waiting to lead: lease {} as {}", opts.leader_election_id,
                 elector->identity());
    const bool won = co_await elector->acquire();
    if (!won || stopping()) co_return;  // stopped before leading
    logger->info("manager: leading: starting controllers");
    start_leader_work();
    const LeadershipEnd end = co_await elector->hold();
    if (end == LeadershipEnd::lost && !stopping()) {
      logger->error("manager: leader election lost");
      lost = true;
      leading = false;
      runtime.stop();
    }
    leading = false;
  }

  net::awaitable<void> main() {
    using net::experimental::awaitable_operators::operator||;
    {
      std::lock_guard lock(mu);
      running = true;
      for (auto& [name, r] : recorders)
        start_recorder(*r);
    }
    for (auto* s : {metrics_server.get(), probe_server.get()})
      if (s) endpoints_group.spawn(s->run(), failure_handler("endpoint"));
    factory.start();  // every replica: a standby's cache is warm when it takes over
    for (auto& r : runnables)
      if (!r.needs_leader) runnables_group.spawn(r.fn(), failure_handler("runnable"));
    if (elector) {
      background_group.spawn(campaign(), failure_handler("leader election"));
    } else {
      start_leader_work();
    }

    co_await runtime.wait_for_stop();
    logger->info("manager: stopping");

    // 1. Controllers: no new work; in-flight reconciles get their stop_timeout (the grace).
    for (auto& c : controllers)
      c->stop();
    co_await controllers_group.wait();
    // 2. Runnables: cancelled, then awaited.
    runnables_group.cancel();
    if (runnables_group.live() > 0) {
      net::steady_timer grace(co_await net::this_coro::executor, opts.graceful_shutdown_timeout);
      auto first = co_await (runnables_group.wait() || grace.async_wait(net::use_awaitable));
      if (first.index() == 1) {
        logger->warn("manager: runnables still running {} ms after stop; waiting for them",
                     opts.graceful_shutdown_timeout.count());
        co_await runnables_group.wait();
      }
    }
    // 3. The lease, released now that nothing reconciles.
    if (elector) elector->stop();
    // 4. Caches; 5. the recorders write what they hold; 6. the endpoints.
    factory.stop();
    {
      std::lock_guard lock(mu);
      for (auto& [name, r] : recorders)
        r->stop();
    }
    co_await background_group.wait();
    // A campaign that won just as the stop came may have started controllers after step 1.
    co_await controllers_group.wait();
    runnables_group.cancel();
    co_await runnables_group.wait();
    for (auto* s : {metrics_server.get(), probe_server.get()})
      if (s) s->stop();
    co_await endpoints_group.wait();
    leading = false;
    logger->info("manager: stopped");
  }

  struct RunnableEntry {
    Runnable fn;
    bool needs_leader;
  };

  ManagerOptions opts;
  std::shared_ptr<spdlog::logger> logger;
  Runtime runtime;
  Client client;
  SharedInformerFactory factory;

  mutable std::mutex mu;  // informers, recorders, running
  std::map<std::string, std::vector<std::shared_ptr<Informer>>> informers;
  std::map<std::string, std::unique_ptr<EventRecorder>> recorders;
  bool running = false;

  std::unique_ptr<LeaderElector> elector;
  std::unique_ptr<MetricsServer> metrics_server;
  std::unique_ptr<MetricsServer> probe_server;
  std::vector<RunnableEntry> runnables;                  // before run() only
  std::vector<std::unique_ptr<Controller>> controllers;  // before run() only
  std::atomic<bool> started{false};
  std::atomic<bool> leading{false};
  std::atomic<bool> lost{false};
  std::atomic<bool> failed{false};

  // Declared last: destroyed first, while what their tasks use still exists.
  TaskGroup controllers_group;
  TaskGroup runnables_group;
  TaskGroup background_group;  // recorders, the campaign
  TaskGroup endpoints_group;
};

// --- ControllerBuilder ---------------------------------------------------------------------------

ControllerBuilder::ControllerBuilder(Manager& mgr, std::string name) : mgr_(mgr) {
  const ManagerOptions& mo = mgr.options();
  opts_.name = std::move(name);
  opts_.max_retries = unlimited_retries;  // controller-runtime and upstream: AddRateLimited
  opts_.stop_timeout = mo.graceful_shutdown_timeout;
  opts_.metrics = mo.metrics;
  opts_.logger = mgr.impl_->logger;
  opts_.resync_period = mo.cache.resync_period;
}

ControllerBuilder& ControllerBuilder::for_(const Resource& r, Predicate predicate) {
  watches_.push_back({Watch::Kind::for_, r, {}, std::move(predicate)});
  return *this;
}

ControllerBuilder& ControllerBuilder::owns(const Resource& r, Predicate predicate) {
  watches_.push_back({Watch::Kind::owns, r, {}, std::move(predicate)});
  return *this;
}

ControllerBuilder& ControllerBuilder::watches(const Resource& r, MapFunc map, Predicate predicate) {
  if (!map) throw std::invalid_argument("ControllerBuilder::watches: an empty map function");
  watches_.push_back({Watch::Kind::watches, r, std::move(map), std::move(predicate)});
  return *this;
}

ControllerBuilder& ControllerBuilder::reads(const Resource& r) {
  watches_.push_back({Watch::Kind::reads, r, {}, {}});
  return *this;
}

ControllerBuilder& ControllerBuilder::with_event_filter(Predicate predicate) {
  filter_ = filter_ ? std::move(*filter_) && std::move(predicate) : std::move(predicate);
  return *this;
}

ControllerBuilder& ControllerBuilder::workers(int n) {
  if (n < 1) throw std::invalid_argument("ControllerBuilder::workers: must be >= 1");
  opts_.workers = n;
  return *this;
}

ControllerBuilder& ControllerBuilder::with_options(
    const std::function<void(ControllerOptions&)>& edit) {
  edit(opts_);
  return *this;
}

void ControllerBuilder::check_reads(const std::vector<Resource>& reads) const {
  std::string missing;
  for (const Resource& r : reads) {
    const bool cached = std::any_of(watches_.begin(), watches_.end(),
                                    [&](const Watch& w) { return w.resource == r; });
    if (cached) continue;
    if (!missing.empty()) missing += ", ";
    missing += r.group.empty() ? r.plural : r.plural + "." + r.group;
  }
  if (!missing.empty()) {
    throw std::logic_error("controller " + opts_.name + ": the reconciler reads " + missing +
                           ", which the controller does not cache (add for_, owns, watches or "
                           "reads)");
  }
}

Controller& ControllerBuilder::complete(Reconciler reconciler) {
  const std::string& name = opts_.name;
  if (completed_) throw std::logic_error("controller " + name + ": complete() called twice");
  if (mgr_.impl_->started.load())
    throw std::logic_error("controller " + name + ": added after the manager started");
  const Watch* for_watch = nullptr;
  for (const auto& w : watches_) {
    if (w.kind != Watch::Kind::for_) continue;
    if (for_watch) throw std::logic_error("controller " + name + ": for_() given twice");
    for_watch = &w;
  }
  if (!for_watch) throw std::logic_error("controller " + name + ": for_() is required");
  if (!reconciler) throw std::invalid_argument("controller " + name + ": no reconciler");
  completed_ = true;
  if (!opts_.recorder) opts_.recorder = &mgr_.recorder(name);
  auto c = std::make_unique<Controller>(mgr_.client(), mgr_.runtime().worker_executor(),
                                        std::move(reconciler), opts_);
  for (const auto& w : watches_) {
    Predicate p = filter_ ? w.predicate && *filter_ : w.predicate;
    for (const auto& inf : mgr_.informers(w.resource)) {
      switch (w.kind) {
        case Watch::Kind::for_:
          c->watches(*inf, p);
          break;
        case Watch::Kind::owns:
          c->owns(*inf, for_watch->resource, p);
          break;
        case Watch::Kind::watches:
          c->watches(*inf, w.map, p);
          break;
        case Watch::Kind::reads:
          c->reads(*inf);
          break;
      }
    }
  }
  Controller& ref = *c;
  mgr_.impl_->controllers.push_back(std::move(c));
  return ref;
}

// --- Manager
// --------------------------------------------------------------------------------------

Manager::Manager(ManagerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Manager::~Manager() {
  // The controllers go first: their handlers sit in informers the factory owns.
  if (impl_) impl_->controllers.clear();
}

Client& Manager::client() noexcept {
  return impl_->client;
}

Runtime& Manager::runtime() noexcept {
  return impl_->runtime;
}

const ManagerOptions& Manager::options() const noexcept {
  return impl_->opts;
}

std::vector<std::shared_ptr<Informer>> Manager::informers(const Resource& r) {
  return impl_->informers_for(r);
}

bool Manager::caches_synced() const {
  return impl_->caches_synced();
}

EventRecorder& Manager::recorder(const std::string& component) {
  return impl_->recorder(component);
}

ControllerBuilder Manager::controller(std::string name) {
  return ControllerBuilder(*this, std::move(name));
}

void Manager::add(Runnable runnable, bool needs_leader) {
  if (impl_->started.load()) throw std::logic_error("Manager::add after run()");
  if (!runnable) throw std::invalid_argument("Manager::add: an empty runnable");
  impl_->runnables.push_back({std::move(runnable), needs_leader});
}

void Manager::add_health_check(std::string name, HealthCheck check) {
  if (impl_->probe_server) impl_->probe_server->add_health_check(std::move(name), std::move(check));
}

void Manager::add_ready_check(std::string name, HealthCheck check) {
  if (impl_->probe_server) impl_->probe_server->add_ready_check(std::move(name), std::move(check));
}

int Manager::run() {
  Impl& m = *impl_;
  if (m.started.exchange(true)) throw std::logic_error("Manager::run() called twice");
  const int code = m.runtime.run(m.main());
  if (m.lost.load()) return 1;
  if (m.failed.load()) return 1;
  return code;
}

void Manager::stop() {
  impl_->runtime.stop();
}

bool Manager::stopping() const noexcept {
  return impl_->runtime.stopping();
}

net::awaitable<void> Manager::wait_for_stop() {
  return impl_->runtime.wait_for_stop();
}

bool Manager::is_leader() const noexcept {
  return impl_->leading.load();
}

uint16_t Manager::metrics_port() const noexcept {
  return impl_->metrics_server ? impl_->metrics_server->port() : 0;
}

uint16_t Manager::health_probe_port() const noexcept {
  return impl_->probe_server ? impl_->probe_server->port() : 0;
}

}  // namespace kcoro
