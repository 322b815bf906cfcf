// Decoding and encoding of custom resources (kcoro/custom_resource.hpp): the generated code's
// readers and writers (api/codec.hpp), driven by the member tables the macro builds.
#include "kcoro/custom_resource.hpp"

#include "api/codec.hpp"
#include "api/meta_v1_codec.hpp"

namespace kcoro::detail {
namespace {

namespace od = api::detail::od;
using api::detail::Ctx;
using api::detail::Writer;

/// The member's JSON name: its C++ name without a trailing '_' (`default_` is "default").
std::string_view json_name(const char* name) {
  std::string_view s(name);
  if (s.size() > 1 && s.back() == '_') s.remove_suffix(1);
  return s;
}

void read_value(od::value& v, void* out, const CrType& t, Ctx& c);

template <class T>
void read_as(od::value& v, void* out, Ctx& c) {
  api::detail::read(v, *static_cast<T*>(out), c);
}

struct StructTarget {
  void* obj;
  const CrType* type;
  uint64_t seen;
};

void read_struct(od::value& v, void* out, const CrType& t, Ctx& c) {
  StructTarget target{out, &t, 0};
  api::detail::read_object(v, c, &target,
                           [](std::string_view key, od::value& val, void* p, Ctx& c) {
                             auto& s = *static_cast<StructTarget*>(p);
                             for (std::size_t i = 0; i < s.type->member_count; ++i) {
                               const CrMember& m = s.type->members[i];
                               const std::string_view name = json_name(m.name);
                               if (name != key) continue;
                               c.push(name);
                               read_value(val, m.get(s.obj), m.type(), c);
                               c.pop();
                               s.seen |= uint64_t{1} << i;
                               return;
                             }
                           });
  for (std::size_t i = 0; i < t.member_count; ++i) {
    if (t.members[i].required && !(target.seen & (uint64_t{1} << i))) {
      c.push(json_name(t.members[i].name));
      c.fail("required field is missing");
    }
  }
}

struct MapTarget {
  void* map;
  const CrType* type;
};

// A generated struct inside a custom resource: its own decode_json on the value's text. That
// parses with the generated code's parser, not with cr_decode's, so the outer parse stays valid.
void read_generated(od::value& v, void* out, const CrType& t, Ctx& c) {
  api::RawJson raw;
  api::detail::read(v, raw, c);
  try {
    t.decode(JsonInput{raw.text}, out);
  } catch (const api::DecodeError& e) {
    std::string path = c.path();
    if (!e.path().empty()) {
      if (!path.empty() && e.path().front() != '[') path += '.';
      path += e.path();
    }
    throw api::DecodeError(std::move(path), e.message());
  }
}

void read_value(od::value& v, void* out, const CrType& t, Ctx& c) {
  switch (t.kind) {
    case CrKind::string:
      return read_as<std::string>(v, out, c);
    case CrKind::boolean:
      return read_as<bool>(v, out, c);
    case CrKind::int32:
      return read_as<int32_t>(v, out, c);
    case CrKind::int64:
      return read_as<int64_t>(v, out, c);
    case CrKind::float64:
      return read_as<double>(v, out, c);
    case CrKind::quantity:
      return read_as<api::Quantity>(v, out, c);
    case CrKind::int_or_string:
      return read_as<api::IntOrString>(v, out, c);
    case CrKind::time:
      return read_as<api::Time>(v, out, c);
    case CrKind::micro_time:
      return read_as<api::MicroTime>(v, out, c);
    case CrKind::raw_json:
      return read_as<api::RawJson>(v, out, c);
    case CrKind::object_meta:
      return api::meta::v1::read(v, *static_cast<api::meta::v1::ObjectMeta*>(out), c);
    case CrKind::generated:
      return read_generated(v, out, t, c);
    case CrKind::structure:
      return read_struct(v, out, t, c);
    case CrKind::optional:
      return read_value(v, t.emplace(out), t.element(), c);
    case CrKind::vector: {
      t.clear(out);
      od::array arr = api::detail::get_array(v, c);
      std::size_t i = 0;
      for (auto item : arr) {
        od::value e;
        c.check(std::move(item).get(e));
        c.push_index(i++);
        void* slot = t.emplace(out);
        if (!api::detail::is_null(e, c)) read_value(e, slot, t.element(), c);
        c.pop();
      }
      return;
    }
    case CrKind::map: {
      t.clear(out);
      MapTarget target{out, &t};
      api::detail::read_object(v, c, &target,
                               [](std::string_view key, od::value& val, void* p, Ctx& c) {
                                 auto& m = *static_cast<MapTarget*>(p);
                                 void* slot = m.type->emplace_key(m.map, key);
                                 c.push_key(key);
                                 read_value(val, slot, m.type->element(), c);
                                 c.pop();
                               });
      return;
    }
  }
}

void write_value(Writer& w, const void* v, const CrType& t);

template <class T>
void write_as(Writer& w, const void* v) {
  api::detail::write(w, *static_cast<const T*>(v));
}

struct MapWriter {
  Writer* w;
  const CrType* element;
};

void write_value(Writer& w, const void* v, const CrType& t) {
  switch (t.kind) {
    case CrKind::string:
      return write_as<std::string>(w, v);
    case CrKind::boolean:
      return write_as<bool>(w, v);
    case CrKind::int32:
      return write_as<int32_t>(w, v);
    case CrKind::int64:
      return write_as<int64_t>(w, v);
    case CrKind::float64:
      return write_as<double>(w, v);
    case CrKind::quantity:
      return write_as<api::Quantity>(w, v);
    case CrKind::int_or_string:
      return write_as<api::IntOrString>(w, v);
    case CrKind::time:
      return write_as<api::Time>(w, v);
    case CrKind::micro_time:
      return write_as<api::MicroTime>(w, v);
    case CrKind::raw_json:
      return write_as<api::RawJson>(w, v);
    case CrKind::object_meta:
      return api::meta::v1::write(w, *static_cast<const api::meta::v1::ObjectMeta*>(v));
    case CrKind::generated:
      w.out += t.encode(v);
      return;
    case CrKind::structure: {
      w.begin_object();
      for (std::size_t i = 0; i < t.member_count; ++i) {
        const CrMember& m = t.members[i];
        // The tables hand out mutable pointers (decoding needs them); nothing is written here.
        const void* p = m.get(const_cast<void*>(v));
        const CrType& mt = m.type();
        if (!m.required && !mt.is_set(p)) continue;
        w.element();
        w.string(json_name(m.name));
        w.out += ':';
        write_value(w, p, mt);
      }
      w.end_object();
      return;
    }
    case CrKind::optional:
      return write_value(w, t.at(v, 0), t.element());
    case CrKind::vector: {
      w.begin_array();
      const CrType& e = t.element();
      for (std::size_t i = 0, n = t.size(v); i < n; ++i) {
        w.element();
        write_value(w, t.at(v, i), e);
      }
      w.end_array();
      return;
    }
    case CrKind::map: {
      w.begin_object();
      MapWriter mw{&w, &t.element()};
      t.visit(v, &mw, [](void* p, const std::string& key, const void* value) {
        auto& m = *static_cast<MapWriter*>(p);
        m.w->element();
        m.w->string(key);
        m.w->out += ':';
        write_value(*m.w, value, *m.element);
      });
      w.end_object();
      return;
    }
  }
}

}  // namespace

void cr_decode(const JsonInput& in, void* out, const CrType& t) {
  // A scratch of its own: a generated member decodes with the generated code's scratch
  // (read_generated) while this document is still being read.
  thread_local api::detail::DocumentScratch scratch;
  struct Target {
    void* out;
    const CrType* type;
  } target{out, &t};
  api::detail::decode_document(
      in, scratch,
      [](od::value& root, void* p, Ctx& c) {
        auto& tg = *static_cast<Target*>(p);
        read_value(root, tg.out, *tg.type, c);
      },
      &target);
}

std::string cr_encode(const void* v, const CrType& t) {
  Writer w;
  write_value(w, v, t);
  return std::move(w.out);
}

}  // namespace kcoro::detail
