#include "core/object_builder.hpp"

#include "core/json_frame.hpp"
#include "kcoro/json.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>

namespace kcoro {

// The On-Demand kernel this translation unit was compiled with (libsimdjson's own
// builtin_implementation() reports the kernel the shared library was built for).
std::string_view json_decoder_kernel() noexcept {
  return SIMDJSON_STRINGIFY(SIMDJSON_BUILTIN_IMPLEMENTATION);
}

}  // namespace kcoro

namespace kcoro::detail {

namespace od = simdjson::ondemand;

namespace {
thread_local bool fast_path_on = true;
}
bool decoder_fast_path() noexcept {
  return fast_path_on;
}
void set_decoder_fast_path(bool on) noexcept {
  fast_path_on = on;
}

namespace {

// One block per Object: std::allocate_shared asks this allocator once, for its control block
// with the Object inside, and gets `tail` more bytes after it, for the tables and the text. The
// allocator is stateless (what to add is passed through a thread_local for the one call), so the
// control block stores nothing for it.
struct TailRequest {
  std::size_t tail = 0;
  char* out = nullptr;
};
thread_local TailRequest tail_request;

template <class T>
struct TailAllocator {
  using value_type = T;
  TailAllocator() noexcept = default;
  template <class U>
  TailAllocator(const TailAllocator<U>&) noexcept {}  // NOLINT: rebinding
  T* allocate(std::size_t n) {
    constexpr std::size_t align = alignof(std::max_align_t);
    const std::size_t head = (n * sizeof(T) + align - 1) / align * align;
    char* p = static_cast<char*>(::operator new(head + tail_request.tail));
    tail_request.out = p + head;
    return reinterpret_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
  friend bool operator==(const TailAllocator&, const TailAllocator&) noexcept { return true; }
};

// Places `n` objects of type T at `at`, copied from `src` with `make`; returns the span and moves
// `at` past them.
template <class T, class Src, class Make>
std::span<const T> place(char*& at, const Src& src, Make&& make) {
  if (src.empty()) return {};
  T* first = reinterpret_cast<T*>(at);
  for (std::size_t i = 0; i < src.size(); ++i)
    std::construct_at(first + i, make(src[i]));
  at += src.size() * sizeof(T);
  return {first, src.size()};
}

bool is_ws(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

Error make_error(std::error_code code, std::string message) {
  return Error{code, std::move(message), std::nullopt};
}
}  // namespace

std::error_code to_error_code(simdjson::error_code e) noexcept {
  switch (e) {
    case simdjson::SUCCESS:
      return {};
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
    case simdjson::UNCLOSED_STRING:
    case simdjson::EMPTY:
      return errc::truncated_input;
    case simdjson::INCORRECT_TYPE:
    case simdjson::NUMBER_OUT_OF_RANGE:
      return errc::type_mismatch;
    case simdjson::INVALID_JSON_POINTER:
      return errc::invalid_json_pointer;
    case simdjson::CAPACITY:
      return errc::document_too_large;
    default:
      return errc::invalid_json;
  }
}

std::error_code classify_malformed(std::string_view text) noexcept {
  int depth = 0;
  bool in_string = false, escape = false, opened = false;
  for (char c : text) {
    if (escape) {
      escape = false;
    } else if (in_string) {
      if (c == '\\') escape = true;
      if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
      opened = true;
    } else if (c == '}' || c == ']') {
      if (--depth < 0) return errc::invalid_json;
    }
  }
  if (in_string || depth > 0 || !opened) return errc::truncated_input;
  return errc::invalid_json;
}

void ObjectBuilder::reset() {
  kind_ = api_version_ = ns_ = name_ = generate_name_ = uid_ = rv_ = created_ = deleted_ = Str{};
  generation_ = 0;
  grace_.reset();
  labels_.clear();
  annotations_.clear();
  owners_.clear();
  finalizers_.clear();
  escaped_.clear();
  cut_begin_ = cut_end_ = 0;
}

simdjson::error_code ObjectBuilder::record(od::value v, Str& out) {
  std::string_view tok = v.raw_json_token();
  if (!tok.empty() && tok[0] == 'n') {  // null: absent
    bool null = false;
    if (auto e = v.is_null().get(null)) return e;
    if (null) {
      out = Str{};
      return simdjson::SUCCESS;
    }
  }
  std::string_view s;
  if (auto e = v.get_string().get(s)) return e;
  if (tok.size() >= s.size() + 2 && std::memcmp(tok.data() + 1, s.data(), s.size()) == 0 &&
      tok[s.size() + 1] == '"') {
    out = Str{static_cast<uint32_t>(tok.data() + 1 - base_), static_cast<uint32_t>(s.size()), -1};
  } else {
    out = Str{0, 0, static_cast<int32_t>(escaped_.size())};
    escaped_.emplace_back(s);
  }
  return simdjson::SUCCESS;
}

simdjson::error_code ObjectBuilder::scan_string_map(od::object m,
                                                    std::vector<std::pair<Str, Str>>& out) {
  for (auto f : m) {
    od::field field;
    if (auto e = std::move(f).get(field)) return e;
    const char* raw = field.key().raw();
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return e;
    Str k;
    if (std::memcmp(raw, key.data(), key.size()) == 0 && raw[key.size()] == '"') {
      k = Str{static_cast<uint32_t>(raw - base_), static_cast<uint32_t>(key.size()), -1};
    } else {
      k = Str{0, 0, static_cast<int32_t>(escaped_.size())};
      escaped_.emplace_back(key);
    }
    Str v;
    if (auto e = record(field.value(), v)) return e;
    out.emplace_back(k, v);
  }
  return simdjson::SUCCESS;
}

simdjson::error_code ObjectBuilder::scan_owners(od::array a) {
  for (auto el : a) {
    od::object o;
    if (auto e = el.get_object().get(o)) return e;
    Owner owner;
    for (auto f : o) {
      od::field field;
      if (auto e = std::move(f).get(field)) return e;
      auto key = field.key();
      simdjson::error_code e = simdjson::SUCCESS;
      if (key == "apiVersion") {
        e = record(field.value(), owner.api_version);
      } else if (key == "kind") {
        e = record(field.value(), owner.kind);
      } else if (key == "name") {
        e = record(field.value(), owner.name);
      } else if (key == "uid") {
        e = record(field.value(), owner.uid);
      } else if (key == "controller") {
        e = field.value().get_bool().get(owner.controller);
      } else if (key == "blockOwnerDeletion") {
        e = field.value().get_bool().get(owner.block_owner_deletion);
      }
      if (e) return e;
    }
    owners_.push_back(owner);
  }
  return simdjson::SUCCESS;
}

simdjson::error_code ObjectBuilder::scan_finalizers(od::array a) {
  for (auto el : a) {
    od::value v;
    if (auto e = std::move(el).get(v)) return e;
    Str s;
    if (auto e = record(v, s)) return e;
    finalizers_.push_back(s);
  }
  return simdjson::SUCCESS;
}

simdjson::error_code ObjectBuilder::scan_metadata(od::object md, bool strip) {
  for (auto f : md) {
    od::field field;
    if (auto e = std::move(f).get(field)) return e;
    auto key = field.key();
    od::value v = field.value();
    simdjson::error_code e = simdjson::SUCCESS;
    bool null = v.raw_json_token().starts_with('n');
    if (null) {
      // `"labels": null` and friends mean absent.
      bool is_null = false;
      e = v.is_null().get(is_null);
      if (!e && is_null) continue;
    }
    if (key == "name") {
      e = record(v, name_);
    } else if (key == "namespace") {
      e = record(v, ns_);
    } else if (key == "uid") {
      e = record(v, uid_);
    } else if (key == "resourceVersion") {
      e = record(v, rv_);
    } else if (key == "generation") {
      e = v.get_int64().get(generation_);
    } else if (key == "creationTimestamp") {
      e = record(v, created_);
    } else if (key == "deletionTimestamp") {
      e = record(v, deleted_);
    } else if (key == "deletionGracePeriodSeconds") {
      int64_t g = 0;
      e = v.get_int64().get(g);
      if (!e) grace_ = g;
    } else if (key == "generateName") {
      e = record(v, generate_name_);
    } else if (key == "labels") {
      od::object m;
      e = v.get_object().get(m);
      if (!e) e = scan_string_map(m, labels_);
    } else if (key == "annotations") {
      od::object m;
      e = v.get_object().get(m);
      if (!e) e = scan_string_map(m, annotations_);
    } else if (key == "ownerReferences") {
      od::array a;
      e = v.get_array().get(a);
      if (!e) e = scan_owners(a);
    } else if (key == "finalizers") {
      od::array a;
      e = v.get_array().get(a);
      if (!e) e = scan_finalizers(a);
    } else if (key == "managedFields" && strip) {
      // The value is cut, never read: framed the way On-Demand skips a value (brackets counted
      // outside strings), which is how the loop's next step skips it and how the fast path
      // frames it. (simdjson's array::raw_json() is not: it overruns an array whose elements
      // are not whole values, e.g. ["a":"b"].)
      const char* key_begin = key.raw() - 1;
      const char* value = v.raw_json_token().data();
      if (*value != '[') {
        od::array a;
        e = v.get_array().get(a);
        return e ? e : simdjson::INCORRECT_TYPE;
      }
      BracketScan skip(scan_isa_);
      const std::size_t rest = static_cast<std::size_t>(end_ - value - 1);
      const std::size_t used =
          skip.scan(value + 1, rest, -1, [](std::size_t, char, int64_t) { return true; });
      if (skip.depth >= 0) return simdjson::INCOMPLETE_ARRAY_OR_OBJECT;
      const char* cut_begin = key_begin;
      const char* cut_end = value + 1 + used;  // just past the closing bracket
      // Take one comma with the pair: the following one, else the preceding one.
      const char* p = cut_end;
      while (p < end_ && is_ws(*p))
        ++p;
      if (p < end_ && *p == ',') {
        cut_end = p + 1;
      } else {
        const char* q = key_begin;
        while (q > base_ && is_ws(q[-1]))
          --q;
        if (q > base_ && q[-1] == ',') cut_begin = q - 1;
      }
      cut_begin_ = static_cast<std::size_t>(cut_begin - base_);
      cut_end_ = static_cast<std::size_t>(cut_end - base_);
    }
    if (e) return e;
  }
  return simdjson::SUCCESS;
}

Error ObjectBuilder::scan(od::object obj, const char* begin, const char* end,
                          bool strip_managed_fields) {
  reset();
  base_ = begin;
  end_ = end;
  for (auto f : obj) {
    od::field field;
    simdjson::error_code e = std::move(f).get(field);
    if (!e) {
      auto key = field.key();
      if (key == "metadata") {
        od::object md;
        e = field.value().get_object().get(md);
        if (!e) e = scan_metadata(md, strip_managed_fields);
      } else if (key == "kind") {
        e = record(field.value(), kind_);
      } else if (key == "apiVersion") {
        e = record(field.value(), api_version_);
      }
    }
    if (e) {
      return make_error(to_error_code(e),
                        std::string("malformed object: ") + simdjson::error_message(e));
    }
  }
  return {};
}

Error ObjectBuilder::scan_parts(const char* begin, std::string_view kind,
                                std::string_view api_version, od::object metadata,
                                const char* metadata_end, bool strip_managed_fields) {
  reset();
  base_ = begin;
  end_ = metadata_end;
  auto str = [&](std::string_view v) {
    return v.empty()
               ? Str{}
               : Str{static_cast<uint32_t>(v.data() - begin), static_cast<uint32_t>(v.size()), -1};
  };
  kind_ = str(kind);
  api_version_ = str(api_version);
  if (auto e = scan_metadata(metadata, strip_managed_fields)) {
    return make_error(to_error_code(e),
                      std::string("malformed object: ") + simdjson::error_message(e));
  }
  return {};
}

ObjectBuilder::Framed ObjectBuilder::scan_framed(od::parser& parser, const char* begin,
                                                 std::string_view kind,
                                                 std::string_view api_version, const char* base,
                                                 const std::vector<JsonMark>& marks,
                                                 std::size_t md_open, std::size_t md_close,
                                                 int level, bool strip_managed_fields) {
  reset();
  base_ = begin;
  auto str = [&](std::string_view v) {
    return v.empty()
               ? Str{}
               : Str{static_cast<uint32_t>(v.data() - begin), static_cast<uint32_t>(v.size()), -1};
  };
  kind_ = str(kind);
  api_version_ = str(api_version);

  if (!split_fields(base, marks, md_open, md_close, level, md_fields_)) return Framed::invalid;

  auto plain = [&](std::string_view value, Str& out) {
    const char* p = value.data();
    std::string_view s;
    if (!take_plain_string(p, value.data() + value.size(), s) || p != value.data() + value.size()) {
      return false;
    }
    out = str(s);
    return true;
  };
  auto integer = [&](std::string_view value, int64_t& out) {
    const std::size_t digits = value.starts_with('-') ? 1 : 0;
    if (value.size() > digits + 1 && value[digits] == '0') return false;  // JSON: no leading 0
    auto r = std::from_chars(value.data(), value.data() + value.size(), out);
    return r.ec == std::errc{} && r.ptr == value.data() + value.size();
  };
  // A structured value, parsed by simdjson on its own bytes (readable past their end: the rest of
  // the source follows, then its padding).
  auto structured = [&](std::string_view value, char open, auto&& then) {
    if (value.front() != open) return false;
    od::document doc;
    if (parser.iterate(value.data(), value.size(), value.size() + json_padding).get(doc)) {
      return false;
    }
    const char* trailing = nullptr;  // one value, nothing after it
    return then(doc) == simdjson::SUCCESS &&
           doc.current_location().get(trailing) != simdjson::SUCCESS;
  };

  for (const JsonField& f : md_fields_) {
    const std::string_view k = f.key;
    const std::string_view v = f.value;
    if (v.front() == 'n') {
      if (v == "null") continue;  // absent, as in scan_metadata
      return Framed::unusual;     // which would reject a misspelt null: let it
    }
    bool ok = true;
    if (k == "name") {
      ok = plain(v, name_);
    } else if (k == "namespace") {
      ok = plain(v, ns_);
    } else if (k == "uid") {
      ok = plain(v, uid_);
    } else if (k == "resourceVersion") {
      ok = plain(v, rv_);
    } else if (k == "generation") {
      ok = integer(v, generation_);
    } else if (k == "creationTimestamp") {
      ok = plain(v, created_);
    } else if (k == "deletionTimestamp") {
      ok = plain(v, deleted_);
    } else if (k == "deletionGracePeriodSeconds") {
      int64_t g = 0;
      ok = integer(v, g);
      if (ok) grace_ = g;
    } else if (k == "generateName") {
      ok = plain(v, generate_name_);
    } else if (k == "labels" || k == "annotations") {
      auto& out = k == "labels" ? labels_ : annotations_;
      ok = structured(v, '{', [&](od::document& doc) {
        od::object m;
        auto e = doc.get_object().get(m);
        return e ? e : scan_string_map(m, out);
      });
    } else if (k == "ownerReferences") {
      ok = structured(v, '[', [&](od::document& doc) {
        od::array a;
        auto e = doc.get_array().get(a);
        return e ? e : scan_owners(a);
      });
    } else if (k == "finalizers") {
      ok = structured(v, '[', [&](od::document& doc) {
        od::array a;
        auto e = doc.get_array().get(a);
        return e ? e : scan_finalizers(a);
      });
    } else if (k == "managedFields" && strip_managed_fields) {
      if (v.front() != '[') return Framed::invalid;  // a type error: the general path reports it
      // The cut takes the pair and one comma: the following one, else the preceding one.
      const char* cut_begin = k.data() - 1;  // the key's opening quote
      const char* cut_end = v.data() + v.size();
      const char* p = cut_end;
      while (json_ws(*p))
        ++p;  // metadata's '}' at least follows
      if (*p == ',') {
        cut_end = p + 1;
      } else {
        const char* q = cut_begin;
        while (q > begin && json_ws(q[-1]))
          --q;
        if (q > begin && q[-1] == ',') cut_begin = q - 1;
      }
      cut_begin_ = static_cast<std::size_t>(cut_begin - begin);
      cut_end_ = static_cast<std::size_t>(cut_end - begin);
    }
    if (!ok) return Framed::unusual;
  }
  return Framed::ok;
}

bool ObjectBuilder::scan_marked(od::parser& parser, const char* base,
                                const std::vector<JsonMark>& marks, std::size_t open,
                                std::size_t close, int depth, bool strip_managed_fields) {
  const char* obj_begin = base + marks[open].pos;
  FramedObject framed;
  if (!split_fields(base, marks, open, close, depth + 1, top_fields_) ||
      !pick_object_fields(top_fields_, framed)) {
    return false;
  }
  // The metadata's braces among the marks (split_fields made sure they are its value's).
  const auto md_open_pos = static_cast<uint32_t>(framed.metadata.data() - base);
  const auto md_close_pos = static_cast<uint32_t>(md_open_pos + framed.metadata.size() - 1);
  std::size_t md_open = 0, md_close = 0;
  for (std::size_t k = open + 1; k < close; ++k) {
    if (marks[k].pos == md_open_pos) md_open = k;
    if (marks[k].pos == md_close_pos) {
      md_close = k;
      break;
    }
  }
  if (!md_open || !md_close) return false;
  const Framed how = scan_framed(parser, obj_begin, framed.kind, framed.api_version, base, marks,
                                 md_open, md_close, depth + 2, strip_managed_fields);
  if (how == Framed::ok) return true;
  if (how == Framed::invalid) return false;
  // A metadata field in a form scan_framed leaves to simdjson (escapes, say): the metadata alone.
  od::document doc;
  od::object md;
  const std::size_t md_len = framed.metadata.size();
  auto e = parser.iterate(framed.metadata.data(), md_len, md_len + json_padding).get(doc);
  if (!e) e = doc.get_object().get(md);
  if (e) return false;
  return !scan_parts(obj_begin, framed.kind, framed.api_version, md,
                     framed.metadata.data() + md_len, strip_managed_fields);
}

std::string_view ObjectBuilder::view(const Object& o, const Str& s) const {
  if (s.esc >= 0) return interned_views_[static_cast<std::size_t>(s.esc)];
  if (s.len == 0) return {};
  std::size_t off = s.off;
  const std::size_t ins = insert_.size();
  if (off >= cut_end_ && cut_end_ > cut_begin_) {
    off = off - (cut_end_ - cut_begin_) + ins;
  } else if (off >= 1) {
    off += ins;
  }
  return {o.text_ + off, s.len};
}

ObjectPtr ObjectBuilder::build_plain(const char* begin, const char* end, Error& err,
                                     bool require_name) {
  const std::size_t n = static_cast<std::size_t>(end - begin);
  if (require_name && !name_.present()) {
    err = make_error(errc::missing_object_name, "object has no metadata.name");
    return nullptr;
  }
  // What to insert after '{': the kind and apiVersion the list implied.
  insert_.clear();
  const bool need_kind = !kind_.present() && !default_kind.empty();
  const bool need_api = !api_version_.present() && !default_api_version.empty();
  if (need_kind) {
    insert_ += "\"kind\":\"";
    kind_at_ = insert_.size();
    insert_ += default_kind;
    insert_ += '"';
  }
  if (need_api) {
    if (!insert_.empty()) insert_ += ',';
    insert_ += "\"apiVersion\":\"";
    api_version_at_ = insert_.size();
    insert_ += default_api_version;
    insert_ += '"';
  }
  if (!insert_.empty()) {
    const char* p = begin + 1;
    while (p < end && is_ws(*p))
      ++p;
    if (*p != '}') insert_ += ',';
  }
  if (cut_end_ <= cut_begin_) cut_begin_ = cut_end_ = n;

  const std::size_t cut = cut_end_ - cut_begin_;
  const std::size_t size = n - cut + insert_.size();
  // The block past the Object: the text, then the tables (8-byte aligned), then the unescaped
  // copies of strings that had escapes. What follows the text is its simdjson padding, whose
  // content does not matter; bytes are zeroed only where the tables and copies leave no 64.
  using Slot = StringMap::Slot;
  const std::size_t tables_at = (size + 7) & ~std::size_t{7};
  const std::size_t tables = (labels_.size() + annotations_.size()) * sizeof(Slot) +
                             owners_.size() * sizeof(OwnerReference) +
                             finalizers_.size() * sizeof(std::string_view);
  std::size_t escaped_bytes = 0;
  for (const auto& e : escaped_)
    escaped_bytes += e.size();
  const std::size_t used = tables_at + tables + escaped_bytes;
  const std::size_t tail = std::max(used, size + json_padding);
  if (tail > std::size_t{INT32_MAX}) {  // the block's offsets are 32-bit (simdjson's cap is 4 GiB)
    err = make_error(errc::document_too_large, "object larger than 2 GiB");
    return nullptr;
  }
  tail_request = {tail, nullptr};
  auto obj = std::allocate_shared<Object>(TailAllocator<Object>{}, ObjectPasskey{});
  char* t = tail_request.out;
  t[0] = '{';
  std::memcpy(t + 1, insert_.data(), insert_.size());
  std::memcpy(t + 1 + insert_.size(), begin + 1, cut_begin_ - 1);
  std::memcpy(t + insert_.size() + cut_begin_, begin + cut_end_, n - cut_end_);
  std::memset(t + size, 0, tables_at - size);
  if (tail > used) std::memset(t + used, 0, tail - used);
  obj->text_ = t;
  obj->size_ = static_cast<uint32_t>(size);
  obj->tail_ = static_cast<uint32_t>(tail);

  char* at = t + tables_at + tables;
  interned_views_.clear();
  for (const auto& e : escaped_) {
    std::memcpy(at, e.data(), e.size());
    interned_views_.emplace_back(at, e.size());
    at += e.size();
  }
  at = t + tables_at;

  ObjectMeta& m = obj->meta_;
  m.kind = need_kind ? std::string_view(t + 1 + kind_at_, default_kind.size()) : view(*obj, kind_);
  m.api_version = need_api ? std::string_view(t + 1 + api_version_at_, default_api_version.size())
                           : view(*obj, api_version_);
  m.ns = view(*obj, ns_);
  m.name = view(*obj, name_);
  m.generate_name = view(*obj, generate_name_);
  m.uid = view(*obj, uid_);
  m.resource_version = view(*obj, rv_);
  m.generation = generation_;
  m.creation_timestamp = view(*obj, created_);
  m.deletion_timestamp = view(*obj, deleted_);
  m.deletion_grace_period_seconds = grace_;
  // A map's strings as offsets from their slot: all of them are in the block.
  const auto map = [&](StringMap& out, const std::vector<std::pair<Str, Str>>& src) {
    if (src.empty()) return;
    Slot* first = reinterpret_cast<Slot*>(at);
    for (std::size_t i = 0; i < src.size(); ++i) {
      const char* here = reinterpret_cast<const char*>(first + i);
      const std::string_view k = view(*obj, src[i].first), v = view(*obj, src[i].second);
      const auto off = [&](std::string_view x) {
        return x.empty() ? int32_t{0} : static_cast<int32_t>(x.data() - here);
      };
      std::construct_at(first + i, Slot{off(k), static_cast<uint32_t>(k.size()), off(v),
                                        static_cast<uint32_t>(v.size())});
    }
    at += src.size() * sizeof(Slot);
    out.slots_ = first;
    out.size_ = static_cast<uint32_t>(src.size());
  };
  map(m.labels, labels_);
  map(m.annotations, annotations_);
  m.owner_references = place<OwnerReference>(at, owners_, [&](const Owner& o) {
    return OwnerReference{view(*obj, o.api_version), view(*obj, o.kind), view(*obj, o.name),
                          view(*obj, o.uid),         o.controller,       o.block_owner_deletion};
  });
  m.finalizers =
      place<std::string_view>(at, finalizers_, [&](const Str& f) { return view(*obj, f); });
  return obj;
}

ObjectPtr ObjectBuilder::build(const char* begin, const char* end, const DecodeOptions& opts,
                               bool require_name, Error& err) {
  ObjectPtr plain = build_plain(begin, end, err, require_name && !opts.transform);
  if (!plain || !opts.transform) return plain;

  // A user transform edits the text; the result is decoded again (without a second cut).
  std::string text(plain->json());
  plain.reset();
  try {
    opts.transform(text);
  } catch (const std::exception& ex) {
    err = make_error(errc::invalid_json, std::string("transform failed: ") + ex.what());
    return nullptr;
  }
  const std::size_t len = text.size();
  text.resize(len + json_padding, '\0');
  thread_local od::parser parser;
  ObjectBuilder again;
  DecodeOptions plain_opts;
  plain_opts.strip_managed_fields = false;
  auto obj = again.parse_document(parser, text.data(), len, plain_opts, err);
  if (!obj && err) err.message = "after transform: " + err.to_string();
  return obj;
}

ObjectPtr ObjectBuilder::parse_document(od::parser& parser, const char* data, std::size_t len,
                                        const DecodeOptions& opts, Error& err) {
  const char* begin = data;
  const char* end = data + len;
  while (begin < end && is_ws(*begin))
    ++begin;
  while (end > begin && is_ws(end[-1]))
    --end;
  if (begin == end) {
    err = make_error(errc::truncated_input, "empty document");
    return nullptr;
  }
  if (*begin != '{') {
    err = make_error(errc::invalid_json, "expected a JSON object");
    err.offset = static_cast<uint64_t>(begin - data);
    return nullptr;
  }
  od::document doc;
  od::object obj;
  auto e = parser.iterate(data, len, len + json_padding).get(doc);
  if (!e) e = doc.get_object().get(obj);
  if (e) {
    err = make_error(classify_malformed({begin, static_cast<std::size_t>(end - begin)}),
                     std::string("malformed object: ") + simdjson::error_message(e));
    return nullptr;
  }
  if (Error scan_err = scan(obj, begin, end, opts.strip_managed_fields)) {
    if (scan_err.code != errc::type_mismatch) {
      scan_err.code = classify_malformed({begin, static_cast<std::size_t>(end - begin)});
    }
    err = std::move(scan_err);
    return nullptr;
  }
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) == simdjson::SUCCESS || end[-1] != '}') {
    err = make_error(errc::invalid_json, "trailing bytes after the object");
    return nullptr;
  }
  return build(begin, end, opts, true, err);
}

}  // namespace kcoro::detail
