#include "kcoro/reflector.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

namespace kcoro {

namespace net = boost::asio;
using Failure = ReflectorPolicy::Failure;
using Step = ReflectorPolicy::Step;

namespace {

// The client reports a cancelled request as errc::cancelled; Asio's own waits throw
// boost::system::system_error, which passes through these handlers untouched.
bool cancelled(const std::system_error& e) {
  return e.code() == errc::cancelled;
}

Failure classify(const ApiError& e, bool streaming) {
  const FailureClass c = classify_failure(e);
  if (c == FailureClass::relist) return Failure::gone;
  // A server without streaming lists refuses sendInitialEvents with a 4xx (422 Invalid from
  // kube-apiserver 1.32 with the WatchList gate off); 401, 403 and 404 would refuse any list.
  if (streaming && c == FailureClass::fatal && !is_forbidden(e) && !is_unauthorized(e) &&
      !is_not_found(e)) {
    return Failure::refused;
  }
  return Failure::other;
}

void bump(prometheus::Counter* c) {
  if (c) c->Increment();
}

// The `resource` label: "pods", "deployments.apps".
std::string resource_label(const Resource& r) {
  return r.group.empty() ? r.plural : r.plural + "." + r.group;
}

// Sends without a coroutine frame when there is room.
awaitable<bool> send(DeltaChannel& ch, Delta d) {
  if (ch.try_send(d)) co_return true;
  co_return co_await ch.send(std::move(d));
}

}  // namespace

Reflector::Reflector(Client& client, std::shared_ptr<DeltaChannel> channel, ReflectorOptions opts)
    : client_(client),
      channel_(std::move(channel)),
      opts_(std::move(opts)),
      policy_(opts_.policy, opts_.seed ? opts_.seed : std::random_device{}()),
      log_(opts_.logger ? opts_.logger : spdlog::default_logger()) {
  if (!opts_.metrics) return;
  MetricsRegistry& m = *opts_.metrics;
  static const std::vector<std::string> labels{"resource"};
  const LabelValues v{resource_label(opts_.resource)};
  lists_ = &m.counter("kcoro_reflector_lists_total",
                      "Lists started by reflectors (paginated or streaming), successful or not.",
                      labels, v);
  relists_ = &m.counter("kcoro_reflector_relists_total",
                        "Lists started by reflectors after a list had completed (the cache is "
                        "replaced: after 410 Gone, or a failure answered with a list).",
                        labels, v);
  watches_ = &m.counter("kcoro_reflector_watches_total", "Watch requests started by reflectors.",
                        labels, v);
  events_ =
      &m.counter("kcoro_reflector_watch_events_total",
                 "Watch events received by reflectors (bookmarks and errors included).", labels, v);
  restarts_ = &m.counter("kcoro_reflector_watch_restarts_total",
                         "Watches that ended (timeout, error event or failure) and were followed "
                         "by a new watch or a list.",
                         labels, v);
}

void Reflector::count_list() {
  bump(lists_);
  if (listed_) bump(relists_);
}

const std::string& Reflector::last_resource_version() const noexcept {
  return policy_.last_resource_version();
}

awaitable<void> Reflector::run() {
  auto ex = co_await net::this_coro::executor;
  ReflectorPolicy::Action action = policy_.start();
  for (;;) {
    if (action.delay.count() > 0) {
      net::steady_timer timer(ex, action.delay);
      co_await timer.async_wait(net::use_awaitable);
    }
    if (channel_->closed()) co_return;
    ReflectorPolicy::Action next;
    const bool go_on =
        action.step == Step::list ? co_await list(action, next) : co_await watch(action, next);
    if (!go_on) co_return;
    action = std::move(next);
  }
}

awaitable<bool> Reflector::list(const ReflectorPolicy::Action& a, ReflectorPolicy::Action& next) {
  std::exception_ptr error;
  Failure failure = Failure::other;
  count_list();
  try {
    ListStream stream = client_.list_all(opts_.resource, opts_.ns, a.options);
    if (!co_await send(*channel_, Delta{DeltaType::replace_begin, nullptr, {}})) co_return false;
    while (ObjectPtr obj = co_await stream.next()) {
      if (!co_await send(*channel_, Delta{DeltaType::replace_item, std::move(obj), {}})) {
        co_return false;
      }
    }
    const std::string rv = stream.meta().resource_version;
    if (!co_await send(*channel_, Delta{DeltaType::replace_end, nullptr, rv})) co_return false;
    listed_ = true;
    next = policy_.on_list_done(rv, ReflectorPolicy::Clock::now());
    co_return true;
  } catch (const ApiError& e) {
    failure = classify(e, false);
    error = std::current_exception();
  } catch (const std::system_error& e) {
    if (cancelled(e)) throw;
    error = std::current_exception();
  }
  log_->warn("reflector {}: list failed: {}", opts_.resource.plural, exception_message(error));
  if (on_error && ReflectorPolicy::reported(failure)) on_error(error);
  next = policy_.on_list_failed(failure, ReflectorPolicy::Clock::now());
  co_return true;
}

awaitable<bool> Reflector::watch(const ReflectorPolicy::Action& a, ReflectorPolicy::Action& next) {
  const bool streaming = a.step == Step::streaming_list;
  const auto started = ReflectorPolicy::Clock::now();
  std::size_t events = 0;
  bool initial_done = !streaming;
  std::exception_ptr error;
  Failure failure = Failure::other;
  if (streaming) {
    count_list();
  } else {
    bump(watches_);
  }
  try {
    WatchStream w = co_await client_.watch(opts_.resource, opts_.ns, a.options);
    if (streaming) {
      const bool sent = co_await send(*channel_, Delta{DeltaType::replace_begin, nullptr, {}});
      if (!sent) co_return false;
    }
    while (auto ev = co_await w.next()) {
      ++events;
      bump(events_);
      if (ev->type == WatchEventType::error) {
        failure = ev->error == errc::resource_expired ? Failure::gone : Failure::other;
        log_->info("reflector {}: watch ended with {} {}: {}", opts_.resource.plural,
                   ev->status ? ev->status->code : 0, ev->status ? ev->status->reason : "",
                   ev->status ? ev->status->message : "");
        if (failure == Failure::gone)
          log_->info("reflector {}: watch expired, relisting", opts_.resource.plural);
        if (on_error && ReflectorPolicy::reported(failure) && ev->status) {
          on_error(std::make_exception_ptr(ApiError(ev->status->code, *ev->status)));
        }
        bump(restarts_);
        next = policy_.on_watch_failed(failure, ReflectorPolicy::Clock::now());
        co_return true;
      }
      const std::string rv(ev->resource_version());
      Delta d;
      if (ev->type == WatchEventType::bookmark) {
        if (!initial_done && ev->initial_events_end()) {
          initial_done = true;
          listed_ = true;
          policy_.on_initial_events_end(rv);
          d = Delta{DeltaType::replace_end, nullptr, rv};
        } else {
          policy_.on_event(rv);
          d = Delta{DeltaType::bookmark, nullptr, rv};
        }
      } else {
        DeltaType t = !initial_done                          ? DeltaType::replace_item
                      : ev->type == WatchEventType::added    ? DeltaType::added
                      : ev->type == WatchEventType::modified ? DeltaType::updated
                                                             : DeltaType::deleted;
        d = Delta{t, std::move(ev->object), {}};
        policy_.on_event(rv);
      }
      if (!co_await send(*channel_, std::move(d))) co_return false;
    }
    bump(restarts_);
    next = policy_.on_watch_ended(started, events, ReflectorPolicy::Clock::now());
    co_return true;
  } catch (const ApiError& e) {
    failure = classify(e, streaming && !initial_done);
    error = std::current_exception();
  } catch (const std::system_error& e) {
    if (cancelled(e)) throw;
    error = std::current_exception();
  }
  log_->info("reflector {}: watch failed: {}", opts_.resource.plural, exception_message(error));
  if (on_error && ReflectorPolicy::reported(failure)) on_error(error);
  bump(restarts_);
  next = policy_.on_watch_failed(failure, ReflectorPolicy::Clock::now());
  co_return true;
}

}  // namespace kcoro
