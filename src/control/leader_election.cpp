// The coroutine shell of leader election: reads and writes the Lease as LeaderElectionPolicy
// decides, on timers, until stopped.
#include "kcoro/leader_election.hpp"
#include "kcoro/queue_clock.hpp"
#include "transport/signal.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>
#include <prometheus/gauge.h>

#include <unistd.h>

#include <atomic>
#include <mutex>
#include <random>
#include <stdexcept>

namespace kcoro {

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

using detail::Signal;
using time_point = QueueClock::time_point;

std::string default_identity() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::random_device rd;
  std::mt19937_64 rng((uint64_t(rd()) << 32) ^ rd());
  const uint64_t a = rng(), b = rng();
  return fmt::format("{}_{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", host, uint32_t(a >> 32),
                     uint16_t(a >> 16), uint16_t(a), uint16_t(b >> 48), b & 0xffffffffffffULL);
}

std::chrono::milliseconds jittered(std::chrono::milliseconds d) {
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> u(0.0, 1.2);  // client-go's JitterFactor
  return std::chrono::milliseconds(int64_t(double(d.count()) * (1.0 + u(rng))));
}

// Completes once `clock` reaches `at`; cancellable (the alarm goes with the frame).
net::awaitable<void> wait_until(QueueClock& clock, time_point at) {
  const net::any_io_executor ex = co_await net::this_coro::executor;
  auto fired = std::make_shared<Signal>(ex, 1);
  const std::unique_ptr<QueueClock::Alarm> alarm =
      clock.make_alarm(ex, [fired] { fired->try_send(boost::system::error_code{}); });
  alarm->set(at);
  co_await fired->async_receive(net::use_awaitable);
}

// `op`, or nullopt when `limit` passes first on `clock` (op is then cancelled). `op` must not
// throw: Asio's `||` waits for the first branch that *succeeds*, so a throwing op would wait out
// the deadline.
template <class T>
net::awaitable<std::optional<T>> within(net::awaitable<T> op, std::chrono::milliseconds limit,
                                        QueueClock& clock) {
  using namespace net::experimental::awaitable_operators;
  auto r = co_await (std::move(op) || wait_until(clock, clock.now() + limit));
  if (r.index() == 1) co_return std::nullopt;
  co_return std::get<0>(r);
}

boost::json::value lease_json(const LeaderElectionOptions& o, const LeaderElectionRecord& r,
                              std::string_view resource_version) {
  boost::json::object meta{{"name", o.lease_name}, {"namespace", o.lease_namespace}};
  if (!resource_version.empty()) meta["resourceVersion"] = resource_version;
  boost::json::object spec{{"holderIdentity", r.holder_identity},
                           {"leaseDurationSeconds", r.lease_duration_seconds},
                           {"leaseTransitions", r.lease_transitions}};
  if (!r.acquire_time.empty()) spec["acquireTime"] = r.acquire_time;
  if (!r.renew_time.empty()) spec["renewTime"] = r.renew_time;
  return boost::json::object{{"apiVersion", "coordination.k8s.io/v1"},
                             {"kind", "Lease"},
                             {"metadata", std::move(meta)},
                             {"spec", std::move(spec)}};
}

}  // namespace

struct LeaderElector::State {
  State(Client& c, LeaderElectionOptions o)
      : client(c),
        opts(std::move(o)),
        logger(opts.logger ? opts.logger : spdlog::default_logger()),
        clock(opts.clock ? opts.clock : SteadyQueueClock::instance()),
        policy(opts.identity, opts.lease_duration),
        where(opts.lease_namespace + "/" + opts.lease_name) {
    if (opts.metrics)
      status = &opts.metrics->gauge("leader_election_master_status",
                                    "Whether this process leads (1) or not (0), per lease.",
                                    {"name"}, {opts.lease_name});
  }

  Client client;  // a handle of its own
  LeaderElectionOptions opts;
  std::shared_ptr<spdlog::logger> logger;
  std::shared_ptr<QueueClock> clock;  // what every deadline and wait is measured on
  LeaderElectionPolicy policy;        // used by the one coroutine in acquire() or hold()
  const std::string where;
  prometheus::Gauge* status = nullptr;
  ObjectPtr written;  // our last successful write: its resourceVersion allows a PUT without GET
  std::atomic<bool> leading{false};

  mutable std::mutex mu;  // guards what other threads read or signal
  std::string holder;
  bool stopped = false;
  std::shared_ptr<Signal> wake;

  bool is_stopped() const {
    std::lock_guard lk(mu);
    return stopped;
  }

  void set_leading(bool on) {
    leading.store(on, std::memory_order_release);
    if (status) status->Set(on ? 1 : 0);
  }

  // Publishes the holder the policy now sees; tells on_new_leader when it changed.
  void holder_seen() {
    const std::string& now_holder = policy.holder();
    {
      std::lock_guard lk(mu);
      if (holder == now_holder) return;
      holder = now_holder;
    }
    if (now_holder.empty()) return;
    logger->info("lease {}: new leader elected: {}", where, now_holder);
    if (opts.on_new_leader) opts.on_new_leader(now_holder);
  }

  void wrote(const LeaderElectionRecord& rec, ObjectPtr obj, time_point now) {
    policy.wrote(rec, now);
    written = std::move(obj);
    holder_seen();
  }

  net::awaitable<void> put(const LeaderElectionRecord& rec, std::string_view rv, time_point now) {
    ObjectPtr obj = co_await client.replace(resources::leases, opts.lease_namespace,
                                            opts.lease_name, lease_json(opts, rec, rv));
    wrote(rec, std::move(obj), now);
  }

  // PUTs `rec` on the resourceVersion of our last write, without reading first; false on a
  // conflict (someone wrote since, or a write of ours cut short landed after all).
  net::awaitable<bool> put_on_written(const LeaderElectionRecord& rec, time_point now) {
    try {
      co_await put(rec, written->meta().resource_version, now);
      co_return true;
    } catch (const ApiError& e) {
      if (!is_conflict(e)) throw;
    }
    logger->debug("lease {} changed since our last write; reading it", where);
    co_return false;
  }

  // One round of client-go's tryAcquireOrRenew. Throws on API and connection failures.
  net::awaitable<bool> attempt() {
    const auto now = clock->now();
    const std::string wall = micro_time(std::chrono::system_clock::now());
    if (policy.renew_without_read(now, written != nullptr)) {
      const bool renewed = co_await put_on_written(*policy.next(now, wall), now);
      if (renewed) co_return true;
    }
    ObjectPtr current;
    try {
      current = co_await client.get(resources::leases, opts.lease_namespace, opts.lease_name);
    } catch (const ApiError& e) {
      if (!is_not_found(e)) throw;
    }
    if (!current) {
      policy.observe(std::nullopt, now);
      const LeaderElectionRecord rec = *policy.next(now, wall);
      ObjectPtr obj = co_await client.create(resources::leases, opts.lease_namespace,
                                             lease_json(opts, rec, {}));
      wrote(rec, std::move(obj), now);
      co_return true;
    }
    policy.observe(lease_record(*current), now);
    holder_seen();
    const std::optional<LeaderElectionRecord> rec = policy.next(now, wall);
    if (!rec) co_return false;
    co_await put(*rec, current->meta().resource_version, now);
    co_return true;
  }

  // Sets up the stop signal on the caller's executor; false when already stopped.
  bool arm(const net::any_io_executor& ex) {
    std::lock_guard lk(mu);
    if (!wake) wake = std::make_shared<Signal>(ex, 1);
    return !stopped;
  }

  // attempt(), its failures logged and turned into false (for within()).
  net::awaitable<bool> attempt_logged() {
    try {
      co_return co_await attempt();
    } catch (const std::exception& e) {
      logger->warn("lease {}: {}", where, e.what());
    }
    co_return false;
  }

  // An attempt bounded by `limit`; false on any failure (logged). stop() does not interrupt it: a
  // write cut short might have landed, leaving us holding a lease we do not know we hold.
  net::awaitable<bool> bounded_attempt(std::chrono::milliseconds limit) {
    if (auto won = co_await within(attempt_logged(), limit, *clock)) co_return *won;
    logger->warn("lease {}: no answer within {} ms", where, limit.count());
    co_return false;
  }

  // Waits `d`; false when stop() came first.
  net::awaitable<bool> sleep(std::chrono::milliseconds d) {
    using namespace net::experimental::awaitable_operators;
    std::shared_ptr<Signal> w;
    {
      std::lock_guard lk(mu);
      if (stopped) co_return false;
      w = wake;
    }
    co_await (wait_until(*clock, clock->now() + d) || w->async_receive(net::use_awaitable));
    co_return !is_stopped();
  }

  // One try at giving the lease up; false on failure (logged).
  net::awaitable<bool> release_once() {
    const auto now = clock->now();
    const std::string wall = micro_time(std::chrono::system_clock::now());
    try {
      std::optional<LeaderElectionRecord> rec = policy.release(wall);
      if (!rec || !written) co_return true;
      const bool released = co_await put_on_written(*rec, now);
      if (released) co_return true;
      // A renewal cut short may have landed after all: release what the server holds, if ours.
      ObjectPtr current =
          co_await client.get(resources::leases, opts.lease_namespace, opts.lease_name);
      policy.observe(lease_record(*current), now);
      holder_seen();
      rec = policy.release(wall);
      if (rec) co_await put(*rec, current->meta().resource_version, now);
      co_return true;
    } catch (const std::exception& e) {
      logger->warn("lease {}: could not release it: {}", where, e.what());
    }
    co_return false;
  }

  // Gives the lease up so that a successor need not wait it out.
  net::awaitable<void> release() {
    if (!policy.is_leader()) co_return;
    const std::optional<bool> released =
        co_await within(release_once(), opts.renew_deadline, *clock);
    if (!released)
      logger->warn("lease {}: release got no answer within {} ms", where,
                   opts.renew_deadline.count());
    else if (*released)
      logger->info("lease {}: released", where);
  }
};

LeaderElector::LeaderElector(Client& client, LeaderElectionOptions options) {
  if (options.lease_name.empty() || options.lease_namespace.empty())
    throw std::invalid_argument("LeaderElector: lease_name and lease_namespace are required");
  if (!(options.lease_duration > options.renew_deadline &&
        options.renew_deadline > options.retry_period &&
        options.retry_period > std::chrono::milliseconds(0)))
    throw std::invalid_argument(
        "LeaderElector: need lease_duration > renew_deadline > retry_period > 0");
  if (options.identity.empty()) options.identity = default_identity();
  st_ = std::make_shared<State>(client, std::move(options));
}

LeaderElector::~LeaderElector() {
  stop();
}

net::awaitable<bool> LeaderElector::acquire() {
  std::shared_ptr<State> st = st_;
  if (!st->arm(co_await net::this_coro::executor)) co_return false;
  st->logger->info("lease {}: {} attempting to acquire it", st->where, st->opts.identity);
  for (;;) {
    if (co_await st->bounded_attempt(st->opts.renew_deadline)) break;
    if (!co_await st->sleep(jittered(st->opts.retry_period))) co_return false;
  }
  st->set_leading(true);
  st->logger->info("lease {}: successfully acquired by {}", st->where, st->opts.identity);
  if (st->opts.recorder && st->written)
    st->opts.recorder->record(*st->written, EventType::normal, "LeaderElection",
                              st->opts.identity + " became leader");
  co_return true;
}

net::awaitable<LeadershipEnd> LeaderElector::hold() {
  std::shared_ptr<State> st = st_;
  const bool armed = st->arm(co_await net::this_coro::executor);
  if (!st->leading.load()) throw std::logic_error("LeaderElector::hold() without acquire()");
  const auto retry = st->opts.retry_period;
  std::string lost;
  auto why = [&st](RenewalRound::Step step) {
    return step == RenewalRound::Step::lost_holder
               ? "the lease is held by " + st->policy.holder()
               : fmt::format("no renewal succeeded within {} ms", st->opts.renew_deadline.count());
  };
  // GCC 12 evaluates a co_await in the right operand of && even when the left one is false: the
  // waits stand in statements of their own.
  while (armed && lost.empty()) {
    const bool waited = co_await st->sleep(retry);
    if (!waited) break;
    const RenewalRound round(st->clock->now(), st->opts.renew_deadline, retry);
    for (;;) {
      const RenewalRound::Decision before = round.before_attempt(st->clock->now());
      if (before.step != RenewalRound::Step::attempt) {
        lost = why(before.step);
        break;
      }
      if (co_await st->bounded_attempt(before.time)) break;
      if (st->is_stopped()) break;
      const RenewalRound::Decision after =
          round.after_failure(st->clock->now(), st->policy.is_leader());
      if (after.step != RenewalRound::Step::wait) {
        lost = why(after.step);
        break;
      }
      if (!co_await st->sleep(after.time)) break;
    }
  }
  if (!lost.empty()) {
    st->set_leading(false);
    st->logger->error("lease {}: leadership lost: {}", st->where, lost);
    co_return LeadershipEnd::lost;
  }
  if (st->opts.release_on_cancel) co_await st->release();
  st->set_leading(false);
  co_return LeadershipEnd::stopped;
}

void LeaderElector::stop() {
  std::shared_ptr<Signal> w;
  {
    std::lock_guard lk(st_->mu);
    st_->stopped = true;
    w = st_->wake;
  }
  if (w) w->try_send(boost::system::error_code{});
}

bool LeaderElector::is_leader() const noexcept {
  return st_->leading.load(std::memory_order_acquire);
}

std::string LeaderElector::leader() const {
  std::lock_guard lk(st_->mu);
  return st_->holder;
}

const std::string& LeaderElector::identity() const noexcept {
  return st_->opts.identity;
}

}  // namespace kcoro
