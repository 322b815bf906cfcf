// FakeCluster: PATCH. JSON merge patch, JSON patch, strategic merge patch, and server-side apply
// (field ownership, conflicts, force).
#include "testing/fake_cluster_impl.hpp"

#include <algorithm>
#include <cctype>

namespace kcoro::testing::fake {

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
      FieldSet owned = keys_of(collect_leaves(applied, write_scope(t.res->has_status, "")));
      apply_defaults(*t.res, obj);
      validate(*t.res, obj);
      auto s = do_create(*t.res, std::move(obj), manager, "Apply", n, false, &owned);
      if (t.res->builtin && t.res->group == "apiextensions.k8s.io") register_crd(s->obj);
      FakeResponse r = json_response(201, json::value());
      r.body = object_json(*s, *t.res);
      return r;
    }
    auto scope = write_scope(t.res->has_status, t.sub);
    if (scope == FieldScope::MainNoStatus) applied.erase("status");
    LeafMap applied_leaves = collect_leaves(applied, scope);
    LeafMap live_leaves = collect_leaves(prev->obj, scope);
    auto entries = read_managed_fields(prev->obj);
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
    ManagedFieldsEntry* mine = nullptr;
    for (auto& e : entries) {
      if (e.manager == manager && e.operation == "Apply" && e.subresource == sub) mine = &e;
    }
    if (mine) {
      // Fields this manager applied before and no longer applies go, unless someone else owns
      // them too.
      for (const auto& p : mine->set) {
        if (applied_set.count(p)) continue;
        bool shared = std::any_of(entries.begin(), entries.end(), [&](const ManagedFieldsEntry& e) {
          return &e != mine && e.set.count(p);
        });
        if (!shared) remove_path(merged.as_object(), p);
      }
    } else {
      entries.push_back(ManagedFieldsEntry{manager, "Apply", sub, t.res->api_version(), "", {}});
      mine = &entries.back();
    }
    mine->set = std::move(applied_set);
    mine->time = rfc3339(std::chrono::system_clock::now());
    mine->api_version = t.res->api_version();
    write_managed_fields(merged.as_object(), entries, !t.res->builtin);
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
  auto s = do_update(*t.res, prev, std::move(obj), manager_of(q, req), "Update", t.sub, n);
  if (t.res->builtin && t.res->group == "apiextensions.k8s.io") register_crd(s->obj);
  FakeResponse r;
  r.body = object_json(*s, *t.res);
  return r;
}

}  // namespace kcoro::testing::fake
