// kcoro/backoff.hpp — the one exponential backoff of kcoro (core layer: no clock, no Asio).
//
// The client's retries, the reflector's relist/rewatch backoff and the work queue's per-item
// rate limiter all wait `base * 2^attempts`, capped; they differ only in the jitter they add
// on top (the client: [d/2, d]; the reflector: full jitter [0, d]; the queue: none, as
// client-go's ItemExponentialFailureRateLimiter).
#pragma once

#include <chrono>

namespace kcoro {

/// `base * 2^attempts`, capped at `max_delay`, for any attempt count (negative counts as 0):
/// never overflows. A base of zero or less gives zero.
std::chrono::nanoseconds exponential_delay(std::chrono::nanoseconds base,
                                           std::chrono::nanoseconds max_delay,
                                           int attempts) noexcept;

}  // namespace kcoro
