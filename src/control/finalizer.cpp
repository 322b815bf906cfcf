#include "kcoro/finalizer.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace kcoro {

namespace json = boost::json;

namespace {

/// The first op of every finalizer patch: the object is still the version that was read.
json::object test_resource_version(const Object& obj, std::string_view verb) {
  std::string_view rv = obj.meta().resource_version;
  if (rv.empty()) {
    throw std::invalid_argument(std::string(verb) + ": " + obj.key() +
                                " has no resourceVersion (read it from the server)");
  }
  return json::object{{"op", "test"}, {"path", "/metadata/resourceVersion"}, {"value", rv}};
}

}  // namespace

awaitable<ObjectPtr> add_finalizer(Client& client, const Resource& res, ObjectPtr obj,
                                   std::string_view name) {
  if (has_finalizer(*obj, name)) co_return obj;
  json::array patch{test_resource_version(*obj, "add_finalizer")};
  if (obj->meta().finalizers.empty()) {
    // No array, or an empty one: `add` creates the member or replaces it (RFC 6902, 4.1).
    patch.emplace_back(json::object{
        {"op", "add"}, {"path", "/metadata/finalizers"}, {"value", json::array{name}}});
  } else {
    patch.emplace_back(
        json::object{{"op", "add"}, {"path", "/metadata/finalizers/-"}, {"value", name}});
  }
  co_return co_await client.patch(res, obj->meta().ns, obj->meta().name, PatchType::json,
                                  json::value(std::move(patch)));
}

awaitable<ObjectPtr> remove_finalizer(Client& client, const Resource& res, ObjectPtr obj,
                                      std::string_view name) {
  const auto& f = obj->meta().finalizers;
  auto it = std::find(f.begin(), f.end(), name);
  if (it == f.end()) co_return obj;
  std::string path = "/metadata/finalizers/" + std::to_string(it - f.begin());
  json::array patch{test_resource_version(*obj, "remove_finalizer"),
                    json::object{{"op", "test"}, {"path", path}, {"value", name}},
                    json::object{{"op", "remove"}, {"path", path}}};
  co_return co_await client.patch(res, obj->meta().ns, obj->meta().name, PatchType::json,
                                  json::value(std::move(patch)));
}

awaitable<Result> finalizer(Client& client, const Resource& res, ObjectPtr obj,
                            std::string_view name, FinalizerStep apply, FinalizerStep cleanup) {
  const bool present = has_finalizer(*obj, name);
  if (!obj->meta().being_deleted()) {
    if (present) co_return co_await apply(obj);
    co_await add_finalizer(client, res, obj, name);
    co_return Result::done();  // the add's watch event brings the object back (kube-rs)
  }
  if (!present) co_return Result::done();
  Result cleaned = co_await cleanup(obj);
  if (cleaned.kind() != Result::Kind::done) co_return cleaned;
  co_await remove_finalizer(client, res, obj, name);
  co_return Result::done();
}

}  // namespace kcoro
