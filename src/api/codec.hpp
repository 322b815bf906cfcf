// api/codec.hpp — internal: the reading and writing machinery the generated API code is made of.
//
// Reading is one forward pass of simdjson On-Demand over the document. Every reader takes the
// value, the object to fill and a Ctx that tracks the JSON path (a stack of field names and array
// indexes, pushed and popped around each value) so that an error names where it happened. Field
// names are the generated code's string literals; map keys point into the map being filled, so
// the stack never copies a string. The generated per-type readers live in the type's namespace
// and are found by argument-dependent lookup from the templates below; the generated code always
// calls through detail::field() and detail::put() so that lookup starts here.
//
// Writing appends compact JSON to one std::string. Writer::key() writes the comma; keys are the
// generated code's pre-quoted literals ("\"name\":").
#pragma once

#include "core/padded_buffer.hpp"
#include "kcoro/api/types.hpp"

#include <simdjson.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kcoro::api::detail {

namespace od = simdjson::ondemand;

/// The JSON path of the value being read, for error messages.
class Ctx {
 public:
  void push(std::string_view field) { path_.push_back(Seg{field, 0, Seg::is_field}); }
  void push_index(std::size_t i) { path_.push_back(Seg{{}, i, Seg::is_index}); }
  void push_key(std::string_view key) { path_.push_back(Seg{key, 0, Seg::is_key}); }
  void pop() noexcept { path_.pop_back(); }
  void reset() noexcept { path_.clear(); }
  /// "spec.containers[0].ports[1].containerPort".
  std::string path() const;
  [[noreturn]] void fail(std::string message) const;
  [[noreturn]] void fail(simdjson::error_code e) const;
  void check(simdjson::error_code e) const {
    if (e) fail(e);
  }

 private:
  struct Seg {
    std::string_view name;
    std::size_t index;
    enum Kind : uint8_t { is_field, is_index, is_key } kind;
  };
  std::vector<Seg> path_;
};

/// True for null (which the readers treat as "not set").
bool is_null(od::value& v, Ctx& c);

// Scalars and the special types. Each throws DecodeError on a value of another type.
void read(od::value& v, std::string& out, Ctx& c);
void read(od::value& v, bool& out, Ctx& c);
void read(od::value& v, int32_t& out, Ctx& c);
void read(od::value& v, int64_t& out, Ctx& c);
void read(od::value& v, double& out, Ctx& c);
void read(od::value& v, Quantity& out, Ctx& c);
void read(od::value& v, IntOrString& out, Ctx& c);
void read(od::value& v, Time& out, Ctx& c);
void read(od::value& v, MicroTime& out, Ctx& c);
void read(od::value& v, RawJson& out, Ctx& c);

template <class T>
void read(od::value& v, std::optional<T>& out, Ctx& c);
template <class T>
void read(od::value& v, Box<T>& out, Ctx& c);
template <class T>
void read(od::value& v, std::vector<T>& out, Ctx& c);
template <class T>
void read(od::value& v, std::map<std::string, T>& out, Ctx& c);

/// The value as an object, or "expected an object".
od::object get_object(od::value& v, Ctx& c);
/// The value as an array, or "expected an array".
od::array get_array(od::value& v, Ctx& c);

/// Reads a JSON object field by field: calls fn(key, value, out, ctx) for every field whose value
/// is not null. A function pointer, not a template, so the loop exists once, not once per type.
using FieldFn = void (*)(std::string_view key, od::value& v, void* out, Ctx& c);
void read_object(od::value& v, Ctx& c, void* out, FieldFn fn);

/// Reads one field's value into `out`, with `name` on the path. Not inlined: the generated code
/// calls it for every field of every type, and one out-of-line copy per field type keeps the
/// generated sources quick to compile.
template <class T>
[[gnu::noinline]] void field(od::value& v, T& out, const char* name, Ctx& c) {
  c.push(name);
  read(v, out, c);
  c.pop();
}

template <class T>
void read(od::value& v, std::optional<T>& out, Ctx& c) {
  read(v, out.emplace(), c);
}

template <class T>
void read(od::value& v, Box<T>& out, Ctx& c) {
  read(v, out.emplace(), c);
}

template <class T>
void read(od::value& v, std::vector<T>& out, Ctx& c) {
  out.clear();
  od::array arr = get_array(v, c);
  for (auto item : arr) {
    od::value e;
    c.check(std::move(item).get(e));
    c.push_index(out.size());
    T& slot = out.emplace_back();
    if (!is_null(e, c)) read(e, slot, c);
    c.pop();
  }
}

template <class T>
void read(od::value& v, std::map<std::string, T>& out, Ctx& c) {
  out.clear();
  read_object(v, c, &out, [](std::string_view key, od::value& val, void* p, Ctx& c) {
    auto& [k, slot] =
        *static_cast<std::map<std::string, T>*>(p)->try_emplace(std::string(key)).first;
    c.push_key(k);
    read(val, slot, c);
    c.pop();
  });
}

/// What decoding one document reuses from the last: the parser, the padded copy of input that
/// came without padding, and the path. A decode that runs while another is still reading its
/// document (a custom resource's generated member) needs a scratch of its own.
struct DocumentScratch {
  od::parser parser;
  kcoro::detail::PaddedBuffer copy;  // its padding is blank, so the same bytes decode the same
  Ctx ctx;
};

/// Parses the document (in place when padded, else from scratch.copy) and calls
/// fn(root, out, ctx); a null document leaves `out` as it is. Throws DecodeError.
void decode_document(const JsonInput& in, DocumentScratch& scratch,
                     void (*fn)(od::value&, void*, Ctx&), void* out);

/// decode_document with the generated code's thread-local scratch.
void decode_document(const JsonInput& in, void (*fn)(od::value&, void*, Ctx&), void* out);

template <class T>
void read_root(od::value& v, void* out, Ctx& c) {
  read(v, *static_cast<T*>(out), c);
}

/// Compact JSON text, appended.
class Writer {
 public:
  std::string out;

  void begin_object() {
    out += '{';
    first_ = true;
  }
  void end_object() {
    out += '}';
    first_ = false;
  }
  void begin_array() {
    out += '[';
    first_ = true;
  }
  void end_array() {
    out += ']';
    first_ = false;
  }
  /// `quoted` is the key as a JSON string followed by ':'.
  void key(std::string_view quoted) {
    if (!first_) out += ',';
    first_ = false;
    out += quoted;
  }
  void element() {
    if (!first_) out += ',';
    first_ = false;
  }
  void string(std::string_view s);

 private:
  bool first_ = true;
};

void write(Writer& w, const std::string& v);
void write(Writer& w, bool v);
void write(Writer& w, int32_t v);
void write(Writer& w, int64_t v);
void write(Writer& w, double v);
void write(Writer& w, const Quantity& v);
void write(Writer& w, const IntOrString& v);
void write(Writer& w, const Time& v);
void write(Writer& w, const MicroTime& v);
void write(Writer& w, const RawJson& v);

template <class T>
void write(Writer& w, const std::optional<T>& v);
template <class T>
void write(Writer& w, const Box<T>& v);
template <class T>
void write(Writer& w, const std::vector<T>& v);
template <class T>
void write(Writer& w, const std::map<std::string, T>& v);

template <class T>
bool is_set(const std::optional<T>& v) {
  return v.has_value();
}
template <class T>
bool is_set(const Box<T>& v) {
  return v.has_value();
}
template <class T>
bool is_set(const std::vector<T>& v) {
  return !v.empty();
}
template <class T>
bool is_set(const std::map<std::string, T>& v) {
  return !v.empty();
}

/// Writes `"key":value` when the field is set. Not inlined, for the reason field() is not.
template <class T>
[[gnu::noinline]] void put(Writer& w, std::string_view quoted_key, const T& v) {
  if (!is_set(v)) return;
  w.key(quoted_key);
  write(w, v);
}

template <class T>
void write(Writer& w, const std::optional<T>& v) {
  write(w, *v);
}

template <class T>
void write(Writer& w, const Box<T>& v) {
  write(w, *v);
}

template <class T>
void write(Writer& w, const std::vector<T>& v) {
  w.begin_array();
  for (const T& e : v) {
    w.element();
    write(w, e);
  }
  w.end_array();
}

template <class T>
void write(Writer& w, const std::map<std::string, T>& v) {
  w.begin_object();
  for (const auto& [k, e] : v) {
    w.element();
    w.string(k);
    w.out += ':';
    write(w, e);
  }
  w.end_object();
}

template <class T>
std::string encode_root(const T& v) {
  Writer w;
  write(w, v);
  return std::move(w.out);
}

}  // namespace kcoro::api::detail
