#include "kcoro/error.hpp"

#include <boost/json.hpp>

namespace kcoro {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "kcoro"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::truncated_input:
        return "input ended inside a JSON document";
      case errc::invalid_json:
        return "invalid JSON";
      case errc::missing_event_type:
        return "watch event has no type";
      case errc::missing_event_object:
        return "watch event has no object";
      case errc::unknown_event_type:
        return "unknown watch event type";
      case errc::missing_object_name:
        return "object has no metadata.name";
      case errc::document_too_large:
        return "document exceeds the size cap";
      case errc::invalid_list:
        return "malformed list response";
      case errc::type_mismatch:
        return "JSON value has another type than requested";
      case errc::invalid_json_pointer:
        return "invalid JSON pointer";
      case errc::invalid_status:
        return "error body is not a Kubernetes Status";
      case errc::resource_expired:
        return "resource version expired (410)";
      case errc::api_error:
        return "API server returned an error";
      case errc::invalid_config:
        return "invalid configuration";
      case errc::unsupported:
        return "unsupported";
      case errc::connection_failed:
        return "connection failed";
      case errc::tls_failed:
        return "TLS failure";
      case errc::timeout:
        return "timed out";
      case errc::connection_closed:
        return "connection closed by peer";
      case errc::http_protocol:
        return "HTTP protocol error";
      case errc::cancelled:
        return "cancelled";
      case errc::closed:
        return "closed";
      case errc::auth_failed:
        return "authentication failed";
    }
    return "unknown kcoro error";
  }
};

std::string str(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return std::string(it->value().get_string());
}

std::string text_message(int http_code, std::string_view body) {
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' ')) {
    body.remove_suffix(1);
  }
  if (body.empty()) return "HTTP " + std::to_string(http_code);
  return std::string(body);
}

std::string reason_for(int http_code) {
  switch (http_code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return {};
  }
}

}  // namespace

const std::error_category& kcoro_category() noexcept {
  static const Category category;
  return category;
}

std::optional<Status> Status::parse(std::string_view json, std::error_code& ec) {
  boost::system::error_code jec;
  boost::json::value v = boost::json::parse(json, jec);
  if (jec || !v.is_object()) {
    ec = errc::invalid_status;
    return std::nullopt;
  }
  const auto& o = v.get_object();
  Status s;
  s.status = str(o, "status");
  s.message = str(o, "message");
  s.reason = str(o, "reason");
  if (auto it = o.find("code"); it != o.end() && it->value().is_int64()) {
    s.code = static_cast<int>(it->value().get_int64());
  }
  if (auto it = o.find("metadata"); it != o.end() && it->value().is_object()) {
    s.continue_token = str(it->value().get_object(), "continue");
    s.resource_version = str(it->value().get_object(), "resourceVersion");
  }
  if (auto it = o.find("details"); it != o.end() && it->value().is_object()) {
    const auto& d = it->value().get_object();
    s.details.name = str(d, "name");
    s.details.group = str(d, "group");
    s.details.kind = str(d, "kind");
    s.details.uid = str(d, "uid");
    if (auto r = d.find("retryAfterSeconds"); r != d.end() && r->value().is_int64()) {
      s.details.retry_after_seconds = r->value().get_int64();
    }
    if (auto c = d.find("causes"); c != d.end() && c->value().is_array()) {
      for (const auto& cause : c->value().get_array()) {
        if (!cause.is_object()) continue;
        const auto& co = cause.get_object();
        s.details.causes.push_back({str(co, "reason"), str(co, "message"), str(co, "field")});
      }
    }
  }
  ec = {};
  return s;
}

namespace {
Status status_from_body(int http_code, std::string_view body) {
  std::error_code ec;
  if (auto s = Status::parse(body, ec); s && (!s->message.empty() || !s->reason.empty())) {
    if (s->code == 0) s->code = http_code;
    return std::move(*s);
  }
  Status s;
  s.status = "Failure";
  s.code = http_code;
  s.reason = reason_for(http_code);
  s.message = text_message(http_code, body);
  return s;
}

std::string what_of(int http_code, const Status& s) {
  std::string w = "API error " + std::to_string(http_code);
  if (!s.reason.empty()) w += " " + s.reason;
  if (!s.message.empty()) w += ": " + s.message;
  return w;
}
}  // namespace

ApiError::ApiError(int http_code, Status status)
    : std::runtime_error(what_of(http_code, status)),
      http_code_(http_code),
      status_(std::move(status)) {}

ApiError::ApiError(int http_code, std::string_view body, std::optional<int64_t> retry_after)
    : ApiError(http_code, [&] {
        Status s = status_from_body(http_code, body);
        if (retry_after && !s.details.retry_after_seconds)
          s.details.retry_after_seconds = retry_after;
        return s;
      }()) {}

bool is_not_found(const ApiError& e) noexcept {
  return e.http_code() == 404;
}
bool is_already_exists(const ApiError& e) noexcept {
  return e.http_code() == 409 && e.reason() == "AlreadyExists";
}
bool is_conflict(const ApiError& e) noexcept {
  return e.http_code() == 409 && e.reason() != "AlreadyExists";
}
bool is_gone(const ApiError& e) noexcept {
  return e.http_code() == 410 || e.reason() == "Expired" || e.reason() == "Gone";
}
bool is_invalid(const ApiError& e) noexcept {
  return e.http_code() == 422;
}
bool is_bad_request(const ApiError& e) noexcept {
  return e.http_code() == 400;
}
bool is_unauthorized(const ApiError& e) noexcept {
  return e.http_code() == 401;
}
bool is_forbidden(const ApiError& e) noexcept {
  return e.http_code() == 403;
}
bool is_method_not_supported(const ApiError& e) noexcept {
  return e.http_code() == 405;
}
bool is_unsupported_media_type(const ApiError& e) noexcept {
  return e.http_code() == 415;
}
bool is_too_many_requests(const ApiError& e) noexcept {
  return e.http_code() == 429;
}
bool is_server_error(const ApiError& e) noexcept {
  return e.http_code() >= 500 && e.http_code() <= 599;
}
bool is_timeout(const ApiError& e) noexcept {
  return e.http_code() == 504 || e.reason() == "Timeout";
}

FailureClass classify_failure(int http_code, std::string_view reason) noexcept {
  if (http_code == 410 || reason == "Expired" || reason == "Gone") return FailureClass::relist;
  if (http_code == 408 || http_code == 429 || (http_code >= 500 && http_code <= 599)) {
    return FailureClass::retry;
  }
  if (http_code >= 400 && http_code <= 499) return FailureClass::fatal;
  return FailureClass::retry;  // not an HTTP failure (a 3xx the client did not follow, 0)
}

std::string exception_message(const std::exception_ptr& e) {
  if (!e) return {};
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "a non-exception";
  }
}

FailureClass classify_failure(const ApiError& e) noexcept {
  return classify_failure(e.http_code(), e.reason());
}

std::string Error::to_string() const {
  std::string s = message.empty() ? code.message() : message;
  if (offset) s += " (at byte " + std::to_string(*offset) + ")";
  return s;
}

}  // namespace kcoro
