// kcoro/rate_limiter.hpp — how long an item waits before its next attempt.
//
// Contract
// - A rate limiter is a pure policy object, client-go's util/workqueue RateLimiter: `when(item,
//   now)` records one more failure of `item` and returns how long it must wait before it is
//   retried; `forget(item)` clears the item's history (call it when the item succeeded);
//   `num_requeues(item)` tells how many failures are on record. Time is never read inside: the
//   caller passes `now` (the work queue passes its clock's time), so tests drive limiters with
//   made-up time points.
// - Every limiter here is safe to call from any thread (each holds a mutex).
// - The arithmetic is client-go's to the letter: per-item exponential (base * 2^failures, capped,
//   never overflowing however many failures pile up), token bucket (golang.org/x/time/rate
//   reservations: every call takes a token, and a call that finds the bucket empty reserves a
//   future token, so the delays of successive calls grow), max-of and fast-slow.
// - `default_controller_rate_limiter()` is client-go's DefaultControllerRateLimiter: the max of an
//   exponential limiter (5 ms doubling to 1000 s) and a bucket of 10 tokens/s with a burst of 100.
// - No Asio here.
#pragma once

#include "kcoro/backoff.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kcoro {

/// The time type every limiter works in.
using LimiterClock = std::chrono::steady_clock;

/// A retry policy keyed by item. T must be hashable with std::hash<T>.
template <class T = std::string>
class RateLimiter {
 public:
  using time_point = LimiterClock::time_point;
  using duration = std::chrono::nanoseconds;

  virtual ~RateLimiter() = default;
  /// Counts one more failure of `item` at `now` and returns how long it should wait.
  virtual duration when(const T& item, time_point now) = 0;
  /// Forgets the item's failures (it succeeded). The token bucket has nothing to forget.
  virtual void forget(const T& item) = 0;
  /// The failures on record for `item` since it was last forgotten.
  virtual int num_requeues(const T& item) const = 0;
};

namespace detail {

using kcoro::exponential_delay;  // kcoro/backoff.hpp

/// n + 1, but INT_MAX stays INT_MAX: failure counters saturate instead of overflowing.
constexpr int saturating_increment(int n) noexcept {
  return n == INT_MAX ? n : n + 1;
}

/// The per-item failure counts of the exponential and fast-slow limiters, under one mutex.
template <class T>
class FailureCounts {
 public:
  /// Counts one more failure of `item`; returns the count before it.
  int add(const T& item) {
    std::lock_guard lk(mu_);
    int& failures = counts_[item];
    const int before = failures;
    failures = saturating_increment(failures);
    return before;
  }
  void forget(const T& item) {
    std::lock_guard lk(mu_);
    counts_.erase(item);
  }
  int get(const T& item) const {
    std::lock_guard lk(mu_);
    auto it = counts_.find(item);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<T, int> counts_;
};

}  // namespace detail

/// The reservation arithmetic of golang.org/x/time/rate's Limiter (tokens as a float, refilled at
/// `qps` per second up to `burst`), with the time passed in. The bucket starts full.
class TokenBucket {
 public:
  /// `qps` > 0 (may be infinite: then every reservation is immediate), `burst` >= 1; anything else
  /// throws std::invalid_argument.
  TokenBucket(double qps, int burst);

  /// Takes one token at `now` and returns how long after `now` it is available (zero when the
  /// bucket had one). A token that is not there yet is still taken: the next caller waits longer.
  std::chrono::nanoseconds reserve(LimiterClock::time_point now);

  double qps() const noexcept { return qps_; }
  int burst() const noexcept { return burst_; }

 private:
  std::mutex mu_;
  double qps_;
  int burst_;
  double tokens_;
  std::optional<LimiterClock::time_point> last_;
};

/// client-go's ItemExponentialFailureRateLimiter: `base * 2^(failures so far)`, capped at `max`.
template <class T = std::string>
class ExponentialRateLimiter final : public RateLimiter<T> {
 public:
  using typename RateLimiter<T>::duration;
  using typename RateLimiter<T>::time_point;

  ExponentialRateLimiter(duration base, duration max) : base_(base), max_(max) {}

  duration when(const T& item, time_point /*now*/) override {
    return detail::exponential_delay(base_, max_, failures_.add(item));
  }
  void forget(const T& item) override { failures_.forget(item); }
  int num_requeues(const T& item) const override { return failures_.get(item); }

 private:
  duration base_;
  duration max_;
  detail::FailureCounts<T> failures_;
};

/// client-go's BucketRateLimiter: one bucket for all items; every `when` takes a token.
template <class T = std::string>
class BucketRateLimiter final : public RateLimiter<T> {
 public:
  using typename RateLimiter<T>::duration;
  using typename RateLimiter<T>::time_point;

  BucketRateLimiter(double qps, int burst) : bucket_(qps, burst) {}

  duration when(const T& /*item*/, time_point now) override { return bucket_.reserve(now); }
  void forget(const T& /*item*/) override {}
  int num_requeues(const T& /*item*/) const override { return 0; }

 private:
  TokenBucket bucket_;
};

/// client-go's ItemFastSlowRateLimiter: `fast` for the first `max_fast_attempts` failures of an
/// item, `slow` after that.
template <class T = std::string>
class FastSlowRateLimiter final : public RateLimiter<T> {
 public:
  using typename RateLimiter<T>::duration;
  using typename RateLimiter<T>::time_point;

  FastSlowRateLimiter(duration fast, duration slow, int max_fast_attempts)
      : fast_(fast), slow_(slow), max_fast_(max_fast_attempts) {}

  duration when(const T& item, time_point /*now*/) override {
    const int failures = detail::saturating_increment(failures_.add(item));
    return failures <= max_fast_ ? fast_ : slow_;
  }
  void forget(const T& item) override { failures_.forget(item); }
  int num_requeues(const T& item) const override { return failures_.get(item); }

 private:
  duration fast_;
  duration slow_;
  int max_fast_;
  detail::FailureCounts<T> failures_;
};

/// client-go's MaxOfRateLimiter: asks every limiter (each one counts the failure) and returns the
/// longest delay; `num_requeues` is the largest count, `forget` forgets everywhere.
template <class T = std::string>
class MaxOfRateLimiter final : public RateLimiter<T> {
 public:
  using typename RateLimiter<T>::duration;
  using typename RateLimiter<T>::time_point;

  explicit MaxOfRateLimiter(std::vector<std::shared_ptr<RateLimiter<T>>> limiters)
      : limiters_(std::move(limiters)) {}

  duration when(const T& item, time_point now) override {
    duration longest{0};
    for (auto& l : limiters_)
      longest = std::max(longest, l->when(item, now));
    return longest;
  }
  void forget(const T& item) override {
    for (auto& l : limiters_)
      l->forget(item);
  }
  int num_requeues(const T& item) const override {
    int most = 0;
    for (auto& l : limiters_)
      most = std::max(most, l->num_requeues(item));
    return most;
  }

 private:
  const std::vector<std::shared_ptr<RateLimiter<T>>> limiters_;
};

/// client-go's DefaultControllerRateLimiter: max(exponential 5 ms..1000 s, bucket 10/s burst 100).
template <class T = std::string>
std::shared_ptr<RateLimiter<T>> default_controller_rate_limiter() {
  using namespace std::chrono_literals;
  return std::make_shared<MaxOfRateLimiter<T>>(std::vector<std::shared_ptr<RateLimiter<T>>>{
      std::make_shared<ExponentialRateLimiter<T>>(5ms, 1000s),
      std::make_shared<BucketRateLimiter<T>>(10.0, 100)});
}

}  // namespace kcoro
