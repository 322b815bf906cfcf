// kcoro/leader_election.hpp — one active replica among many, through a coordination.k8s.io/v1
// Lease (client-go's leaderelection with a Lease lock).
//
// Contract
// - The lease's spec is the record: holderIdentity, leaseDurationSeconds, acquireTime, renewTime
//   (MicroTime) and leaseTransitions. Every write is a create or a PUT carrying the
//   resourceVersion last read, so two candidates never both win one round: the loser gets 409.
// - Expiry is judged on the local steady clock (`clock`, which tests may replace): a lease held
//   by another identity may be taken only after its record has not changed for lease_duration,
//   counted from when this candidate saw it change. The holder's timestamps are never compared
//   with the local wall clock, so clock skew between replicas does not matter. A released lease
//   (empty holderIdentity) may be taken at once.
// - acquire() campaigns: one attempt now, then one every retry_period plus a jitter of up to
//   120%, until this identity holds the lease (true) or stop() is called (false).
// - hold() keeps the lease: a renewal every retry_period. When renewals keep failing for
//   renew_deadline (each attempt is bounded by what is left of it), or another identity is seen
//   holding the lease, leadership is lost and hold() returns LeadershipEnd::lost at once; the
//   code that ran as leader must stop then (controller-runtime exits the process). After
//   stop(), hold() releases the lease when `release_on_cancel` (holder cleared, duration 1 s, so
//   a successor need not wait out the lease) and returns LeadershipEnd::stopped.
// - While holding a lease it knows to be valid, the elector renews with a PUT on the
//   resourceVersion it wrote last, without a GET first; a conflict falls back to GET + PUT.
// - Failures of single attempts (API errors, timeouts, refused connections) are logged and
//   retried; they never escape acquire() or hold(). Each attempt is bounded by renew_deadline
//   (hold(): by what is left of it). stop() interrupts the waits between attempts, never an
//   attempt in flight: a write cut short might land, and the lease would be held unknowingly. If
//   a renewal cut short by its deadline did land, the release reads the lease and releases it.
// - Threads: is_leader(), leader() and stop() from any thread. acquire() and hold() are awaited
//   by one coroutine at a time, on any executor. on_new_leader runs on that coroutine's thread.
// - Lifetimes: the elector must outlive acquire() and hold(); it keeps its own Client handle.
//
// Timing must satisfy lease_duration > renew_deadline > retry_period (client-go's rule, checked
// by the constructor): a holder gives up before anyone may take its lease over.
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include "kcoro/client.hpp"
#include "kcoro/leader_election_policy.hpp"
#include "kcoro/event_recorder.hpp"
#include "kcoro/metrics.hpp"

#include <boost/asio/awaitable.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace kcoro {

class QueueClock;

/// Why hold() returned.
enum class LeadershipEnd {
  lost,     ///< renewals failed for renew_deadline, or another identity took the lease
  stopped,  ///< stop() was called (the lease was released when release_on_cancel)
};

struct LeaderElectionOptions {
  std::string lease_namespace{};  ///< required
  std::string lease_name{};       ///< required
  /// This candidate; default "<hostname>_<random hex>" (controller-runtime's form).
  std::string identity{};
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  bool release_on_cancel = true;
  /// Called with the new holder's identity whenever the observed holder changes (itself too).
  std::function<void(const std::string&)> on_new_leader{};
  /// Records "<identity> became leader" (Normal, LeaderElection) on the Lease when set.
  EventRecorder* recorder = nullptr;
  /// leader_election_master_status{name=<lease name>}: 1 while leading; nullptr: no metric.
  std::shared_ptr<MetricsRegistry> metrics = MetricsRegistry::global();
  std::shared_ptr<spdlog::logger> logger{};  ///< default: spdlog's default logger
  /// Where lease expiry, deadlines and waits are measured; default: the steady clock. Tests pass
  /// a ManualClock to run elections on virtual time.
  std::shared_ptr<QueueClock> clock{};
};

class LeaderElector {
 public:
  /// Throws std::invalid_argument on a missing lease name or namespace, or timings out of order.
  LeaderElector(Client& client, LeaderElectionOptions options);
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  /// Campaigns until elected (true) or stopped (false). See the contract.
  boost::asio::awaitable<bool> acquire();
  /// Keeps the lease until it is lost or stop() is called. Call after acquire() returned true.
  boost::asio::awaitable<LeadershipEnd> hold();
  /// Ends acquire() and hold(); any thread, idempotent.
  void stop();

  bool is_leader() const noexcept;
  /// The holder last seen ("" before the first read, or when released).
  std::string leader() const;
  const std::string& identity() const noexcept;

  struct State;

 private:
  std::shared_ptr<State> st_;
};

}  // namespace kcoro
