// The scalar readers and writers of the generated API code, and the document entry point.
#include "api/codec.hpp"

#include <charconv>
#include <limits>

namespace kcoro::api::detail {

std::string Ctx::path() const {
  std::string p;
  for (const Seg& s : path_) {
    switch (s.kind) {
      case Seg::is_field:
        if (!p.empty()) p += '.';
        p += s.name;
        break;
      case Seg::is_index:
        p += '[';
        p += std::to_string(s.index);
        p += ']';
        break;
      case Seg::is_key:
        p += "[\"";
        p += s.name;
        p += "\"]";
        break;
    }
  }
  return p;
}

void Ctx::fail(std::string message) const {
  throw DecodeError(path(), std::move(message));
}

void Ctx::fail(simdjson::error_code e) const {
  switch (e) {
    case simdjson::INCORRECT_TYPE:
      fail("value of the wrong type");
    case simdjson::NUMBER_OUT_OF_RANGE:
      fail("number out of range");
    default:
      fail(std::string("malformed JSON: ") + simdjson::error_message(e));
  }
}

bool is_null(od::value& v, Ctx& c) {
  od::json_type t;
  c.check(v.type().get(t));
  if (t != od::json_type::null) return false;
  bool null = false;
  c.check(v.is_null().get(null));
  if (!null) c.fail("malformed JSON: invalid literal");
  return true;
}

od::object get_object(od::value& v, Ctx& c) {
  od::object obj;
  if (v.get_object().get(obj)) c.fail("expected an object");
  return obj;
}

od::array get_array(od::value& v, Ctx& c) {
  od::array arr;
  if (v.get_array().get(arr)) c.fail("expected an array");
  return arr;
}

void read_object(od::value& v, Ctx& c, void* out, FieldFn fn) {
  od::object obj = get_object(v, c);
  for (auto item : obj) {
    od::field field;
    c.check(std::move(item).get(field));
    std::string_view key;
    c.check(field.unescaped_key().get(key));
    od::value val = field.value();
    if (!is_null(val, c)) fn(key, val, out, c);
  }
}

namespace {
std::string_view get_string(od::value& v, Ctx& c) {
  std::string_view s;
  if (auto e = v.get_string().get(s)) {
    if (e == simdjson::INCORRECT_TYPE) c.fail("expected a string");
    c.fail(e);
  }
  return s;
}

std::string_view trim_right(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

od::json_type type_of(od::value& v, Ctx& c) {
  od::json_type t;
  c.check(v.type().get(t));
  return t;
}
}  // namespace

void read(od::value& v, std::string& out, Ctx& c) {
  out = get_string(v, c);
}

void read(od::value& v, bool& out, Ctx& c) {
  if (v.get_bool().get(out)) c.fail("expected a boolean");
}

void read(od::value& v, int64_t& out, Ctx& c) {
  if (auto e = v.get_int64().get(out)) {
    c.fail(e == simdjson::NUMBER_OUT_OF_RANGE ? "integer out of range" : "expected an integer");
  }
}

void read(od::value& v, int32_t& out, Ctx& c) {
  int64_t i = 0;
  read(v, i, c);
  if (i < std::numeric_limits<int32_t>::min() || i > std::numeric_limits<int32_t>::max()) {
    c.fail("integer out of range for int32");
  }
  out = static_cast<int32_t>(i);
}

void read(od::value& v, double& out, Ctx& c) {
  if (v.get_double().get(out)) c.fail("expected a number");
}

void read(od::value& v, Quantity& out, Ctx& c) {
  // A string ("100m"), or a number (the API accepts 1 and 0.5 as quantities).
  std::string_view text;
  if (type_of(v, c) == od::json_type::number) {
    text = trim_right(v.raw_json_token());
  } else if (type_of(v, c) == od::json_type::string) {
    text = get_string(v, c);
  } else {
    c.fail("expected a quantity (a string or a number)");
  }
  auto q = Quantity::try_parse(text);
  if (!q) c.fail("not a quantity: \"" + std::string(text) + "\"");
  out = *q;
}

void read(od::value& v, IntOrString& out, Ctx& c) {
  switch (type_of(v, c)) {
    case od::json_type::number: {
      int32_t i = 0;
      read(v, i, c);
      out = IntOrString(i);
      return;
    }
    case od::json_type::string:
      out = IntOrString(std::string(get_string(v, c)));
      return;
    default:
      c.fail("expected an integer or a string");
  }
}

template <class T>
void read_time(od::value& v, T& out, Ctx& c) {
  const std::string_view s = get_string(v, c);
  auto tp = parse_rfc3339(s);
  if (!tp) c.fail("not an RFC 3339 time: \"" + std::string(s) + "\"");
  out = T(*tp);
}

void read(od::value& v, Time& out, Ctx& c) {
  read_time(v, out, c);
}

void read(od::value& v, MicroTime& out, Ctx& c) {
  read_time(v, out, c);
}

void read(od::value& v, RawJson& out, Ctx& c) {
  std::string_view raw;
  switch (type_of(v, c)) {
    case od::json_type::object:
      c.check(get_object(v, c).raw_json().get(raw));
      break;
    case od::json_type::array:
      c.check(get_array(v, c).raw_json().get(raw));
      break;
    default:
      raw = v.raw_json_token();
      break;
  }
  out.text = trim_right(raw);
}

static_assert(json_padding >= simdjson::SIMDJSON_PADDING);

void decode_document(const JsonInput& in, DocumentScratch& scratch,
                     void (*fn)(od::value&, void*, Ctx&), void* out) {
  Ctx& ctx = scratch.ctx;
  ctx.reset();
  simdjson::padded_string_view text;
  if (in.padded) {
    text = simdjson::padded_string_view(in.text.data(), in.text.size(),
                                        in.text.size() + simdjson::SIMDJSON_PADDING);
  } else {
    scratch.copy.assign(in.text.data(), in.text.size());
    text = simdjson::padded_string_view(scratch.copy.data(), scratch.copy.size(),
                                        scratch.copy.size() + simdjson::SIMDJSON_PADDING);
  }
  od::document doc;
  ctx.check(scratch.parser.iterate(text).get(doc));
  od::value root;
  ctx.check(doc.get_value().get(root));
  if (!is_null(root, ctx)) fn(root, out, ctx);
  const char* rest = nullptr;
  if (doc.current_location().get(rest) == simdjson::SUCCESS) {
    ctx.fail("malformed JSON: content after the document");
  }
}

void decode_document(const JsonInput& in, void (*fn)(od::value&, void*, Ctx&), void* out) {
  thread_local DocumentScratch scratch;
  decode_document(in, scratch, fn, out);
}

void Writer::string(std::string_view s) {
  append_json_quoted(out, s);
}

void write(Writer& w, const std::string& v) {
  w.string(v);
}

void write(Writer& w, bool v) {
  w.out += v ? "true" : "false";
}

void write(Writer& w, int32_t v) {
  write(w, int64_t{v});
}

void write(Writer& w, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  w.out.append(buf, r.ptr);
}

void write(Writer& w, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  w.out.append(buf, r.ptr);
}

void write(Writer& w, const Quantity& v) {
  w.string(v.str());
}

void write(Writer& w, const IntOrString& v) {
  if (v.is_int()) {
    write(w, v.int_value());
  } else {
    w.string(v.str_value());
  }
}

void write(Writer& w, const Time& v) {
  w.string(v.str());
}

void write(Writer& w, const MicroTime& v) {
  w.string(v.str());
}

void write(Writer& w, const RawJson& v) {
  w.out += v.text.empty() ? std::string_view("null") : std::string_view(v.text);
}

}  // namespace kcoro::api::detail
