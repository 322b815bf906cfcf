// The Client's retry decisions, without I/O (kcoro/request_policy.hpp).
#include "kcoro/request_policy.hpp"

#include "kcoro/backoff.hpp"
#include "kcoro/error.hpp"

#include <algorithm>

namespace kcoro {

RequestPolicy::RequestPolicy(RetryPolicy retry, bool idempotent) noexcept
    : retry_(retry), idempotent_(idempotent) {}

std::chrono::milliseconds RequestPolicy::backoff(double jitter) const noexcept {
  const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(
      exponential_delay(retry_.base, retry_.cap, retries_));
  const double u = std::clamp(jitter, 0.0, 1.0);
  const auto half = d.count() / 2;
  return std::chrono::milliseconds(half +
                                   static_cast<int64_t>(u * static_cast<double>(d.count() - half)));
}

RequestPolicy::Decision RequestPolicy::on_response(int status, std::optional<int64_t> retry_after,
                                                   double jitter) noexcept {
  // 408, 429 and 5xx: what the server may answer differently a moment later.
  const bool retryable = status >= 400 && classify_failure(status) == FailureClass::retry;
  if (retryable && idempotent_ && retries_ < retry_.max_retries) {
    std::chrono::milliseconds delay = backoff(jitter);
    if (retry_after) {
      delay = std::min<std::chrono::milliseconds>(
          std::chrono::seconds(std::max<int64_t>(0, *retry_after)), retry_.max_retry_after);
    }
    ++retries_;
    return {Action::retry, delay};
  }
  if (status == 401 && !reauthenticated_) {
    reauthenticated_ = true;
    ++retries_;
    return {Action::reauthenticate};
  }
  return {Action::answer};
}

RequestPolicy::Decision RequestPolicy::on_connection_failure(bool pooled, bool written,
                                                             double jitter) noexcept {
  const bool stale = pooled && !written;  // the server closed the idle connection first
  if (!(idempotent_ || stale) || retries_ >= retry_.max_retries) return {Action::fail};
  // A broken pooled connection says nothing of the server: the first retry goes at once.
  const std::chrono::milliseconds delay =
      (retries_ > 0 || !pooled) ? backoff(jitter) : std::chrono::milliseconds(0);
  ++retries_;
  return {Action::retry, delay};
}

}  // namespace kcoro
