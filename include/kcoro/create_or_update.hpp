// kcoro/create_or_update.hpp — get an object, let a function set what it should hold, write only
// what changed: controller-runtime's controllerutil.CreateOrUpdate and CreateOrPatch.
//
// Contract
// - Both get the object named (ns, name) of `res` (ns is ignored for a cluster-scoped resource).
//   - Absent (404): `mutate` runs on a fresh object {apiVersion, kind, metadata: {name,
//     namespace}} and the result is created: OperationResult::created.
//   - Present: `mutate` runs on a copy of its JSON. If the copy is still equal to what was read
//     (JSON equality, key order aside): OperationResult::unchanged, and nothing is written.
//     Otherwise:
//     - create_or_update replaces the object with the copy. The copy carries the resourceVersion
//       that was read, so a concurrent change fails with 409 Conflict (see retry.hpp) instead of
//       being overwritten: OperationResult::updated. As with PUT, a resource with a status
//       subresource ignores changes to status.
//     - create_or_patch sends a JSON merge patch (RFC 7386) of the difference without
//       resourceVersion (controller-runtime's client.MergeFrom: no optimistic lock, only the
//       fields that changed are written). A change of status goes in a second merge patch to the
//       status subresource. The answer is updated (not status), updated_status (both) or
//       updated_status_only (status alone).
// - `mutate` must not change metadata.name or metadata.namespace: if it does, nothing is written
//   and std::invalid_argument is thrown (controller-runtime's "MutateFn cannot mutate object name
//   and/or object namespace"). An exception from `mutate` propagates; nothing is written.
//   A get that fails other than with 404, and any failed write, propagates as ApiError.
// - The result holds the object as the server last answered (as read, for unchanged).
// - Every call runs on the awaiting coroutine's executor; `client`, `res`, `ns` and `name` must
//   live until the awaitable completes (as for Client's verbs).
#pragma once

#include "kcoro/detail/asio_config.hpp"
#include "kcoro/reconcile_support.hpp"

#include "kcoro/client.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <functional>
#include <string_view>

namespace kcoro {

struct CreateOrUpdateResult {
  OperationResult operation;
  ObjectPtr object;
};

/// Sets, in the object's JSON, what it should hold. May throw; must not rename.
using MutateFn = std::function<void(boost::json::object& obj)>;

/// controllerutil.CreateOrUpdate; see the contract.
awaitable<CreateOrUpdateResult> create_or_update(Client& client, const Resource& res,
                                                 std::string_view ns, std::string_view name,
                                                 MutateFn mutate);

/// controllerutil.CreateOrPatch; see the contract.
awaitable<CreateOrUpdateResult> create_or_patch(Client& client, const Resource& res,
                                                std::string_view ns, std::string_view name,
                                                MutateFn mutate);

}  // namespace kcoro
