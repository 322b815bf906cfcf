// kcoro/reconcile_support.hpp — the decisions of the reconcile helpers, without I/O (core
// level: no Asio): what create_or_update did, the merge patch between two states, whether an
// object holds a finalizer, whether a write failed on a stale object, and client-go's
// wait.Backoff step. create_or_update.hpp, finalizer.hpp and retry.hpp include it; their
// coroutines use these.
#pragma once

#include "kcoro/error.hpp"
#include "kcoro/object.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <string_view>

namespace kcoro {

/// What create_or_update / create_or_patch did (controllerutil.OperationResult).
enum class OperationResult {
  unchanged,            ///< Nothing to write (controller-runtime: "unchanged").
  created,              ///< The object did not exist and was created.
  updated,              ///< The object was updated (its status, if any, untouched).
  updated_status,       ///< create_or_patch: the object and its status were patched.
  updated_status_only,  ///< create_or_patch: only the status was patched.
};

/// "unchanged", "created", "updated", "updatedStatus", "updatedStatusOnly", as controller-runtime.
std::string_view to_string(OperationResult r) noexcept;

/// The JSON merge patch (RFC 7386) that turns `before` into `after`: changed and new members
/// with their new values, removed members as null, arrays whole. Empty when they are equal.
boost::json::object merge_patch_diff(const boost::json::object& before,
                                     const boost::json::object& after);

/// Whether obj's metadata.finalizers holds `name`.
bool has_finalizer(const Object& obj, std::string_view name) noexcept;

/// The write failed because the object changed since it was read: a 409 Conflict, or the 422
/// Invalid a failed JSON-patch `test` answers.
bool is_write_conflict(const ApiError& e) noexcept;

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

}  // namespace kcoro
