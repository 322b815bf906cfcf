#include "kcoro/object.hpp"

#include "core/object_builder.hpp"

#include <array>
#include <cstring>
#include <mutex>
#include <system_error>

namespace kcoro {

namespace od = simdjson::ondemand;

// ---------------------------------------------------------------------------------------------
// ObjectMeta, ObjectKey, transforms

const OwnerReference* ObjectMeta::controller_ref() const noexcept {
  for (const auto& ref : owner_references) {
    if (ref.controller) return &ref;
  }
  return nullptr;
}

std::string ObjectKey::str() const {
  if (ns.empty()) return name;
  std::string k;
  k.reserve(ns.size() + 1 + name.size());
  k.append(ns).append(1, '/').append(name);
  return k;
}

std::optional<ObjectKey> ObjectKey::parse(std::string_view key) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos) {
    if (key.empty()) return std::nullopt;
    return ObjectKey{{}, std::string(key)};
  }
  std::string_view ns = key.substr(0, slash);
  std::string_view name = key.substr(slash + 1);
  if (name.empty() || name.find('/') != std::string_view::npos) return std::nullopt;
  return ObjectKey{std::string(ns), std::string(name)};
}

Transform compose(Transform first, Transform second) {
  if (!first) return second;
  if (!second) return first;
  return [a = std::move(first), b = std::move(second)](std::string& json) {
    a(json);
    b(json);
  };
}

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_quoted(out, s);
  return out;
}

void append_json_quoted(std::string& out, std::string_view s) {
  // Copies runs of plain bytes at once; escapes '"', '\\' and control characters.
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

// ---------------------------------------------------------------------------------------------
// Object

Object::~Object() = default;

std::string Object::key() const {
  return ObjectKey{std::string(meta_.ns), std::string(meta_.name)}.str();
}

std::size_t Object::retained_bytes() const noexcept {
  // The one block: the control block, the Object, the tables, the text and its padding.
  std::size_t n = sizeof(Object) + 16 + tail_;
  for (const auto& s : interned_)
    n += sizeof(void*) + sizeof(std::string) + s.capacity();
  return n;
}

namespace {
// Interning after construction (get<std::string_view> of an escaped string) is rare; a striped
// lock keeps Objects free of a mutex of their own.
std::mutex& intern_lock(const void* p) {
  static std::array<std::mutex, 64> locks;
  return locks[(reinterpret_cast<std::uintptr_t>(p) >> 6) % locks.size()];
}

bool is_ws(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}
}  // namespace

std::string_view Object::intern(std::string_view unescaped) const {
  std::lock_guard lock(intern_lock(this));
  for (const auto& s : interned_) {
    if (s == unescaped) return s;
  }
  interned_.emplace_front(unescaped);
  return interned_.front();
}

void Object::throw_get_error(std::string_view pointer, std::error_code ec) {
  throw std::system_error(ec, "Object::get(\"" + std::string(pointer) + "\")");
}

template <class T>
std::optional<T> Object::get(std::string_view pointer, std::error_code& ec) const {
  ec = {};
  thread_local od::parser parser;
  od::document doc;
  if (auto e = parser.iterate(text_, size_, size_ + json_padding).get(doc)) {
    ec = detail::to_error_code(e);
    return std::nullopt;
  }
  if (pointer.empty()) {
    // The whole document, which is always an object.
    if constexpr (std::is_same_v<T, RawJson>) {
      return RawJson{json()};
    } else {
      ec = errc::type_mismatch;
      return std::nullopt;
    }
  }
  od::value v;
  simdjson::error_code e = doc.at_pointer(pointer).get(v);
  if (e == simdjson::NO_SUCH_FIELD || e == simdjson::INDEX_OUT_OF_BOUNDS) return std::nullopt;
  if (e == simdjson::INVALID_JSON_POINTER) {
    ec = errc::invalid_json_pointer;
    return std::nullopt;
  }
  if (e) {
    ec = e == simdjson::INCORRECT_TYPE ? std::error_code(errc::type_mismatch)
                                       : detail::to_error_code(e);
    return std::nullopt;
  }
  bool null = false;
  if (v.is_null().get(null) == simdjson::SUCCESS && null) return std::nullopt;

  auto mismatch = [&](simdjson::error_code err) -> std::optional<T> {
    ec = err == simdjson::INCORRECT_TYPE || err == simdjson::NUMBER_OUT_OF_RANGE
             ? std::error_code(errc::type_mismatch)
             : detail::to_error_code(err);
    return std::nullopt;
  };
  if constexpr (std::is_same_v<T, std::string_view> || std::is_same_v<T, std::string>) {
    std::string_view tok = v.raw_json_token();
    std::string_view s;
    if (auto err = v.get_string().get(s)) return mismatch(err);
    if constexpr (std::is_same_v<T, std::string>) {
      return std::string(s);
    } else {
      if (tok.size() >= s.size() + 2 && std::memcmp(tok.data() + 1, s.data(), s.size()) == 0 &&
          tok[s.size() + 1] == '"') {
        return std::string_view(tok.data() + 1, s.size());
      }
      return intern(s);
    }
  } else if constexpr (std::is_same_v<T, int64_t>) {
    int64_t i = 0;
    if (auto err = v.get_int64().get(i)) return mismatch(err);
    return i;
  } else if constexpr (std::is_same_v<T, double>) {
    double d = 0;
    if (auto err = v.get_double().get(d)) return mismatch(err);
    return d;
  } else if constexpr (std::is_same_v<T, bool>) {
    bool b = false;
    if (auto err = v.get_bool().get(b)) return mismatch(err);
    return b;
  } else {
    static_assert(std::is_same_v<T, RawJson>);
    od::json_type type;
    if (auto err = v.type().get(type)) return mismatch(err);
    std::string_view raw;
    if (type == od::json_type::object) {
      od::object o;
      if (auto err = v.get_object().get(o)) return mismatch(err);
      if (auto err = o.raw_json().get(raw)) return mismatch(err);
    } else if (type == od::json_type::array) {
      od::array a;
      if (auto err = v.get_array().get(a)) return mismatch(err);
      if (auto err = a.raw_json().get(raw)) return mismatch(err);
    } else {
      raw = v.raw_json_token();
    }
    while (!raw.empty() && is_ws(raw.back()))
      raw.remove_suffix(1);
    return RawJson{raw};
  }
}

template std::optional<std::string_view> Object::get(std::string_view, std::error_code&) const;
template std::optional<std::string> Object::get(std::string_view, std::error_code&) const;
template std::optional<int64_t> Object::get(std::string_view, std::error_code&) const;
template std::optional<double> Object::get(std::string_view, std::error_code&) const;
template std::optional<bool> Object::get(std::string_view, std::error_code&) const;
template std::optional<RawJson> Object::get(std::string_view, std::error_code&) const;

ObjectPtr Object::parse(std::string_view json, Error& err, const DecodeOptions& opts) {
  std::unique_ptr<char[]> buf(new char[json.size() + json_padding]);
  std::memcpy(buf.get(), json.data(), json.size());
  std::memset(buf.get() + json.size(), 0, json_padding);
  thread_local od::parser parser;
  detail::ObjectBuilder builder;
  return builder.parse_document(parser, buf.get(), json.size(), opts, err);
}

ObjectPtr Object::parse(std::string_view json, const DecodeOptions& opts) {
  Error err;
  auto obj = parse(json, err, opts);
  if (!obj) throw std::system_error(err.code, err.to_string());
  return obj;
}

}  // namespace kcoro
