// kcoro/custom_resource.hpp — typed custom resources from structs described with Boost.Describe:
// KCORO_CUSTOM_RESOURCE (kube-derive's #[derive(CustomResource)], kubebuilder's types.go).
//
//   struct FooSpec { std::string deploymentName; std::optional<int32_t> replicas; };
//   BOOST_DESCRIBE_STRUCT(FooSpec, (), (deploymentName, replicas))
//   struct FooStatus { std::optional<int32_t> availableReplicas; };
//   BOOST_DESCRIBE_STRUCT(FooStatus, (), (availableReplicas))
//   KCORO_CUSTOM_RESOURCE(Foo, "samplecontroller.k8s.io", "v1alpha1", "Foo", "foos", Namespaced,
//                         FooSpec, FooStatus)
//
// Contract
// - The macro, at namespace scope, defines `struct Foo { apiVersion, kind, metadata, spec,
//   status }` shaped like a generated kind (kcoro/api/types.hpp): every member std::optional,
//   metadata the generated meta/v1 ObjectMeta, `static const Resource& resource()`. Without a
//   status struct (the last argument left out) Foo has no status member and its CRD no status
//   subresource. Scope is Namespaced or Cluster. Foo works wherever a generated kind does:
//   api::decode/encode, Object::as<Foo>(), Store::get<Foo>(), Api<Foo> (typed_client.hpp), the
//   typed builder calls (manager.hpp), and crd_of<Foo>() (crd.hpp).
// - Members of the described structs (public data members, BOOST_DESCRIBE_STRUCT) may be:
//   std::string, bool, int32_t, int64_t, double, the special types of kcoro/api/types.hpp
//   (Quantity, IntOrString, Time, MicroTime, RawJson), other described structs, any generated API
//   struct (kcoro/api/GROUP/VERSION.hpp, e.g. meta/v1 Condition), and std::optional, std::vector
//   and std::map<std::string, T> of those. Any other type is a compile error. The JSON name is the
//   member's name, without a trailing '_' (so `default_` is "default").
// - Required and optional, as kube-derive and controller-gen decide: a member that is not a
//   std::optional, std::vector or std::map is required. Decoding a JSON object that lacks a
//   required member (or has it null) throws DecodeError naming its path; encoding always writes
//   it. An optional member is written only when set, a vector or map only when not empty: a
//   partly filled Foo is a server-side-apply configuration and a merge patch.
// - Decoding follows the generated types: one forward pass (simdjson On-Demand), unknown fields
//   ignored, null is "not set", a value of the wrong type throws DecodeError naming its JSON path
//   ("spec.replicas: expected an integer"). Keys are written in declaration order.
// - Schema hints, optional: a function `kcoro::SchemaHints kcoro_schema(const FooSpec*)` found by
//   argument-dependent lookup (declare it next to the struct) gives the struct's and its members'
//   descriptions and validations (minimum, maximum, pattern, enum...), which crd_of<Foo>() writes
//   into the schema.
// - Cost: this header adds Boost.Describe and the meta/v1 types to a translation unit, no simdjson
//   and no Asio (core layer). The decoding, encoding and schema code is compiled once in libkcoro;
//   each described struct adds one constant table of its members.
#pragma once

#include "kcoro/api/meta/v1.hpp"
#include "kcoro/api/types.hpp"
#include "kcoro/resource.hpp"

#include <boost/describe/class.hpp>
#include <boost/describe/members.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace kcoro {

/// A custom resource's scope: objects in a namespace, or one per cluster.
enum class CrdScope : uint8_t { Namespaced, Cluster };

/// The schema hints of one member (OpenAPI v3 keywords); unset ones are not written.
struct MemberSchema {
  std::string description{};
  std::optional<double> minimum{};
  std::optional<double> maximum{};
  std::optional<int64_t> min_length{};
  std::optional<int64_t> max_length{};
  std::optional<int64_t> min_items{};
  std::optional<int64_t> max_items{};
  std::string pattern{};
  std::string format{};
  std::vector<std::string> enum_values{};  ///< allowed strings
};

/// What a user's kcoro_schema(const T*) returns: the struct's description and its members' hints
/// by member (JSON) name. A name that is not a member is an error of crd_of().
struct SchemaHints {
  std::string description{};
  std::map<std::string, MemberSchema, std::less<>> members{};
};

namespace detail {

/// What a member's type is, for the decoding, encoding and schema code in libkcoro.
enum class CrKind : uint8_t {
  string,
  boolean,
  int32,
  int64,
  float64,
  quantity,
  int_or_string,
  time,
  micro_time,
  raw_json,
  object_meta,  ///< meta/v1 ObjectMeta
  generated,    ///< another generated API struct, through its decode_json/encode_json
  structure,    ///< a described struct
  optional,
  vector,
  map,
};

struct CrType;

struct CrMember {
  const char* name;  ///< the JSON name
  void* (*get)(void* obj);
  const CrType& (*type)();
  bool required;
};

/// One type's table. Which operations are set depends on `kind`.
struct CrType {
  CrKind kind;
  const CrType& (*element)() = nullptr;  ///< optional, vector, map: the element's type
  const CrMember* members = nullptr;     ///< structure
  std::size_t member_count = 0;          ///< structure
  SchemaHints (*hints)() = nullptr;      ///< structure: kcoro_schema, if declared
  void* (*emplace)(void* c) = nullptr;   ///< optional: emplace(); vector: emplace_back()
  void* (*emplace_key)(void* c, std::string_view key) = nullptr;  ///< map
  void (*clear)(void* c) = nullptr;                               ///< optional, vector, map
  bool (*is_set)(const void* c) = nullptr;                        ///< optional, vector, map
  std::size_t (*size)(const void* c) = nullptr;                   ///< vector
  const void* (*at)(const void* c, std::size_t i) = nullptr;      ///< optional (i = 0), vector
  /// map: calls fn(ctx, key, value) for each entry, in key order.
  void (*visit)(const void* c, void* ctx,
                void (*fn)(void* ctx, const std::string& key, const void* v)) = nullptr;
  /// generated: the type's own conversions.
  void (*decode)(const JsonInput& in, void* out) = nullptr;
  std::string (*encode)(const void* v) = nullptr;
};

template <class T>
inline constexpr bool cr_unsupported = false;

/// The table of T; the specializations below say which types are supported.
template <class T>
struct CrTypeOf {
  static_assert(cr_unsupported<T>,
                "kcoro: a custom resource member of a type kcoro cannot map to JSON (see "
                "kcoro/custom_resource.hpp for the supported types)");
};

template <class T>
const CrType& cr_type() {
  return CrTypeOf<T>::value;
}

template <class T>
struct cr_is_optional : std::false_type {};
template <class T>
struct cr_is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct cr_is_optional<std::vector<T>> : std::true_type {};
template <class T>
struct cr_is_optional<std::map<std::string, T>> : std::true_type {};

template <CrKind K>
struct CrLeaf {
  static constexpr CrType value{K};
};
template <>
struct CrTypeOf<std::string> : CrLeaf<CrKind::string> {};
template <>
struct CrTypeOf<bool> : CrLeaf<CrKind::boolean> {};
template <>
struct CrTypeOf<int32_t> : CrLeaf<CrKind::int32> {};
template <>
struct CrTypeOf<int64_t> : CrLeaf<CrKind::int64> {};
template <>
struct CrTypeOf<double> : CrLeaf<CrKind::float64> {};
template <>
struct CrTypeOf<api::Quantity> : CrLeaf<CrKind::quantity> {};
template <>
struct CrTypeOf<api::IntOrString> : CrLeaf<CrKind::int_or_string> {};
template <>
struct CrTypeOf<api::Time> : CrLeaf<CrKind::time> {};
template <>
struct CrTypeOf<api::MicroTime> : CrLeaf<CrKind::micro_time> {};
template <>
struct CrTypeOf<api::RawJson> : CrLeaf<CrKind::raw_json> {};
template <>
struct CrTypeOf<api::meta::v1::ObjectMeta> : CrLeaf<CrKind::object_meta> {};

template <class T>
struct CrTypeOf<std::optional<T>> {
  using O = std::optional<T>;
  static constexpr CrType value{
      .kind = CrKind::optional,
      .element = &cr_type<T>,
      .emplace = [](void* c) -> void* { return &static_cast<O*>(c)->emplace(); },
      .clear = [](void* c) { static_cast<O*>(c)->reset(); },
      .is_set = [](const void* c) { return static_cast<const O*>(c)->has_value(); },
      .at = [](const void* c, std::size_t) -> const void* { return &**static_cast<const O*>(c); },
  };
};

template <class T>
struct CrTypeOf<std::vector<T>> {
  using V = std::vector<T>;
  static constexpr CrType value{
      .kind = CrKind::vector,
      .element = &cr_type<T>,
      .emplace = [](void* c) -> void* { return &static_cast<V*>(c)->emplace_back(); },
      .clear = [](void* c) { static_cast<V*>(c)->clear(); },
      .is_set = [](const void* c) { return !static_cast<const V*>(c)->empty(); },
      .size = [](const void* c) { return static_cast<const V*>(c)->size(); },
      .at = [](const void* c, std::size_t i) -> const void* {
        return &(*static_cast<const V*>(c))[i];
      },
  };
};

template <class T>
struct CrTypeOf<std::map<std::string, T>> {
  using M = std::map<std::string, T>;
  static constexpr CrType value{
      .kind = CrKind::map,
      .element = &cr_type<T>,
      .emplace_key = [](void* c, std::string_view key) -> void* {
        return &static_cast<M*>(c)->insert_or_assign(std::string(key), T{}).first->second;
      },
      .clear = [](void* c) { static_cast<M*>(c)->clear(); },
      .is_set = [](const void* c) { return !static_cast<const M*>(c)->empty(); },
      .visit =
          [](const void* c, void* ctx, void (*fn)(void*, const std::string&, const void*)) {
            for (const auto& [k, v] : *static_cast<const M*>(c))
              fn(ctx, k, &v);
          },
  };
};

/// kcoro_schema(const T*) declared by the user, found by argument-dependent lookup.
template <class T>
concept CrHasHints = requires(const T* p) {
  { kcoro_schema(p) } -> std::convertible_to<SchemaHints>;
};

/// A generated API struct: its decode_json/encode_json, found by argument-dependent lookup.
template <class T>
concept CrGenerated = requires(const JsonInput& in, T& out, const T& v) {
  decode_json(in, out);
  { encode_json(v) } -> std::convertible_to<std::string>;
};

template <class T, auto P>
void* cr_member_get(void* obj) {
  return &(static_cast<T*>(obj)->*P);
}

template <class T, class L>
struct CrMembers;
template <class T, template <class...> class L, class... D>
struct CrMembers<T, L<D...>> {
  static constexpr std::size_t count = sizeof...(D);
  static constexpr std::array<CrMember, sizeof...(D) + 1> value{
      CrMember{
          D::name, &cr_member_get<T, D::pointer>,
          &cr_type<std::remove_cvref_t<decltype(std::declval<T&>().*D::pointer)>>,
          !cr_is_optional<std::remove_cvref_t<decltype(std::declval<T&>().*D::pointer)>>::value}...,
      CrMember{nullptr, nullptr, nullptr, false}};
};

template <class T>
SchemaHints cr_hints() {
  return kcoro_schema(static_cast<const T*>(nullptr));
}

template <class T>
requires boost::describe::has_describe_members<T>::value struct CrTypeOf<T> {
  using Members = CrMembers<T, boost::describe::describe_members<T, boost::describe::mod_public>>;
  static_assert(Members::count <= 64, "kcoro: a custom resource struct has at most 64 members");
  static constexpr CrType value{
      .kind = CrKind::structure,
      .members = Members::value.data(),
      .member_count = Members::count,
      .hints =
          [] {
            if constexpr (CrHasHints<T>) {
              return &cr_hints<T>;
            } else {
              return static_cast<SchemaHints (*)()>(nullptr);
            }
          }(),
  };
};

template <class T>
requires(!boost::describe::has_describe_members<T>::value && CrGenerated<T>) struct CrTypeOf<T> {
  static constexpr CrType value{
      .kind = CrKind::generated,
      .decode = [](const JsonInput& in, void* out) { decode_json(in, *static_cast<T*>(out)); },
      .encode = [](const void* v) -> std::string { return encode_json(*static_cast<const T*>(v)); },
  };
};

/// Decodes one JSON document into *out of type `t`. Throws api::DecodeError.
void cr_decode(const JsonInput& in, void* out, const CrType& t);
/// The JSON text of *v of type `t`.
std::string cr_encode(const void* v, const CrType& t);

}  // namespace detail
}  // namespace kcoro

/// Declares the custom resource `Name`; see the contract at the top of kcoro/custom_resource.hpp.
/// The arguments after Spec: the status struct, or nothing.
#define KCORO_CUSTOM_RESOURCE(Name, Group, Version, Kind, Plural, ScopeName, Spec, ...)    \
  struct Name {                                                                            \
    std::optional<std::string> apiVersion;                                                 \
    std::optional<std::string> kind;                                                       \
    std::optional<::kcoro::api::meta::v1::ObjectMeta> metadata;                            \
    std::optional<Spec> spec;                                                              \
    __VA_OPT__(std::optional<__VA_ARGS__> status;)                                         \
    /** The REST resource of this kind (group, version, kind, plural, scope). */           \
    static const ::kcoro::Resource& resource() {                                           \
      static const ::kcoro::Resource r{                                                    \
          Group, Version, Kind, Plural,                                                    \
          ::kcoro::CrdScope::ScopeName == ::kcoro::CrdScope::Namespaced};                  \
      return r;                                                                            \
    }                                                                                      \
  };                                                                                       \
  BOOST_DESCRIBE_STRUCT(Name, (), (apiVersion, kind, metadata, spec __VA_OPT__(, status))) \
  [[maybe_unused]] inline void decode_json(const ::kcoro::api::JsonInput& in, Name& out) { \
    ::kcoro::detail::cr_decode(in, &out, ::kcoro::detail::cr_type<Name>());                \
  }                                                                                        \
  [[maybe_unused]] inline std::string encode_json(const Name& v) {                         \
    return ::kcoro::detail::cr_encode(&v, ::kcoro::detail::cr_type<Name>());               \
  }
