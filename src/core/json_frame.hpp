// Internal: the decoders' fast path — framing an object's top-level fields from the marks of
// BracketScan, so that simdjson indexes only the metadata and not the spec and status.
//
// Everything here is conservative: anything unusual (an escaped key, a null, a duplicate, a
// field that does not parse as `"key": value`) makes it return false, and the caller decodes the
// document the general way, which also produces the precise error.
#pragma once

#include "core/bracket_scan.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace kcoro::detail {

struct JsonMark {
  uint32_t pos;
  char c;
  int8_t depth;
};

inline bool json_ws(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

inline void skip_json_ws(const char*& p, const char* end) {
  while (p < end && json_ws(*p))
    ++p;
}

/// A string without escapes at p: its contents, and p past the closing quote.
inline bool take_plain_string(const char*& p, const char* end, std::string_view& out) {
  if (p >= end || *p != '"') return false;
  const char* q = p + 1;
  while (q < end && *q != '"') {
    if (*q == '\\') return false;
    ++q;
  }
  if (q >= end) return false;
  out = std::string_view(p + 1, static_cast<std::size_t>(q - p - 1));
  p = q + 1;
  return true;
}

/// One top-level field: `"key" : value`, the value's bytes without surrounding whitespace.
struct JsonField {
  std::string_view key;
  std::string_view value;
};

/// Splits [begin, end) — the text between an object's braces, whose commas at the object's own
/// level are `commas` (positions relative to `base`) — into fields.
inline bool split_fields(const char* base, const char* begin, const char* end,
                         const std::vector<uint32_t>& commas, std::vector<JsonField>& out) {
  out.clear();
  const char* s = begin;
  std::size_t k = 0;
  for (;;) {
    const char* e = k < commas.size() ? base + commas[k] : end;
    const char* p = s;
    skip_json_ws(p, e);
    if (p == e && k == 0 && commas.empty()) return true;  // {}
    JsonField f;
    if (!take_plain_string(p, e, f.key)) return false;
    skip_json_ws(p, e);
    if (p >= e || *p != ':') return false;
    ++p;
    skip_json_ws(p, e);
    const char* ve = e;
    while (ve > p && json_ws(ve[-1]))
      --ve;
    if (ve == p) return false;
    f.value = std::string_view(p, static_cast<std::size_t>(ve - p));
    out.push_back(f);
    if (k == commas.size()) return true;
    s = e + 1;
    ++k;
  }
}

/// What the object builder needs from a framed Kubernetes object.
struct FramedObject {
  std::string_view kind;
  std::string_view api_version;
  std::string_view metadata;  ///< '{' ... '}'
};

/// Picks kind, apiVersion and metadata from an object's fields. False on an escaped or non-string
/// kind/apiVersion, a metadata that is not an object, a duplicate, or no metadata.
inline bool pick_object_fields(const std::vector<JsonField>& fields, FramedObject& out) {
  out = FramedObject{};
  bool kind = false, api = false, md = false;
  for (const auto& f : fields) {
    if (f.key == "metadata") {
      if (md || f.value.front() != '{' || f.value.back() != '}') return false;
      md = true;
      out.metadata = f.value;
    } else if (f.key == "kind" || f.key == "apiVersion") {
      bool& seen = f.key == "kind" ? kind : api;
      const char* p = f.value.data();
      std::string_view s;
      if (seen || !take_plain_string(p, f.value.data() + f.value.size(), s) ||
          p != f.value.data() + f.value.size()) {
        return false;
      }
      seen = true;
      (f.key == "kind" ? out.kind : out.api_version) = s;
    }
  }
  return md;
}

}  // namespace kcoro::detail
