// FakeCluster: the store and its history. Objects stored in the real server's key order, the
// resourceVersion counter, the history that watches replay, and the server side of every write
// (create, update, delete: server fields, generation, managed fields, finalizers).
#include "testing/fake_cluster_impl.hpp"

#include <algorithm>
#include <cstdio>

namespace kcoro::testing::fake {

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

void Notifier::fire() {
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  for (auto& w : targets)
    w->wake();
  targets.clear();
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

/// Update-operation ownership of a write to `r` through `subresource` ("*": direct access).
void take_changed_fields(const ResourceInfo& r, const json::object* old_obj, json::object& new_obj,
                         const std::string& manager, std::string_view operation,
                         std::string_view subresource, const std::string& now) {
  ManagedFieldsEntry writer{manager,
                            std::string(operation),
                            subresource == "*" ? "" : std::string(subresource),
                            r.api_version(),
                            now,
                            {}};
  update_managed_fields(old_obj, new_obj, write_scope(r.has_status, subresource), writer,
                        !r.builtin);
}

/// kube-apiserver's ValidateNoNewFinalizers: an object being deleted takes no new finalizer.
void check_no_new_finalizers(const ResourceInfo& r, const json::object& old_meta,
                             const json::object& next) {
  if (!old_meta.contains("deletionTimestamp")) return;
  auto finalizers = [](const json::object* meta) {
    std::vector<std::string> out;
    auto it = meta ? meta->find("finalizers") : nullptr;
    if (!meta || it == meta->end() || !it->value().is_array()) return out;
    for (const auto& f : it->value().get_array()) {
      if (f.is_string()) out.emplace_back(f.get_string());
    }
    return out;
  };
  auto old_f = finalizers(&old_meta);
  auto new_f = finalizers(get_object(next, "metadata"));
  std::vector<std::string> extra;
  for (auto& f : new_f) {
    if (std::find(old_f.begin(), old_f.end(), f) == old_f.end() &&
        std::find(extra.begin(), extra.end(), f) == extra.end()) {
      extra.push_back(f);
    }
  }
  if (extra.empty()) return;
  std::sort(extra.begin(), extra.end());  // Go's sets.String.List()
  std::string list;
  for (const auto& f : extra)
    list += (list.empty() ? "\"" : ", \"") + f + "\"";
  fail_invalid(r, get_string(old_meta, "name"),
               {{"FieldValueForbidden",
                 "Forbidden: no new finalizers can be added if the object is being deleted, found "
                 "new finalizers []string{" +
                     list + "}",
                 "metadata.finalizers"}});
}

}  // namespace

int64_t int_of(const json::value* v, int64_t dflt) {
  if (!v) return dflt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->get_double());
  return dflt;
}

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
    write_managed_fields(
        obj,
        {ManagedFieldsEntry{manager, std::string(operation), "", r.api_version(), now, *owned}},
        !r.builtin);
  } else {
    take_changed_fields(r, nullptr, obj, manager, operation, keep_status ? "*" : "", now);
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
  check_no_new_finalizers(r, old_meta, next);
  if (managed) {
    take_changed_fields(r, &old, next, manager, operation, subresource,
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

}  // namespace kcoro::testing::fake
