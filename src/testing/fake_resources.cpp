// FakeCluster: the built-in resources, CustomResourceDefinitions, defaulting, validation and
// discovery.
#include "testing/fake_cluster_impl.hpp"

#include <algorithm>
#include <cctype>

namespace kcoro::testing::fake {

namespace {

ResourceInfo builtin(std::string group, std::string kind, std::string plural, bool namespaced,
                     bool has_status, bool has_generation, std::vector<std::string> short_names,
                     std::vector<std::string> categories, std::vector<std::string> fields = {}) {
  ResourceInfo r;
  r.group = std::move(group);
  r.version = "v1";
  r.kind = kind;
  r.list_kind = kind + "List";
  r.plural = std::move(plural);
  r.singular = kind;
  std::transform(r.singular.begin(), r.singular.end(), r.singular.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  r.namespaced = namespaced;
  r.has_status = has_status;
  r.has_generation = has_generation;
  r.short_names = std::move(short_names);
  r.categories = std::move(categories);
  r.field_labels = std::move(fields);
  // Pods, services and service accounts are registered with ReturnDeletedObject. Namespaces and
  // CRDs are kept by finalizers on the real server (the namespace controller, the CRD cleanup),
  // so their DELETE answers with the object; the fake removes them at once but answers alike.
  r.returns_deleted_object = kind == "Pod" || kind == "Service" || kind == "ServiceAccount" ||
                             kind == "Namespace" || kind == "CustomResourceDefinition";
  return r;
}

json::array to_array(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v)
    a.emplace_back(s);
  return a;
}

std::string storage_version_hash(const ResourceInfo& r) {
  // Deterministic stand-in for the real hash: 8 bytes of FNV-1a, base64.
  uint64_t h = 1469598103934665603ULL;
  for (char c : r.group + "/" + r.version + "/" + r.kind) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint64_t bits = h;
  for (int i = 0; i < 11; ++i) {
    out += b64[bits & 63];
    bits >>= 6;
  }
  return out + "=";
}

}  // namespace

void Impl::add_resource(ResourceInfo r) {
  auto key = r.group + "/" + r.version + "/" + r.plural;
  resources[key] = std::make_shared<const ResourceInfo>(std::move(r));
}

void Impl::register_builtins() {
  const std::vector<std::string> all{"all"};
  add_resource(builtin(
      "", "Pod", "pods", true, true, false, {"po"}, all,
      {"spec.nodeName", "status.phase", "spec.restartPolicy", "spec.schedulerName",
       "spec.serviceAccountName", "spec.hostNetwork", "status.podIP", "status.nominatedNodeName"}));
  add_resource(
      builtin("", "Service", "services", true, true, false, {"svc"}, all, {"spec.clusterIP"}));
  add_resource(builtin("", "ConfigMap", "configmaps", true, false, false, {"cm"}, {}));
  add_resource(builtin("", "Secret", "secrets", true, false, false, {}, {}, {"type"}));
  add_resource(builtin("", "ServiceAccount", "serviceaccounts", true, false, false, {"sa"}, {}));
  add_resource(
      builtin("", "Namespace", "namespaces", false, true, false, {"ns"}, {}, {"status.phase"}));
  add_resource(
      builtin("", "Node", "nodes", false, true, false, {"no"}, {}, {"spec.unschedulable"}));
  add_resource(
      builtin("", "Event", "events", true, false, false, {"ev"}, {},
              {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
               "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
               "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}));
  add_resource(builtin("apps", "Deployment", "deployments", true, true, true, {"deploy"}, all));
  add_resource(builtin("apps", "ReplicaSet", "replicasets", true, true, true, {"rs"}, all));
  add_resource(builtin("coordination.k8s.io", "Lease", "leases", true, false, false, {}, {}));
  auto crd =
      builtin("apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions",
              false, true, true, {"crd", "crds"}, {"api-extensions"});
  add_resource(std::move(crd));
}

ResourcePtr Impl::find_resource(std::string_view group, std::string_view version,
                                std::string_view plural) const {
  std::string key;
  key.append(group).append("/").append(version).append("/").append(plural);
  auto it = resources.find(key);
  return it == resources.end() ? nullptr : it->second;
}

ResourcePtr Impl::find_by_kind(std::string_view api_version, std::string_view kind) const {
  for (const auto& [k, r] : resources) {
    if (r->kind == kind && r->api_version() == api_version) return r;
  }
  return nullptr;
}

// --- CustomResourceDefinitions -----------------------------------------------------------------

void Impl::validate_crd(const json::object& crd, const ResourceInfo& crd_res) const {
  std::vector<Cause> causes;
  const json::object* spec = get_object(crd, "spec");
  static const json::object empty;
  if (!spec) spec = &empty;
  std::string group(get_string(*spec, "group"));
  const json::object* names = get_object(*spec, "names");
  if (!names) names = &empty;
  std::string plural(get_string(*names, "plural"));
  std::string kind(get_string(*names, "kind"));
  std::string name(get_string(*get_object(crd, "metadata"), "name"));
  if (group.empty()) causes.push_back({"FieldValueRequired", "Required value", "spec.group"});
  // Groups under k8s.io and kubernetes.io are the project's: a CRD there says it is approved.
  const auto protected_group = [&](std::string_view d) {
    return group == d || (group.size() > d.size() && std::string_view(group).ends_with(d) &&
                          group[group.size() - d.size() - 1] == '.');
  };
  if (protected_group("k8s.io") || protected_group("kubernetes.io")) {
    const json::object* meta = get_object(crd, "metadata");
    const json::object* ann = meta ? get_object(*meta, "annotations") : nullptr;
    if (!ann || !ann->contains("api-approved.kubernetes.io")) {
      causes.push_back({"FieldValueRequired",
                        "Required value: protected groups must have approval annotation "
                        "\"api-approved.kubernetes.io\", see "
                        "https://github.com/kubernetes/enhancements/pull/1111",
                        "metadata.annotations[api-approved.kubernetes.io]"});
    }
  }
  if (plural.empty()) {
    causes.push_back({"FieldValueRequired", "Required value", "spec.names.plural"});
  }
  if (kind.empty()) causes.push_back({"FieldValueRequired", "Required value", "spec.names.kind"});
  if (!group.empty() && !plural.empty() && name != plural + "." + group) {
    causes.push_back({"FieldValueInvalid",
                      "Invalid value: \"" + name + "\": must be spec.names.plural+\".\"+spec.group",
                      "metadata.name"});
  }
  auto scope = get_string(*spec, "scope");
  if (scope != "Namespaced" && scope != "Cluster") {
    causes.push_back({"FieldValueNotSupported",
                      "Unsupported value: \"" + std::string(scope) +
                          "\": supported values: \"Cluster\", \"Namespaced\"",
                      "spec.scope"});
  }
  auto vit = spec->find("versions");
  int storage = 0;
  if (vit == spec->end() || !vit->value().is_array() || vit->value().get_array().empty()) {
    causes.push_back({"FieldValueRequired", "Required value", "spec.versions"});
  } else {
    for (const auto& v : vit->value().get_array()) {
      if (v.is_object() && v.get_object().contains("storage") &&
          v.get_object().at("storage") == true) {
        ++storage;
      }
    }
    if (storage != 1) {
      causes.push_back({"FieldValueInvalid",
                        "Invalid value: []apiextensions.CustomResourceDefinitionVersion(nil): "
                        "must have exactly one version marked as storage version",
                        "spec.versions"});
    }
  }
  if (!causes.empty()) fail_invalid(crd_res, name, causes);
}

void Impl::register_crd(const json::object& crd) {
  std::string name(get_string(*get_object(crd, "metadata"), "name"));
  for (auto it = resources.begin(); it != resources.end();) {
    if (it->second->crd_name == name) {
      it = resources.erase(it);
    } else {
      ++it;
    }
  }
  const json::object* spec = get_object(crd, "spec");
  if (!spec) return;
  const json::object* names = get_object(*spec, "names");
  if (!names) return;
  auto vit = spec->find("versions");
  if (vit == spec->end() || !vit->value().is_array()) return;
  auto strings = [](const json::object& o, std::string_view key) {
    std::vector<std::string> out;
    auto it = o.find(key);
    if (it != o.end() && it->value().is_array()) {
      for (const auto& s : it->value().get_array()) {
        if (s.is_string()) out.emplace_back(s.get_string());
      }
    }
    return out;
  };
  for (const auto& v : vit->value().get_array()) {
    if (!v.is_object()) continue;
    const auto& ver = v.get_object();
    auto served = ver.find("served");
    if (served != ver.end() && served->value() == false) continue;
    ResourceInfo r;
    r.group = std::string(get_string(*spec, "group"));
    r.version = std::string(get_string(ver, "name"));
    r.kind = std::string(get_string(*names, "kind"));
    r.plural = std::string(get_string(*names, "plural"));
    r.singular = std::string(get_string(*names, "singular"));
    r.list_kind = std::string(get_string(*names, "listKind"));
    if (r.list_kind.empty()) r.list_kind = r.kind + "List";
    r.namespaced = get_string(*spec, "scope") != "Cluster";
    const json::object* sub = get_object(ver, "subresources");
    r.has_status = sub && sub->contains("status");
    r.has_generation = true;
    r.builtin = false;
    r.returns_deleted_object = true;  // the custom resource registry's ReturnDeletedObject
    r.short_names = strings(*names, "shortNames");
    r.categories = strings(*names, "categories");
    r.crd_name = name;
    if (const json::object* schema = get_object(ver, "schema")) {
      if (auto it = schema->find("openAPIV3Schema"); it != schema->end()) r.schema = it->value();
    }
    add_resource(std::move(r));
  }
}

void Impl::unregister_crd(std::string_view crd_name, Notifier& n) {
  std::string storage;
  ResourcePtr any;
  for (auto it = resources.begin(); it != resources.end();) {
    if (it->second->crd_name == crd_name) {
      storage = it->second->storage_key();
      any = it->second;
      it = resources.erase(it);
    } else {
      ++it;
    }
  }
  if (!any) return;
  // The real server deletes the custom resources (asynchronously, behind a finalizer) and ends
  // their watches; the fake does both at once.
  auto sit = stores.find(storage);
  if (sit != stores.end()) {
    std::vector<StoredPtr> objs;
    for (const auto& [k, o] : sit->second)
      objs.push_back(o);
    for (const auto& o : objs)
      do_delete(*any, o, n);
  }
  for (auto& w : watchers) {
    if (auto sw = w.lock(); sw && sw->storage_key() == storage) {
      sw->end();
      n.targets.push_back(sw);
    }
  }
}

// --- defaulting ----------------------------------------------------------------------------------

namespace {

void set_default(json::object& o, std::string_view key, json::value v) {
  if (!o.contains(key)) o.emplace(key, std::move(v));
}

void default_containers(json::object& spec, std::string_view field) {
  auto it = spec.find(field);
  if (it == spec.end() || !it->value().is_array()) return;
  for (auto& c : it->value().get_array()) {
    if (!c.is_object()) continue;
    auto& co = c.get_object();
    if (auto pit = co.find("ports"); pit != co.end() && pit->value().is_array()) {
      for (auto& p : pit->value().get_array()) {
        if (p.is_object()) set_default(p.get_object(), "protocol", "TCP");
      }
    }
    set_default(co, "resources", json::object());
    set_default(co, "terminationMessagePath", "/dev/termination-log");
    set_default(co, "terminationMessagePolicy", "File");
    std::string_view image = get_string(co, "image");
    auto slash = image.rfind('/');
    auto tag_part = image.substr(slash == std::string_view::npos ? 0 : slash + 1);
    bool latest = tag_part.find(':') == std::string_view::npos || image.ends_with(":latest");
    if (image.find('@') != std::string_view::npos) latest = false;
    set_default(co, "imagePullPolicy", latest ? "Always" : "IfNotPresent");
  }
}

void default_pod_spec(json::object& spec) {
  default_containers(spec, "initContainers");
  default_containers(spec, "containers");
  set_default(spec, "restartPolicy", "Always");
  set_default(spec, "terminationGracePeriodSeconds", 30);
  set_default(spec, "dnsPolicy", "ClusterFirst");
  set_default(spec, "securityContext", json::object());
  set_default(spec, "schedulerName", "default-scheduler");
}

void default_template(json::object& spec) {
  json::object* tmpl = get_object(spec, "template");
  if (!tmpl) return;
  json::object* meta = get_object(*tmpl, "metadata");
  if (!meta) {
    tmpl->emplace("metadata", json::object());
    meta = get_object(*tmpl, "metadata");
  }
  set_default(*meta, "creationTimestamp", nullptr);
  if (json::object* ps = get_object(*tmpl, "spec")) default_pod_spec(*ps);
}

}  // namespace

std::string qos_class(const json::object& spec) {
  bool any = false;
  bool guaranteed = true;
  auto it = spec.find("containers");
  if (it == spec.end() || !it->value().is_array()) return "BestEffort";
  for (const auto& c : it->value().get_array()) {
    if (!c.is_object()) continue;
    const json::object* res = get_object(c.get_object(), "resources");
    const json::object* req = res ? get_object(*res, "requests") : nullptr;
    const json::object* lim = res ? get_object(*res, "limits") : nullptr;
    if ((req && !req->empty()) || (lim && !lim->empty())) any = true;
    for (const char* name : {"cpu", "memory"}) {
      if (!lim || !lim->contains(name)) {
        guaranteed = false;
      } else if (req && req->contains(name) && req->at(name) != lim->at(name)) {
        guaranteed = false;
      }
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

void Impl::apply_defaults(const ResourceInfo& r, json::object& obj) const {
  if (!r.builtin) return;
  if (r.group.empty() && r.kind == "Pod") {
    json::object* spec = get_object(obj, "spec");
    if (!spec) return;
    default_pod_spec(*spec);
    // Admission (DefaultTolerationSeconds) and the remaining PodSpec defaults.
    auto& tol = (*spec)["tolerations"];
    if (!tol.is_array()) tol = json::array();
    for (const char* key : {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}) {
      bool present =
          std::any_of(tol.get_array().begin(), tol.get_array().end(), [&](const json::value& t) {
            return t.is_object() && get_string(t.get_object(), "key") == key;
          });
      if (!present) {
        tol.get_array().push_back(json::object{{"key", key},
                                               {"operator", "Exists"},
                                               {"effect", "NoExecute"},
                                               {"tolerationSeconds", 300}});
      }
    }
    set_default(*spec, "priority", 0);
    set_default(*spec, "enableServiceLinks", true);
    set_default(*spec, "preemptionPolicy", "PreemptLowerPriority");
  } else if (r.group == "apps" && (r.kind == "Deployment" || r.kind == "ReplicaSet")) {
    json::object* spec = get_object(obj, "spec");
    if (!spec) return;
    set_default(*spec, "replicas", 1);
    default_template(*spec);
    if (r.kind == "Deployment") {
      set_default(*spec, "strategy",
                  json::object{{"type", "RollingUpdate"},
                               {"rollingUpdate",
                                json::object{{"maxUnavailable", "25%"}, {"maxSurge", "25%"}}}});
      set_default(*spec, "revisionHistoryLimit", 10);
      set_default(*spec, "progressDeadlineSeconds", 600);
    }
  } else if (r.group.empty() && r.kind == "Service") {
    json::object* spec = get_object(obj, "spec");
    if (!spec) return;
    if (auto pit = spec->find("ports"); pit != spec->end() && pit->value().is_array()) {
      for (auto& p : pit->value().get_array()) {
        if (!p.is_object()) continue;
        auto& po = p.get_object();
        set_default(po, "protocol", "TCP");
        if (!po.contains("targetPort") && po.contains("port")) po.emplace("targetPort", po["port"]);
      }
    }
    set_default(*spec, "type", "ClusterIP");
    set_default(*spec, "sessionAffinity", "None");
  } else if (r.group.empty() && r.kind == "Secret") {
    set_default(obj, "type", "Opaque");
  } else if (r.group.empty() && r.kind == "Event") {
    set_default(obj, "eventTime", nullptr);
    set_default(obj, "reportingComponent", "");
    set_default(obj, "reportingInstance", "");
  } else if (r.group.empty() && r.kind == "Namespace") {
    json::object* meta = get_object(obj, "metadata");
    json::value name = (*meta)["name"];
    auto& labels = (*meta)["labels"];
    if (!labels.is_object()) labels = json::object();
    labels.get_object()["kubernetes.io/metadata.name"] = std::move(name);
    auto& spec = obj["spec"];
    if (!spec.is_object()) spec = json::object();
    set_default(spec.get_object(), "finalizers", json::array{"kubernetes"});
  } else if (r.group == "apiextensions.k8s.io") {
    json::object* spec = get_object(obj, "spec");
    if (!spec) return;
    if (json::object* names = get_object(*spec, "names")) {
      if (!names->contains("singular")) {
        std::string s(get_string(*names, "kind"));
        std::transform(s.begin(), s.end(), s.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        names->emplace("singular", s);
      }
      if (!names->contains("listKind")) {
        names->emplace("listKind", std::string(get_string(*names, "kind")) + "List");
      }
    }
    set_default(*spec, "conversion", json::object{{"strategy", "None"}});
  }
}

// --- validation ----------------------------------------------------------------------------------

namespace {

bool dns_label(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

bool dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    auto dot = s.find('.', start);
    auto part =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!dns_label(part, 253)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

void Impl::validate(const ResourceInfo& r, const json::object& obj) const {
  std::vector<Cause> causes;
  const json::object* meta = get_object(obj, "metadata");
  std::string name(meta ? get_string(*meta, "name") : "");
  if (name.empty()) {
    causes.push_back({"FieldValueRequired", "Required value: name or generateName is required",
                      "metadata.name"});
  } else if (r.group.empty() && r.kind == "Namespace") {
    if (!dns_label(name, 63)) {
      causes.push_back(
          {"FieldValueInvalid",
           "Invalid value: \"" + name +
               "\": a lowercase RFC 1123 label must consist of lower case alphanumeric "
               "characters or '-', and must start and end with an alphanumeric character (e.g. "
               "'my-name',  or '123-abc', regex used for validation is "
               "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
           "metadata.name"});
    }
  } else if (!dns_subdomain(name)) {
    causes.push_back(
        {"FieldValueInvalid",
         "Invalid value: \"" + name +
             "\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
             "characters, '-' or '.', and must start and end with an alphanumeric character "
             "(e.g. 'example.com', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
         "metadata.name"});
  }
  if (r.builtin && r.group.empty() && r.kind == "Pod") {
    const json::object* spec = get_object(obj, "spec");
    auto it = spec ? spec->find("containers") : nullptr;
    if (!spec || it == spec->end() || !it->value().is_array() || it->value().get_array().empty()) {
      causes.push_back({"FieldValueRequired", "Required value", "spec.containers"});
    }
  }
  if (!r.builtin) validate_schema(r, obj, causes);
  if (!causes.empty()) fail_invalid(r, name, causes);
  if (r.builtin && r.group == "apiextensions.k8s.io") validate_crd(obj, r);
}

// --- discovery -----------------------------------------------------------------------------------

std::optional<FakeResponse> Impl::discovery(const std::vector<std::string>& segs) const {
  auto resource_entries = [&](std::string_view group, std::string_view version) {
    json::array out;
    for (const auto& [k, r] : resources) {
      if (r->group != group || r->version != version) continue;
      json::object e;
      e.emplace("name", r->plural);
      e.emplace("singularName", r->singular);
      e.emplace("namespaced", r->namespaced);
      e.emplace("kind", r->kind);
      e.emplace("verbs", json::array{"create", "delete", "deletecollection", "get", "list", "patch",
                                     "update", "watch"});
      if (!r->short_names.empty()) e.emplace("shortNames", to_array(r->short_names));
      if (!r->categories.empty()) e.emplace("categories", to_array(r->categories));
      e.emplace("storageVersionHash", storage_version_hash(*r));
      out.emplace_back(std::move(e));
      if (r->has_status) {
        out.emplace_back(json::object{{"name", r->plural + "/status"},
                                      {"singularName", ""},
                                      {"namespaced", r->namespaced},
                                      {"kind", r->kind},
                                      {"verbs", json::array{"get", "patch", "update"}}});
      }
    }
    return out;
  };
  // group -> versions in registration order (built-ins first)
  auto group_versions = [&](std::string_view group) {
    std::vector<std::string> versions;
    for (const auto& [k, r] : resources) {
      if (r->group == group &&
          std::find(versions.begin(), versions.end(), r->version) == versions.end()) {
        versions.push_back(r->version);
      }
    }
    return versions;
  };
  auto group_object = [&](const std::string& group) {
    json::array versions;
    auto vs = group_versions(group);
    for (const auto& v : vs) {
      versions.emplace_back(json::object{{"groupVersion", group + "/" + v}, {"version", v}});
    }
    json::object g;
    g.emplace("name", group);
    g.emplace("versions", versions);
    if (!vs.empty()) {
      g.emplace("preferredVersion",
                json::object{{"groupVersion", group + "/" + vs.front()}, {"version", vs.front()}});
    }
    return g;
  };

  if (segs.size() == 1 && segs[0] == "version") {
    return json_response(200,
                         json::object{{"major", "1"},
                                      {"minor", "32"},
                                      {"gitVersion", "v1.32.13"},
                                      {"gitCommit", "d4b43f374a5bc0e0f44c07ff773061e27c7f2a08"},
                                      {"gitTreeState", "archive"},
                                      {"buildDate", "2026-11-22T09:44:55Z"},
                                      {"goVersion", "go1.23.5"},
                                      {"compiler", "gc"},
                                      {"platform", "linux/amd64"}});
  }
  if (segs.size() == 1 && segs[0] == "api") {
    return json_response(
        200, json::object{{"kind", "APIVersions"},
                          {"versions", json::array{"v1"}},
                          {"serverAddressByClientCIDRs",
                           json::array{json::object{{"clientCIDR", "0.0.0.0/0"},
                                                    {"serverAddress", opts.server_address}}}}});
  }
  if (segs.size() == 2 && segs[0] == "api" && segs[1] == "v1") {
    return json_response(200, json::object{{"kind", "APIResourceList"},
                                           {"groupVersion", "v1"},
                                           {"resources", resource_entries("", "v1")}});
  }
  if (segs.size() == 1 && segs[0] == "apis") {
    std::vector<std::string> groups;
    for (const auto& [k, r] : resources) {
      if (!r->group.empty() && std::find(groups.begin(), groups.end(), r->group) == groups.end()) {
        groups.push_back(r->group);
      }
    }
    json::array arr;
    for (const auto& g : groups)
      arr.emplace_back(group_object(g));
    return json_response(
        200, json::object{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", arr}});
  }
  if (segs.size() == 2 && segs[0] == "apis") {
    if (group_versions(segs[1]).empty()) return page_not_found();
    json::object g{{"kind", "APIGroup"}, {"apiVersion", "v1"}};
    for (auto& kv : group_object(segs[1]))
      g.emplace(kv.key(), kv.value());
    return json_response(200, g);
  }
  if (segs.size() == 3 && segs[0] == "apis") {
    auto vs = group_versions(segs[1]);
    if (std::find(vs.begin(), vs.end(), segs[2]) == vs.end()) return page_not_found();
    return json_response(200, json::object{{"kind", "APIResourceList"},
                                           {"apiVersion", "v1"},
                                           {"groupVersion", segs[1] + "/" + segs[2]},
                                           {"resources", resource_entries(segs[1], segs[2])}});
  }
  return std::nullopt;
}

json::object bookmark_object(const ResourceInfo& r, uint64_t rv) {
  json::object o;
  if (!r.builtin) {
    o.emplace("apiVersion", r.api_version());
    o.emplace("kind", r.kind);
    o.emplace("metadata", json::object{{"resourceVersion", std::to_string(rv)}});
    return o;
  }
  // A typed object with only metadata.resourceVersion set, serialized as Go does.
  o.emplace("kind", r.kind);
  o.emplace("apiVersion", r.api_version());
  o.emplace("metadata",
            json::object{{"resourceVersion", std::to_string(rv)}, {"creationTimestamp", nullptr}});
  json::object empty_template{{"metadata", json::object{{"creationTimestamp", nullptr}}},
                              {"spec", json::object{{"containers", nullptr}}}};
  if (r.kind == "Pod") {
    o.emplace("spec", json::object{{"containers", nullptr}});
    o.emplace("status", json::object());
  } else if (r.kind == "Deployment") {
    o.emplace("spec", json::object{{"selector", nullptr},
                                   {"template", empty_template},
                                   {"strategy", json::object()}});
    o.emplace("status", json::object());
  } else if (r.kind == "ReplicaSet") {
    o.emplace("spec", json::object{{"selector", nullptr}, {"template", empty_template}});
    o.emplace("status", json::object{{"replicas", 0}});
  } else if (r.kind == "Service" || r.kind == "Namespace") {
    o.emplace("spec", json::object());
    o.emplace("status", json::object());
  } else if (r.kind == "Lease") {
    o.emplace("spec", json::object());
  }
  return o;
}

}  // namespace kcoro::testing::fake
