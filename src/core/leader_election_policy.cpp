// The pure part of leader election: the record, its time format and the acquire/renew decisions.
#include "kcoro/leader_election_policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

namespace kcoro {

LeaderElectionRecord lease_record(const Object& lease) {
  LeaderElectionRecord r;
  r.holder_identity = lease.get<std::string>("/spec/holderIdentity").value_or("");
  r.lease_duration_seconds = lease.get<int64_t>("/spec/leaseDurationSeconds").value_or(0);
  r.acquire_time = lease.get<std::string>("/spec/acquireTime").value_or("");
  r.renew_time = lease.get<std::string>("/spec/renewTime").value_or("");
  r.lease_transitions = lease.get<int64_t>("/spec/leaseTransitions").value_or(0);
  return r;
}

std::string micro_time(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(t);
  const auto micros = duration_cast<microseconds>(t - secs).count();
  const std::time_t tt = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
}

LeaderElectionPolicy::LeaderElectionPolicy(std::string identity,
                                           std::chrono::milliseconds lease_duration)
    : identity_(std::move(identity)), lease_duration_(lease_duration) {}

bool LeaderElectionPolicy::observe(const std::optional<LeaderElectionRecord>& record,
                                   time_point now) {
  const std::string before = holder();
  if (record != observed_) {
    observed_ = record;
    observed_at_ = now;
  }
  return holder() != before;
}

std::optional<LeaderElectionRecord> LeaderElectionPolicy::next(time_point now,
                                                               std::string_view wall_now) const {
  LeaderElectionRecord r;
  r.holder_identity = identity_;
  // Whole seconds, rounded up: a lease never looks shorter than configured.
  r.lease_duration_seconds =
      std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(lease_duration_).count());
  r.acquire_time = std::string(wall_now);
  r.renew_time = std::string(wall_now);
  if (!observed_) return r;
  const LeaderElectionRecord& old = *observed_;
  const bool ours = old.holder_identity == identity_;
  // Another holder's lease runs for the duration it advertised, from when we saw it change.
  const bool expired = observed_at_ + std::chrono::seconds(old.lease_duration_seconds) <= now;
  if (!old.holder_identity.empty() && !ours && !expired) return std::nullopt;
  if (ours) {
    if (!old.acquire_time.empty()) r.acquire_time = old.acquire_time;
    r.lease_transitions = old.lease_transitions;
  } else {
    r.lease_transitions = old.lease_transitions + 1;
  }
  return r;
}

void LeaderElectionPolicy::wrote(const LeaderElectionRecord& record, time_point now) {
  observed_ = record;
  observed_at_ = now;
}

std::optional<LeaderElectionRecord> LeaderElectionPolicy::release(std::string_view wall_now) const {
  if (!is_leader()) return std::nullopt;
  LeaderElectionRecord r;
  r.lease_duration_seconds = 1;
  r.acquire_time = std::string(wall_now);
  r.renew_time = std::string(wall_now);
  r.lease_transitions = observed_->lease_transitions;
  return r;
}

bool LeaderElectionPolicy::renew_without_read(time_point now, bool have_written) const noexcept {
  return have_written && lease_valid(now);
}

bool LeaderElectionPolicy::is_leader() const noexcept {
  return observed_ && observed_->holder_identity == identity_;
}

bool LeaderElectionPolicy::lease_valid(time_point now) const noexcept {
  return is_leader() &&
         observed_at_ + std::chrono::seconds(observed_->lease_duration_seconds) > now;
}

const std::string& LeaderElectionPolicy::holder() const noexcept {
  static const std::string none;
  return observed_ ? observed_->holder_identity : none;
}

RenewalRound::RenewalRound(time_point start, std::chrono::milliseconds renew_deadline,
                           std::chrono::milliseconds retry_period)
    : deadline_(start + renew_deadline), retry_period_(retry_period) {}

RenewalRound::Decision RenewalRound::before_attempt(time_point now) const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now);
  if (left <= std::chrono::milliseconds(0)) return {Step::lost_deadline};
  return {Step::attempt, left};
}

RenewalRound::Decision RenewalRound::after_failure(time_point now, bool still_leader) const {
  if (!still_leader) return {Step::lost_holder};
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now);
  if (left <= std::chrono::milliseconds(0)) return {Step::lost_deadline};
  return {Step::wait, std::min(retry_period_, left)};
}

}  // namespace kcoro
