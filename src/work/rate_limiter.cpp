// The token bucket of golang.org/x/time/rate (the exponential delay is kcoro/backoff.hpp's).
#include "kcoro/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace kcoro {

TokenBucket::TokenBucket(double qps, int burst) : qps_(qps), burst_(burst), tokens_(burst) {
  if (!(qps > 0)) throw std::invalid_argument("TokenBucket: qps must be > 0");
  if (burst < 1) throw std::invalid_argument("TokenBucket: burst must be >= 1");
}

std::chrono::nanoseconds TokenBucket::reserve(LimiterClock::time_point now) {
  if (std::isinf(qps_)) return std::chrono::nanoseconds(0);
  std::lock_guard lk(mu_);
  // x/time/rate's advance(): refill for the time since the last reservation (none if the clock
  // went backwards), up to the burst.
  LimiterClock::time_point last = last_.value_or(now);
  if (now < last) last = now;
  const double elapsed_s = std::chrono::duration<double>(now - last).count();
  double tokens = std::min(tokens_ + elapsed_s * qps_, static_cast<double>(burst_));
  tokens -= 1.0;
  std::chrono::nanoseconds wait{0};
  if (tokens < 0) {
    // durationFromTokens(): the time the missing tokens take to arrive, truncated to a nanosecond.
    const double ns = (-tokens / qps_) * 1e9;
    wait = ns >= static_cast<double>(std::numeric_limits<int64_t>::max())
               ? std::chrono::nanoseconds::max()
               : std::chrono::nanoseconds(static_cast<int64_t>(ns));
  }
  last_ = now;
  tokens_ = tokens;
  return wait;
}

}  // namespace kcoro
