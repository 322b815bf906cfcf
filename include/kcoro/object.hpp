// kcoro/object.hpp — the immutable, shared Kubernetes object that the whole pipeline passes on.
//
// Contract
// - An Object is created once, by a decoder or by Object::parse, and never changes afterwards.
//   It is shared as `std::shared_ptr<const Object>` (kcoro::ObjectPtr): the informer's store, the
//   handlers and the reconcilers all read the same bytes; safe to read from any thread.
// - It owns the object's JSON text, kept with simdjson padding so that any field can be read again
//   by JSON pointer without a copy (`get<T>("/spec/nodeName")`).
// - `meta()` is extracted once at decode time. Its string_views and spans point into the Object
//   itself and live exactly as long as it does; copy what must outlive the Object.
// - One allocation per Object: the shared control block, the Object, its text, its meta tables
//   (labels, annotations, owner references, finalizers) and the unescaped copies of strings that
//   had JSON escapes live in one block. The tables double as the text's simdjson padding.
// - A transform runs at decode time, before the Object is built (client-go's TransformFunc). The
//   default cuts `metadata.managedFields` out of the text without re-serialising the rest.
// - No Asio here: core layer.
#pragma once

#include "kcoro/error.hpp"
#include "kcoro/json.hpp"
#include "kcoro/transform.hpp"

#include <cstddef>
#include <cstdint>
#include <forward_list>
#include <iterator>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kcoro {

namespace detail {
/// Lets the decoders, and only them, construct Objects (through std::make_shared).
class ObjectPasskey {
  ObjectPasskey() = default;
  friend struct ObjectBuilder;
};
}  // namespace detail

/// A flat string-to-string map in document order (labels, annotations): few entries, read often.
/// Its entries are offsets within the Object's own block, 16 bytes each; iterating yields
/// string_view pairs by value.
class StringMap {
  struct Slot {  // offsets from the slot itself: every string of the map is in the block
    int32_t key_off;
    uint32_t key_len;
    int32_t value_off;
    uint32_t value_len;
  };

 public:
  using Entry = std::pair<std::string_view, std::string_view>;

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using iterator_concept = std::forward_iterator_tag;
    using value_type = Entry;
    using difference_type = std::ptrdiff_t;
    using reference = Entry;
    using pointer = void;

    iterator() = default;
    Entry operator*() const noexcept { return entry(slot_); }
    iterator& operator++() noexcept {
      ++slot_;
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator t = *this;
      ++slot_;
      return t;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept {
      return a.slot_ == b.slot_;
    }

   private:
    friend class StringMap;
    explicit iterator(const Slot* slot) noexcept : slot_(slot) {}
    const Slot* slot_ = nullptr;
  };

  std::optional<std::string_view> get(std::string_view key) const noexcept {
    for (const Slot* s = slots_; s != slots_ + size_; ++s) {
      if (string_at(s, s->key_off, s->key_len) == key)
        return string_at(s, s->value_off, s->value_len);
    }
    return std::nullopt;
  }
  bool contains(std::string_view key) const noexcept { return get(key).has_value(); }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  iterator begin() const noexcept { return iterator(slots_); }
  iterator end() const noexcept { return iterator(slots_ + size_); }

 private:
  friend struct detail::ObjectBuilder;
  // A string of the map: `len` bytes at `off` bytes from the table (the text lies before it).
  static std::string_view string_at(const Slot* table, int32_t off, uint32_t len) noexcept {
    return {reinterpret_cast<const char*>(table) + off, len};
  }
  static Entry entry(const Slot* s) noexcept {
    return {string_at(s, s->key_off, s->key_len), string_at(s, s->value_off, s->value_len)};
  }
  const Slot* slots_ = nullptr;  // in the Object's block
  uint32_t size_ = 0;
};

struct OwnerReference {
  std::string_view api_version;
  std::string_view kind;
  std::string_view name;
  std::string_view uid;
  bool controller = false;
  bool block_owner_deletion = false;
};

/// The parts of metadata (and the type) every controller reads, extracted once at decode time.
/// Absent strings are empty; `generation` is 0 when absent.
struct ObjectMeta {
  std::string_view kind;         ///< Set from the list's kind when the server omitted it.
  std::string_view api_version;  ///< Likewise.
  std::string_view ns;           ///< metadata.namespace; empty for cluster-scoped objects.
  std::string_view name;
  std::string_view generate_name;
  std::string_view uid;
  std::string_view resource_version;
  int64_t generation = 0;
  std::string_view creation_timestamp;
  std::string_view deletion_timestamp;  ///< Non-empty once deletion has started.
  std::optional<int64_t> deletion_grace_period_seconds;
  StringMap labels;
  StringMap annotations;
  std::span<const OwnerReference> owner_references;
  std::span<const std::string_view> finalizers;

  /// The owner reference with controller=true, if any.
  const OwnerReference* controller_ref() const noexcept;
  bool being_deleted() const noexcept { return !deletion_timestamp.empty(); }
};

/// client-go's cache key: "namespace/name", or "name" for cluster-scoped objects.
struct ObjectKey {
  std::string ns;
  std::string name;

  std::string str() const;
  /// Parses a key by client-go's SplitMetaNamespaceKey rules: "name" or "namespace/name";
  /// anything else (empty name, more than one '/') is nullopt.
  static std::optional<ObjectKey> parse(std::string_view key);
  friend bool operator==(const ObjectKey&, const ObjectKey&) = default;
};

struct DecodeOptions {
  bool strip_managed_fields = true;  ///< Cut metadata.managedFields out of the stored text.
  Transform transform;               ///< Runs after the managedFields cut.
  std::size_t max_document_bytes = std::size_t{64} << 20;  ///< A larger line or item fails.
};

class Object;
using ObjectPtr = std::shared_ptr<const Object>;

class Object {
 public:
  /// Decodes one JSON object. Fails with an Error (and its byte offset) on malformed JSON or an
  /// object without metadata.name.
  static ObjectPtr parse(std::string_view json, Error& err, const DecodeOptions& opts = {});
  /// As above, but throws std::system_error on failure.
  static ObjectPtr parse(std::string_view json, const DecodeOptions& opts = {});

  const ObjectMeta& meta() const noexcept { return meta_; }
  /// The stored JSON text (after transforms), without the padding.
  std::string_view json() const noexcept { return {text_, size_}; }
  /// "namespace/name" or "name".
  std::string key() const;

  /// Reads a field by JSON pointer (RFC 6901, e.g. "/spec/containers/0/image").
  /// nullopt when the field is absent or null; errc::type_mismatch (or invalid_json_pointer) in
  /// `ec` when it holds another type. T is one of std::string_view, std::string, int64_t, double,
  /// bool, RawJson (the sub-tree's text).
  template <class T>
  std::optional<T> get(std::string_view pointer, std::error_code& ec) const;
  /// As above, but a type mismatch throws std::system_error naming the pointer.
  template <class T>
  std::optional<T> get(std::string_view pointer) const {
    std::error_code ec;
    auto v = get<T>(pointer, ec);
    if (ec) throw_get_error(pointer, ec);
    return v;
  }

  /// The object as a typed API struct (a generated kcoro::api type such as
  /// kcoro::api::core::v1::Pod), decoded from the stored text now, in one pass and without
  /// copying it. Include the type's header (kcoro/api/GROUP/VERSION.hpp) and link libkcoro.
  /// Throws kcoro::api::DecodeError when the text does not fit the type. The default transform
  /// has cut metadata.managedFields, so the struct has none.
  template <class T>
  T as() const {
    T out;
    decode_json(JsonInput{json(), true}, out);  // the generated overload, found by ADL
    return out;
  }

  /// Heap bytes this Object holds (text, padding, meta tables, control block); what the cache
  /// pays per object.
  std::size_t retained_bytes() const noexcept;

  explicit Object(detail::ObjectPasskey) noexcept {}
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;
  ~Object();

 private:
  friend struct detail::ObjectBuilder;
  [[noreturn]] static void throw_get_error(std::string_view pointer, std::error_code ec);
  std::string_view intern(std::string_view unescaped) const;

  const char* text_ = nullptr;  // size_ bytes + json padding, in this Object's own block
  uint32_t size_ = 0;           // DecodeOptions::max_document_bytes keeps it far below 4 GiB
  uint32_t tail_ = 0;           // bytes of the block past the Object: text, padding, tables
  ObjectMeta meta_;
  // Unescaped copies of strings that had JSON escapes; stable addresses for meta's views and
  // for get<std::string_view>. Appended under a striped lock after construction.
  mutable std::forward_list<std::string> interned_;
};

extern template std::optional<std::string_view> Object::get(std::string_view,
                                                            std::error_code&) const;
extern template std::optional<std::string> Object::get(std::string_view, std::error_code&) const;
extern template std::optional<int64_t> Object::get(std::string_view, std::error_code&) const;
extern template std::optional<double> Object::get(std::string_view, std::error_code&) const;
extern template std::optional<bool> Object::get(std::string_view, std::error_code&) const;
extern template std::optional<RawJson> Object::get(std::string_view, std::error_code&) const;

}  // namespace kcoro
