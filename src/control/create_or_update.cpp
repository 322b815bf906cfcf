#include "kcoro/create_or_update.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <stdexcept>
#include <string>

namespace kcoro {

namespace json = boost::json;

namespace {

/// The object, or nullptr when the server answers 404.
awaitable<ObjectPtr> get_if_exists(Client& client, const Resource& res, std::string_view ns,
                                   std::string_view name) {
  try {
    co_return co_await client.get(res, ns, name);
  } catch (const ApiError& e) {
    if (!is_not_found(e)) throw;
  }
  co_return nullptr;
}

std::string_view metadata_string(const json::object& obj, std::string_view key) {
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->value().is_object()) return {};
  auto it = meta->value().get_object().find(key);
  if (it == meta->value().get_object().end() || !it->value().is_string()) return {};
  return it->value().get_string();
}

/// Runs `mutate` on `obj` and checks it kept the object's name and namespace (controllerutil's
/// mutate).
void run_mutate(const MutateFn& mutate, json::object& obj, std::string_view ns,
                std::string_view name) {
  mutate(obj);
  if (metadata_string(obj, "name") != name || metadata_string(obj, "namespace") != ns) {
    throw std::invalid_argument("MutateFn cannot mutate object name and/or object namespace");
  }
}

/// What both helpers share: read, mutate, and create when absent. `created`: `current` is the
/// object created; otherwise `current` is the object read and `before`/`after` its JSON before
/// and after mutate.
struct Mutated {
  ObjectPtr current;
  json::object before;
  json::object after;
  bool created = false;
};

awaitable<Mutated> get_mutate_or_create(Client& client, const Resource& res, std::string_view ns,
                                        std::string_view name, const MutateFn& mutate) {
  Mutated m;
  if (!res.namespaced) ns = {};
  m.current = co_await get_if_exists(client, res, ns, name);
  if (!m.current) {
    json::object meta{{"name", name}};
    if (!ns.empty()) meta["namespace"] = ns;
    m.after = json::object{
        {"apiVersion", res.api_version()}, {"kind", res.kind}, {"metadata", std::move(meta)}};
    run_mutate(mutate, m.after, ns, name);
    m.current = co_await client.create(res, ns, json::value(m.after));
    m.created = true;
    co_return m;
  }
  m.before = json::parse(m.current->json()).as_object();
  m.after = m.before;
  run_mutate(mutate, m.after, ns, name);
  co_return m;
}

}  // namespace

awaitable<CreateOrUpdateResult> create_or_update(Client& client, const Resource& res,
                                                 std::string_view ns, std::string_view name,
                                                 MutateFn mutate) {
  Mutated m = co_await get_mutate_or_create(client, res, ns, name, mutate);
  if (m.created) co_return CreateOrUpdateResult{OperationResult::created, std::move(m.current)};
  if (m.after == m.before) co_return CreateOrUpdateResult{OperationResult::unchanged, m.current};
  // `after` still carries the resourceVersion read: a concurrent change is a 409.
  ObjectPtr updated =
      co_await client.replace(res, m.current->meta().ns, name, json::value(std::move(m.after)));
  co_return CreateOrUpdateResult{OperationResult::updated, std::move(updated)};
}

awaitable<CreateOrUpdateResult> create_or_patch(Client& client, const Resource& res,
                                                std::string_view ns, std::string_view name,
                                                MutateFn mutate) {
  Mutated m = co_await get_mutate_or_create(client, res, ns, name, mutate);
  if (m.created) co_return CreateOrUpdateResult{OperationResult::created, std::move(m.current)};
  // The status goes through its subresource, the rest through the object.
  auto take_status = [](json::object& obj) {
    json::object status;
    if (auto it = obj.find("status"); it != obj.end()) {
      status.emplace("status", std::move(it->value()));
      obj.erase(it);
    }
    return status;
  };
  json::object status_before = take_status(m.before);
  json::object status_after = take_status(m.after);
  json::object patch = merge_patch_diff(m.before, m.after);
  json::object status_patch = merge_patch_diff(status_before, status_after);
  OperationResult op = OperationResult::unchanged;
  ObjectPtr last = m.current;
  const std::string_view obj_ns = m.current->meta().ns;
  if (!patch.empty()) {
    last =
        co_await client.patch(res, obj_ns, name, PatchType::merge, json::value(std::move(patch)));
    op = OperationResult::updated;
  }
  if (!status_patch.empty()) {
    PatchOptions opts;
    opts.status = true;
    last = co_await client.patch(res, obj_ns, name, PatchType::merge,
                                 json::value(std::move(status_patch)), opts);
    op = op == OperationResult::updated ? OperationResult::updated_status
                                        : OperationResult::updated_status_only;
  }
  co_return CreateOrUpdateResult{op, std::move(last)};
}

}  // namespace kcoro
