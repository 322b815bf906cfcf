// kcoro/resource.hpp — which API resource a request is about, and the URL that names it.
//
// Contract
// - A `Resource` describes one REST resource of the API server: its group ("" for the core
//   group), version, kind, plural (the path segment) and whether it is namespaced. It plays the
//   role of client-go's GroupVersionResource + RESTMapping, or kube-rs's `ApiResource`, without
//   discovery: built-ins are constants in `kcoro::resources`, custom resources are described by
//   the caller (`Resource{"samplecontroller.k8s.io", "v1alpha1", "Foo", "foos", true}`).
// - Paths follow the API server's layout: the core group lives under /api/v1, every other group
//   under /apis/GROUP/VERSION; namespaced objects under .../namespaces/NS/PLURAL.
// - An empty namespace means "all namespaces" for a collection of a namespaced resource. For a
//   cluster-scoped resource the namespace argument is ignored.
// - Namespace and object names are percent-encoded into path segments; query parameters are
//   percent-encoded with RFC 3986's unreserved set (ALPHA DIGIT - . _ ~) kept and every other
//   byte, UTF-8 included, written as %XX. Parameters appear in alphabetical order, as client-go
//   writes them, and only when set.
// - Pure functions, no I/O, no Asio: this header belongs to the core layer.
#pragma once

#include "kcoro/transform.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kcoro {

/// Query parameters of a list or watch (meta/v1 ListOptions). Unset fields are not sent.
struct ListOptions {
  // Not an aggregate: GCC bug 100611, see client.hpp.
  ListOptions() {}
  std::string label_selector;                   ///< labelSelector, e.g. "app=web,tier!=db".
  std::string field_selector;                   ///< fieldSelector, e.g. "spec.nodeName=n1".
  std::optional<int64_t> limit;                 ///< limit: page size of a list.
  std::string continue_token;                   ///< continue: the previous page's token.
  std::optional<std::string> resource_version;  ///< resourceVersion ("0" = from the cache).
  std::string resource_version_match;           ///< resourceVersionMatch: Exact, NotOlderThan.
  std::optional<int64_t> timeout_seconds;       ///< timeoutSeconds: server-side watch timeout.
  bool allow_watch_bookmarks = false;           ///< allowWatchBookmarks=true when set.
  std::optional<bool> send_initial_events;      ///< sendInitialEvents: streaming initial list.
  bool watch = false;                           ///< watch=true: a watch instead of a list.
  /// Not a query parameter: asks, through the Accept header, for PartialObjectMetadata (each
  /// object's apiVersion, kind and metadata only) instead of whole objects, as client-go's
  /// metadata client does. Lists and watches of any resource, custom ones included.
  bool metadata_only = false;
  /// Not a query parameter: edits each object of the list or watch at decode time, after the
  /// client's own transform (transform.hpp).
  Transform transform;
};

/// One REST resource of the API server (group/version/kind/plural and scope).
struct Resource {
  std::string group;  ///< "" for the core group.
  std::string version;
  std::string kind;
  std::string plural;
  bool namespaced = true;

  /// "v1" for the core group, "GROUP/VERSION" otherwise: an object's apiVersion field.
  std::string api_version() const;
  /// "/api/v1" for the core group, "/apis/GROUP/VERSION" otherwise.
  std::string base_path() const;
  /// The collection: .../namespaces/NS/PLURAL, or .../PLURAL for all namespaces (ns empty)
  /// and for cluster-scoped resources.
  std::string collection_path(std::string_view ns = {}) const;
  /// One object: collection_path(ns) + "/" + name.
  std::string object_path(std::string_view ns, std::string_view name) const;
  /// A subresource of one object: object_path(ns, name) + "/" + subresource.
  std::string subresource_path(std::string_view ns, std::string_view name,
                               std::string_view subresource) const;
  /// The status subresource: object_path(ns, name) + "/status".
  std::string status_path(std::string_view ns, std::string_view name) const;
  /// collection_path(ns) followed by "?" + query_string(opts) when any option is set.
  std::string list_url(std::string_view ns, const ListOptions& opts) const;

  bool operator==(const Resource&) const = default;
};

/// The query string for `opts` without the leading '?'; empty when nothing is set.
std::string query_string(const ListOptions& opts);

/// Percent-encodes every byte outside RFC 3986's unreserved set, with upper-case hex digits.
std::string percent_encode(std::string_view s);

/// Decodes %XX escapes (either case of hex digit). Returns nullopt on a malformed escape.
/// '+' is kept as is: query strings built here never encode a space as '+'.
std::optional<std::string> percent_decode(std::string_view s);

/// Built-in resources a controller commonly needs.
namespace resources {
inline const Resource pods{"", "v1", "Pod", "pods", true};
inline const Resource services{"", "v1", "Service", "services", true};
inline const Resource configmaps{"", "v1", "ConfigMap", "configmaps", true};
inline const Resource secrets{"", "v1", "Secret", "secrets", true};
inline const Resource serviceaccounts{"", "v1", "ServiceAccount", "serviceaccounts", true};
inline const Resource events{"", "v1", "Event", "events", true};
inline const Resource namespaces{"", "v1", "Namespace", "namespaces", false};
inline const Resource nodes{"", "v1", "Node", "nodes", false};
inline const Resource deployments{"apps", "v1", "Deployment", "deployments", true};
inline const Resource replicasets{"apps", "v1", "ReplicaSet", "replicasets", true};
inline const Resource statefulsets{"apps", "v1", "StatefulSet", "statefulsets", true};
inline const Resource daemonsets{"apps", "v1", "DaemonSet", "daemonsets", true};
inline const Resource jobs{"batch", "v1", "Job", "jobs", true};
inline const Resource leases{"coordination.k8s.io", "v1", "Lease", "leases", true};
inline const Resource customresourcedefinitions{
    "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false};
}  // namespace resources

}  // namespace kcoro
