#include "testing/fake_server_http.hpp"

#include <boost/beast/http/status.hpp>

#include <cstdio>
#include <ctime>
#include <random>

namespace kcoro::testing::http_render {

std::string head(int status, std::string_view content_type,
                 std::optional<std::size_t> content_length, const Headers& extra, bool close) {
  namespace http = boost::beast::http;
  std::string h;
  h.reserve(256);
  h += "HTTP/1.1 ";
  h += std::to_string(status);
  h += ' ';
  h += http::obsolete_reason(static_cast<http::status>(status));
  h += "\r\nAudit-Id: " + uuid();
  h += "\r\nCache-Control: no-cache, private\r\nContent-Type: ";
  h += content_type;
  if (content_type.starts_with("text/plain")) h += "\r\nX-Content-Type-Options: nosniff";
  for (const auto& [name, value] : extra)
    h += "\r\n" + name + ": " + value;
  h += "\r\nDate: " + http_date();
  if (close) h += "\r\nConnection: close";
  if (content_length) {
    h += "\r\nContent-Length: " + std::to_string(*content_length);
  } else {
    h += "\r\nTransfer-Encoding: chunked";
  }
  h += "\r\n\r\n";
  return h;
}

std::string chunk_size_line(std::size_t size) {
  char buf[24];
  const int n = std::snprintf(buf, sizeof buf, "%zx\r\n", size);
  return std::string(buf, static_cast<std::size_t>(n));
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  out += chunk_size_line(data.size());
  out.append(data);
  out += "\r\n";
}

void append_line_chunks(std::string& out, std::string_view lines) {
  while (!lines.empty()) {
    const auto eol = lines.find('\n');
    const std::size_t n = eol == std::string_view::npos ? lines.size() : eol + 1;
    append_chunk(out, lines.substr(0, n));
    lines.remove_prefix(n);
  }
}

std::string uuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>(a >> 16) & 0xffff, static_cast<unsigned>(a) & 0xfff,
                (static_cast<unsigned>(b >> 48) & 0x3fff) | 0x8000,
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string http_date() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

namespace {
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}
}  // namespace

std::string status_body(int code, std::string_view reason, std::string_view message,
                        std::string_view details_members) {
  std::string b = "{\n  \"kind\": \"Status\",\n  \"apiVersion\": \"v1\",\n  \"metadata\": {},\n";
  b += "  \"status\": \"Failure\",\n  \"message\": " + json_string(message) + ",\n";
  b += "  \"reason\": " + json_string(reason) + ",\n";
  if (!details_members.empty()) {
    b += "  \"details\": {\n    ";
    b.append(details_members);
    b += "\n  },\n";
  }
  b += "  \"code\": " + std::to_string(code) + "\n}";
  return b;
}

FakeResponse unauthorized() {
  FakeResponse r;
  r.status = 401;
  r.body = status_body(401, "Unauthorized", "Unauthorized");
  return r;
}

FakeResponse injected_status(int code, std::chrono::seconds retry_after) {
  FakeResponse r;
  r.status = code;
  switch (code) {
    case 429: {
      const std::string secs = std::to_string(retry_after.count());
      r.body = status_body(429, "TooManyRequests", "Too many requests, please try again later.",
                           "\"retryAfterSeconds\": " + secs);
      r.headers.emplace_back("Retry-After", secs);
      break;
    }
    case 503:
      r.body = status_body(503, "ServiceUnavailable",
                           "the server is currently unable to handle the request");
      break;
    default:
      r.body = status_body(code, "InternalError",
                           "Internal error occurred: injected by kcoro's fake API server");
      break;
  }
  return r;
}

}  // namespace kcoro::testing::http_render
