// FakeCluster: request routing, authorization, the store and the writes (create, update, patch,
// server-side apply, delete). Lists and watches are in fake_list_watch.cpp; resources, defaults
// and discovery in fake_resources.cpp.
#include "kcoro/testing/fake_cluster.hpp"

#include "kcoro/resource.hpp"
#include "testing/fake_cluster_impl.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <stdexcept>

namespace kcoro::testing::fake {

// --- responses -----------------------------------------------------------------------------------

const char* event_name(EventType t) {
  switch (t) {
    case EventType::Added:
      return "ADDED";
    case EventType::Modified:
      return "MODIFIED";
    case EventType::Deleted:
      return "DELETED";
  }
  return "ERROR";
}

FakeResponse json_response(int code, const json::value& v) {
  FakeResponse r;
  r.status = code;
  r.body = json::serialize(v);
  return r;
}

FakeResponse page_not_found() {
  FakeResponse r;
  r.status = 404;
  r.content_type = "text/plain; charset=utf-8";
  r.body = "404 page not found\n";
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

json::object status_object(int code, std::string_view reason, std::string message,
                           json::object details, json::object metadata, bool empty_details) {
  json::object s;
  s.emplace("kind", "Status");
  s.emplace("apiVersion", "v1");
  s.emplace("metadata", std::move(metadata));
  s.emplace("status", "Failure");
  s.emplace("message", std::move(message));
  s.emplace("reason", reason);
  if (!details.empty() || empty_details) s.emplace("details", std::move(details));
  s.emplace("code", code);
  return s;
}

void fail(int code, std::string_view reason, std::string message, json::object details,
          json::object metadata) {
  throw Failure{json_response(code, status_object(code, reason, std::move(message),
                                                  std::move(details), std::move(metadata), false))};
}

void fail_bad_request(std::string message) {
  fail(400, "BadRequest", std::move(message));
}

namespace {
json::object name_details(const ResourceInfo& r, std::string_view name) {
  json::object d;
  if (!name.empty()) d.emplace("name", name);
  if (!r.group.empty()) d.emplace("group", r.group);
  d.emplace("kind", r.plural);
  return d;
}
}  // namespace

void fail_not_found(const ResourceInfo& r, std::string_view name) {
  fail(404, "NotFound", r.qualified() + " \"" + std::string(name) + "\" not found",
       name_details(r, name));
}

void fail_conflict(const ResourceInfo& r, std::string_view name, std::string message) {
  fail(409, "Conflict",
       "Operation cannot be fulfilled on " + r.qualified() + " \"" + std::string(name) +
           "\": " + message,
       name_details(r, name));
}

void fail_invalid(const ResourceInfo& r, std::string_view name, const std::vector<Cause>& causes) {
  std::string list;
  json::array arr;
  for (const auto& c : causes) {
    if (!list.empty()) list += ", ";
    list += c.field + ": " + c.message;
    arr.emplace_back(
        json::object{{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
  }
  if (causes.size() > 1) list = "[" + list + "]";
  json::object d;
  d.emplace("name", name);
  if (!r.group.empty()) d.emplace("group", r.group);
  d.emplace("kind", r.kind);
  d.emplace("causes", std::move(arr));
  std::string group_suffix = r.group.empty() ? "" : "." + r.group;
  fail(422, "Invalid", r.kind + group_suffix + " \"" + std::string(name) + "\" is invalid: " + list,
       std::move(d));
}

namespace {

/// 422 for invalid ListOptions/PatchOptions (the real server validates them so).
[[noreturn]] void fail_options(std::string_view kind, std::string field, std::string message,
                               std::string reason = "FieldValueForbidden") {
  json::object d{{"group", "meta.k8s.io"},
                 {"kind", kind},
                 {"causes", json::array{json::object{
                                {"reason", reason}, {"message", message}, {"field", field}}}}};
  fail(422, "Invalid",
       std::string(kind) + ".meta.k8s.io \"\" is invalid: " + field + ": " + message, std::move(d));
}

[[noreturn]] void fail_method_not_allowed() {
  throw Failure{json_response(
      405, status_object(405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource", {}, {},
                         true))};
}

}  // namespace

std::string rfc3339(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void Notifier::fire() {
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  for (auto& w : targets)
    w->wake();
  targets.clear();
}

// --- request parsing -----------------------------------------------------------------------------

bool Query::flag(const std::string& k) const {
  const std::string* v = get(k);
  return v && (*v == "1" || *v == "t" || *v == "T" || *v == "true" || *v == "TRUE" || *v == "True");
}

bool split_target(std::string_view target, std::vector<std::string>& segs, Query& q) {
  auto qpos = target.find('?');
  std::string_view path = target.substr(0, qpos);
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    auto seg = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!seg.empty()) {
      auto d = percent_decode(seg);
      if (!d) return false;
      segs.push_back(std::move(*d));
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (qpos == std::string_view::npos) return true;
  std::string_view query = target.substr(qpos + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string k(pair.substr(0, eq));
    std::string v(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    std::replace(k.begin(), k.end(), '+', ' ');
    std::replace(v.begin(), v.end(), '+', ' ');
    auto dk = percent_decode(k);
    auto dv = percent_decode(v);
    if (!dk || !dv) return false;
    q.params.emplace(std::move(*dk), std::move(*dv));  // first value wins, as Go's Get does
  }
  return true;
}

bool wants_metadata_only(std::string_view accept, bool /*list*/) {
  return accept.find("as=PartialObjectMetadata") != std::string_view::npos;
}

Target Impl::resolve(const std::vector<std::string>& rest_in, std::string_view group,
                     std::string_view version) const {
  std::vector<std::string> rest = rest_in;
  Target t;
  if (!rest.empty() && rest[0] == "watch") {
    t.watch_path = true;
    rest.erase(rest.begin());
  }
  if (rest.empty()) throw Failure{page_not_found()};
  std::size_t i = 0;
  if (rest.size() >= 3 && rest[0] == "namespaces") {
    if (auto r = find_resource(group, version, rest[2]); r && r->namespaced) {
      t.res = r;
      t.ns = rest[1];
      i = 3;
    }
  }
  if (!t.res) {
    t.res = find_resource(group, version, rest[0]);
    if (!t.res) throw Failure{page_not_found()};
    i = 1;
    if (t.res->namespaced && rest.size() > 1) throw Failure{page_not_found()};
  }
  if (i < rest.size()) t.name = rest[i++];
  if (i < rest.size()) t.sub = rest[i++];
  if (i < rest.size()) throw Failure{page_not_found()};
  if (!t.sub.empty() && (t.sub != "status" || !t.res->has_status || t.watch_path)) {
    throw Failure{page_not_found()};
  }
  return t;
}

void Impl::authorize(const FakeRequest& req, const Target& t, std::string_view verb) const {
  if (forbidden.empty()) return;
  std::string user = req.user.empty() ? "system:anonymous" : req.user;
  std::string resource = t.res->plural + (t.sub.empty() ? "" : "/" + t.sub);
  if (!forbidden.count({user, t.res->plural}) && !forbidden.count({user, resource}) &&
      !forbidden.count({user, "*"})) {
    return;
  }
  std::string scope = t.ns.empty() ? "at the cluster scope" : "in the namespace \"" + t.ns + "\"";
  std::string who =
      t.name.empty() ? t.res->qualified() : t.res->qualified() + " \"" + t.name + "\"";
  fail(403, "Forbidden",
       who + " is forbidden: User \"" + user + "\" cannot " + std::string(verb) + " resource \"" +
           resource + "\" in API group \"" + t.res->group + "\" " + scope,
       name_details(*t.res, t.name));
}

json::object Impl::parse_body(const FakeRequest& req, const ResourceInfo& r) const {
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  std::string expected = r.kind;
  if (ec || !v.is_object()) {
    std::string why = ec == json::error::incomplete || req.body.empty()
                          ? "unexpected end of JSON input"
                          : (ec ? "invalid character in JSON: " + ec.message()
                                : "cannot unmarshal into Go value of type struct");
    fail_bad_request("the object provided is unrecognized (must be of type " + expected +
                     "): couldn't get version/kind; json parse error: " + why + " (" +
                     req.body.substr(0, 256) + ")");
  }
  auto& o = v.get_object();
  std::string_view kind = get_string(o, "kind");
  std::string_view av = get_string(o, "apiVersion");
  if (!kind.empty() && kind != r.kind) {
    fail_bad_request(std::string(kind) + " in version \"" + std::string(av) +
                     "\" cannot be handled as a " + r.kind +
                     ": the object provided is "
                     "unrecognized (must be of type " +
                     r.kind + ")");
  }
  if (!av.empty() && av != r.api_version()) {
    auto slash = av.find('/');
    std::string_view g = slash == std::string_view::npos ? "" : av.substr(0, slash);
    if (g != r.group || r.builtin) {
      fail_bad_request("the API version in the data (" + std::string(av) +
                       ") does not match the expected API version (" + r.api_version() + ")");
    }
  }
  if (kind.empty()) o["kind"] = r.kind;
  if (av.empty()) o["apiVersion"] = r.api_version();
  auto& meta = o["metadata"];
  if (!meta.is_object()) meta = json::object();
  return std::move(o);
}

StoredPtr Impl::lookup(const ResourceInfo& r, const std::string& key) const {
  auto sit = stores.find(r.storage_key());
  if (sit == stores.end()) return nullptr;
  auto it = sit->second.find(key);
  return it == sit->second.end() ? nullptr : it->second;
}

std::string Impl::new_uid() {
  uint64_t a = rng();
  uint64_t b = rng();
  a = (a & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xFFFF), static_cast<unsigned>(a & 0xFFFF),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFULL));
  return buf;
}

// --- the store
// -------------------------------------------------------------------------------------

namespace {

void order_metadata(json::object& meta) {
  static const char* const order[] = {"name",
                                      "generateName",
                                      "namespace",
                                      "selfLink",
                                      "uid",
                                      "resourceVersion",
                                      "generation",
                                      "creationTimestamp",
                                      "deletionTimestamp",
                                      "deletionGracePeriodSeconds",
                                      "labels",
                                      "annotations",
                                      "ownerReferences",
                                      "finalizers",
                                      "managedFields"};
  json::object out;
  out.reserve(meta.size());
  for (const char* k : order) {
    if (auto it = meta.find(k); it != meta.end()) out.emplace(k, std::move(it->value()));
  }
  for (auto& kv : meta) {
    if (!out.contains(kv.key())) out.emplace(kv.key(), std::move(kv.value()));
  }
  meta = std::move(out);
}

/// Equal ignoring metadata.managedFields and metadata.resourceVersion.
bool same_content(const json::object& a, const json::object& b) {
  if (a.size() != b.size()) return false;
  for (const auto& kv : a) {
    auto it = b.find(kv.key());
    if (it == b.end()) return false;
    if (kv.key() != "metadata") {
      if (kv.value() != it->value()) return false;
      continue;
    }
    if (!kv.value().is_object() || !it->value().is_object()) return false;
    const auto& ma = kv.value().get_object();
    const auto& mb = it->value().get_object();
    auto count = [](const json::object& m) {
      return m.size() - m.count("managedFields") - m.count("resourceVersion");
    };
    if (count(ma) != count(mb)) return false;
    for (const auto& m : ma) {
      if (m.key() == "managedFields" || m.key() == "resourceVersion") continue;
      auto mi = mb.find(m.key());
      if (mi == mb.end() || mi->value() != m.value()) return false;
    }
  }
  return true;
}

/// Equal in what metadata.generation tracks (everything but metadata, and status when the
/// resource has the status subresource).
bool same_spec(const json::object& a, const json::object& b, bool has_status) {
  auto skip = [&](std::string_view k) {
    return k == "metadata" || k == "kind" || k == "apiVersion" || (has_status && k == "status");
  };
  for (const auto& kv : a) {
    if (skip(kv.key())) continue;
    auto it = b.find(kv.key());
    if (it == b.end() || it->value() != kv.value()) return false;
  }
  for (const auto& kv : b) {
    if (!skip(kv.key()) && !a.contains(kv.key())) return false;
  }
  return true;
}

int64_t int_of(const json::value* v, int64_t dflt) {
  if (!v) return dflt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->get_double());
  return dflt;
}

// managedFields entries.
struct MfEntry {
  std::string manager;
  std::string operation;
  std::string subresource;
  std::string api_version;
  std::string time;
  FieldSet set;
};

std::vector<MfEntry> read_entries(const json::object& obj) {
  std::vector<MfEntry> out;
  const json::object* meta = get_object(obj, "metadata");
  if (!meta) return out;
  auto it = meta->find("managedFields");
  if (it == meta->end() || !it->value().is_array()) return out;
  for (const auto& e : it->value().get_array()) {
    if (!e.is_object()) continue;
    const auto& eo = e.get_object();
    MfEntry m;
    m.manager = std::string(get_string(eo, "manager"));
    m.operation = std::string(get_string(eo, "operation"));
    m.subresource = std::string(get_string(eo, "subresource"));
    m.api_version = std::string(get_string(eo, "apiVersion"));
    m.time = std::string(get_string(eo, "time"));
    if (const json::object* f = get_object(eo, "fieldsV1")) m.set = from_fields_v1(*f);
    out.push_back(std::move(m));
  }
  return out;
}

void write_entries(json::object& obj, std::vector<MfEntry>& entries, bool crd_style) {
  json::array arr;
  for (auto& e : entries) {
    if (e.set.empty()) continue;
    json::object o;
    o.emplace("manager", e.manager);
    o.emplace("operation", e.operation);
    o.emplace("apiVersion", e.api_version);
    o.emplace("time", e.time);
    o.emplace("fieldsType", "FieldsV1");
    o.emplace("fieldsV1", to_fields_v1(e.set, crd_style));
    if (!e.subresource.empty()) o.emplace("subresource", e.subresource);
    arr.emplace_back(std::move(o));
  }
  auto& meta = obj["metadata"].as_object();
  if (arr.empty()) {
    meta.erase("managedFields");
  } else {
    meta["managedFields"] = std::move(arr);
  }
}

FieldScope scope_of(const ResourceInfo& r, std::string_view subresource) {
  if (subresource == "status") return FieldScope::Status;
  if (subresource == "*") return FieldScope::Main;
  return r.has_status ? FieldScope::MainNoStatus : FieldScope::Main;
}

/// Update-operation ownership: `manager` takes the fields it changed from everyone else.
void update_managed_fields(const ResourceInfo& r, const json::object* old_obj,
                           json::object& new_obj, const std::string& manager,
                           std::string_view operation, std::string_view subresource,
                           const std::string& now) {
  auto scope = scope_of(r, subresource);
  LeafMap old_leaves;
  if (old_obj) old_leaves = collect_leaves(*old_obj, scope);
  LeafMap new_leaves = collect_leaves(new_obj, scope);
  FieldSet changed;
  for (const auto& [p, v] : new_leaves) {
    auto it = old_leaves.find(p);
    if (it == old_leaves.end() || *it->second != *v) changed.insert(p);
  }
  FieldSet removed;
  for (const auto& [p, v] : old_leaves) {
    if (!new_leaves.count(p)) removed.insert(p);
  }
  auto entries = old_obj ? read_entries(*old_obj) : std::vector<MfEntry>{};
  std::string sub = subresource == "*" ? "" : std::string(subresource);
  MfEntry* mine = nullptr;
  for (auto& e : entries) {
    for (const auto& p : changed)
      e.set.erase(p);
    for (const auto& p : removed)
      e.set.erase(p);
    if (e.manager == manager && e.operation == operation && e.subresource == sub) mine = &e;
  }
  if (!changed.empty()) {
    if (!mine) {
      entries.push_back(MfEntry{manager, std::string(operation), sub, r.api_version(), now, {}});
      mine = &entries.back();
    }
    mine->set.insert(changed.begin(), changed.end());
    mine->time = now;
    mine->api_version = r.api_version();
  }
  write_entries(new_obj, entries, !r.builtin);
}

}  // namespace

StoredPtr make_stored(const ResourceInfo& r, json::object obj, uint64_t rv) {
  auto s = std::make_shared<Stored>();
  s->rv = rv;
  if (r.builtin) {
    json::object ordered;
    ordered.reserve(obj.size());
    for (const char* k : {"kind", "apiVersion", "metadata"}) {
      if (auto it = obj.find(k); it != obj.end()) ordered.emplace(k, std::move(it->value()));
    }
    for (auto& kv : obj) {
      if (!ordered.contains(kv.key())) ordered.emplace(kv.key(), std::move(kv.value()));
    }
    if (json::object* meta = get_object(ordered, "metadata")) order_metadata(*meta);
    s->obj = std::move(ordered);
  } else {
    json::value v = std::move(obj);
    sort_keys(v);
    s->obj = std::move(v.get_object());
  }
  s->json = json::serialize(s->obj);
  const json::object& meta = *get_object(s->obj, "metadata");
  s->key = r.namespaced ? std::string(get_string(meta, "namespace")) + "/" +
                              std::string(get_string(meta, "name"))
                        : std::string(get_string(meta, "name"));
  if (r.builtin) {
    std::string prefix = "{\"kind\":" + json::serialize(s->obj.at("kind")) +
                         ",\"apiVersion\":" + json::serialize(s->obj.at("apiVersion")) + ",";
    if (s->json.starts_with(prefix)) s->item_offset = prefix.size();
  }
  return s;
}

StoredPtr Impl::make_stored(const ResourceInfo& r, json::object obj, uint64_t v) const {
  return fake::make_stored(r, std::move(obj), v);
}

StoredPtr Impl::store(const ResourceInfo& r, json::object obj, const StoredPtr& prev,
                      EventType type, Notifier& n) {
  uint64_t v = ++rv;
  obj["metadata"].as_object()["resourceVersion"] = std::to_string(v);
  auto s = make_stored(r, std::move(obj), v);
  auto& objects = stores[r.storage_key()];
  if (type == EventType::Deleted) {
    objects.erase(s->key);
  } else {
    objects[s->key] = s;
  }
  record(HistoryEvent{v, r.storage_key(), type, s, prev}, n);
  return s;
}

void Impl::record(HistoryEvent e, Notifier& n) {
  bool prune = false;
  for (auto& w : watchers) {
    auto sw = w.lock();
    if (!sw || sw->finished()) {
      prune = true;
      continue;
    }
    if (sw->deliver(e)) n.targets.push_back(std::move(sw));
  }
  if (prune) {
    std::erase_if(watchers, [](const std::weak_ptr<WatcherImpl>& w) {
      auto sw = w.lock();
      return !sw || sw->finished();
    });
  }
  history.push_back(std::move(e));
  while (history.size() > opts.history) {
    compacted_rv = history.front().rv;
    history.pop_front();
  }
}

StoredPtr Impl::do_create(const ResourceInfo& r, json::object obj, const std::string& manager,
                          std::string_view operation, Notifier& n, bool keep_status,
                          const FieldSet* owned) {
  auto& meta = obj["metadata"].as_object();
  for (const char* k : {"uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "generation", "selfLink", "managedFields"}) {
    meta.erase(k);
  }
  std::string now = rfc3339(std::chrono::system_clock::now());
  meta["uid"] = new_uid();
  meta["creationTimestamp"] = now;
  if (r.has_generation) meta["generation"] = 1;
  if (owned) {
    std::vector<MfEntry> entries{
        MfEntry{manager, std::string(operation), "", r.api_version(), now, *owned}};
    write_entries(obj, entries, !r.builtin);
  } else {
    update_managed_fields(r, nullptr, obj, manager, operation, keep_status ? "*" : "", now);
  }
  if (r.has_status && !keep_status) {
    // The create strategy resets status.
    if (!r.builtin) {
      obj.erase("status");
    } else if (r.kind == "Pod") {
      const json::object* spec = get_object(obj, "spec");
      std::string qos = spec ? qos_class(*spec) : "BestEffort";
      obj["status"] = json::object{{"phase", "Pending"}, {"qosClass", qos}};
    } else if (r.kind == "Deployment") {
      obj["status"] = json::object();
    } else if (r.kind == "ReplicaSet") {
      obj["status"] = json::object{{"replicas", 0}};
    } else if (r.kind == "Namespace") {
      obj["status"] = json::object{{"phase", "Active"}};
    } else if (r.kind == "Service") {
      obj["status"] = json::object{{"loadBalancer", json::object()}};
    } else if (r.kind == "CustomResourceDefinition") {
      json::array stored_versions;
      if (const json::object* spec = get_object(obj, "spec")) {
        if (auto it = spec->find("versions"); it != spec->end() && it->value().is_array()) {
          for (const auto& v : it->value().get_array()) {
            if (v.is_object() && v.get_object().contains("storage") &&
                v.get_object().at("storage") == true) {
              stored_versions.push_back(v.get_object().at("name"));
            }
          }
        }
      }
      obj["status"] = json::object{{"conditions", nullptr},
                                   {"acceptedNames", json::object{{"plural", ""}, {"kind", ""}}},
                                   {"storedVersions", std::move(stored_versions)}};
    }
  }
  return store(r, std::move(obj), nullptr, EventType::Added, n);
}

StoredPtr Impl::do_update(const ResourceInfo& r, const StoredPtr& prev, json::object obj,
                          const std::string& manager, std::string_view operation,
                          std::string_view subresource, Notifier& n, bool managed) {
  const json::object& old = prev->obj;
  const json::object& old_meta = *get_object(old, "metadata");
  json::object next;
  if (subresource == "status") {
    // Only status changes through the status subresource.
    next = old;
    auto it = obj.find("status");
    if (it != obj.end()) {
      next["status"] = it->value();
    } else {
      next.erase("status");
    }
    if (!managed) {
      auto& meta = next["metadata"].as_object();
      meta.erase("managedFields");
      const json::object* in_meta = get_object(obj, "metadata");
      if (auto it = in_meta ? in_meta->find("managedFields") : nullptr;
          in_meta && it != in_meta->end()) {
        meta["managedFields"] = it->value();
      }
    }
  } else {
    next = std::move(obj);
    auto& meta = next["metadata"].as_object();
    for (const char* k : {"uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation", "name", "namespace"}) {
      meta.erase(k);
      if (auto it = old_meta.find(k); it != old_meta.end()) meta[k] = it->value();
    }
    if (managed) {
      meta.erase("managedFields");
      if (auto it = old_meta.find("managedFields"); it != old_meta.end()) {
        meta["managedFields"] = it->value();
      }
    }
    if (r.has_status && subresource != "*") {
      auto it = old.find("status");
      if (it != old.end()) {
        next["status"] = it->value();
      } else {
        next.erase("status");
      }
    }
    apply_defaults(r, next);
  }
  next["kind"] = old.at("kind");
  if (r.builtin || !next.contains("apiVersion")) next["apiVersion"] = old.at("apiVersion");
  validate(r, next);
  if (managed) {
    update_managed_fields(r, &old, next, manager, operation, subresource,
                          rfc3339(std::chrono::system_clock::now()));
  }
  if (same_content(next, old)) return prev;  // no-op: no write, no event (as etcd)
  auto& meta = next["metadata"].as_object();
  if (r.has_generation && !same_spec(next, old, r.has_status)) {
    meta["generation"] = int_of(old_meta.if_contains("generation"), 0) + 1;
  }
  // The last finalizer of a deleting object is gone: the object goes.
  if (meta.contains("deletionTimestamp") &&
      int_of(meta.if_contains("deletionGracePeriodSeconds"), 0) == 0) {
    auto fit = meta.find("finalizers");
    if (fit == meta.end() || !fit->value().is_array() || fit->value().get_array().empty()) {
      return store(r, std::move(next), prev, EventType::Deleted, n);
    }
  }
  return store(r, std::move(next), prev, EventType::Modified, n);
}

StoredPtr Impl::do_delete(const ResourceInfo& r, const StoredPtr& prev, Notifier& n) {
  return store(r, prev->obj, prev, EventType::Deleted, n);
}

// --- handlers
// --------------------------------------------------------------------------------------

FakeResponse Impl::dispatch(const FakeRequest& req, Notifier& n) {
  std::vector<std::string> segs;
  Query q;
  if (!split_target(req.target, segs, q)) fail_bad_request("invalid URL escape in the request");
  if (auto d = discovery(segs)) {
    if (req.method != "GET") fail_method_not_allowed();
    return *d;
  }
  Target t;
  if (segs.size() >= 3 && segs[0] == "api" && segs[1] == "v1") {
    t = resolve({segs.begin() + 2, segs.end()}, "", "v1");
  } else if (segs.size() >= 4 && segs[0] == "apis") {
    t = resolve({segs.begin() + 3, segs.end()}, segs[1], segs[2]);
  } else {
    return page_not_found();
  }
  if (t.watch_path || q.flag("watch")) {
    fail_bad_request("watch requests are served by FakeCluster::watch");
  }
  const auto& m = req.method;
  if (t.name.empty()) {
    if (m == "GET") {
      authorize(req, t, "list");
      return list(req, t, q);
    }
    if (t.res->namespaced && t.ns.empty()) fail_method_not_allowed();
    if (m == "POST") {
      authorize(req, t, "create");
      return create(req, t, q, n);
    }
    if (m == "DELETE") {
      authorize(req, t, "deletecollection");
      // Deletes every object the selectors match, each like a single DELETE.
      FakeResponse listed = list(req, t, q);
      json::value lv = json::parse(listed.body);
      json::array deleted;
      for (auto& item : lv.as_object()["items"].as_array()) {
        Target one = t;
        one.name = std::string(get_string(*get_object(item.as_object(), "metadata"), "name"));
        FakeRequest dreq = req;
        dreq.body.clear();
        FakeResponse r = remove(dreq, one, q, n);
        json::value dv = json::parse(r.body);
        dv.as_object().erase("kind");
        dv.as_object().erase("apiVersion");
        deleted.push_back(std::move(dv));
      }
      lv.as_object()["items"] = std::move(deleted);
      lv.as_object()["metadata"].as_object().erase("continue");
      lv.as_object()["metadata"].as_object().erase("remainingItemCount");
      return json_response(200, lv);
    }
    fail_method_not_allowed();
  }
  if (m == "GET") {
    authorize(req, t, "get");
    return get(req, t);
  }
  if (m == "PUT") {
    authorize(req, t, "update");
    return update(req, t, q, n);
  }
  if (m == "PATCH") {
    authorize(req, t, "patch");
    return patch(req, t, q, n);
  }
  if (m == "DELETE" && t.sub.empty()) {
    authorize(req, t, "delete");
    return remove(req, t, q, n);
  }
  fail_method_not_allowed();
}

FakeResponse Impl::get(const FakeRequest& req, const Target& t) {
  auto s = lookup(*t.res, t.key());
  if (!s) fail_not_found(*t.res, t.name);
  FakeResponse r;
  if (wants_metadata_only(req.accept, false)) {
    r.body = json::serialize(partial_metadata(*s));
  } else {
    r.body = object_json(*s, *t.res);
  }
  return r;
}

namespace {

std::string manager_of(const Query& q) {
  const std::string* m = q.get("fieldManager");
  return m && !m->empty() ? *m : "unknown";
}

/// Puts the URL's namespace into the body, or fails on a mismatch.
void check_namespace(const Target& t, json::object& meta) {
  if (!t.res->namespaced) {
    meta.erase("namespace");
    return;
  }
  std::string_view ns = get_string(meta, "namespace");
  if (ns.empty()) {
    meta["namespace"] = t.ns;
  } else if (ns != t.ns) {
    fail_bad_request(
        "the namespace of the provided object does not match the namespace sent on the request");
  }
}

void check_name(const Target& t, json::object& meta) {
  std::string_view name = get_string(meta, "name");
  if (name.empty()) {
    meta["name"] = t.name;
  } else if (name != t.name) {
    fail_bad_request("the name of the object (" + std::string(name) +
                     ") does not match the name on the URL (" + t.name + ")");
  }
}

}  // namespace

FakeResponse Impl::create(const FakeRequest& req, const Target& t, const Query& q, Notifier& n) {
  json::object obj = parse_body(req, *t.res);
  auto& meta = obj["metadata"].as_object();
  check_namespace(t, meta);
  if (get_string(meta, "name").empty() && !get_string(meta, "generateName").empty()) {
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    std::string name(get_string(meta, "generateName"));
    for (int i = 0; i < 5; ++i)
      name += alphabet[rng() % (sizeof alphabet - 1)];
    meta["name"] = name;
  }
  apply_defaults(*t.res, obj);
  validate(*t.res, obj);
  std::string name(get_string(obj["metadata"].as_object(), "name"));
  Target one = t;
  one.name = name;
  if (lookup(*t.res, one.key())) {
    fail(409, "AlreadyExists", t.res->qualified() + " \"" + name + "\" already exists",
         name_details(*t.res, name));
  }
  auto s = do_create(*t.res, std::move(obj), manager_of(q), "Update", n);
  if (t.res->builtin && t.res->group == "apiextensions.k8s.io") {
    register_crd(s->obj);
    // The CRD controller accepts the names and establishes the CRD right away.
    json::object est = s->obj;
    auto& status = est["status"].as_object();
    std::string now = rfc3339(std::chrono::system_clock::now());
    auto cond = [&](const char* type, const char* reason, const char* message) {
      return json::object{{"type", type},
                          {"status", "True"},
                          {"lastTransitionTime", now},
                          {"reason", reason},
                          {"message", message}};
    };
    status["conditions"] = json::array{cond("NamesAccepted", "NoConflicts", "no conflicts found"),
                                       cond("Established", "InitialNamesAccepted",
                                            "the initial names have been "
                                            "accepted")};
    json::value names = est["spec"].as_object()["names"];
    est["status"].as_object()["acceptedNames"] = std::move(names);
    store(*t.res, std::move(est), s, EventType::Modified, n);
  }
  FakeResponse r = json_response(201, json::value());
  r.body = object_json(*s, *t.res);
  return r;
}

namespace {
/// A write's resourceVersion and uid, when given, must be the stored object's: 409 Conflict.
void check_preconditions(const Target& t, const json::object& meta, const json::object& old_meta) {
  std::string_view rv_in = get_string(meta, "resourceVersion");
  if (!rv_in.empty() && rv_in != get_string(old_meta, "resourceVersion")) {
    fail_conflict(*t.res, t.name,
                  "the object has been modified; please apply your changes to the latest "
                  "version and try again");
  }
  std::string_view uid_in = get_string(meta, "uid");
  if (!uid_in.empty() && uid_in != get_string(old_meta, "uid")) {
    fail_conflict(*t.res, t.name,
                  "Precondition failed: UID in precondition: " + std::string(uid_in) +
                      ", UID in object meta: " + std::string(get_string(old_meta, "uid")));
  }
}
}  // namespace

FakeResponse Impl::update(const FakeRequest& req, const Target& t, const Query& q, Notifier& n) {
  json::object obj = parse_body(req, *t.res);
  auto& meta = obj["metadata"].as_object();
  check_name(t, meta);
  check_namespace(t, meta);
  auto prev = lookup(*t.res, t.key());
  if (!prev) fail_not_found(*t.res, t.name);
  const json::object& old_meta = *get_object(prev->obj, "metadata");
  check_preconditions(t, meta, old_meta);
  auto s = do_update(*t.res, prev, std::move(obj), manager_of(q), "Update", t.sub, n);
  if (t.res->builtin && t.res->group == "apiextensions.k8s.io") register_crd(s->obj);
  FakeResponse r;
  r.body = object_json(*s, *t.res);
  return r;
}

namespace {

std::string media_type(std::string_view ct) {
  auto semi = ct.find(';');
  std::string out(ct.substr(0, semi));
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back())))
    out.pop_back();
  std::size_t start = 0;
  while (start < out.size() && std::isspace(static_cast<unsigned char>(out[start])))
    ++start;
  out.erase(0, start);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

FakeResponse Impl::patch(const FakeRequest& req, const Target& t, const Query& q, Notifier& n) {
  std::string type = media_type(req.content_type);
  bool strategic = type == "application/strategic-merge-patch+json";
  bool apply = type == "application/apply-patch+yaml";
  if (type != "application/merge-patch+json" && type != "application/json-patch+json" &&
      !(strategic && t.res->builtin) && !apply) {
    std::string accepted = "application/json-patch+json, application/merge-patch+json, ";
    if (t.res->builtin) accepted += "application/strategic-merge-patch+json, ";
    accepted += "application/apply-patch+yaml";
    fail(415, "UnsupportedMediaType",
         "the body of the request was in an unknown format - accepted media types include: " +
             accepted);
  }
  if (!apply && q.has("force")) {
    fail_options("PatchOptions", "force", "Forbidden: may not be specified for non-apply patch");
  }
  boost::system::error_code ec;
  json::value body = json::parse(req.body, ec);
  if (ec) {
    if (apply) {
      fail_bad_request(
          "error decoding YAML: the fake API server accepts JSON apply "
          "configurations only: " +
          ec.message());
    }
    fail_bad_request("error decoding patch: " + ec.message());
  }
  if (apply) {
    const std::string* fm = q.get("fieldManager");
    if (!fm || fm->empty()) {
      fail_options("PatchOptions", "fieldManager", "Required value: is required for apply patch",
                   "FieldValueRequired");
    }
    if (!body.is_object()) fail_bad_request("error decoding YAML: not an object");
    json::object applied = std::move(body.get_object());
    std::string_view kind = get_string(applied, "kind");
    std::string_view av = get_string(applied, "apiVersion");
    if (kind.empty() || av.empty()) {
      fail_bad_request(kind.empty() ? "invalid object type: /, Kind=" : "apiVersion must be set");
    }
    if (kind != t.res->kind) {
      fail_bad_request("the kind in the apply configuration (" + std::string(kind) +
                       ") does not match the resource (" + t.res->kind + ")");
    }
    auto& am = applied["metadata"];
    if (!am.is_object()) am = json::object();
    check_name(t, am.as_object());
    check_namespace(t, am.as_object());
    auto prev = lookup(*t.res, t.key());
    const std::string& manager = *fm;
    if (!prev) {
      if (!t.sub.empty()) fail_not_found(*t.res, t.name);
      json::object obj = applied;
      FieldSet owned = keys_of(collect_leaves(applied, scope_of(*t.res, "")));
      apply_defaults(*t.res, obj);
      validate(*t.res, obj);
      auto s = do_create(*t.res, std::move(obj), manager, "Apply", n, false, &owned);
      if (t.res->builtin && t.res->group == "apiextensions.k8s.io") register_crd(s->obj);
      FakeResponse r = json_response(201, json::value());
      r.body = object_json(*s, *t.res);
      return r;
    }
    auto scope = scope_of(*t.res, t.sub);
    if (scope == FieldScope::MainNoStatus) applied.erase("status");
    LeafMap applied_leaves = collect_leaves(applied, scope);
    LeafMap live_leaves = collect_leaves(prev->obj, scope);
    auto entries = read_entries(prev->obj);
    std::string sub = t.sub;
    // Conflicts: a field set to another value that another manager owns.
    std::vector<std::pair<std::string, FieldPath>> conflicts;
    for (const auto& [p, v] : applied_leaves) {
      auto lv = live_leaves.find(p);
      if (lv == live_leaves.end() || *lv->second == *v) continue;
      for (const auto& e : entries) {
        if (e.manager != manager && e.set.count(p)) conflicts.emplace_back(e.manager, p);
      }
    }
    bool force = q.flag("force");
    if (!conflicts.empty() && !force) {
      json::array causes;
      std::string msg;
      for (const auto& [mgr, p] : conflicts) {
        causes.emplace_back(
            json::object{{"reason", "FieldManagerConflict"},
                         {"message", "conflict with \"" + mgr + "\" using " + t.res->api_version()},
                         {"field", path_string(p)}});
      }
      if (conflicts.size() == 1) {
        msg = "Apply failed with 1 conflict: conflict with \"" + conflicts[0].first + "\" using " +
              t.res->api_version() + ": " + path_string(conflicts[0].second);
      } else {
        msg = "Apply failed with " + std::to_string(conflicts.size()) + " conflicts: ";
        bool first = true;
        for (const auto& [mgr, p] : conflicts) {
          msg += (first ? "" : "\n") + std::string("conflict with \"") + mgr + "\" using " +
                 t.res->api_version() + ": " + path_string(p);
          first = false;
        }
      }
      fail(409, "Conflict", msg, json::object{{"causes", std::move(causes)}});
    }
    for (const auto& [mgr, p] : conflicts) {
      for (auto& e : entries) {
        if (e.manager == mgr) e.set.erase(p);
      }
    }
    json::value merged = prev->obj;
    json::value patch = applied;
    if (scope == FieldScope::Status) {
      json::object only_status;
      if (auto it = applied.find("status"); it != applied.end()) {
        only_status.emplace("status", it->value());
      }
      patch = std::move(only_status);
    } else {
      patch.as_object().erase("kind");
      patch.as_object().erase("apiVersion");
    }
    strategic_merge(merged, patch);
    FieldSet applied_set = keys_of(applied_leaves);
    MfEntry* mine = nullptr;
    for (auto& e : entries) {
      if (e.manager == manager && e.operation == "Apply" && e.subresource == sub) mine = &e;
    }
    if (mine) {
      // Fields this manager applied before and no longer applies go, unless someone else owns
      // them too.
      for (const auto& p : mine->set) {
        if (applied_set.count(p)) continue;
        bool shared = std::any_of(entries.begin(), entries.end(),
                                  [&](const MfEntry& e) { return &e != mine && e.set.count(p); });
        if (!shared) remove_path(merged.as_object(), p);
      }
    } else {
      entries.push_back(MfEntry{manager, "Apply", sub, t.res->api_version(), "", {}});
      mine = &entries.back();
    }
    mine->set = std::move(applied_set);
    mine->time = rfc3339(std::chrono::system_clock::now());
    mine->api_version = t.res->api_version();
    write_entries(merged.as_object(), entries, !t.res->builtin);
    auto s =
        do_update(*t.res, prev, std::move(merged.as_object()), manager, "Apply", t.sub, n, false);
    if (t.res->builtin && t.res->group == "apiextensions.k8s.io") register_crd(s->obj);
    FakeResponse r;
    r.body = object_json(*s, *t.res);
    return r;
  }

  auto prev = lookup(*t.res, t.key());
  if (!prev) fail_not_found(*t.res, t.name);
  json::value doc = prev->obj;
  if (type == "application/json-patch+json") {
    if (auto err = json_patch(doc, body)) {
      if (err->code == 400) fail_bad_request(err->message);
      fail(422, "Invalid", "the server rejected our request due to an error in our request",
           json::object{{"causes", json::array{json::object{{"reason", "UnexpectedServerResponse"},
                                                            {"message", err->message}}}}});
    }
  } else if (strategic) {
    if (!body.is_object()) fail_bad_request("error decoding patch: not a JSON object");
    strategic_merge(doc, body);
  } else {
    if (!body.is_object()) fail_bad_request("error decoding patch: not a JSON object");
    merge_patch(doc, body);
  }
  if (!doc.is_object()) fail_bad_request("the patched object is not a JSON object");
  auto& obj = doc.as_object();
  auto& meta = obj["metadata"];
  if (!meta.is_object()) meta = json::object();
  const json::object& old_meta = *get_object(prev->obj, "metadata");
  check_preconditions(t, meta.as_object(), old_meta);
  auto s = do_update(*t.res, prev, std::move(obj), manager_of(q), "Update", t.sub, n);
  if (t.res->builtin && t.res->group == "apiextensions.k8s.io") register_crd(s->obj);
  FakeResponse r;
  r.body = object_json(*s, *t.res);
  return r;
}

FakeResponse Impl::remove(const FakeRequest& req, const Target& t, const Query& q, Notifier& n) {
  auto prev = lookup(*t.res, t.key());
  if (!prev) fail_not_found(*t.res, t.name);
  json::object opts_body;
  if (!req.body.empty()) {
    boost::system::error_code ec;
    json::value v = json::parse(req.body, ec);
    if (ec || !v.is_object()) {
      fail_bad_request(
          "the object provided is unrecognized (must be of type DeleteOptions): "
          "couldn't get version/kind; json parse error: unexpected end of JSON "
          "input (" +
          req.body.substr(0, 256) + ")");
    }
    opts_body = std::move(v.get_object());
  }
  const json::object& old_meta = *get_object(prev->obj, "metadata");
  if (const json::object* pre = get_object(opts_body, "preconditions")) {
    std::string_view uid = get_string(*pre, "uid");
    if (!uid.empty() && uid != get_string(old_meta, "uid")) {
      fail_conflict(*t.res, t.name,
                    "Precondition failed: UID in precondition: " + std::string(uid) +
                        ", UID in object meta: " + std::string(get_string(old_meta, "uid")));
    }
    std::string_view prv = get_string(*pre, "resourceVersion");
    if (!prv.empty() && prv != get_string(old_meta, "resourceVersion")) {
      fail_conflict(*t.res, t.name,
                    "Precondition failed: ResourceVersion in precondition: " + std::string(prv) +
                        ", ResourceVersion in object meta: " +
                        std::string(get_string(old_meta, "resourceVersion")));
    }
  }
  if (std::string_view pp = get_string(opts_body, "propagationPolicy"); !pp.empty()) {
    if (pp != "Orphan" && pp != "Background" && pp != "Foreground") {
      fail_options("DeleteOptions", "propagationPolicy",
                   "Unsupported value: \"" + std::string(pp) +
                       "\": supported values: \"Foreground\", \"Background\", \"Orphan\"",
                   "FieldValueNotSupported");
    }
  }
  std::optional<int64_t> grace;
  if (const std::string* g = q.get("gracePeriodSeconds")) {
    grace = std::strtoll(g->c_str(), nullptr, 10);
  } else if (auto it = opts_body.find("gracePeriodSeconds");
             it != opts_body.end() && !it->value().is_null()) {
    grace = int_of(&it->value(), 0);
  }
  bool has_finalizers = false;
  if (auto fit = old_meta.find("finalizers"); fit != old_meta.end() && fit->value().is_array()) {
    has_finalizers = !fit->value().get_array().empty();
  }
  bool deleting = old_meta.contains("deletionTimestamp");
  StoredPtr result;
  bool graceful_pod = false;
  int64_t pod_grace = 0;
  if (t.res->builtin && t.res->group.empty() && t.res->kind == "Pod") {
    const json::object* spec = get_object(prev->obj, "spec");
    if (spec && !get_string(*spec, "nodeName").empty()) {
      pod_grace = grace.value_or(int_of(spec->if_contains("terminationGracePeriodSeconds"), 30));
      graceful_pod = pod_grace > 0;
    }
  }
  if (has_finalizers || (graceful_pod && !deleting)) {
    if (deleting && grace == 0 &&
        int_of(old_meta.if_contains("deletionGracePeriodSeconds"), 0) != 0) {
      // Shortening a graceful deletion: the object goes once its finalizers are gone.
      json::object next = prev->obj;
      next["metadata"].as_object()["deletionGracePeriodSeconds"] = 0;
      result = store(*t.res, std::move(next), prev, EventType::Modified, n);
    } else if (deleting) {
      result = prev;  // already being deleted: nothing changes
    } else {
      json::object next = prev->obj;
      auto& meta = next["metadata"].as_object();
      auto when =
          std::chrono::system_clock::now() + std::chrono::seconds(graceful_pod ? pod_grace : 0);
      meta["deletionTimestamp"] = rfc3339(when);
      meta["deletionGracePeriodSeconds"] = graceful_pod ? pod_grace : 0;
      if (t.res->has_generation) meta["generation"] = int_of(meta.if_contains("generation"), 0) + 1;
      result = store(*t.res, std::move(next), prev, EventType::Modified, n);
    }
  } else if (graceful_pod) {
    result = prev;  // a graceful deletion in progress; only gracePeriodSeconds=0 ends it
  } else {
    result = do_delete(*t.res, prev, n);
    if (t.res->builtin && t.res->group == "apiextensions.k8s.io") unregister_crd(t.name, n);
  }
  FakeResponse r;
  r.body = object_json(*result, *t.res);
  return r;
}

Impl::Impl(FakeClusterOptions o) : opts(std::move(o)), rng(std::random_device{}()) {
  if (opts.history == 0) opts.history = 1;
  register_builtins();
}

}  // namespace kcoro::testing::fake

// --- the public face
// -------------------------------------------------------------------------------

namespace kcoro::testing {

using namespace fake;

struct FakeCluster::Impl : fake::Impl {
  using fake::Impl::Impl;
};

FakeCluster::FakeCluster(FakeClusterOptions opts)
    : impl_(std::make_unique<Impl>(std::move(opts))) {}

FakeCluster::~FakeCluster() {
  std::vector<std::shared_ptr<WatcherImpl>> live;
  {
    std::lock_guard lk(impl_->mu);
    for (auto& w : impl_->watchers) {
      if (auto sw = w.lock()) {
        sw->end();
        live.push_back(std::move(sw));
      }
    }
    impl_->watchers.clear();
  }
  for (auto& w : live)
    w->wake();
}

FakeResponse FakeCluster::handle(const FakeRequest& req) {
  Notifier n;
  FakeResponse r;
  {
    std::lock_guard lk(impl_->mu);
    try {
      if (is_watch(req)) fail_bad_request("watch requests are served by FakeCluster::watch");
      r = impl_->dispatch(req, n);
    } catch (Failure& f) {
      r = std::move(f.resp);
    }
  }
  n.fire();
  return r;
}

bool FakeCluster::is_watch(const FakeRequest& req) {
  std::vector<std::string> segs;
  Query q;
  if (!split_target(req.target, segs, q)) return false;
  if (q.flag("watch")) return true;
  if (segs.size() > 2 && segs[0] == "api" && segs[2] == "watch") return true;
  if (segs.size() > 3 && segs[0] == "apis" && segs[3] == "watch") return true;
  return false;
}

FakeCluster::WatchStart FakeCluster::watch(const FakeRequest& req) {
  WatchStart ws;
  std::lock_guard lk(impl_->mu);
  try {
    std::vector<std::string> segs;
    Query q;
    if (!split_target(req.target, segs, q)) fail_bad_request("invalid URL escape in the request");
    Target t;
    if (segs.size() >= 3 && segs[0] == "api" && segs[1] == "v1") {
      t = impl_->resolve({segs.begin() + 2, segs.end()}, "", "v1");
    } else if (segs.size() >= 4 && segs[0] == "apis") {
      t = impl_->resolve({segs.begin() + 3, segs.end()}, segs[1], segs[2]);
    } else {
      throw Failure{page_not_found()};
    }
    if (!req.method.empty() && req.method != "GET") {
      throw Failure{json_response(
          405, status_object(405, "MethodNotAllowed",
                             "the server does not allow this method on the requested resource", {},
                             {}, true))};
    }
    impl_->authorize(req, t, "watch");
    ws = impl_->start_watch(req, t, q);
  } catch (Failure& f) {
    ws.error = std::move(f.resp);
    ws.watcher.reset();
  }
  return ws;
}

std::string FakeCluster::apply_object(const std::string& text) {
  Notifier n;
  std::string out;
  {
    std::lock_guard lk(impl_->mu);
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) throw std::invalid_argument("apply_object: not a JSON object");
    auto& obj = v.get_object();
    auto r = impl_->find_by_kind(get_string(obj, "apiVersion"), get_string(obj, "kind"));
    if (!r) {
      throw std::invalid_argument("apply_object: no resource serves " +
                                  std::string(get_string(obj, "apiVersion")) + " " +
                                  std::string(get_string(obj, "kind")));
    }
    auto& meta = obj["metadata"];
    if (!meta.is_object()) meta = json::object();
    auto& m = meta.as_object();
    if (r->namespaced && get_string(m, "namespace").empty()) m["namespace"] = "default";
    if (!r->namespaced) m.erase("namespace");
    std::string key = r->namespaced ? std::string(get_string(m, "namespace")) + "/" +
                                          std::string(get_string(m, "name"))
                                    : std::string(get_string(m, "name"));
    try {
      impl_->apply_defaults(*r, obj);
      impl_->validate(*r, obj);
      StoredPtr s;
      if (auto prev = impl_->lookup(*r, key)) {
        m.erase("resourceVersion");
        s = impl_->do_update(*r, prev, std::move(obj), "unknown", "Update", "*", n);
      } else {
        s = impl_->do_create(*r, std::move(obj), "unknown", "Update", n, true);
      }
      if (r->builtin && r->group == "apiextensions.k8s.io") impl_->register_crd(s->obj);
      out = object_json(*s, *r);
    } catch (Failure& f) {
      throw std::invalid_argument("apply_object: " + f.resp.body);
    }
  }
  n.fire();
  return out;
}

bool FakeCluster::delete_object(const std::string& api_version, const std::string& kind,
                                const std::string& ns, const std::string& name) {
  Notifier n;
  bool found = false;
  {
    std::lock_guard lk(impl_->mu);
    auto r = impl_->find_by_kind(api_version, kind);
    if (!r) return false;
    auto prev = impl_->lookup(*r, r->namespaced ? ns + "/" + name : name);
    if (prev) {
      found = true;
      impl_->do_delete(*r, prev, n);
      if (r->builtin && r->group == "apiextensions.k8s.io") impl_->unregister_crd(name, n);
    }
  }
  n.fire();
  return found;
}

uint64_t FakeCluster::resource_version() const {
  std::lock_guard lk(impl_->mu);
  return impl_->rv;
}

void FakeCluster::expire_continue_tokens() {
  std::lock_guard lk(impl_->mu);
  // Tokens carry their snapshot's resourceVersion; bump the counter (etcd revisions have gaps
  // too) so that every token issued so far is older than the floor and new ones are not.
  impl_->continue_floor = ++impl_->rv;
}

void FakeCluster::compact() {
  std::lock_guard lk(impl_->mu);
  impl_->history.clear();
  impl_->compacted_rv = impl_->rv;
}

void FakeCluster::forbid(const std::string& user, const std::string& resource) {
  std::lock_guard lk(impl_->mu);
  impl_->forbidden.emplace(user, resource);
}

}  // namespace kcoro::testing
