#include "kcoro/controller.hpp"
#include "transport/signal.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <array>
#include <atomic>
#include <stdexcept>

namespace kcoro {

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

using Queue = WorkQueue<std::string>;
using detail::Signal;

const std::vector<std::string> kControllerLabel{"controller"};

// controller-runtime's buckets for controller_runtime_reconcile_time_seconds.
std::vector<double> reconcile_time_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1,  0.15, 0.2,  0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6,
          0.7,   0.8,  0.9,   1.0,  1.25, 1.5,  1.75, 2.0,  2.5, 3.0,  3.5, 4.0,  4.5, 5,
          6,     7,    8,     9,    10,   15,   20,   25,   30,  40,   50,  60};
}

// The workqueue_* series of one controller's queue, labelled controller and name.
class RegistryQueueMetrics final : public QueueMetrics {
 public:
  RegistryQueueMetrics(MetricsRegistry& r, const std::string& controller) {
    const std::vector<std::string> labels{"controller", "name"};
    const LabelValues v{controller, controller};
    const auto buckets = exponential_buckets(10e-9, 10, 12);
    depth_ = &r.gauge(name(Gauge::depth), "Current depth of workqueue", labels, v);
    unfinished_ = &r.gauge(name(Gauge::unfinished_work_seconds),
                           "How many seconds of work has been done that is in progress and hasn't "
                           "been observed by work_duration.",
                           labels, v);
    longest_ = &r.gauge(name(Gauge::longest_running_processor_seconds),
                        "How many seconds has the longest running processor for workqueue been "
                        "running.",
                        labels, v);
    adds_ = &r.counter(name(Counter::adds_total), "Total number of adds handled by workqueue",
                       labels, v);
    retries_ = &r.counter(name(Counter::retries_total),
                          "Total number of retries handled by workqueue", labels, v);
    queue_duration_ = &r.histogram(name(Histogram::queue_duration_seconds),
                                   "How long in seconds an item stays in workqueue before being "
                                   "requested",
                                   labels, v, buckets);
    work_duration_ = &r.histogram(name(Histogram::work_duration_seconds),
                                  "How long in seconds processing an item from workqueue takes.",
                                  labels, v, buckets);
  }

  void set(Gauge g, double value) override {
    switch (g) {
      case Gauge::depth:
        return depth_->Set(value);
      case Gauge::unfinished_work_seconds:
        return unfinished_->Set(value);
      case Gauge::longest_running_processor_seconds:
        return longest_->Set(value);
    }
  }
  void inc(Counter c) override { (c == Counter::adds_total ? adds_ : retries_)->Increment(); }
  void observe(Histogram h, double seconds) override {
    (h == Histogram::queue_duration_seconds ? queue_duration_ : work_duration_)->Observe(seconds);
  }

 private:
  prometheus::Gauge* depth_;
  prometheus::Gauge* unfinished_;
  prometheus::Gauge* longest_;
  prometheus::Counter* adds_;
  prometheus::Counter* retries_;
  prometheus::Histogram* queue_duration_;
  prometheus::Histogram* work_duration_;
};

// controller_runtime_* series of one controller.
struct ReconcileMetrics {
  ReconcileMetrics(MetricsRegistry& r, const std::string& controller) {
    const LabelValues c{controller};
    const std::vector<std::string> with_result{"controller", "result"};
    const char* results[] = {"success", "error", "requeue", "requeue_after"};
    for (int i = 0; i < 4; ++i) {
      total[i] = &r.counter("controller_runtime_reconcile_total",
                            "Total number of reconciliations per controller", with_result,
                            {controller, results[i]});
    }
    errors =
        &r.counter("controller_runtime_reconcile_errors_total",
                   "Total number of reconciliation errors per controller", kControllerLabel, c);
    terminal = &r.counter("controller_runtime_terminal_reconcile_errors_total",
                          "Total number of terminal reconciliation errors per controller",
                          kControllerLabel, c);
    time = &r.histogram("controller_runtime_reconcile_time_seconds",
                        "Length of time per reconciliation per controller", kControllerLabel, c,
                        reconcile_time_buckets());
    active = &r.gauge("controller_runtime_active_workers",
                      "Number of currently used workers per controller", kControllerLabel, c);
    max_concurrent =
        &r.gauge("controller_runtime_max_concurrent_reconciles",
                 "Maximum number of concurrent reconciles per controller", kControllerLabel, c);
  }
  std::array<prometheus::Counter*, 4> total{};  // success, error, requeue, requeue_after
  prometheus::Counter* errors;
  prometheus::Counter* terminal;
  prometheus::Histogram* time;
  prometheus::Gauge* active;
  prometheus::Gauge* max_concurrent;
};

int result_index(Result::Kind k) {
  switch (k) {
    case Result::Kind::done:
      return 0;
    case Result::Kind::requeue:
      return 2;
    case Result::Kind::requeue_after:
      return 3;
    case Result::Kind::error:
    case Result::Kind::terminal:
      break;
  }
  return 1;
}

}  // namespace

namespace detail {

struct ControllerState {
  ControllerState(Client& c, net::any_io_executor e, Reconciler r, ControllerOptions o)
      : client(c),
        ex(std::move(e)),
        reconciler(std::move(r)),
        opts(std::move(o)),
        logger(opts.logger ? opts.logger : spdlog::default_logger()),
        stop_signal(ex, 1),
        workers_done(ex, 1) {
    if (opts.workers < 1) throw std::invalid_argument("ControllerOptions::workers must be >= 1");
    if (opts.metrics) {
      metrics.emplace(*opts.metrics, opts.name);
      if (!opts.queue.metrics)
        opts.queue.metrics = std::make_shared<RegistryQueueMetrics>(*opts.metrics, opts.name);
    }
    queue = std::make_shared<Queue>(ex, opts.queue);
  }

  struct Source {
    Informer* informer;
    std::shared_ptr<const Store> store;
    Resource resource;
    std::string ns;  // "": every namespace
  };
  struct Worker {
    net::strand<net::any_io_executor> strand;
    std::shared_ptr<net::cancellation_signal> cancel;
  };

  mutable Client client;  // a handle: background work never uses a destroyed Client
  const net::any_io_executor ex;
  const Reconciler reconciler;
  ControllerOptions opts;
  const std::shared_ptr<spdlog::logger> logger;
  std::optional<ReconcileMetrics> metrics;
  std::shared_ptr<Queue> queue;
  std::vector<Source> sources;  // fixed once run() starts

  std::atomic<bool> running{false};
  std::atomic<bool> stopping{false};
  Signal stop_signal;   // stop() was called
  Signal workers_done;  // the last worker ended
  std::atomic<int> workers_left{0};
  std::vector<Worker> workers;  // run() only
};

}  // namespace detail

namespace {

using detail::ControllerState;

// How a notified object turns into keys: `both` also maps the old object of an update.
struct Source {
  std::function<void(const Object&, Queue&)> keys;
  bool both = false;
};

EventHandler make_handler(std::weak_ptr<Queue> weak, Predicate pred, Source src) {
  EventHandler h;
  h.on_add = [weak, pred, src](const ObjectPtr& o) {
    if (!pred.on_create(*o)) return;
    if (auto q = weak.lock()) src.keys(*o, *q);
  };
  h.on_update = [weak, pred, src](const ObjectPtr& old_obj, const ObjectPtr& new_obj) {
    if (!pred.on_update(*old_obj, *new_obj)) return;
    auto q = weak.lock();
    if (!q) return;
    if (src.both && old_obj != new_obj) src.keys(*old_obj, *q);
    src.keys(*new_obj, *q);
  };
  h.on_delete = [weak, pred, src](const ObjectPtr& o, bool tombstone) {
    if (!pred.on_delete(*o, tombstone)) return;
    if (auto q = weak.lock()) src.keys(*o, *q);
  };
  return h;
}

void apply_queue_ops(ControllerState& st, const std::string& key, const QueueOps& ops,
                     Result::Kind kind, const std::string& message, int retries) {
  Queue& q = *st.queue;
  const std::string& name = st.opts.name;
  for (const QueueOp& op : ops) {
    switch (op.kind) {
      case QueueOp::Kind::forget:
        q.forget(key);
        break;
      case QueueOp::Kind::add_rate_limited:
        if (kind == Result::Kind::error && !st.stopping.load()) {
          st.logger->error("controller {}: reconcile {} failed (retry {}): {}", name, key,
                           retries + 1, message);
        }
        q.add_rate_limited(key);
        break;
      case QueueOp::Kind::add_after:
        q.add_after(key, std::chrono::duration_cast<Queue::duration>(op.after));
        break;
      case QueueOp::Kind::add:
        q.add(key);
        break;
      case QueueOp::Kind::drop:
        if (kind == Result::Kind::terminal) {
          st.logger->error("controller {}: reconcile {} failed with a terminal error: {}", name,
                           key, message);
        } else {
          st.logger->error("controller {}: dropping {} out of the queue after {} retries: {}", name,
                           key, retries, message);
        }
        break;
    }
  }
}

net::awaitable<void> process(ControllerState& st, const std::string& key) {
  Queue& q = *st.queue;
  auto req = ObjectKey::parse(key);
  if (!req) {
    st.logger->error("controller {}: invalid key {:?}, dropped", st.opts.name, key);
    q.forget(key);
    q.done(key);
    co_return;
  }
  const int retries = q.num_requeues(key);
  Context ctx(st, std::move(*req), KeyLogger(st.logger, key), retries);
  Result::Kind kind = Result::Kind::done;
  std::chrono::nanoseconds after{0};
  std::string message;
  if (st.metrics) st.metrics->active->Increment();
  const auto start = std::chrono::steady_clock::now();
  try {
    const Result r = co_await st.reconciler(ctx.request(), ctx);
    kind = r.kind();
    after = r.after();
    message = r.message();
  } catch (const TerminalError& e) {
    kind = Result::Kind::terminal;
    message = e.what();
  } catch (const std::exception& e) {
    kind = Result::Kind::error;
    message = e.what();
  } catch (...) {
    kind = Result::Kind::error;
    message = "unknown exception";
  }
  if (st.metrics) {
    ReconcileMetrics& m = *st.metrics;
    m.active->Decrement();
    m.time->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    m.total[result_index(kind)]->Increment();
    if (kind == Result::Kind::error || kind == Result::Kind::terminal) m.errors->Increment();
    if (kind == Result::Kind::terminal) m.terminal->Increment();
  }
  apply_queue_ops(st, key, retry_policy(kind, after, retries, st.opts.max_retries), kind, message,
                  retries);
  q.done(key);
}

net::awaitable<void> worker(std::shared_ptr<ControllerState> st) {
  Queue& q = *st->queue;
  for (;;) {
    std::optional<std::string> key;
    try {
      key = co_await q.get();
    } catch (const boost::system::system_error&) {
      co_return;  // cancelled at stop
    }
    if (!key) co_return;
    if (st->stopping.load()) {  // no new work once stopping
      q.done(*key);
      continue;
    }
    co_await process(*st, *key);
  }
}

// These two take a reference, not a shared_ptr: they are awaited inside `a || b` expressions, and
// GCC 12 may destroy the temporaries of a co_await expression twice. run() keeps the state alive.
net::awaitable<void> wait_stop(ControllerState& st) {
  while (!st.stopping.load())
    co_await st.stop_signal.async_receive(net::use_awaitable);
}

// wait_for_sync() with its failure as a value. Asio's `a || b` waits for the first branch that
// *succeeds*: a sync failure thrown inside it would wait for stop() and then be lost.
net::awaitable<std::exception_ptr> sync_failure(Informer& informer) {
  std::exception_ptr failure;
  try {
    co_await informer.wait_for_sync();
  } catch (...) {
    failure = std::current_exception();
  }
  co_return failure;
}

// client-go refreshes the unfinished-work gauges every 500 ms.
net::awaitable<void> tick_unfinished_work(ControllerState& st) {
  net::steady_timer timer(co_await net::this_coro::executor);
  for (;;) {
    timer.expires_after(500ms);
    co_await timer.async_wait(net::use_awaitable);
    st.queue->update_unfinished_work();
  }
}

// Workers read the sources without a lock: they are fixed once run() starts.
void check_not_running(const ControllerState& st) {
  if (st.running.load()) throw std::logic_error("Controller: add sources before run()");
}

}  // namespace

Client& Context::client() const noexcept {
  return st_.client;
}

namespace {

[[noreturn]] void not_watched(const ControllerState& st, const Resource& r, std::string_view ns) {
  std::string what = "controller " + st.opts.name + " does not watch " + r.plural;
  if (!r.group.empty()) what += "." + r.group;
  if (!ns.empty() && r.namespaced) what += " in namespace " + std::string(ns);
  throw NotWatchedError(what + " (add it to the controller: for_, owns, watches or reads)");
}

bool covers(const ControllerState::Source& s, const Resource& r, std::string_view ns) {
  return s.resource == r && (s.ns.empty() || !r.namespaced || s.ns == ns);
}

}  // namespace

ObjectPtr Context::get(const Resource& r, std::string_view ns, std::string_view name) const {
  for (const auto& s : st_.sources) {
    if (!covers(s, r, ns)) continue;
    if (!r.namespaced || ns.empty()) return s.store->get(name);
    std::string key;
    key.reserve(ns.size() + 1 + name.size());
    key.append(ns).append("/").append(name);
    return s.store->get(key);
  }
  not_watched(st_, r, ns);
}

std::vector<ObjectPtr> Context::list(const Resource& r, std::string_view ns,
                                     const LabelSelector& selector) const {
  std::vector<ObjectPtr> out;
  bool found = false;
  std::vector<const Store*> seen;  // a store twice (two sources on one informer) lists once
  for (const auto& s : st_.sources) {
    if (s.resource != r || (!ns.empty() && !covers(s, r, ns))) continue;
    found = true;
    if (std::find(seen.begin(), seen.end(), s.store.get()) != seen.end()) continue;
    seen.push_back(s.store.get());
    for (auto& o : s.store->list()) {
      if (!ns.empty() && r.namespaced && o->meta().ns != ns) continue;
      if (!selector.empty() && !selector.matches(o->meta().labels)) continue;
      out.push_back(std::move(o));
    }
  }
  if (!found) not_watched(st_, r, ns);
  return out;
}

std::shared_ptr<const Store> Context::store(const Resource& r) const {
  for (const auto& s : st_.sources)
    if (s.resource == r) return s.store;
  not_watched(st_, r, {});
}

std::shared_ptr<const Store> Context::store(std::string_view name) const {
  for (const auto& s : st_.sources)
    if (s.resource.plural == name) return s.store;
  throw NotWatchedError("controller " + st_.opts.name + " does not watch " + std::string(name));
}

EventRecorder* Context::recorder() const noexcept {
  return st_.opts.recorder;
}

Controller::Controller(Client& client, net::any_io_executor executor, Reconciler reconciler,
                       ControllerOptions options)
    : st_(std::make_shared<ControllerState>(client, std::move(executor), std::move(reconciler),
                                            std::move(options))) {}

Controller::~Controller() {
  stop();
  st_->queue->shutdown();
}

namespace {

// Registers `informer` as a source; with `src`, also the handler that turns its events into keys.
void add_source(ControllerState& st, Informer& informer, std::optional<Source> src,
                Predicate predicate) {
  check_not_running(st);
  st.sources.push_back(
      {&informer, informer.store(), informer.options().resource, informer.options().ns});
  if (!src) return;
  HandlerOptions ho;
  ho.resync_period = st.opts.resync_period;
  informer.add_handler(make_handler(st.queue, std::move(predicate), std::move(*src)), ho);
}

}  // namespace

Controller& Controller::watches(Informer& informer, Predicate predicate) {
  add_source(*st_, informer, Source{[](const Object& o, Queue& q) { q.add(o.key()); }, false},
             std::move(predicate));
  return *this;
}

Controller& Controller::watches(Informer& informer, MapFunc map, Predicate predicate) {
  add_source(*st_, informer,
             Source{[map = std::move(map)](const Object& o, Queue& q) {
                      for (const Request& r : map(o))
                        q.add(r.str());
                    },
                    true},
             std::move(predicate));
  return *this;
}

Controller& Controller::owns(Informer& informer, std::string owner_kind, Predicate predicate) {
  add_source(*st_, informer,
             Source{[kind = std::move(owner_kind)](const Object& o, Queue& q) {
                      if (auto r = owner_request(o, kind)) q.add(r->str());
                    },
                    true},
             std::move(predicate));
  return *this;
}

Controller& Controller::owns(Informer& informer, const Resource& owner, Predicate predicate) {
  add_source(*st_, informer,
             Source{[group = owner.group, kind = owner.kind](const Object& o, Queue& q) {
                      if (auto r = owner_request(o, group, kind)) q.add(r->str());
                    },
                    true},
             std::move(predicate));
  return *this;
}

Controller& Controller::reads(Informer& informer) {
  add_source(*st_, informer, std::nullopt, {});
  return *this;
}

net::awaitable<void> Controller::run() {
  using net::experimental::awaitable_operators::operator||;
  std::shared_ptr<ControllerState> st = st_;
  if (st->running.exchange(true)) throw std::logic_error("Controller::run() called twice");
  const std::string& name = st->opts.name;
  std::exception_ptr failure;

  if (!st->stopping.load()) {
    st->logger->info("controller {}: Waiting for informer caches to sync", name);
    for (auto& s : st->sources)
      s.informer->start();
    for (auto& s : st->sources) {
      if (st->stopping.load()) break;
      auto synced = co_await (sync_failure(*s.informer) || wait_stop(*st));
      if (synced.index() == 0 && std::get<0>(synced)) {
        failure = std::get<0>(synced);
        break;
      }
    }
  }

  if (!failure && !st->stopping.load()) {
    const int n = st->opts.workers;
    if (st->metrics) st->metrics->max_concurrent->Set(n);
    st->logger->info("controller {}: Starting workers (count {})", name, n);
    st->workers_left = n;
    for (int i = 0; i < n; ++i) {
      st->workers.push_back(
          {net::make_strand(st->ex), std::make_shared<net::cancellation_signal>()});
      auto& w = st->workers.back();
      net::co_spawn(w.strand, worker(st),
                    net::bind_cancellation_slot(w.cancel->slot(), [st](std::exception_ptr e) {
                      if (e) {
                        st->logger->error("controller {}: worker ended: {}", st->opts.name,
                                          exception_message(e));
                      }
                      if (--st->workers_left == 0)
                        st->workers_done.try_send(boost::system::error_code{});
                    }));
    }
    st->logger->info("controller {}: Started workers", name);
    if (st->metrics) {
      co_await (wait_stop(*st) || tick_unfinished_work(*st));
    } else {
      co_await wait_stop(*st);
    }
  }

  // No new work: the queue refuses adds, workers skip what is left in it.
  st->stopping = true;
  st->queue->shutdown();
  if (!st->workers.empty()) {
    st->logger->info("controller {}: Shutting down workers", name);
    net::steady_timer grace(co_await net::this_coro::executor, st->opts.stop_timeout);
    auto first = co_await (st->workers_done.async_receive(net::use_awaitable) ||
                           grace.async_wait(net::use_awaitable));
    if (first.index() == 1) {
      st->logger->warn("controller {}: reconciles still running after {} ms, cancelling them", name,
                       st->opts.stop_timeout.count());
      for (auto& w : st->workers) {
        net::post(w.strand, [c = w.cancel] { c->emit(net::cancellation_type::terminal); });
      }
      co_await st->workers_done.async_receive(net::use_awaitable);
    }
    st->logger->info("controller {}: all workers stopped", name);
  }
  if (failure) std::rethrow_exception(failure);
}

void Controller::stop() {
  st_->stopping = true;
  st_->stop_signal.try_send(boost::system::error_code{});
}

void Controller::enqueue(const Request& key) {
  st_->queue->add(key.str());
}

WorkQueue<std::string>& Controller::queue() noexcept {
  return *st_->queue;
}

const ControllerOptions& Controller::options() const noexcept {
  return st_->opts;
}

}  // namespace kcoro
