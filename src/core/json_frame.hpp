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

/// Whether this thread's decoders take the fast path (on by default). Tests and fuzzers turn it
/// off to decode the same bytes the general way and compare.
bool decoder_fast_path() noexcept;
void set_decoder_fast_path(bool on) noexcept;

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

/// Whether [p, end) is one string value: a quote, then its closing quote (escapes honoured) as
/// the last byte.
inline bool whole_string(const char* p, const char* end) {
  if (end - p < 2 || *p != '"') return false;
  for (const char* q = p + 1; q < end; ++q) {
    if (*q == '\\') {
      ++q;
    } else if (*q == '"') {
      return q + 1 == end;
    }
  }
  return false;
}

/// Whether [p, end) is one atom token (number, true, false, null) as far as framing goes: no
/// whitespace, quotes, brackets, commas or colons inside. Its spelling is not checked, as an
/// On-Demand skip does not check it.
inline bool whole_atom(const char* p, const char* end) {
  if (p == end) return false;
  for (; p < end; ++p) {
    const char c = *p;
    if (json_ws(c) || c == '"' || c == ',' || c == ':' || c == '{' || c == '}' || c == '[' ||
        c == ']') {
      return false;
    }
  }
  return true;
}

/// Whether [p, ve) is one value, given the brackets at its own level within it (their count, the
/// first and last, and their characters): a container whose brackets are exactly its ends, or a
/// whole string, or an atom.
inline bool whole_value(const char* p, const char* ve, int brackets, const char* first_bracket,
                        const char* last_bracket, char open_char, char close_char) {
  if (brackets) {
    return brackets == 2 && first_bracket == p && last_bracket == ve - 1 &&
           (open_char == '{') == (close_char == '}') && open_char != '}' && open_char != ']';
  }
  return *p == '"' ? whole_string(p, ve) : whole_atom(p, ve);
}

/// Splits the object whose braces are marks[open] and marks[close] (positions are offsets from
/// `base`) into its fields, `"key": value`, from the marks at the fields' level `level` (the
/// object's own depth + 1): its commas separate them, and its brackets must be exactly the
/// braces of container values. Each value must be one JSON value — a container, a string or an
/// atom token — spanning the whole field, as On-Demand iteration of the object would require.
/// Keys must be plain strings (no escapes). False otherwise.
inline bool split_fields(const char* base, const std::vector<JsonMark>& marks, std::size_t open,
                         std::size_t close, int level, std::vector<JsonField>& out) {
  out.clear();
  if (marks[open].c != '{' || marks[close].c != '}') return false;  // the scan only counts depth
  const char* s = base + marks[open].pos + 1;
  const char* const obj_end = base + marks[close].pos;
  std::size_t k = open + 1;
  for (;;) {
    // The field runs to the next comma at this level, or to the closing brace. Brackets at this
    // level on the way are its value's.
    const char* e = obj_end;
    const char* first_bracket = nullptr;
    const char* last_bracket = nullptr;
    char open_char = 0, close_char = 0;
    int brackets = 0;
    for (; k < close; ++k) {
      const JsonMark& m = marks[k];
      if (m.depth != level) continue;
      if (m.c == ',') {
        e = base + m.pos;
        ++k;
        break;
      }
      if (++brackets == 1) {
        first_bracket = base + m.pos;
        open_char = m.c;
      }
      last_bracket = base + m.pos;
      close_char = m.c;
    }
    const char* p = s;
    skip_json_ws(p, e);
    if (p == e && out.empty() && e == obj_end) return true;  // {}
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
    if (!whole_value(p, ve, brackets, first_bracket, last_bracket, open_char, close_char)) {
      return false;
    }
    f.value = std::string_view(p, static_cast<std::size_t>(ve - p));
    out.push_back(f);
    if (e == obj_end) return true;
    s = e + 1;
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
