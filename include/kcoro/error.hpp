// kcoro/error.hpp — kcoro's error codes and the API error type.
//
// Contract
// - Expected failures inside the pipeline (a cut stream, malformed JSON, a 410 from a watch) travel
//   as `std::error_code` values from `kcoro::errc`; they are never thrown through a decoder or a
//   reflector loop.
// - At the user boundary a non-2xx answer from the API server becomes `ApiError`, which carries
//   the HTTP code and the decoded Kubernetes `Status`, so callers can branch with the predicates
//   below (`is_not_found`, `is_conflict`, ...).
// - No Asio here: this header belongs to the core layer.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace kcoro {

enum class errc {
  // Decoding.
  truncated_input = 1,   ///< The input ended inside a JSON document.
  invalid_json,          ///< The bytes are not valid JSON.
  missing_event_type,    ///< A watch event has no "type" string.
  missing_event_object,  ///< A watch event has no "object".
  unknown_event_type,    ///< A watch event's type is not ADDED/MODIFIED/DELETED/BOOKMARK/ERROR.
  missing_object_name,   ///< An object has no metadata.name.
  document_too_large,    ///< A watch line or list item is larger than the configured cap.
  invalid_list,          ///< A list response is not an object with an "items" array of objects.
  type_mismatch,         ///< A field read by JSON pointer holds another JSON type than asked.
  invalid_json_pointer,  ///< A JSON pointer is not of RFC 6901's form.
  invalid_status,        ///< An error body is neither a Kubernetes Status nor plain text.
  // API semantics.
  resource_expired,  ///< 410 Gone/Expired: the resourceVersion left the server's history.
  api_error,         ///< The server answered with a non-2xx status (see ApiError).
  // Configuration.
  invalid_config,  ///< A kubeconfig or in-cluster configuration is missing or malformed.
  unsupported,     ///< A configuration or request asks for something kcoro does not do.
  // Transport and lifecycle.
  connection_failed,  ///< The TCP connection or DNS lookup failed.
  tls_failed,         ///< The TLS handshake or certificate verification failed.
  timeout,            ///< A request or an idle watch exceeded its deadline.
  connection_closed,  ///< The peer closed the connection before the response ended.
  http_protocol,      ///< The response is not valid HTTP/1.1.
  cancelled,          ///< The operation was cancelled by its owner.
  closed,             ///< The channel or queue was closed or shut down.
  auth_failed,        ///< Credentials could not be obtained (token file, exec plugin).
};

/// The category of kcoro::errc; its name is "kcoro".
const std::error_category& kcoro_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), kcoro_category()};
}

/// One cause inside a Status's details (422 Invalid carries a cause per bad field).
struct StatusCause {
  std::string reason;
  std::string message;
  std::string field;
};

/// A Kubernetes meta/v1 Status, as the API server sends it with every failure.
struct Status {
  std::string status;   ///< "Failure" or "Success".
  std::string message;  ///< Human-readable description.
  std::string reason;   ///< Machine-readable: NotFound, AlreadyExists, Conflict, Expired, ...
  int code = 0;         ///< The HTTP code the server meant.
  struct Details {
    std::string name;
    std::string group;
    std::string kind;
    std::string uid;
    std::vector<StatusCause> causes;
    std::optional<int64_t> retry_after_seconds;
  } details;
  /// The continue token a 410 on an expired continue carries (metadata.continue).
  std::string continue_token;
  std::string resource_version;

  /// Decodes a Status JSON document. A body that is not a JSON object fails with
  /// errc::invalid_status; missing fields stay empty.
  static std::optional<Status> parse(std::string_view json, std::error_code& ec);
};

/// A non-2xx answer from the API server.
class ApiError : public std::runtime_error {
 public:
  /// `body` is the response body: a Status JSON document, or plain text (as the server sends for
  /// a path it does not serve), which becomes the message.
  ApiError(int http_code, std::string_view body, std::optional<int64_t> retry_after = {});
  ApiError(int http_code, Status status);

  int http_code() const noexcept { return http_code_; }
  const Status& status() const noexcept { return status_; }
  std::string_view reason() const noexcept { return status_.reason; }
  /// Retry-After, from the header or from details.retryAfterSeconds.
  std::optional<int64_t> retry_after_seconds() const noexcept {
    return status_.details.retry_after_seconds;
  }

 private:
  int http_code_;
  Status status_;
};

bool is_not_found(const ApiError& e) noexcept;               ///< 404 (object or resource).
bool is_already_exists(const ApiError& e) noexcept;          ///< 409 reason AlreadyExists.
bool is_conflict(const ApiError& e) noexcept;                ///< 409 other than AlreadyExists.
bool is_gone(const ApiError& e) noexcept;                    ///< 410 Gone or reason Expired.
bool is_invalid(const ApiError& e) noexcept;                 ///< 422 Invalid.
bool is_bad_request(const ApiError& e) noexcept;             ///< 400.
bool is_unauthorized(const ApiError& e) noexcept;            ///< 401.
bool is_forbidden(const ApiError& e) noexcept;               ///< 403.
bool is_method_not_supported(const ApiError& e) noexcept;    ///< 405.
bool is_unsupported_media_type(const ApiError& e) noexcept;  ///< 415.
bool is_too_many_requests(const ApiError& e) noexcept;       ///< 429.
bool is_server_error(const ApiError& e) noexcept;            ///< 5xx.
bool is_timeout(const ApiError& e) noexcept;                 ///< 504 or reason Timeout.

/// What a caller that keeps going (the client's retries, a reflector, an informer waiting for its
/// first sync) does about a failed request. One table for all of them, as client-go's rest client
/// and reflector draw it:
///
/// | answer                                   | class  |
/// |------------------------------------------|--------|
/// | 410 Gone, or reason Expired / Gone        | relist |
/// | 408, 429, 5xx                            | retry  |
/// | any other 4xx (400, 401, 403, 404, 422…) | fatal  |
///
/// `retry`: transient, try again after a backoff (honouring Retry-After). `relist`: the
/// resourceVersion asked for is no longer there; list again. `fatal`: asking again gets the same
/// answer; report it (an informer's wait_for_sync throws it). A 401 is fatal once the client's
/// single re-authentication has been tried. Connection failures are not ApiErrors: retry.
enum class FailureClass { retry, relist, fatal };

/// The message of an exception held in `e` (what(), or "a non-exception" for anything else),
/// for the places that log a failure instead of letting it escape. "" when `e` is null.
std::string exception_message(const std::exception_ptr& e);

FailureClass classify_failure(int http_code, std::string_view reason = {}) noexcept;
FailureClass classify_failure(const ApiError& e) noexcept;

/// An error_code with a human message: what decoders and the configuration loader report.
/// `offset` is the byte offset in the input where the problem was found, when there is one.
struct Error {
  std::error_code code;
  std::string message;
  std::optional<uint64_t> offset;

  explicit operator bool() const noexcept { return static_cast<bool>(code); }
  std::string to_string() const;
};

}  // namespace kcoro

template <>
struct std::is_error_code_enum<kcoro::errc> : std::true_type {};
