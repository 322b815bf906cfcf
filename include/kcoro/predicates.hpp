// kcoro/predicates.hpp — filters between an informer's notifications and the work queue.
//
// Contract
// - A Predicate decides, per notification, whether the controller enqueues anything for it
//   (controller-runtime's predicate.Funcs). It has one function per kind of notification; an
//   empty function passes everything of its kind. A default-constructed Predicate passes all.
// - The built-in change predicates follow controller-runtime: they judge updates only and pass
//   creates and deletes (generation_changed() passes a create and a delete as
//   GenerationChangedPredicate does).
// - Composition: `a && b`, `a || b`, `!a` combine kind by kind; they evaluate left to right and
//   stop early as C++ does.
// - Predicates run on the informer handler's executor; they must be cheap and must not block.
//   They are copied into the controller; what they capture must be safe to call from that thread.
// - No Asio here.
#pragma once

#include "kcoro/object.hpp"

#include <functional>

namespace kcoro {

struct Predicate {
  std::function<bool(const Object& obj)> create;
  std::function<bool(const Object& old_obj, const Object& new_obj)> update;
  /// `tombstone`: the deletion was found by a relist (the object is its last known state).
  std::function<bool(const Object& obj, bool tombstone)> remove;

  bool on_create(const Object& obj) const { return !create || create(obj); }
  bool on_update(const Object& old_obj, const Object& new_obj) const {
    return !update || update(old_obj, new_obj);
  }
  bool on_delete(const Object& obj, bool tombstone) const {
    return !remove || remove(obj, tombstone);
  }
};

/// Updates whose metadata.resourceVersion changed (drops the resync's update(obj, obj)).
Predicate resource_version_changed();
/// Updates whose metadata.generation changed (spec changes; status-only writes are dropped).
Predicate generation_changed();
/// Updates whose labels changed (as a map: order does not matter).
Predicate labels_changed();
/// Updates whose annotations changed (as a map: order does not matter).
Predicate annotations_changed();
/// Every notification whose object (the new one for an update) satisfies `fn`.
Predicate matching(std::function<bool(const Object& obj)> fn);

Predicate operator&&(Predicate a, Predicate b);
Predicate operator||(Predicate a, Predicate b);
Predicate operator!(Predicate a);

}  // namespace kcoro
