// kcoro/finalizer.hpp — finalizers: add and remove one without overwriting a concurrent change,
// and kube-rs's finalizer() reconcile helper.
//
// Contract
// - add_finalizer / remove_finalizer send one JSON patch (application/json-patch+json) that
//   starts with {"op":"test","path":"/metadata/resourceVersion","value":<obj's rv>}. If the object
//   changed on the server since `obj` was read, the test fails and nothing is written: the server
//   answers 422 Invalid (a 409 Conflict is possible too), thrown as ApiError; is_write_conflict()
//   recognises both. Read the object again and retry (or let the controller requeue).
//   - add: {"op":"add","path":"/metadata/finalizers","value":[name]} when obj has no finalizer
//     (the array absent or empty), else {"op":"add","path":"/metadata/finalizers/-",...}.
//   - remove: the element at its index i, guarded also by {"op":"test",
//     "path":"/metadata/finalizers/i","value":name}.
//   Both return the object the server answered with. Adding a finalizer obj already has, or
//   removing one it does not have, sends nothing and returns `obj`. An object without a
//   resourceVersion is std::invalid_argument. Removing the last finalizer of an object being
//   deleted lets the server delete it: the answer is its last state.
// - finalizer(client, res, obj, name, apply, cleanup) is kube-rs's kube_runtime::finalizer, with
//   its decisions:
//     obj                                   action                              returns
//     not being deleted, finalizer absent   add_finalizer; apply is not run     Result::done()
//     not being deleted, finalizer present  apply(obj)                          apply's Result
//     being deleted, finalizer present      cleanup(obj); if it returned done,  done (cleanup's
//                                           remove_finalizer                    Result otherwise)
//     being deleted, finalizer absent       nothing                             Result::done()
//   After adding the finalizer it returns instead of applying, as kube-rs does: the add is a
//   write, its watch event queues the object again, and that reconcile (reading the cache,
//   which then holds the finalizer) applies. A predicate that drops metadata-only updates
//   (generation_changed) also drops that event: with one, requeue yourself when the answer is
//   done and the object had no finalizer.
//   Cleanup finishes only with Result::done(): requeue, requeue_after, error and terminal keep
//   the finalizer and are returned as they are, so a cleanup still waiting for something
//   answers requeue_after(d). An exception from apply or cleanup propagates, the finalizer kept.
//   A failed add or remove (is_write_conflict included) propagates as ApiError: the controller
//   retries it as an error, and a cleanup whose finalizer could not be removed runs again (so
//   cleanup must be idempotent, as in kube-rs and controller-runtime).
// - Every call runs on the awaiting coroutine's executor; `client`, `res` and `name` must live
//   until the awaitable completes (as for Client's verbs).
#pragma once

#include "kcoro/detail/asio_config.hpp"
#include "kcoro/reconcile_support.hpp"

#include "kcoro/client.hpp"
#include "kcoro/reconcile.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <string_view>

namespace kcoro {

/// Adds `name` to obj's finalizers unless present; see the contract.
awaitable<ObjectPtr> add_finalizer(Client& client, const Resource& res, ObjectPtr obj,
                                   std::string_view name);

/// Removes `name` from obj's finalizers if present; see the contract.
awaitable<ObjectPtr> remove_finalizer(Client& client, const Resource& res, ObjectPtr obj,
                                      std::string_view name);

/// The apply or cleanup step of finalizer(): gets the object as read.
using FinalizerStep = std::function<awaitable<Result>(const ObjectPtr& obj)>;

/// kube-rs's finalizer(): runs `apply` on a live object that carries finalizer `name`, and
/// `cleanup` before letting a deleted one go; see the contract's table.
awaitable<Result> finalizer(Client& client, const Resource& res, ObjectPtr obj,
                            std::string_view name, FinalizerStep apply, FinalizerStep cleanup);

}  // namespace kcoro
