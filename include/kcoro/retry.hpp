// kcoro/retry.hpp — retry a read-modify-write while the server answers 409 Conflict.
//
// Contract
// - retry_on_conflict(backoff, fn) is client-go's retry.RetryOnConflict: it awaits `fn()` up to
//   `backoff.steps` times (at least once) while it throws an ApiError for which is_conflict()
//   holds (409, reason other than AlreadyExists). Between two attempts it waits
//   retry_delay(backoff, attempt) on a steady_timer of the awaiting coroutine's executor. The
//   last conflict is rethrown as it was thrown; any other exception propagates at once, untried.
//   `fn` must read the object again on each attempt: retrying a write of the same stale object
//   meets the same conflict.
// - Only 409 is retried, as client-go: a JSON patch whose `test` fails (kcoro's finalizer
//   helpers) answers 422, see is_write_conflict in finalizer.hpp.
// - The default RetryBackoff is client-go's retry.DefaultRetry: 5 steps, 10 ms, factor 1.0,
//   jitter 0.1. kcoro's exponential_delay (backoff.hpp) doubles per attempt, so it does not
//   express factor 1.0; retry_delay is wait.Backoff's step, kept pure for tests.
// - Cancellation: a cancelled wait throws (operation_aborted) without another attempt.
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace kcoro {

/// client-go's wait.Backoff, as retry.DefaultRetry fills it.
struct RetryBackoff {
  // Not an aggregate: GCC bug 100611, see client.hpp.
  RetryBackoff() {}
  int steps = 5;  ///< Attempts in all (client-go: Steps).
  std::chrono::nanoseconds duration{std::chrono::milliseconds(10)};  ///< The first wait.
  double factor = 1.0;              ///< Each wait is the previous one times this.
  double jitter = 0.1;              ///< A wait d becomes d + d * jitter * [0, 1).
  std::chrono::nanoseconds cap{0};  ///< The largest wait before jitter; 0: no cap.
};

/// The wait after failed attempt number `attempt` (0-based):
/// min(duration * factor^attempt, cap) * (1 + jitter * unit), with `unit` in [0, 1).
std::chrono::nanoseconds retry_delay(const RetryBackoff& b, int attempt, double unit) noexcept;

namespace detail {
boost::asio::awaitable<void> retry_on_conflict(RetryBackoff backoff,
                                               std::function<boost::asio::awaitable<void>()> fn);
}

/// Awaits `fn()` (returning boost::asio::awaitable<T>), again while it fails with a 409 Conflict;
/// returns what the successful attempt returned.
template <class F>
auto retry_on_conflict(RetryBackoff backoff, F fn) -> std::invoke_result_t<F&> {
  using T = typename std::invoke_result_t<F&>::value_type;
  if constexpr (std::is_void_v<T>) {
    co_await detail::retry_on_conflict(backoff, [&]() { return fn(); });
  } else {
    std::optional<T> out;
    co_await detail::retry_on_conflict(
        backoff, [&]() -> boost::asio::awaitable<void> { out.emplace(co_await fn()); });
    co_return std::move(*out);
  }
}

}  // namespace kcoro
