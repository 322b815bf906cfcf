// Rate limiter arithmetic, driven with made-up time points (client-go's
// default_rate_limiters_test.go scenarios, in tables).
#include "kcoro/rate_limiter.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <climits>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using kcoro::LimiterClock;
using ns = std::chrono::nanoseconds;

namespace {
const LimiterClock::time_point t0 = LimiterClock::time_point{} + 1h;

// Within a nanosecond: x/time/rate's float arithmetic truncates (0.1 s is not exact in binary).
bool near(ns got, ns want) {
  return got - want <= 1ns && want - got <= 1ns;
}
}  // namespace

TEST_CASE("exponential_delay: base * 2^failures, capped, for any failure count") {
  struct Row {
    ns base, max;
    int failures;
    ns want;
  };
  const std::vector<Row> table = {
      {5ms, 1000s, 0, 5ms},
      {5ms, 1000s, 1, 10ms},
      {5ms, 1000s, 2, 20ms},
      {5ms, 1000s, 10, 5120ms},
      {5ms, 1000s, 17, 655360ms},
      {5ms, 1000s, 18, 1000s},  // 1310.72 s capped
      {5ms, 1000s, 40, 1000s},
      {5ms, 1000s, 62, 1000s},
      {5ms, 1000s, 63, 1000s},  // 2^63 overflows int64: must still answer the cap
      {5ms, 1000s, 64, 1000s},
      {5ms, 1000s, 1000, 1000s},
      {5ms, 1000s, INT_MAX, 1000s},
      {1ns, ns::max(), 62, ns(int64_t{1} << 62)},
      {1ns, ns::max(), 63, ns::max()},
      {2ns, ns::max(), 62, ns::max()},
      {1min, 1000h, 16, 1000h},  // client-go's overflow test: 2^16 min > 1000 h
      {1min, 1000h, 15, 32768min},
      {1min, 1000h, 5, 32min},
      {10ms, 5ms, 0, 5ms},  // base above the cap
      {0ns, 1s, 100, 0ns},
  };
  for (const auto& r : table) {
    CAPTURE(r.failures);
    CHECK(kcoro::detail::exponential_delay(r.base, r.max, r.failures) == r.want);
  }
  CHECK(kcoro::detail::saturating_increment(0) == 1);
  CHECK(kcoro::detail::saturating_increment(INT_MAX - 1) == INT_MAX);
  CHECK(kcoro::detail::saturating_increment(INT_MAX) == INT_MAX);
}

TEST_CASE("exponential limiter: doubles per item, forget resets") {
  kcoro::ExponentialRateLimiter<std::string> l(1ms, 1s);
  const std::vector<ns> one = {1ms, 2ms, 4ms, 8ms, 16ms};
  for (auto want : one)
    CHECK(l.when("one", t0) == want);
  CHECK(l.num_requeues("one") == 5);
  CHECK(l.when("two", t0) == 1ms);
  CHECK(l.when("two", t0) == 2ms);
  CHECK(l.num_requeues("two") == 2);
  l.forget("one");
  CHECK(l.num_requeues("one") == 0);
  CHECK(l.when("one", t0) == 1ms);
  CHECK(l.num_requeues("two") == 2);
}

TEST_CASE("exponential limiter: reaches and keeps the cap without overflow") {
  kcoro::ExponentialRateLimiter<std::string> l(5ms, 1000s);
  ns last{};
  for (int i = 0; i < 1000; ++i)
    last = l.when("x", t0);
  CHECK(last == 1000s);
  CHECK(l.num_requeues("x") == 1000);
  kcoro::ExponentialRateLimiter<int> big(1min, 1000h);
  CHECK(big.when(1, t0) == 1min);
  CHECK(big.when(1, t0) == 2min);
  for (int i = 0; i < 100; ++i)
    big.when(1, t0);
  CHECK(big.when(1, t0) == 1000h);
}

TEST_CASE("token bucket: burst, then reservations accumulate at 1/qps") {
  kcoro::TokenBucket b(10, 100);
  for (int i = 0; i < 100; ++i)
    REQUIRE(b.reserve(t0) == 0ns);
  // Empty: each call reserves the next future token.
  CHECK(near(b.reserve(t0), 100ms));
  CHECK(near(b.reserve(t0), 200ms));
  CHECK(near(b.reserve(t0), 300ms));
  // 300 ms later the three reserved tokens have arrived and the bucket is at zero again.
  CHECK(near(b.reserve(t0 + 300ms), 100ms));
  // A long pause refills up to the burst, never beyond.
  const auto later = t0 + 1h;
  for (int i = 0; i < 100; ++i)
    REQUIRE(b.reserve(later) == 0ns);
  CHECK(near(b.reserve(later), 100ms));
}

TEST_CASE("token bucket: table of reservations at fixed times") {
  struct Row {
    ns at;  // since t0
    ns want;
  };
  kcoro::TokenBucket b(2, 2);  // 2 tokens/s, burst 2
  const std::vector<Row> table = {
      {0ms, 0ms},        // burst token 1
      {0ms, 0ms},        // burst token 2
      {0ms, 500ms},      // tokens -1
      {250ms, 750ms},    // -1 + 0.5 - 1 = -1.5
      {2000ms, 0ms},     // -1.5 + 3.5 = 2 (capped) - 1 = 1
      {2000ms, 0ms},     // 0
      {2000ms, 500ms},   // -1
      {1000ms, 1000ms},  // clock went backwards: no refill, -2
  };
  for (const auto& r : table) {
    CAPTURE(r.at.count());
    CHECK(b.reserve(t0 + r.at) == r.want);
  }
}

TEST_CASE("token bucket: arguments") {
  CHECK_THROWS_AS(kcoro::TokenBucket(0, 1), std::invalid_argument);
  CHECK_THROWS_AS(kcoro::TokenBucket(1, 0), std::invalid_argument);
  kcoro::TokenBucket inf(std::numeric_limits<double>::infinity(), 1);
  for (int i = 0; i < 10; ++i)
    CHECK(inf.reserve(t0) == 0ns);
}

TEST_CASE("bucket limiter: shared by all items, nothing to forget") {
  kcoro::BucketRateLimiter<std::string> l(1, 1);
  CHECK(l.when("a", t0) == 0ns);
  CHECK(l.when("b", t0) == 1s);
  CHECK(l.when("a", t0) == 2s);
  l.forget("a");
  CHECK(l.num_requeues("a") == 0);
  CHECK(l.when("c", t0) == 3s);
}

TEST_CASE("fast-slow limiter") {
  kcoro::FastSlowRateLimiter<std::string> l(5ms, 10s, 3);
  const std::vector<ns> one = {5ms, 5ms, 5ms, 10s, 10s};
  for (auto want : one)
    CHECK(l.when("one", t0) == want);
  CHECK(l.num_requeues("one") == 5);
  CHECK(l.when("two", t0) == 5ms);
  CHECK(l.when("two", t0) == 5ms);
  CHECK(l.num_requeues("two") == 2);
  l.forget("one");
  CHECK(l.num_requeues("one") == 0);
  CHECK(l.when("one", t0) == 5ms);
}

TEST_CASE("max-of limiter: longest delay, largest count, forget everywhere") {
  auto fast_slow = std::make_shared<kcoro::FastSlowRateLimiter<std::string>>(5ms, 3s, 3);
  auto exp = std::make_shared<kcoro::ExponentialRateLimiter<std::string>>(1ms, 1s);
  kcoro::MaxOfRateLimiter<std::string> l({fast_slow, exp});
  const std::vector<ns> one = {5ms, 5ms, 5ms, 3s, 3s};
  for (auto want : one)
    CHECK(l.when("one", t0) == want);
  CHECK(l.num_requeues("one") == 5);
  CHECK(exp->num_requeues("one") == 5);  // every limiter counted every failure
  CHECK(l.when("two", t0) == 5ms);
  CHECK(l.when("two", t0) == 5ms);
  CHECK(l.num_requeues("two") == 2);
  l.forget("one");
  CHECK(l.num_requeues("one") == 0);
  CHECK(exp->num_requeues("one") == 0);
  CHECK(l.when("one", t0) == 5ms);
}

TEST_CASE("default controller limiter: max(exponential 5ms..1000s, bucket 10/s burst 100)") {
  auto l = kcoro::default_controller_rate_limiter<std::string>();
  // Per item: 5 ms doubling, as long as the bucket has tokens.
  CHECK(l->when("a", t0) == 5ms);
  CHECK(l->when("a", t0) == 10ms);
  CHECK(l->when("a", t0) == 20ms);
  CHECK(l->num_requeues("a") == 3);
  // 97 more distinct items drain the rest of the burst (each at its own 5 ms).
  for (int i = 0; i < 97; ++i)
    REQUIRE(l->when("k" + std::to_string(i), t0) == 5ms);
  // The bucket is empty: the 101st token is 100 ms away, then 200 ms...
  CHECK(near(l->when("fresh", t0), 100ms));
  CHECK(near(l->when("fresh2", t0), 200ms));
  // ...but an item far into its backoff still gets its own, longer delay.
  for (int i = 0; i < 20; ++i)
    l->when("a", t0 + 1h);
  CHECK(l->when("a", t0 + 2h) == 1000s);
  l->forget("a");
  CHECK(l->num_requeues("a") == 0);
}
