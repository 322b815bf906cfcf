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
//   helpers) answers 422, see is_write_conflict (reconcile_support.hpp).
// - The default RetryBackoff is client-go's retry.DefaultRetry: 5 steps, 10 ms, factor 1.0,
//   jitter 0.1. kcoro's exponential_delay (backoff.hpp) doubles per attempt, so it does not
//   express factor 1.0; retry_delay (reconcile_support.hpp) is wait.Backoff's step, kept pure.
// - Cancellation: a cancelled wait throws (operation_aborted) without another attempt.
#pragma once

#include "kcoro/detail/asio_config.hpp"
#include "kcoro/reconcile_support.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace kcoro {

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
