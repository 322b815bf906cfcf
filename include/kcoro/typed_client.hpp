// kcoro/typed_client.hpp — the Client's verbs for one generated API type: Api<T>.
//
// Contract
// - `Api<T>` (kube-rs's Api<K>) is a thin layer over kcoro::Client for a generated type T
//   (kcoro::api::core::v1::Pod, kcoro::api::apps::v1::Deployment, ...): it takes the Resource from
//   T::resource(), encodes what it sends with kcoro::api::encode (only the fields that are set) and
//   decodes what it receives with Object::as<T>(). What it writes (create, update, update_status,
//   apply) carries apiVersion and kind, from T::resource() when the object leaves them unset.
//   Everything else — pooling, retries, errors (ApiError, std::system_error), cancellation, threads
//   — is the Client's (client.hpp).
// - The namespace: an object's own metadata.namespace when it has one, else the Api's. For list,
//   the Api's namespace ("" lists all namespaces). Cluster-scoped kinds ignore both. A namespaced
//   write with no namespace at all throws std::invalid_argument before any I/O.
// - Lifetimes: a verb encodes its arguments before it returns the awaitable, so the object passed
//   in need not outlive the call; the Api copies its Client (a handle).
// - Results come through the client's decode transform: metadata.managedFields is cut by default.
//   List items get kind and apiVersion from T::resource() (the server omits them in a list).
// - Decoding a result that does not fit T throws kcoro::api::DecodeError.
#pragma once

#include "kcoro/api/types.hpp"
#include "kcoro/client.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kcoro {

/// One page of a typed list.
template <class T>
struct TypedList {
  std::vector<T> items;
  ListMeta meta;
};

template <class T>
class Api {
 public:
  /// `ns`: the default namespace of namespaced kinds ("" = all namespaces for list).
  explicit Api(Client client, std::string ns = {})
      : client_(std::move(client)), ns_(std::move(ns)) {}

  const std::string& ns() const noexcept { return ns_; }

  awaitable<T> get(std::string_view name) const {
    return get_impl(client_, ns_, std::string(name));
  }
  /// One page (opts.limit, opts.continue_token).
  awaitable<TypedList<T>> list(ListOptions opts = {}) const {
    return list_impl(client_, ns_, std::move(opts));
  }
  awaitable<T> create(const T& obj, WriteOptions opts = {}) const {
    return create_impl(client_, ns_of(obj), body_of(obj), std::move(opts));
  }
  /// PUT: replaces the object named by obj.metadata.name (resourceVersion as optimistic lock).
  awaitable<T> update(const T& obj, WriteOptions opts = {}) const {
    return replace_impl(client_, ns_of(obj), name_of(obj), body_of(obj), std::move(opts), false);
  }
  /// PUT on the status subresource.
  awaitable<T> update_status(const T& obj, WriteOptions opts = {}) const {
    return replace_impl(client_, ns_of(obj), name_of(obj), body_of(obj), std::move(opts), true);
  }
  /// Any patch type; a typed object as a merge patch is `JsonBody(api::encode(partial))`.
  awaitable<T> patch(std::string_view name, PatchType type, JsonBody body,
                     PatchOptions opts = {}) const {
    return patch_impl(client_, ns_, std::string(name), type, std::move(body), std::move(opts));
  }
  /// Server-side apply of `obj` as the configuration of `field_manager`: only the fields set in
  /// `obj` are sent.
  awaitable<T> apply(const T& obj, std::string field_manager, bool force = false) const {
    PatchOptions opts;
    opts.field_manager = std::move(field_manager);
    opts.force = force;
    return patch_impl(client_, ns_of(obj), name_of(obj), PatchType::apply, body_of(obj),
                      std::move(opts));
  }
  /// Deletes. The object when the server answers with it (graceful deletion, finalizers pending),
  /// nullopt when it answers with a Status.
  awaitable<std::optional<T>> remove(std::string_view name, DeleteOptions opts = {}) const {
    return remove_impl(client_, ns_, std::string(name), std::move(opts));
  }

 private:
  /// The JSON of `obj`, with apiVersion and kind from T::resource() when unset: the server needs
  /// them for custom resources and apply.
  static std::string body_of(const T& obj) {
    if (obj.apiVersion && obj.kind) return api::encode(obj);
    T copy = obj;
    if (!copy.apiVersion) copy.apiVersion = T::resource().api_version();
    if (!copy.kind) copy.kind = T::resource().kind;
    return api::encode(copy);
  }
  std::string ns_of(const T& obj) const {
    if (!T::resource().namespaced) return {};
    if (obj.metadata && obj.metadata->namespace_ && !obj.metadata->namespace_->empty()) {
      return *obj.metadata->namespace_;
    }
    if (ns_.empty()) {
      throw std::invalid_argument("kcoro::Api<" + T::resource().kind +
                                  ">: a namespaced object without a namespace");
    }
    return ns_;
  }
  static std::string name_of(const T& obj) {
    if (!obj.metadata || !obj.metadata->name || obj.metadata->name->empty()) {
      throw std::invalid_argument("kcoro::Api<" + T::resource().kind + ">: metadata.name is unset");
    }
    return *obj.metadata->name;
  }

  // The coroutines take everything by value: they may run after the caller's arguments are gone.
  static awaitable<T> get_impl(Client c, std::string ns, std::string name) {
    ObjectPtr o = co_await c.get(T::resource(), ns, name);
    co_return o->template as<T>();
  }
  static awaitable<TypedList<T>> list_impl(Client c, std::string ns, ListOptions opts) {
    ListPage page = co_await c.list(T::resource(), ns, std::move(opts));
    TypedList<T> out;
    out.meta = std::move(page.meta);
    out.items.reserve(page.items.size());
    for (const ObjectPtr& o : page.items) {
      T& item = out.items.emplace_back(o->template as<T>());
      if (!item.apiVersion) item.apiVersion = T::resource().api_version();
      if (!item.kind) item.kind = T::resource().kind;
    }
    co_return out;
  }
  static awaitable<T> create_impl(Client c, std::string ns, std::string body, WriteOptions opts) {
    ObjectPtr o = co_await c.create(T::resource(), ns, std::move(body), std::move(opts));
    co_return o->template as<T>();
  }
  static awaitable<T> replace_impl(Client c, std::string ns, std::string name, std::string body,
                                   WriteOptions opts, bool status) {
    // Not `status ? co_await ... : co_await ...`: GCC 12 mishandles the temporaries of a
    // co_await inside a conditional expression (the update failed with a malformed-JSON error).
    ObjectPtr o;
    if (status) {
      o = co_await c.update_status(T::resource(), ns, name, std::move(body), std::move(opts));
    } else {
      o = co_await c.replace(T::resource(), ns, name, std::move(body), std::move(opts));
    }
    co_return o->template as<T>();
  }
  static awaitable<T> patch_impl(Client c, std::string ns, std::string name, PatchType type,
                                 JsonBody body, PatchOptions opts) {
    ObjectPtr o = co_await c.patch(T::resource(), ns, name, type, std::move(body), std::move(opts));
    co_return o->template as<T>();
  }
  static awaitable<std::optional<T>> remove_impl(Client c, std::string ns, std::string name,
                                                 DeleteOptions opts) {
    ObjectPtr o = co_await c.remove(T::resource(), ns, name, std::move(opts));
    if (!o) co_return std::nullopt;
    co_return o->template as<T>();
  }

  Client client_;
  std::string ns_;
};

}  // namespace kcoro
