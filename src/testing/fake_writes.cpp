// FakeCluster: the write verbs create (POST), update (PUT) and delete (DELETE), and the checks
// they share with patch (body, name, namespace, preconditions).
#include "testing/fake_cluster_impl.hpp"

#include <cstdlib>

namespace kcoro::testing::fake {

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
  // A custom resource is decoded as unstructured: the real server needs both, where a built-in
  // kind's typed decoder defaults them.
  if (!r.builtin && (kind.empty() || av.empty())) {
    fail_bad_request("the object provided is unrecognized (must be of type " + expected +
                     "): Object '" + (kind.empty() ? "Kind" : "apiVersion") + "' is missing in '" +
                     req.body + "'");
  }
  if (kind.empty()) o["kind"] = r.kind;
  if (av.empty()) o["apiVersion"] = r.api_version();
  auto& meta = o["metadata"];
  if (!meta.is_object()) meta = json::object();
  return std::move(o);
}

std::string manager_of(const Query& q, const FakeRequest& req) {
  const std::string* m = q.get("fieldManager");
  if (m && !m->empty()) return *m;
  // The real server's default: the User-Agent up to its first '/', at most 128 bytes.
  std::string prefix = req.user_agent.substr(0, req.user_agent.find('/')).substr(0, 128);
  return prefix.empty() ? "unknown" : prefix;
}

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
  auto s = do_create(*t.res, std::move(obj), manager_of(q, req), "Update", n);
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

FakeResponse Impl::update(const FakeRequest& req, const Target& t, const Query& q, Notifier& n) {
  json::object obj = parse_body(req, *t.res);
  auto& meta = obj["metadata"].as_object();
  check_name(t, meta);
  check_namespace(t, meta);
  auto prev = lookup(*t.res, t.key());
  if (!prev) fail_not_found(*t.res, t.name);
  const json::object& old_meta = *get_object(prev->obj, "metadata");
  check_preconditions(t, meta, old_meta);
  auto s = do_update(*t.res, prev, std::move(obj), manager_of(q, req), "Update", t.sub, n);
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
    if (!t.res->returns_deleted_object) {
      // Gone at once: the real server answers a Status naming what it deleted.
      json::object details = name_details(*t.res, t.name);
      details.emplace("uid", get_string(old_meta, "uid"));
      json::object s;
      s.emplace("kind", "Status");
      s.emplace("apiVersion", "v1");
      s.emplace("metadata", json::object());
      s.emplace("status", "Success");
      s.emplace("details", std::move(details));
      return json_response(200, s);
    }
  }
  FakeResponse r;
  r.body = object_json(*result, *t.res);
  return r;
}

}  // namespace kcoro::testing::fake
