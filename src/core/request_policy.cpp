// The Client's retry decisions, without I/O (kcoro/request_policy.hpp).
#include "kcoro/request_policy.hpp"

#include "kcoro/backoff.hpp"
#include "kcoro/error.hpp"

#include <algorithm>

namespace kcoro {

RequestPolicy::RequestPolicy(RetryPolicy retry, bool idempotent) noexcept
    : retry_(retry), idempotent_(idempotent) {}

std::chrono::milliseconds RequestPolicy::Decision::wait(double u) const noexcept {
  if (!jittered) return delay;
  const double x = std::clamp(u, 0.0, 1.0);
  const auto half = delay.count() / 2;
  return std::chrono::milliseconds(
      half + static_cast<int64_t>(x * static_cast<double>(delay.count() - half)));
}

std::chrono::milliseconds RequestPolicy::backoff() const noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      exponential_delay(retry_.base, retry_.cap, retries_));
}

RequestPolicy::Decision RequestPolicy::on_response(int status,
                                                   std::optional<int64_t> retry_after) noexcept {
  // 408, 429 and 5xx: what the server may answer differently a moment later.
  const bool retryable = status >= 400 && classify_failure(status) == FailureClass::retry;
  if (retryable && idempotent_ && retries_ < retry_.max_retries) {
    Decision d{Action::retry, backoff(), true};
    if (retry_after) {  // the server's word is not jittered
      d.delay = std::min<std::chrono::milliseconds>(
          std::chrono::seconds(std::max<int64_t>(0, *retry_after)), retry_.max_retry_after);
      d.jittered = false;
    }
    ++retries_;
    return d;
  }
  if (status == 401 && !reauthenticated_) {
    reauthenticated_ = true;
    ++retries_;
    return {Action::reauthenticate};
  }
  return {Action::answer};
}

RequestPolicy::Decision RequestPolicy::on_connection_failure(bool pooled, bool written) noexcept {
  const bool stale = pooled && !written;  // the server closed the idle connection first
  if (!(idempotent_ || stale) || retries_ >= retry_.max_retries) return {Action::fail};
  // A broken pooled connection says nothing of the server: the first retry goes at once.
  const bool wait = retries_ > 0 || !pooled;
  Decision d{Action::retry, wait ? backoff() : std::chrono::milliseconds(0), wait};
  ++retries_;
  return d;
}

}  // namespace kcoro
