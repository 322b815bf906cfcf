#include "kcoro/owner_reference.hpp"

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include <string_view>

namespace kcoro {

namespace json = boost::json;

namespace {

std::string_view string_at(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return it->value().get_string();
}

/// The API group of an apiVersion: "" for "v1", "apps" for "apps/v1".
std::string_view group_of(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view{} : api_version.substr(0, slash);
}

/// controller-runtime's referSameObject: same group, kind and name.
bool same_owner(const json::object& ref, const Object& owner) {
  const ObjectMeta& m = owner.meta();
  return group_of(string_at(ref, "apiVersion")) == group_of(m.api_version) &&
         string_at(ref, "kind") == m.kind && string_at(ref, "name") == m.name;
}

std::string object_name(const json::object& meta) {
  std::string_view ns = string_at(meta, "namespace");
  std::string_view name = string_at(meta, "name");
  return ns.empty() ? std::string(name) : std::string(ns) + "/" + std::string(name);
}

json::object& metadata_of(json::object& obj) {
  json::value& meta = obj["metadata"];
  if (!meta.is_object()) meta = json::object();
  return meta.get_object();
}

/// obj's metadata, or an empty object: for the checks, which must not change `obj`.
const json::object& metadata_or_empty(const json::object& obj) {
  static const json::object empty;
  auto it = obj.find("metadata");
  return it != obj.end() && it->value().is_object() ? it->value().get_object() : empty;
}

/// Throws unless `owner` may own `meta`'s object (controllerutil's validateOwner).
void check_scope(const Object& owner, const json::object& meta) {
  const ObjectMeta& m = owner.meta();
  if (m.api_version.empty() || m.kind.empty() || m.name.empty() || m.uid.empty()) {
    throw std::invalid_argument(
        "owner reference: the owner needs apiVersion, kind, name and uid (read it from the "
        "server)");
  }
  if (m.ns.empty()) return;
  std::string_view ns = string_at(meta, "namespace");
  if (ns.empty()) {
    throw OwnerReferenceError(
        "cluster-scoped resource must not have a namespace-scoped owner, "
        "owner's namespace " +
        std::string(m.ns));
  }
  if (ns != m.ns) {
    throw OwnerReferenceError(
        "cross-namespace owner references are disallowed, owner's namespace " + std::string(m.ns) +
        ", obj's namespace " + std::string(ns));
  }
}

/// Adds `ref`, or replaces the reference to the same owner with it (upsertOwnerRef).
void upsert(json::object& meta, const Object& owner, json::object ref, bool keep_flags) {
  json::value& refs = meta["ownerReferences"];
  if (!refs.is_array()) refs = json::array();
  for (json::value& r : refs.get_array()) {
    if (!r.is_object() || !same_owner(r.get_object(), owner)) continue;
    if (keep_flags) {
      for (std::string_view flag : {"controller", "blockOwnerDeletion"}) {
        if (auto it = r.get_object().find(flag); it != r.get_object().end()) {
          ref[flag] = it->value();
        }
      }
    }
    r = std::move(ref);
    return;
  }
  refs.get_array().emplace_back(std::move(ref));
}

json::object reference_to(const Object& owner) {
  const ObjectMeta& m = owner.meta();
  return json::object{
      {"apiVersion", m.api_version}, {"kind", m.kind}, {"name", m.name}, {"uid", m.uid}};
}

}  // namespace

AlreadyOwnedError::AlreadyOwnedError(std::string object, std::string owner_kind,
                                     std::string owner_name)
    : OwnerReferenceError("Object " + object + " is already owned by another " + owner_kind +
                          " controller " + owner_name),
      owner_kind_(std::move(owner_kind)),
      owner_name_(std::move(owner_name)) {}

void set_controller_reference(const Object& owner, json::object& obj) {
  const json::object& meta = metadata_or_empty(obj);
  if (auto it = meta.find("ownerReferences"); it != meta.end() && it->value().is_array()) {
    for (const json::value& r : it->value().get_array()) {
      if (!r.is_object()) continue;
      const json::object& ref = r.get_object();
      auto c = ref.find("controller");
      bool controller = c != ref.end() && c->value().is_bool() && c->value().get_bool();
      if (controller && !same_owner(ref, owner)) {
        throw AlreadyOwnedError(object_name(meta), std::string(string_at(ref, "kind")),
                                std::string(string_at(ref, "name")));
      }
    }
  }
  check_scope(owner, meta);
  json::object ref = reference_to(owner);
  ref["controller"] = true;
  ref["blockOwnerDeletion"] = true;
  upsert(metadata_of(obj), owner, std::move(ref), false);
}

void set_owner_reference(const Object& owner, json::object& obj) {
  check_scope(owner, metadata_or_empty(obj));
  upsert(metadata_of(obj), owner, reference_to(owner), true);
}

}  // namespace kcoro
