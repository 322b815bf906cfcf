// Internal (the fake API server): the bytes of HTTP/1.1 responses as kube-apiserver writes them.
//
// Pure functions, no I/O: response heads with the real server's headers (Audit-Id,
// Cache-Control: no-cache, private, Content-Type, Date, then Content-Length or
// Transfer-Encoding: chunked), chunk framing, and the Status bodies the shell itself answers
// (401, and the injected 429/500/503), pretty-printed like the recorded fixtures.
#pragma once

#include "kcoro/testing/fake_cluster.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kcoro::testing::http_render {

using Headers = std::vector<std::pair<std::string, std::string>>;

/// A response head ending with the blank line. `content_length` nullopt: chunked.
/// `close` adds `Connection: close`.
std::string head(int status, std::string_view content_type,
                 std::optional<std::size_t> content_length, const Headers& extra = {},
                 bool close = false);

/// Appends one chunk (hex size line, data, CRLF) holding `data`; nothing for empty data.
void append_chunk(std::string& out, std::string_view data);
/// Appends one chunk per '\n'-terminated line of `lines` (a trailing partial line is its own
/// chunk).
void append_line_chunks(std::string& out, std::string_view lines);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";
/// The size line of a chunk of `size` bytes ("85a\r\n").
std::string chunk_size_line(std::size_t size);

/// A random RFC 4122 version 4 UUID, as kube-apiserver's Audit-Id.
std::string uuid();
/// The current time as an HTTP date ("Sun, 22 Nov 2026 10:31:28 GMT").
std::string http_date();

/// The Status body of a failed request, pretty-printed as the fixtures are.
/// `details` is the already rendered inner JSON object members (e.g. "\"retryAfterSeconds\": 1").
std::string status_body(int code, std::string_view reason, std::string_view message,
                        std::string_view details_members = {});

/// 401 Unauthorized, byte for byte the body of error-401-bad-token.http.
FakeResponse unauthorized();
/// An injected failure: 429 (Retry-After), 500 or 503.
FakeResponse injected_status(int code, std::chrono::seconds retry_after);

}  // namespace kcoro::testing::http_render
