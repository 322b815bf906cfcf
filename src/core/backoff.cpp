#include "kcoro/backoff.hpp"

#include <cstdint>

namespace kcoro {

std::chrono::nanoseconds exponential_delay(std::chrono::nanoseconds base,
                                           std::chrono::nanoseconds max_delay,
                                           int attempts) noexcept {
  const int64_t b = base.count();
  const int64_t m = max_delay.count();
  if (b <= 0) return std::chrono::nanoseconds(0);
  // base << attempts would pass max (or overflow): answer max. For attempts < 63, `m >> attempts`
  // is exact and b <= (m >> a) is the same test as (b << a) <= m without computing b << a.
  if (attempts < 0) attempts = 0;
  if (attempts >= 63 || b > (m >> attempts)) return max_delay;
  return std::chrono::nanoseconds(b << attempts);
}

}  // namespace kcoro
