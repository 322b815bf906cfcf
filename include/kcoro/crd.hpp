// kcoro/crd.hpp — the CustomResourceDefinition of a custom resource declared with
// KCORO_CUSTOM_RESOURCE (kcoro/custom_resource.hpp), as kube-derive's Foo::crd() and
// controller-gen's `crd` generator write it.
//
// Contract
// - crd_of<Foo>() is the generated apiextensions.k8s.io/v1 CustomResourceDefinition, ready for
//   Api<CustomResourceDefinition>::create or apply: metadata.name PLURAL.GROUP; spec.group, scope
//   (Namespaced or Cluster) and names (plural, singular = the kind in lower case, kind, listKind =
//   KIND + "List"); one version, served and stored, with the status subresource when Foo has a
//   status struct.
// - The openAPIV3Schema follows controller-gen: a described struct is `type: object` with its
//   members as properties and its required members (those that are not std::optional, vector or
//   map) listed in `required`, in declaration order; std::string is string, bool boolean, int32_t
//   and int64_t integer (format int32, int64), double number, std::vector array (items),
//   std::map object (additionalProperties); IntOrString is x-kubernetes-int-or-string (anyOf
//   integer, string); Quantity too, with the quantity pattern; Time and MicroTime are string,
//   format date-time; RawJson is x-kubernetes-preserve-unknown-fields; ObjectMeta is `type:
//   object`, and another generated struct is an object whose fields the server keeps
//   (x-kubernetes-preserve-unknown-fields). The top level has apiVersion, kind (strings),
//   metadata, spec and status. kcoro_schema() hints (custom_resource.hpp) add descriptions and
//   validations; a hint naming no member throws std::invalid_argument.
// - A group the API server protects (k8s.io, kubernetes.io and their subdomains) needs the
//   api-approved.kubernetes.io annotation: crd_of sets it to "unapproved, experimental-only", as
//   upstream's sample-controller does; replace it in the result if the group is approved.
#pragma once

#include "kcoro/api/apiextensions/v1.hpp"
#include "kcoro/custom_resource.hpp"

namespace kcoro {

namespace detail {
api::apiextensions::v1::CustomResourceDefinition cr_definition(const Resource& r,
                                                               const CrType& type);
/// The schema of one type (a member's, or the whole resource's).
api::apiextensions::v1::JSONSchemaProps cr_schema(const CrType& type);
}  // namespace detail

/// The CustomResourceDefinition of Foo; see the contract.
template <class T>
api::apiextensions::v1::CustomResourceDefinition crd_of() {
  return detail::cr_definition(T::resource(), detail::cr_type<T>());
}

/// The openAPIV3Schema of a described struct or custom resource alone.
template <class T>
api::apiextensions::v1::JSONSchemaProps schema_of() {
  return detail::cr_schema(detail::cr_type<T>());
}

}  // namespace kcoro
