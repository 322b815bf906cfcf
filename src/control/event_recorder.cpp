#include "kcoro/event_recorder.hpp"
#include "transport/signal.hpp"

#include "control/event_cache.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>

#include <ctime>
#include <deque>
#include <mutex>

namespace kcoro {

namespace net = boost::asio;

namespace {

using detail::Signal;

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// One recorded event, copied out of the object (the writer runs later).
struct Pending {
  std::string kind, api_version, ns, name, uid, resource_version;
  EventType type;
  std::string reason, message;
  std::chrono::system_clock::time_point when;
  std::string key;  // aggregation key
};

}  // namespace

std::string_view to_string(EventType t) noexcept {
  return t == EventType::warning ? "Warning" : "Normal";
}

struct EventRecorder::State {
  State(Client& c, EventRecorderOptions o)
      : client(c),
        opts(std::move(o)),
        logger(opts.logger ? opts.logger : spdlog::default_logger()),
        spam(opts.burst, opts.refill_interval, opts.cache_size),
        correlator(opts.cache_size) {
    if (!opts.clock) opts.clock = [] { return std::chrono::steady_clock::now(); };
    if (!opts.wall_clock) opts.wall_clock = [] { return std::chrono::system_clock::now(); };
  }

  Client client;  // a handle: the writer coroutine never uses a destroyed Client
  EventRecorderOptions opts;
  std::shared_ptr<spdlog::logger> logger;

  mutable std::mutex mu;  // guards the fields below
  detail::EventSpamFilter spam;
  std::deque<Pending> pending;
  EventRecorderStats stats;
  bool stopped = false;
  bool running = false;
  std::shared_ptr<Signal> wake;      // set by run()
  std::shared_ptr<Signal> stop_sig;  // set by run()

  // The writer's own (run() only).
  detail::EventCorrelator correlator;
  int64_t last_nanos = 0;

  void bump(uint64_t EventRecorderStats::*field) {
    std::lock_guard lk(mu);
    ++(stats.*field);
  }

  // client-go's "<name>.<unix nanos in hex>", strictly increasing so names never collide.
  std::string event_name(const Pending& p) {
    int64_t nanos =
        std::chrono::duration_cast<std::chrono::nanoseconds>(opts.wall_clock().time_since_epoch())
            .count();
    nanos = std::max(nanos, last_nanos + 1);
    last_nanos = nanos;
    return fmt::format("{}.{:x}", p.name, nanos);
  }

  boost::json::value event_json(const Pending& p, const std::string& ns, const std::string& name,
                                int64_t count, const std::string& first,
                                const std::string& last) const {
    boost::json::object involved{{"kind", p.kind},
                                 {"namespace", p.ns},
                                 {"name", p.name},
                                 {"uid", p.uid},
                                 {"apiVersion", p.api_version}};
    if (!p.resource_version.empty()) involved["resourceVersion"] = p.resource_version;
    boost::json::object source{{"component", opts.component}};
    if (!opts.host.empty()) source["host"] = opts.host;
    return boost::json::object{
        {"apiVersion", "v1"},
        {"kind", "Event"},
        {"metadata", {{"name", name}, {"namespace", ns}}},
        {"involvedObject", std::move(involved)},
        {"reason", p.reason},
        {"message", p.message},
        {"source", std::move(source)},
        {"firstTimestamp", first},
        {"lastTimestamp", last},
        {"count", count},
        {"type", to_string(p.type)},
        {"eventTime", nullptr},
        {"reportingComponent", opts.component},
        {"reportingInstance", opts.reporting_instance},
    };
  }

  net::awaitable<void> create(const Pending& p, int64_t count, std::string first,
                              const std::string& now) {
    detail::WrittenEvent e{p.ns.empty() ? "default" : p.ns, event_name(p), count, std::move(first)};
    co_await client.create(resources::events, e.ns,
                           event_json(p, e.ns, e.name, count, e.first_timestamp, now));
    correlator.written(p.key, std::move(e));
    bump(&EventRecorderStats::created);
  }

  net::awaitable<void> write(const Pending& p) {
    const std::string now = rfc3339(p.when);
    detail::EventWrite w = correlator.next(p.key);
    try {
      if (!w.existing) {
        co_await create(p, 1, now, now);
        co_return;
      }
      detail::WrittenEvent& e = *w.existing;
      bool gone = false;
      try {
        const boost::json::value patch{{"count", e.count}, {"lastTimestamp", now}};
        co_await client.patch(resources::events, e.ns, e.name, PatchType::merge, patch);
      } catch (const ApiError& err) {
        if (!is_not_found(err)) throw;
        gone = true;
      }
      if (gone) {
        co_await create(p, e.count, e.first_timestamp, now);
        co_return;
      }
      correlator.written(p.key, e);
      bump(&EventRecorderStats::patched);
    } catch (const std::exception& ex) {
      std::lock_guard lk(mu);
      if (!stopped) {  // a write cancelled by stop() is no failure
        ++stats.failed;
        logger->warn("event {} {} about {}/{} could not be written: {}", p.reason,
                     to_string(p.type), p.ns, p.name, ex.what());
      }
    }
  }

  net::awaitable<void> writer() {
    for (;;) {
      std::deque<Pending> batch;
      std::shared_ptr<Signal> w;
      {
        std::lock_guard lk(mu);
        if (stopped) co_return;
        batch.swap(pending);
        w = wake;
      }
      if (batch.empty()) {
        co_await w->async_receive(net::use_awaitable);
        continue;
      }
      for (const Pending& p : batch)
        co_await write(p);
    }
  }
};

EventRecorder::EventRecorder(Client& client, EventRecorderOptions options)
    : st_(std::make_shared<State>(client, std::move(options))) {}

EventRecorder::~EventRecorder() {
  stop();
}

void EventRecorder::record(const Object& obj, EventType type, std::string_view reason,
                           std::string_view message) {
  const ObjectMeta& m = obj.meta();
  record(EventSubject{m.kind, m.api_version, m.ns, m.name, m.uid, m.resource_version}, type, reason,
         message);
}

void EventRecorder::record(const EventSubject& m, EventType type, std::string_view reason,
                           std::string_view message) {
  State& st = *st_;
  const std::string spam_key =
      fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", st.opts.component, st.opts.host, m.kind,
                  m.ns, m.name, m.uid, m.api_version);
  std::shared_ptr<Signal> wake;
  {
    std::lock_guard lk(st.mu);
    ++st.stats.recorded;
    if (st.stopped) return;
    if (!st.spam.allow(spam_key, st.opts.clock())) {
      ++st.stats.rate_limited;
      return;
    }
    if (st.pending.size() >= st.opts.max_pending) {
      ++st.stats.overflowed;
      return;
    }
    Pending p{std::string(m.kind),
              std::string(m.api_version),
              std::string(m.ns),
              std::string(m.name),
              std::string(m.uid),
              std::string(m.resource_version),
              type,
              std::string(reason),
              std::string(message),
              st.opts.wall_clock(),
              {}};
    p.key = fmt::format("{}\x1f{}\x1f{}\x1f{}", spam_key, to_string(type), reason, message);
    st.pending.push_back(std::move(p));
    wake = st.wake;
  }
  if (wake) wake->try_send(boost::system::error_code{});
}

net::awaitable<void> EventRecorder::run() {
  using namespace net::experimental::awaitable_operators;
  std::shared_ptr<State> st = st_;
  auto ex = co_await net::this_coro::executor;
  {
    std::lock_guard lk(st->mu);
    if (st->running) throw std::logic_error("EventRecorder::run() called twice");
    st->running = true;
    if (st->stopped) co_return;
    st->wake = std::make_shared<Signal>(ex, 1);
    st->stop_sig = std::make_shared<Signal>(ex, 1);
  }
  // Stopping cancels the writer, including a write in flight.
  co_await (st->writer() || st->stop_sig->async_receive(net::use_awaitable));
}

void EventRecorder::stop() {
  std::shared_ptr<Signal> s;
  {
    std::lock_guard lk(st_->mu);
    st_->stopped = true;
    st_->pending.clear();
    s = st_->stop_sig;
  }
  if (s) s->try_send(boost::system::error_code{});
}

EventRecorderStats EventRecorder::stats() const {
  std::lock_guard lk(st_->mu);
  return st_->stats;
}

}  // namespace kcoro
