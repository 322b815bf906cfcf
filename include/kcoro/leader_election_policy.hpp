// kcoro/leader_election_policy.hpp — the decisions of leader election on a coordination.k8s.io/v1
// Lease, without I/O, clocks or Asio (core layer). LeaderElector (leader_election.hpp) is the
// coroutine shell that reads and writes the Lease as this policy says.
//
// Contract
// - Expiry is judged on the steady time passed in: a lease held by another identity expires
//   lease_duration after its record was last seen to change, never by comparing the holder's
//   timestamps with a local wall clock, so clock skew between replicas does not matter.
// - A released lease (empty holderIdentity) may be taken at once; renewals keep acquireTime and
//   leaseTransitions; a change of holder increments leaseTransitions.
// - Not thread-safe: one instance per candidate, driven by one coroutine.
#pragma once

#include "kcoro/object.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kcoro {

/// A Lease's spec, as leader election reads and writes it.
struct LeaderElectionRecord {
  std::string holder_identity;
  int64_t lease_duration_seconds = 0;
  std::string acquire_time;  ///< MicroTime text, e.g. "2026-11-22T17:52:25.123456Z"
  std::string renew_time;
  int64_t lease_transitions = 0;
  bool operator==(const LeaderElectionRecord&) const = default;
};

/// The record in a Lease object (its spec; absent fields are empty or 0).
LeaderElectionRecord lease_record(const Object& lease);
/// MicroTime text: RFC 3339 in UTC with microseconds.
std::string micro_time(std::chrono::system_clock::time_point t);

/// The decisions of leader election, without I/O or clocks of its own (tests drive it with any
/// time). One instance per candidate.
class LeaderElectionPolicy {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  LeaderElectionPolicy(std::string identity, std::chrono::milliseconds lease_duration);

  /// What the server holds (nullopt: no lease), read at `now`. The observation time moves only
  /// when the record differs from the last one seen. Returns true when the holder changed.
  bool observe(const std::optional<LeaderElectionRecord>& record, time_point now);
  /// The record to write at `now` to acquire or renew, or nullopt while another identity holds
  /// a lease that has not expired. `wall_now` is the MicroTime to stamp.
  std::optional<LeaderElectionRecord> next(time_point now, std::string_view wall_now) const;
  /// Our own write succeeded at `now`.
  void wrote(const LeaderElectionRecord& record, time_point now);
  /// The record that releases our lease (nullopt when we do not hold it).
  std::optional<LeaderElectionRecord> release(std::string_view wall_now) const;

  /// Whether a renewal at `now` may PUT on the resourceVersion of our last write without reading
  /// the Lease first (client-go's fast path): we have written one (`have_written`) and our lease
  /// has not expired by our own observation. A conflict then means someone wrote since.
  bool renew_without_read(time_point now, bool have_written) const noexcept;

  /// The last seen record names this identity.
  bool is_leader() const noexcept;
  /// We hold the lease and it has not expired at `now` by our own observation.
  bool lease_valid(time_point now) const noexcept;
  /// The holder last seen ("" when none).
  const std::string& holder() const noexcept;
  const std::string& identity() const noexcept { return identity_; }

 private:
  std::string identity_;
  std::chrono::milliseconds lease_duration_;
  std::optional<LeaderElectionRecord> observed_;
  time_point observed_at_{};
};

/// One round of renewals while leading, as client-go's renew loop runs them: a round begins every
/// retry_period; its attempts are bounded together by renew_deadline, a failed one is retried
/// retry_period later (sooner when the deadline is nearer), and leadership is lost when the
/// deadline passes without a renewal or another identity is seen holding the lease. Time is
/// passed in, so tests drive it with any clock.
class RenewalRound {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  enum class Step {
    attempt,        ///< try to renew, within `time`
    wait,           ///< retry after `time`
    lost_deadline,  ///< renew_deadline passed without a renewal
    lost_holder,    ///< another identity holds the lease
  };
  struct Decision {
    Step step;
    std::chrono::milliseconds time{0};
  };

  RenewalRound(time_point start, std::chrono::milliseconds renew_deadline,
               std::chrono::milliseconds retry_period);

  /// Before an attempt at `now`: attempt within what is left of the deadline, or lost_deadline.
  Decision before_attempt(time_point now) const;
  /// After a failed attempt at `now` (`still_leader`: the policy still sees us holding the
  /// lease): lost_holder, lost_deadline, or wait for the retry period or what is left of the
  /// deadline, whichever is shorter.
  Decision after_failure(time_point now, bool still_leader) const;

  time_point deadline() const noexcept { return deadline_; }

 private:
  time_point deadline_;
  std::chrono::milliseconds retry_period_;
};

}  // namespace kcoro
