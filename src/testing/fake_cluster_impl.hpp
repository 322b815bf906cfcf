// Internal to FakeCluster: the store, the resource registry and the watchers, shared by
// fake_cluster.cpp (the public face), fake_routing.cpp (routing, get), fake_authorize.cpp,
// fake_status.cpp (responses, failures), fake_store.cpp (store, history, server side of writes),
// fake_writes.cpp (create, update, delete), fake_patch.cpp (patch, server-side apply),
// fake_list_watch.cpp (list, watch) and fake_resources.cpp (built-ins, CRDs, defaults,
// discovery). managed_fields.cpp (fake_internal.hpp) keeps the managedFields.
#pragma once

#include "kcoro/testing/fake_cluster.hpp"
#include "testing/fake_internal.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kcoro::testing::fake {

using Clock = std::chrono::steady_clock;

/// One REST resource as served (a CRD serving two versions is two ResourceInfos sharing one
/// storage key).
struct ResourceInfo {
  std::string group;
  std::string version;
  std::string kind;
  std::string list_kind;
  std::string plural;
  std::string singular;
  bool namespaced = true;
  bool has_status = false;      ///< the status subresource
  bool has_generation = false;  ///< metadata.generation, bumped on spec changes
  bool builtin = true;          ///< typed: list items lose kind/apiVersion, keys not sorted
  /// DELETE answers with the object even when it is gone at once (the registry's
  /// ReturnDeletedObject: pods, services, service accounts, custom resources); otherwise an
  /// immediate deletion answers a Status "Success" naming it. An object kept by finalizers or
  /// a grace period is returned either way.
  bool returns_deleted_object = false;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<std::string> field_labels;  ///< field selectors besides metadata.name/namespace
  std::string crd_name;                   ///< for custom resources
  json::value schema;                     ///< a custom resource's openAPIV3Schema, if any

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  std::string storage_key() const { return group + "/" + plural; }
  /// "pods", "deployments.apps": how Status messages name the resource.
  std::string qualified() const { return group.empty() ? plural : plural + "." + group; }
};
using ResourcePtr = std::shared_ptr<const ResourceInfo>;

/// One stored version of an object: immutable once made, shared by the store, the history and
/// the watchers.
struct Stored {
  json::object obj;             ///< with kind and apiVersion
  std::string json;             ///< serialize(obj)
  std::size_t item_offset = 0;  ///< json.substr(item_offset) is the item without kind/apiVersion
  uint64_t rv = 0;
  std::string key;  ///< "ns/name" or "name"
  std::string_view ns() const { return get_string(*get_object(obj, "metadata"), "namespace"); }
};
using StoredPtr = std::shared_ptr<const Stored>;

enum class EventType { Added, Modified, Deleted };
const char* event_name(EventType t);

struct HistoryEvent {
  uint64_t rv = 0;
  std::string storage_key;
  EventType type = EventType::Added;
  StoredPtr obj;   ///< the new version (for Deleted: the last version, with the delete's rv)
  StoredPtr prev;  ///< the version before (null for Added)
};

/// A failed request, thrown inside the cluster and turned into the response.
struct Failure {
  FakeResponse resp;
};

// --- responses and failures (fake_status.cpp)

FakeResponse json_response(int code, const json::value& v);
FakeResponse page_not_found();
[[noreturn]] void fail(int code, std::string_view reason, std::string message,
                       json::object details = {}, json::object metadata = {});
[[noreturn]] void fail_bad_request(std::string message);
[[noreturn]] void fail_not_found(const ResourceInfo& r, std::string_view name);
[[noreturn]] void fail_conflict(const ResourceInfo& r, std::string_view name, std::string message);
/// 422 Invalid: causes are {reason, message, field}.
struct Cause {
  std::string reason;
  std::string message;
  std::string field;
};
[[noreturn]] void fail_invalid(const ResourceInfo& r, std::string_view name,
                               const std::vector<Cause>& causes);
/// Appends the causes a custom resource's schema finds in `obj` (fake_schema.cpp).
void validate_schema(const ResourceInfo& r, const json::object& obj, std::vector<Cause>& causes);
/// The Status details naming object `name` (may be empty) of `r`.
json::object name_details(const ResourceInfo& r, std::string_view name);
/// 422 for invalid ListOptions/PatchOptions/DeleteOptions (the real server validates them so).
[[noreturn]] void fail_options(std::string_view kind, std::string field, std::string message,
                               std::string reason = "FieldValueForbidden");
[[noreturn]] void fail_method_not_allowed();
std::string rfc3339(std::chrono::system_clock::time_point t);

class WatcherImpl;

/// Watchers to wake once the cluster lock is released.
struct Notifier {
  std::vector<std::shared_ptr<WatcherImpl>> targets;
  void fire();
};

/// The query string, decoded ('+' is a space, as Go's url.ParseQuery reads it).
struct Query {
  std::map<std::string, std::string> params;
  const std::string* get(const std::string& k) const {
    auto it = params.find(k);
    return it == params.end() ? nullptr : &it->second;
  }
  bool flag(const std::string& k) const;  ///< strconv.ParseBool true
  bool has(const std::string& k) const { return params.count(k) != 0; }
};

/// A request resolved to a resource.
struct Target {
  ResourcePtr res;
  std::string ns;    ///< empty: all namespaces / cluster-scoped
  std::string name;  ///< empty: the collection
  std::string sub;   ///< "" or "status"
  bool watch_path = false;
  std::string key() const { return res->namespaced ? ns + "/" + name : name; }
};

struct WatchFilter {
  ResourcePtr res;
  std::string ns;
  LabelSelector labels;
  FieldSelector fields;
  bool metadata_only = false;
  bool matches(const Stored& s) const;
};

class WatcherImpl final : public Watcher {
 public:
  WatcherImpl(WatchFilter filter, std::function<Clock::time_point()> clock, bool bookmarks,
              std::chrono::milliseconds interval, std::optional<Clock::time_point> deadline,
              uint64_t start_rv);

  bool poll(std::string& out) override;
  void set_notify(std::function<void()> notify) override;
  std::optional<Clock::time_point> deadline() const override { return deadline_; }
  std::optional<Clock::time_point> next_bookmark() const override;
  void close() override;

  // Called with the cluster lock held.
  /// Appends the lines `e` means for this watcher; true if anything was appended.
  bool deliver(const HistoryEvent& e);
  /// Appends a line as is (initial events, ERROR, the initial-events-end bookmark).
  void append(std::string line, uint64_t rv);
  void end();
  void wake();
  const std::string& storage_key() const { return storage_key_; }
  const WatchFilter& filter() const { return filter_; }
  bool finished() const;

 private:
  WatchFilter filter_;
  std::string storage_key_;
  std::function<Clock::time_point()> clock_;
  bool bookmarks_;
  std::chrono::milliseconds interval_;
  std::optional<Clock::time_point> deadline_;

  mutable std::mutex m_;
  std::string pending_;
  bool ended_ = false;
  uint64_t known_rv_;
  Clock::time_point next_bookmark_;
  std::function<void()> notify_;
};

/// The event line for `obj` as a watcher of `res` sees it.
std::string watch_line(EventType type, const Stored& obj, const ResourceInfo& res,
                       bool metadata_only);
/// The full object (kind, apiVersion) as served at `res`'s version.
std::string object_json(const Stored& s, const ResourceInfo& res);
/// The object as a list item (typed built-ins: without kind/apiVersion).
void append_item(std::string& out, const Stored& s, const ResourceInfo& res);
/// PartialObjectMetadata of a stored object.
json::object partial_metadata(const Stored& s);
/// A BOOKMARK event's object as the real server writes it for `res`.
json::object bookmark_object(const ResourceInfo& res, uint64_t rv);

struct Impl {
  explicit Impl(FakeClusterOptions o);

  FakeClusterOptions opts;
  mutable std::mutex mu;
  uint64_t rv = 0;
  uint64_t compacted_rv = 0;    ///< every event after this is in `history`
  uint64_t continue_floor = 0;  ///< continue tokens with an older snapshot are expired
  std::map<std::string, ResourcePtr> resources;                    ///< "group/version/plural"
  std::map<std::string, std::map<std::string, StoredPtr>> stores;  ///< storage key -> key -> obj
  std::deque<HistoryEvent> history;
  std::vector<std::weak_ptr<WatcherImpl>> watchers;
  std::set<std::pair<std::string, std::string>> forbidden;
  std::mt19937_64 rng;

  Clock::time_point now() const { return opts.clock ? opts.clock() : Clock::now(); }
  std::string new_uid();

  // --- resources (fake_resources.cpp)
  void register_builtins();
  void add_resource(ResourceInfo r);
  ResourcePtr find_resource(std::string_view group, std::string_view version,
                            std::string_view plural) const;
  ResourcePtr find_by_kind(std::string_view api_version, std::string_view kind) const;
  /// (Re)registers the resources a CRD serves; `validate` throws 422 on a malformed CRD.
  void validate_crd(const json::object& crd, const ResourceInfo& crd_res) const;
  void register_crd(const json::object& crd);
  void unregister_crd(std::string_view crd_name, Notifier& n);
  /// Discovery and /version; nullopt: not a discovery path.
  std::optional<FakeResponse> discovery(const std::vector<std::string>& segs) const;
  /// Defaulting and create-time strategy (status reset, pod defaults, ...).
  void apply_defaults(const ResourceInfo& r, json::object& obj) const;
  /// Validation on create and update (422).
  void validate(const ResourceInfo& r, const json::object& obj) const;

  // --- routing (fake_routing.cpp), authorization (fake_authorize.cpp)
  FakeResponse dispatch(const FakeRequest& req, Notifier& n);
  /// The target of an API path (/api/v1/... or /apis/group/version/...); 404 for any other.
  Target route(const std::vector<std::string>& segs) const;
  /// The target of the path's `rest` after /api/v1 or /apis/group/version; 404 when no
  /// resource serves it.
  Target resolve(const std::vector<std::string>& rest, std::string_view group,
                 std::string_view version) const;
  void authorize(const FakeRequest& req, const Target& t, std::string_view verb) const;
  FakeResponse get(const FakeRequest& req, const Target& t);

  // --- writes (fake_writes.cpp, fake_patch.cpp)
  FakeResponse create(const FakeRequest& req, const Target& t, const Query& q, Notifier& n);
  FakeResponse update(const FakeRequest& req, const Target& t, const Query& q, Notifier& n);
  FakeResponse patch(const FakeRequest& req, const Target& t, const Query& q, Notifier& n);
  FakeResponse remove(const FakeRequest& req, const Target& t, const Query& q, Notifier& n);
  json::object parse_body(const FakeRequest& req, const ResourceInfo& r) const;

  // --- the store and its history (fake_store.cpp)
  StoredPtr lookup(const ResourceInfo& r, const std::string& key) const;

  /// Creates `obj` (server fields set here), records the event.
  /// `keep_status`: no create strategy (status kept, managed fields over everything).
  /// `owned`: the managed fields of an Apply (else computed from the object).
  StoredPtr do_create(const ResourceInfo& r, json::object obj, const std::string& manager,
                      std::string_view operation, Notifier& n, bool keep_status = false,
                      const FieldSet* owned = nullptr);
  /// Writes a new version of `prev` (no write if nothing changed); handles generation, managed
  /// fields, and deletion once the last finalizer of a deleting object is gone. `subresource`:
  /// "" (status kept for resources with the status subresource), "status" (only status
  /// changes), "*" (everything changes: direct access). `managed` false: obj's managedFields
  /// are already computed (server-side apply).
  StoredPtr do_update(const ResourceInfo& r, const StoredPtr& prev, json::object obj,
                      const std::string& manager, std::string_view operation,
                      std::string_view subresource, Notifier& n, bool managed = true);
  StoredPtr do_delete(const ResourceInfo& r, const StoredPtr& prev, Notifier& n);
  StoredPtr store(const ResourceInfo& r, json::object obj, const StoredPtr& prev, EventType type,
                  Notifier& n);
  void record(HistoryEvent e, Notifier& n);
  /// Ordered canonically for typed built-ins; keys sorted for custom resources.
  StoredPtr make_stored(const ResourceInfo& r, json::object obj, uint64_t rv) const;

  // --- list and watch (fake_list_watch.cpp)
  FakeResponse list(const FakeRequest& req, const Target& t, const Query& q);
  FakeCluster::WatchStart start_watch(const FakeRequest& req, const Target& t, const Query& q);
  WatchFilter make_filter(const FakeRequest& req, const Target& t, const Query& q) const;
};

StoredPtr make_stored(const ResourceInfo& r, json::object obj, uint64_t rv);
/// An integer field (int64, uint64 or double), or `dflt`.
int64_t int_of(const json::value* v, int64_t dflt);
/// A Pod's status.qosClass from its spec's resources.
std::string qos_class(const json::object& spec);
json::object status_object(int code, std::string_view reason, std::string message,
                           json::object details, json::object metadata, bool empty_details);

/// Splits a target into decoded path segments and the query.
bool split_target(std::string_view target, std::vector<std::string>& segs, Query& q);
bool wants_metadata_only(std::string_view accept, bool list);

// --- checks shared by the writes (fake_writes.cpp)

/// The fieldManager query parameter, else the User-Agent's prefix, else "unknown".
std::string manager_of(const Query& q, const FakeRequest& req);
/// Puts the URL's namespace into the body, or fails on a mismatch.
void check_namespace(const Target& t, json::object& meta);
/// Puts the URL's name into the body, or fails on a mismatch.
void check_name(const Target& t, json::object& meta);
/// A write's resourceVersion and uid, when given, must be the stored object's: 409 Conflict.
void check_preconditions(const Target& t, const json::object& meta, const json::object& old_meta);

}  // namespace kcoro::testing::fake
