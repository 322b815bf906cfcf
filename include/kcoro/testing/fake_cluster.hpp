// kcoro/testing/fake_cluster.hpp — the Kubernetes API semantics of the fake API server, without
// sockets (library kcoro_cluster; FakeApiServer in kcoro_testing wraps it).
//
// Contract
// - FakeCluster is an in-memory kube-apiserver: a store with one global resourceVersion counter
//   (as etcd keeps), resources (built-ins, and custom resources registered through
//   CustomResourceDefinitions), list with selectors and limit/continue, watch from a bounded
//   history, create/replace/patch/delete with optimistic concurrency, the status subresource,
//   discovery and /version. Its answers match the responses recorded from a real kube-apiserver
//   (kcoro's tests/fixtures/kube-apiserver-1.32/): status codes, Status bodies, list shape and
//   watch event framing.
// - It is sans-I/O: `handle` takes a request and returns a whole response; `watch` returns a
//   Watcher that yields ndjson event lines as changes happen. FakeApiServer puts HTTP/1.1 and TLS
//   around it; tests may drive it directly.
// - Thread-safe: every member may be called from any thread. A Watcher's notify callback is
//   called with no FakeCluster lock held, on the thread that made the change.
// - It depends on core only (no Asio, no kcoro client): an independent oracle.
//
// Semantics worth knowing (and where the fake simplifies)
// - Resources: core/v1 pods, services, configmaps, secrets, serviceaccounts, events,
//   namespaces, nodes; apps/v1 deployments, replicasets; coordination.k8s.io/v1 leases;
//   apiextensions.k8s.io/v1 customresourcedefinitions; and what a CRD serves (every served
//   version shares one storage, no conversion beyond apiVersion; no schema validation). A CRD is
//   established at once (a MODIFIED follows its ADDED); deleting it deletes its objects and ends
//   their watches. Namespaces need not exist to hold objects.
// - Lists are consistent snapshots: a continue token keeps its snapshot's resourceVersion and
//   the pages after it are rebuilt from the history (objects created later are absent, deleted
//   or changed ones appear as they were). Once the history no longer covers the snapshot
//   (history bound, compact(), expire_continue_tokens()) the token gets 410 Expired with a fresh
//   inconsistent token (rv -1). resourceVersion=0 ignores limit (as the watch cache does);
//   resourceVersionMatch=Exact lists at an old resourceVersion; a resourceVersion newer than
//   the current one is 504 "Too large resource version" for lists, while a watch from it just
//   waits for later changes.
// - Watches replay the history after their resourceVersion, then go live; "0"/absent start
//   with ADDED for the current objects. Selectors turn changes into ADDED/DELETED as objects
//   start or stop matching. Bookmarks are made lazily by poll() (see next_bookmark()); the
//   clock is FakeClusterOptions::clock. timeoutSeconds ends the watch in poll() at deadline().
// - Writes: managedFields are derived without schemas (associative lists by known merge keys,
//   other lists atomic), good enough for ownership and server-side apply conflicts but not
//   byte-identical to the real server's. Apply bodies must be JSON (YAML is not parsed).
//   Strategic merge patch covers maps, null deletion, lists merged by the usual keys
//   (containers/env/volumes... by name, ports, volumeMounts, conditions, ownerReferences),
//   `$patch: delete|replace` and finalizers as a set. propagationPolicy is accepted (no garbage
//   collection), dryRun is not supported. Option validation errors (ListOptions, PatchOptions:
//   a missing fieldManager on apply) are 422 Invalid as on the real server; sendInitialEvents
//   without allowWatchBookmarks sends the initial events without the bookmark that ends them.
// - DELETE: an object kept by finalizers (or a graceful pod) is answered with the object and a
//   deletionTimestamp; one gone at once is answered with the object for pods, services, service
//   accounts and custom resources (the real registries' ReturnDeletedObject), otherwise with a
//   Status "Success" naming it. A write without fieldManager is recorded in managedFields under
//   the User-Agent's prefix before '/'.
// - Deliberate differences from the real server (tests/envtest/conformance_test.cpp compares
//   the rest): a namespace or CRD is deleted at once (the real one stays Terminating until its
//   controllers finish, and in envtest no namespace controller runs); periodic bookmarks come
//   every FakeClusterOptions::bookmark_interval (1 s by default, about a minute on the real
//   server); a watch from a compacted resourceVersion is answered as etcd answers it (ERROR 410),
//   while the real server's watch cache may still replay a young cluster's whole history.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kcoro::testing {

struct FakeRequest {
  std::string method;        ///< GET, POST, PUT, PATCH, DELETE
  std::string target;        ///< path and query, percent-encoded, as on the request line
  std::string content_type;  ///< for PATCH: merge, json-patch, strategic-merge, apply-patch+yaml
  std::string accept;  ///< e.g. application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1
  std::string body;
  /// The User-Agent header: a write without fieldManager is recorded in managedFields under its
  /// prefix before the first '/' (the real server's default manager), "unknown" when empty.
  std::string user_agent;
  /// Who the server shell authenticated (bearer token or client-certificate CN; empty for
  /// anonymous). Authentication (401) is the shell's job; the cluster authorizes (403, forbid).
  std::string user;
};

struct FakeResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra headers (Retry-After, ...)
};

/// A live watch: ndjson lines (one JSON document and '\n' per event) in server order.
class Watcher {
 public:
  virtual ~Watcher() = default;
  /// Moves every line available now into `out` (appending). Returns false once the watch has
  /// ended (timeoutSeconds reached, the cluster closed it, or an ERROR event was the last line)
  /// and everything was handed out.
  virtual bool poll(std::string& out) = 0;
  /// Called (on the writer's thread, no lock held) whenever new lines may be available or the
  /// watch ended. Set before polling; may be called spuriously.
  virtual void set_notify(std::function<void()> notify) = 0;
  /// When the server should end this watch (from timeoutSeconds), if it asked for one. Past it,
  /// poll() ends the watch (returns false).
  virtual std::optional<std::chrono::steady_clock::time_point> deadline() const = 0;
  /// When the next BOOKMARK is due (allowWatchBookmarks=true), if any: bookmarks are made lazily
  /// by poll(), so the shell polls at min(next_bookmark(), deadline()) as well as on notify.
  virtual std::optional<std::chrono::steady_clock::time_point> next_bookmark() const {
    return std::nullopt;
  }
  /// Ends the watch (the client went away).
  virtual void close() = 0;
};

struct FakeClusterOptions {
  std::size_t history = 10000;                        ///< watch events kept per cluster
  std::chrono::milliseconds bookmark_interval{1000};  ///< for allowWatchBookmarks
  /// The steady clock for bookmarks and watch deadlines (tests inject one); empty: the real one.
  std::function<std::chrono::steady_clock::time_point()> clock;
  /// serverAddressByClientCIDRs in /api (the shell sets its real address).
  std::string server_address = "127.0.0.1:6443";
};

class FakeCluster {
 public:
  explicit FakeCluster(FakeClusterOptions opts = {});
  ~FakeCluster();
  FakeCluster(const FakeCluster&) = delete;
  FakeCluster& operator=(const FakeCluster&) = delete;

  /// Any request that is not a watch (a watch request is answered 400 here: use watch()).
  FakeResponse handle(const FakeRequest& req);

  /// True if `req` asks for a watch (?watch=1/true, or the legacy /watch/ path).
  static bool is_watch(const FakeRequest& req);

  /// Starts a watch. An immediate failure (404 unknown resource, 403, 400) is the response;
  /// otherwise the Watcher. A resourceVersion older than the history is NOT an immediate
  /// failure: as on the real server, the watch starts and its only line is an ERROR event with
  /// a 410 Expired Status.
  struct WatchStart {
    std::optional<FakeResponse> error;
    std::shared_ptr<Watcher> watcher;
  };
  WatchStart watch(const FakeRequest& req);

  // --- direct access for tests, seeding and the examples' demo mode -------------------------
  /// Creates or replaces an object (JSON text with apiVersion and kind); returns its stored JSON.
  std::string apply_object(const std::string& json);
  /// Deletes; false if absent.
  bool delete_object(const std::string& api_version, const std::string& kind, const std::string& ns,
                     const std::string& name);
  /// The current resourceVersion counter.
  uint64_t resource_version() const;

  // --- fault injection -----------------------------------------------------------------------
  /// Makes every continue token issued so far expire (410 on use, with a fresh token).
  void expire_continue_tokens();
  /// Drops the watch history: the next watch from an older resourceVersion gets 410 Expired.
  void compact();
  /// Marks `user` forbidden (403) on `resource` (plural, e.g. "pods"), all verbs.
  void forbid(const std::string& user, const std::string& resource);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kcoro::testing
