// kcoro/owner_reference.hpp — set an owner (or controller) reference on an object to be written.
//
// Contract
// - Both functions edit `obj`, a whole object as JSON (apiVersion, kind, metadata, ...), in place;
//   they do no I/O. The owner is an Object read from the server: its apiVersion, kind, name and
//   uid make the reference. An owner without any of them is std::invalid_argument.
// - controller-runtime's controllerutil semantics:
//   - Two references name the same owner when their API group, kind and name are equal (version
//     and uid are not compared: a reference from an older version of the owner, or to an owner
//     that was deleted and created again under its name, is updated in place, uid included).
//   - set_controller_reference adds {apiVersion, kind, name, uid, controller: true,
//     blockOwnerDeletion: true}, or replaces the reference to the same owner. When `obj` already
//     has a controller reference (controller: true) to another owner it throws AlreadyOwnedError
//     and leaves `obj` unchanged.
//   - Scope (the garbage collector's rule): a cluster-scoped owner may own an object of any scope;
//     a namespaced owner may own only objects of its own namespace. A namespaced owner of a
//     cluster-scoped object (no metadata.namespace in `obj`) or of an object in another namespace
//     throws OwnerReferenceError and leaves `obj` unchanged. So set metadata.namespace before.
// - set_owner_reference adds a plain reference {apiVersion, kind, name, uid}, with the same scope
//   rule. Where controller-runtime's SetOwnerReference replaces a reference to the same owner
//   whole, and so drops its controller flag, this one keeps `controller` and
//   `blockOwnerDeletion` of the reference it replaces: calling both never loses the controller.
// - No Asio here.
#pragma once

#include "kcoro/object.hpp"

#include <boost/json/object.hpp>

#include <stdexcept>
#include <string>

namespace kcoro {

/// An owner reference that cannot be set: the owner's scope does not allow it.
class OwnerReferenceError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// The object already has a controller reference to another owner (controller-runtime's
/// AlreadyOwnedError). Names that owner.
class AlreadyOwnedError : public OwnerReferenceError {
 public:
  AlreadyOwnedError(std::string object, std::string owner_kind, std::string owner_name);
  const std::string& owner_kind() const noexcept { return owner_kind_; }
  const std::string& owner_name() const noexcept { return owner_name_; }

 private:
  std::string owner_kind_;
  std::string owner_name_;
};

/// Makes `owner` the controller of `obj` (controllerutil.SetControllerReference).
void set_controller_reference(const Object& owner, boost::json::object& obj);

/// Adds `owner` to `obj`'s owner references (controllerutil.SetOwnerReference).
void set_owner_reference(const Object& owner, boost::json::object& obj);

}  // namespace kcoro
