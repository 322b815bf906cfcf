// FakeCluster internals: managedFields. Field sets in FieldsV1 notation (simplified: paths are
// derived from the object without type schemas; lists with a known merge key are associative,
// finalizers are a set, every other list is atomic), the entries of metadata.managedFields, and
// the ownership an Update-operation write takes.
#include "testing/fake_internal.hpp"

#include <algorithm>

namespace kcoro::testing::fake {

namespace {

/// Server-set metadata that no manager owns.
bool identity_metadata(std::string_view key) {
  return key == "name" || key == "namespace" || key == "uid" || key == "resourceVersion" ||
         key == "generation" || key == "creationTimestamp" || key == "deletionTimestamp" ||
         key == "deletionGracePeriodSeconds" || key == "managedFields" || key == "selfLink" ||
         key == "generateName";
}

std::string key_element(const json::object& item, const std::vector<std::string>& keys) {
  json::object k;
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  for (const auto& name : sorted) {
    auto it = item.find(name);
    if (it != item.end()) {
      k.emplace(name, it->value());
    } else if (name == "protocol") {
      k.emplace(name, "TCP");
    }
  }
  return "k:" + json::serialize(k);
}

void collect(const json::value& v, std::string_view field, FieldPath& prefix, LeafMap& out) {
  if (v.is_object()) {
    const auto& o = v.get_object();
    if (o.empty()) {
      out.emplace(prefix, &v);
      return;
    }
    for (const auto& kv : o) {
      prefix.push_back("f:" + std::string(kv.key()));
      collect(kv.value(), kv.key(), prefix, out);
      prefix.pop_back();
    }
    return;
  }
  if (v.is_array()) {
    const auto& arr = v.get_array();
    if (is_set_list(field) && !arr.empty()) {
      for (const auto& e : arr) {
        prefix.push_back("v:" + json::serialize(e));
        out.emplace(prefix, &e);
        prefix.pop_back();
      }
      return;
    }
    auto keys = merge_keys(field, arr);
    if (keys.empty()) {
      out.emplace(prefix, &v);
      return;
    }
    for (const auto& e : arr) {
      if (!e.is_object()) continue;
      prefix.push_back(key_element(e.get_object(), keys));
      collect(e, {}, prefix, out);
      prefix.pop_back();
    }
    return;
  }
  out.emplace(prefix, &v);
}

}  // namespace

LeafMap collect_leaves(const json::object& obj, FieldScope scope) {
  LeafMap out;
  FieldPath prefix;
  for (const auto& kv : obj) {
    std::string_view key(kv.key().data(), kv.key().size());
    if (key == "apiVersion" || key == "kind") continue;
    bool is_status = key == "status";
    if (scope == FieldScope::Status && !is_status) continue;
    if (scope == FieldScope::MainNoStatus && is_status) continue;
    prefix.push_back("f:" + std::string(key));
    if (key == "metadata" && kv.value().is_object()) {
      for (const auto& m : kv.value().get_object()) {
        if (identity_metadata(m.key())) continue;
        prefix.push_back("f:" + std::string(m.key()));
        collect(m.value(), m.key(), prefix, out);
        prefix.pop_back();
      }
    } else {
      collect(kv.value(), key, prefix, out);
    }
    prefix.pop_back();
  }
  return out;
}

FieldSet keys_of(const LeafMap& m) {
  FieldSet s;
  for (const auto& [k, v] : m)
    s.insert(k);
  return s;
}

json::object to_fields_v1(const FieldSet& set, bool crd_style) {
  json::object root;
  for (const auto& path : set) {
    json::object* cur = &root;
    for (std::size_t i = 0; i < path.size(); ++i) {
      auto& child = (*cur)[path[i]];
      if (!child.is_object()) child = json::object();
      cur = &child.get_object();
    }
  }
  // "." marks a node that is itself a member: list items, nested maps (depth >= 2), and for
  // custom resources also the top-level fields (except metadata).
  auto mark = [&](auto& self, json::object& node, std::size_t depth, bool parent_metadata) -> void {
    for (auto& kv : node) {
      if (kv.key() == "." || !kv.value().is_object()) continue;
      auto& child = kv.value().get_object();
      if (child.empty()) continue;
      bool item = kv.key().starts_with("k:");
      bool is_list = !child.empty() && (child.begin()->key().starts_with("k:") ||
                                        child.begin()->key().starts_with("v:"));
      // Heuristic for the typed built-ins (the real server knows the schema): structs that are
      // always present (metadata, spec, template, containers) carry no ".".
      bool structural = kv.key() == "f:metadata" || kv.key() == "f:spec" ||
                        kv.key() == "f:template" || kv.key() == "f:containers";
      bool member = item || (depth == 1 && parent_metadata) ||
                    (depth == 0 ? crd_style && kv.key() != "f:metadata"
                                : !structural && (depth >= 2 || crd_style));
      (void)is_list;
      self(self, child, depth + 1, kv.key() == "f:metadata");
      if (member && !child.contains(".")) {
        json::object marked;
        marked.emplace(".", json::object());
        for (auto& c : child)
          marked.emplace(c.key(), std::move(c.value()));
        child = std::move(marked);
      }
    }
  };
  mark(mark, root, 0, false);
  // Sort keys like the real server ("." first, then f:/k:/v: in byte order).
  json::value v = std::move(root);
  sort_keys(v);
  return std::move(v.get_object());
}

namespace {
void from_node(const json::object& node, FieldPath& prefix, FieldSet& out) {
  for (const auto& kv : node) {
    if (kv.key() == ".") continue;
    prefix.emplace_back(kv.key());
    const auto* child = kv.value().is_object() ? &kv.value().get_object() : nullptr;
    bool has_children = child && std::any_of(child->begin(), child->end(),
                                             [](const auto& c) { return c.key() != "."; });
    if (has_children) {
      from_node(*child, prefix, out);
    } else {
      out.insert(prefix);
    }
    prefix.pop_back();
  }
}
}  // namespace

FieldSet from_fields_v1(const json::object& fields) {
  FieldSet out;
  FieldPath prefix;
  from_node(fields, prefix, out);
  return out;
}

std::string path_string(const FieldPath& p) {
  std::string out;
  for (const auto& e : p) {
    if (e.starts_with("f:")) {
      out += "." + e.substr(2);
    } else if (e.starts_with("k:")) {
      // k:{"name":"x"} -> [name="x"]
      boost::system::error_code ec;
      auto v = json::parse(e.substr(2), ec);
      out += "[";
      if (!ec && v.is_object()) {
        bool first = true;
        for (const auto& kv : v.get_object()) {
          if (!first) out += ",";
          first = false;
          out += std::string(kv.key()) + "=" + json::serialize(kv.value());
        }
      }
      out += "]";
    } else if (e.starts_with("v:")) {
      out += "[" + e.substr(2) + "]";
    }
  }
  return out;
}

namespace {

bool remove_rec(json::value& cur, const FieldPath& p, std::size_t i) {
  const std::string& e = p[i];
  bool last = i + 1 == p.size();
  if (e.starts_with("f:")) {
    if (!cur.is_object()) return false;
    auto& o = cur.get_object();
    auto it = o.find(std::string_view(e).substr(2));
    if (it == o.end()) return false;
    if (last) {
      o.erase(it);
      return true;
    }
    return remove_rec(it->value(), p, i + 1);
  }
  if (!cur.is_array()) return false;
  auto& arr = cur.get_array();
  if (e.starts_with("v:")) {
    boost::system::error_code ec;
    auto v = json::parse(std::string_view(e).substr(2), ec);
    if (ec) return false;
    auto it = std::find(arr.begin(), arr.end(), v);
    if (it == arr.end()) return false;
    arr.erase(it);
    return true;
  }
  if (!e.starts_with("k:")) return false;
  boost::system::error_code ec;
  auto key = json::parse(std::string_view(e).substr(2), ec);
  if (ec || !key.is_object()) return false;
  for (auto it = arr.begin(); it != arr.end(); ++it) {
    if (!it->is_object()) continue;
    bool match = true;
    for (const auto& kv : key.get_object()) {
      auto f = it->get_object().find(kv.key());
      if (f == it->get_object().end()) {
        if (!(kv.key() == "protocol" && kv.value() == "TCP")) match = false;
      } else if (f->value() != kv.value()) {
        match = false;
      }
    }
    if (!match) continue;
    if (last) {
      arr.erase(it);
      return true;
    }
    bool removed = remove_rec(*it, p, i + 1);
    if (removed && it->get_object().empty()) arr.erase(it);
    return removed;
  }
  return false;
}

}  // namespace

void remove_path(json::object& obj, const FieldPath& p) {
  if (p.empty()) return;
  json::value tmp = std::move(obj);
  remove_rec(tmp, p, 0);
  obj = std::move(tmp.get_object());
}

std::vector<ManagedFieldsEntry> read_managed_fields(const json::object& obj) {
  std::vector<ManagedFieldsEntry> out;
  const json::object* meta = get_object(obj, "metadata");
  if (!meta) return out;
  auto it = meta->find("managedFields");
  if (it == meta->end() || !it->value().is_array()) return out;
  for (const auto& e : it->value().get_array()) {
    if (!e.is_object()) continue;
    const auto& eo = e.get_object();
    ManagedFieldsEntry m;
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

void write_managed_fields(json::object& obj, const std::vector<ManagedFieldsEntry>& entries,
                          bool crd_style) {
  json::array arr;
  for (const auto& e : entries) {
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

FieldScope write_scope(bool has_status, std::string_view subresource) {
  if (subresource == "status") return FieldScope::Status;
  if (subresource == "*") return FieldScope::Main;
  return has_status ? FieldScope::MainNoStatus : FieldScope::Main;
}

void update_managed_fields(const json::object* old_obj, json::object& new_obj, FieldScope scope,
                           const ManagedFieldsEntry& writer, bool crd_style) {
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
  auto entries = old_obj ? read_managed_fields(*old_obj) : std::vector<ManagedFieldsEntry>{};
  ManagedFieldsEntry* mine = nullptr;
  for (auto& e : entries) {
    for (const auto& p : changed)
      e.set.erase(p);
    for (const auto& p : removed)
      e.set.erase(p);
    if (e.manager == writer.manager && e.operation == writer.operation &&
        e.subresource == writer.subresource) {
      mine = &e;
    }
  }
  if (!changed.empty()) {
    if (!mine) {
      entries.push_back(ManagedFieldsEntry{writer.manager,
                                           writer.operation,
                                           writer.subresource,
                                           writer.api_version,
                                           writer.time,
                                           {}});
      mine = &entries.back();
    }
    mine->set.insert(changed.begin(), changed.end());
    mine->time = writer.time;
    mine->api_version = writer.api_version;
  }
  write_managed_fields(new_obj, entries, crd_style);
}

}  // namespace kcoro::testing::fake
