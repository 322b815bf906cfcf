#include "kcoro/informer.hpp"
#include "transport/signal.hpp"

#include "kcoro/delta_channel.hpp"
#include "kcoro/reflector.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <tuple>

namespace kcoro {

namespace net = boost::asio;

namespace {

using Notification = StoreChange;

// One handler: an unbounded buffer drained on the handler's executor, one batch at a time.
struct Listener : std::enable_shared_from_this<Listener> {
  EventHandler handler;
  std::shared_ptr<spdlog::logger> logger;
  net::any_io_executor executor;
  std::chrono::milliseconds resync{0};
  std::unique_ptr<net::steady_timer> resync_timer;  // on the informer strand
  std::mutex mu;
  std::deque<Notification> queue;
  bool scheduled = false;
  bool stopped = false;
  // The informer's stop(), seen at once: notifications already queued or batched are dropped.
  std::shared_ptr<const std::atomic<bool>> informer_stopped;

  void push(Notification n) {
    std::lock_guard lock(mu);
    if (stopped) return;
    queue.push_back(std::move(n));
    if (!scheduled) {
      scheduled = true;
      net::post(executor, [self = shared_from_this()] { self->drain(); });
    }
  }

  void drain() {
    std::deque<Notification> batch;
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (queue.empty() || stopped || informer_stopped->load()) {
          scheduled = false;
          return;
        }
        batch.swap(queue);
      }
      for (auto& n : batch) {
        if (informer_stopped->load()) break;
        deliver(n);
      }
      batch.clear();
    }
  }

  void deliver(const Notification& n) {
    try {
      switch (n.kind) {
        case Notification::add:
          if (handler.on_add) handler.on_add(n.object);
          break;
        case Notification::update:
          if (handler.on_update) handler.on_update(n.old_object, n.object);
          break;
        case Notification::remove:
          if (handler.on_delete) handler.on_delete(n.object, n.tombstone);
          break;
      }
    } catch (...) {
      logger->error("informer handler threw: {}", exception_message(std::current_exception()));
    }
  }

  void stop() {
    std::lock_guard lock(mu);
    stopped = true;
    queue.clear();
  }
};

using detail::Signal;

bool fatal_list_error(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const ApiError& err) {
    return classify_failure(err) == FailureClass::fatal;
  } catch (...) {
    return false;
  }
}

}  // namespace

struct Informer::State : std::enable_shared_from_this<Informer::State> {
  Client client;  // a handle sharing the caller's pool: the reflector may outlive the caller's
  InformerOptions opts;
  net::strand<net::any_io_executor> strand;  // the consumer loop, the store writer, listeners
  std::shared_ptr<spdlog::logger> logger;
  net::any_io_executor io;
  std::shared_ptr<DeltaChannel> channel;
  StoreWriter writer;
  std::vector<std::shared_ptr<Listener>> listeners;  // strand only
  std::unique_ptr<Reflector> reflector;
  net::cancellation_signal cancel;  // io executor only
  std::atomic<bool> started{false};
  std::shared_ptr<std::atomic<bool>> stopped_flag = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool>& stopped = *stopped_flag;
  std::atomic<bool> synced{false};

  std::mutex mu;  // guards the fields below
  std::exception_ptr fatal;
  std::vector<std::shared_ptr<Signal>> sync_waiters;
  std::string last_rv;

  State(Client& c, InformerOptions o, net::any_io_executor informer_ex, net::any_io_executor io_ex)
      : client(c),
        opts(std::move(o)),
        strand(net::make_strand(informer_ex)),
        logger(opts.logger ? opts.logger : spdlog::default_logger()),
        io(io_ex ? io_ex : informer_ex),
        channel(std::make_shared<DeltaChannel>(std::max<std::size_t>(1, opts.channel_capacity))) {}

  void wake_sync_waiters() {
    std::vector<std::shared_ptr<Signal>> waiters;
    {
      std::lock_guard lock(mu);
      waiters.swap(sync_waiters);
    }
    for (auto& w : waiters)
      w->try_send(boost::system::error_code{});
  }

  void on_reflector_error(std::exception_ptr e) {
    if (synced.load() || !fatal_list_error(e)) return;
    {
      std::lock_guard lock(mu);
      if (!fatal) fatal = e;
    }
    wake_sync_waiters();
  }

  void notify(Notification n) {
    for (auto& l : listeners)
      l->push(n);
  }

  void apply(Delta& d) {
    ApplyResult r = writer.apply(std::move(d));
    for (auto& c : r.changes)
      notify(std::move(c));
    if (r.resource_version) set_rv(*r.resource_version);
    if (r.relisted && !synced.exchange(true)) wake_sync_waiters();
  }

  void set_rv(const std::string& rv) {
    if (rv.empty()) return;
    std::lock_guard lock(mu);
    last_rv = rv;
  }

  awaitable<void> consume() {
    std::vector<Delta> deltas;
    deltas.reserve(256);
    while (!stopped.load()) {
      const std::size_t n = co_await channel->receive_some(deltas, 256);
      if (n == 0) break;
      for (auto& d : deltas)
        apply(d);
      deltas.clear();
    }
  }

  void arm_resync(const std::shared_ptr<Listener>& l) {
    if (l->resync.count() <= 0 || stopped.load()) return;
    if (!l->resync_timer) l->resync_timer = std::make_unique<net::steady_timer>(strand);
    l->resync_timer->expires_after(l->resync);
    l->resync_timer->async_wait([self = shared_from_this(), l](boost::system::error_code ec) {
      if (ec || self->stopped.load()) return;
      for (auto& o : self->writer.reader().list())
        l->push({Notification::update, o, o});
      self->arm_resync(l);
    });
  }
};

Informer::Informer(Client& client, InformerOptions opts, net::any_io_executor informer_executor,
                   net::any_io_executor io_executor)
    : state_(std::make_shared<State>(client, std::move(opts), std::move(informer_executor),
                                     std::move(io_executor))) {}

Informer::~Informer() {
  stop();
}

void Informer::start() {
  auto s = state_;
  if (s->started.exchange(true) || s->stopped.load()) return;
  ReflectorOptions ro;
  ro.resource = s->opts.resource;
  ro.ns = s->opts.ns;
  ro.policy = s->opts.policy;
  ro.policy.label_selector = s->opts.label_selector;
  ro.policy.field_selector = s->opts.field_selector;
  ro.policy.metadata_only = s->opts.metadata_only;
  ro.policy.transform = compose(ro.policy.transform, s->opts.transform);
  ro.seed = s->opts.seed;
  ro.logger = s->logger;
  ro.metrics = s->opts.metrics;
  s->reflector = std::make_unique<Reflector>(s->client, s->channel, ro);
  s->reflector->on_error = [w = std::weak_ptr<State>(s)](std::exception_ptr e) {
    if (auto st = w.lock()) st->on_reflector_error(e);
  };
  net::post(s->io, [s] {
    net::co_spawn(s->io, s->reflector->run(),
                  net::bind_cancellation_slot(s->cancel.slot(), [s](std::exception_ptr e) {
                    if (e && !s->stopped.load()) {
                      s->logger->error("reflector {} stopped: {}", s->opts.resource.plural,
                                       exception_message(e));
                    }
                    s->channel->close();
                  }));
  });
  net::co_spawn(s->strand, s->consume(), [s](std::exception_ptr e) {
    if (e)
      s->logger->error("informer {} stopped: {}", s->opts.resource.plural, exception_message(e));
  });
  net::post(s->strand, [s] {
    for (auto& l : s->listeners)
      s->arm_resync(l);
  });
}

void Informer::stop() {
  auto s = state_;
  if (s->stopped.exchange(true)) return;
  s->channel->close();
  if (s->started.load()) {
    net::post(s->io, [s] { s->cancel.emit(net::cancellation_type::terminal); });
    net::post(s->strand, [s] {
      for (auto& l : s->listeners) {
        l->stop();
        if (l->resync_timer) l->resync_timer->cancel();
      }
    });
  }
  {
    std::lock_guard lock(s->mu);
    if (!s->fatal && !s->synced.load()) {
      s->fatal = std::make_exception_ptr(
          std::system_error(make_error_code(errc::cancelled), "informer stopped before sync"));
    }
  }
  s->wake_sync_waiters();
}

void Informer::add_handler(EventHandler handler, HandlerOptions opts) {
  auto s = state_;
  auto l = std::make_shared<Listener>();
  l->handler = std::move(handler);
  l->logger = s->logger;
  l->informer_stopped = s->stopped_flag;
  l->executor = opts.executor ? opts.executor : net::any_io_executor(s->strand);
  l->resync = opts.resync_period;
  net::dispatch(s->strand, [s, l] {
    // On the strand: between two batches of deltas, so the snapshot and the live changes that
    // follow neither overlap nor leave a gap.
    for (auto& o : s->writer.reader().list())
      l->push({Notification::add, nullptr, o});
    s->listeners.push_back(l);
    if (s->started.load()) s->arm_resync(l);
  });
}

void Informer::add_index(std::string name, IndexFunc func) {
  auto s = state_;
  net::dispatch(s->strand, [s, name = std::move(name), func = std::move(func)]() mutable {
    s->writer.add_index(std::move(name), std::move(func));
  });
}

void Informer::prime(ObjectPtr obj) {
  if (state_->started.load()) throw std::logic_error("Informer::prime after start()");
  if (!obj) throw std::invalid_argument("Informer::prime: a null object");
  state_->writer.upsert(std::move(obj));
}

std::shared_ptr<const Store> Informer::store() const {
  return state_->writer.store();
}

bool Informer::has_synced() const noexcept {
  return state_->synced.load();
}

awaitable<void> Informer::wait_for_sync() {
  auto s = state_;
  auto ex = co_await net::this_coro::executor;
  for (;;) {
    std::shared_ptr<Signal> w;
    {
      std::lock_guard lock(s->mu);
      if (s->synced.load()) co_return;
      if (s->fatal) std::rethrow_exception(s->fatal);
      w = std::make_shared<Signal>(ex, 1);
      s->sync_waiters.push_back(w);
    }
    co_await w->async_receive(net::use_awaitable);
  }
}

std::string Informer::last_resource_version() const {
  std::lock_guard lock(state_->mu);
  return state_->last_rv;
}

const InformerOptions& Informer::options() const noexcept {
  return state_->opts;
}

// ---------------------------------------------------------------------------------------------

struct SharedInformerFactory::Impl {
  Impl(Client& c, net::any_io_executor i, net::any_io_executor o)
      : client(c), informer_ex(std::move(i)), io_ex(std::move(o)) {}
  Client& client;
  net::any_io_executor informer_ex, io_ex;
  std::mutex mu;
  std::map<std::tuple<std::string, std::string, std::string, std::string, bool>,
           std::shared_ptr<Informer>>
      informers;
  bool started = false;
};

SharedInformerFactory::SharedInformerFactory(Client& client, net::any_io_executor informer_executor,
                                             net::any_io_executor io_executor)
    : impl_(std::make_unique<Impl>(client, std::move(informer_executor), std::move(io_executor))) {}

SharedInformerFactory::~SharedInformerFactory() {
  stop();
}

namespace {
InformerOptions informer_options(const Resource& r, std::string ns, std::string label_selector,
                                 std::string field_selector, bool metadata_only) {
  InformerOptions o;
  o.resource = r;
  o.ns = std::move(ns);
  o.label_selector = std::move(label_selector);
  o.field_selector = std::move(field_selector);
  o.metadata_only = metadata_only;
  return o;
}
}  // namespace

std::shared_ptr<Informer> SharedInformerFactory::informer(const Resource& r, std::string ns,
                                                          std::string label_selector,
                                                          std::string field_selector) {
  return informer(informer_options(r, std::move(ns), std::move(label_selector),
                                   std::move(field_selector), false));
}

std::shared_ptr<Informer> SharedInformerFactory::metadata_informer(const Resource& r,
                                                                   std::string ns,
                                                                   std::string label_selector,
                                                                   std::string field_selector) {
  return informer(informer_options(r, std::move(ns), std::move(label_selector),
                                   std::move(field_selector), true));
}

std::shared_ptr<Informer> SharedInformerFactory::informer(InformerOptions opts) {
  auto key = std::make_tuple(
      opts.resource.group + "/" + opts.resource.version + "/" + opts.resource.plural, opts.ns,
      opts.label_selector, opts.field_selector, opts.metadata_only);
  std::lock_guard lock(impl_->mu);
  auto& slot = impl_->informers[key];
  if (!slot) {
    slot = std::make_shared<Informer>(impl_->client, std::move(opts), impl_->informer_ex,
                                      impl_->io_ex);
    if (impl_->started) slot->start();
  }
  return slot;
}

void SharedInformerFactory::start() {
  std::lock_guard lock(impl_->mu);
  impl_->started = true;
  for (auto& [k, i] : impl_->informers)
    i->start();
}

void SharedInformerFactory::stop() {
  std::lock_guard lock(impl_->mu);
  for (auto& [k, i] : impl_->informers)
    i->stop();
}

awaitable<void> SharedInformerFactory::wait_for_sync() {
  std::vector<std::shared_ptr<Informer>> all;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [k, i] : impl_->informers)
      all.push_back(i);
  }
  for (auto& i : all)
    co_await i->wait_for_sync();
}

}  // namespace kcoro
