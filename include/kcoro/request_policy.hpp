// kcoro/request_policy.hpp — when the Client tries a request again, and how long it waits first
// (core layer: no I/O, clock or Asio). Client's round trip is the shell that does what this says.
//
// Contract (client-go's rest client, with kcoro's choices)
// - A response of 408, 429 or 5xx to an idempotent request is retried, up to
//   RetryPolicy::max_retries times: after the Retry-After the server sent (capped at
//   max_retry_after), otherwise after `base * 2^retries` capped at `cap` and jittered into
//   [d/2, d]. A write (the Client's POST, PUT, PATCH and DELETE) gets such an answer back: it
//   may have been carried out.
// - A 401 is tried once more, at once, if the shell can refresh the credentials (an exec plugin,
//   a rotated token file); otherwise, or a second time, it is the answer.
// - A connection failure (refused, reset, timed out) is retried like a 5xx for an idempotent
//   request, and for any request when it broke a pooled keep-alive connection before the request
//   was written (the server had closed it while idle): the first such retry at once, with a
//   fresh connection, the later ones after the backoff.
// - Anything else is the answer. A jittered wait is placed by a draw from [0, 1) that the shell
//   makes only then (Decision::wait), so a request answered at once costs no draw and tests pick
//   the draw.
// - Not thread-safe: one instance per request.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace kcoro {

/// Retries of idempotent requests on 408, 429, 5xx and connection failures.
struct RetryPolicy {
  int max_retries = 4;                       ///< 0 disables retries.
  std::chrono::milliseconds base{200};       ///< First backoff; doubles per retry.
  std::chrono::milliseconds cap{5000};       ///< Largest backoff.
  std::chrono::seconds max_retry_after{60};  ///< A larger Retry-After is capped to this.
};

class RequestPolicy {
 public:
  enum class Action {
    answer,          ///< the response is the answer (the shell returns it or throws it)
    retry,           ///< send the request again after `delay`
    reauthenticate,  ///< refresh the credentials and send again at once; if they cannot be
                     ///< refreshed, the response is the answer
    fail,            ///< the connection failure is the answer (the shell rethrows it)
  };
  struct Decision {
    Action action;
    std::chrono::milliseconds delay{0};  ///< the wait before a retry; when jittered, the longest
    bool jittered = false;               ///< the wait is drawn from [delay/2, delay]
    /// The wait before the retry, placed by `u` in [0, 1) when jittered.
    std::chrono::milliseconds wait(double u) const noexcept;
  };

  RequestPolicy(RetryPolicy retry, bool idempotent) noexcept;

  /// The headers of a response arrived: its status, and Retry-After in seconds when sent.
  Decision on_response(int status, std::optional<int64_t> retry_after) noexcept;
  /// The exchange failed on the connection. `pooled`: on a reused keep-alive connection;
  /// `written`: after the whole request was written.
  Decision on_connection_failure(bool pooled, bool written) noexcept;

  /// Retries decided so far (a reauthentication counts as one).
  int retries() const noexcept { return retries_; }

 private:
  std::chrono::milliseconds backoff() const noexcept;

  RetryPolicy retry_;
  bool idempotent_;
  int retries_ = 0;
  bool reauthenticated_ = false;
};

}  // namespace kcoro
