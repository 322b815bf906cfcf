// FakeCluster: request routing. The target split into path and query, the path resolved to a
// resource, and each method sent to its verb (with its authorization); the read of one object
// (get) is here too. Lists and watches are in fake_list_watch.cpp, writes in fake_writes.cpp
// and fake_patch.cpp.
#include "kcoro/resource.hpp"
#include "testing/fake_cluster_impl.hpp"

#include <algorithm>

namespace kcoro::testing::fake {

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

Target Impl::route(const std::vector<std::string>& segs) const {
  if (segs.size() >= 3 && segs[0] == "api" && segs[1] == "v1") {
    return resolve({segs.begin() + 2, segs.end()}, "", "v1");
  }
  if (segs.size() >= 4 && segs[0] == "apis") {
    return resolve({segs.begin() + 3, segs.end()}, segs[1], segs[2]);
  }
  throw Failure{page_not_found()};
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

FakeResponse Impl::dispatch(const FakeRequest& req, Notifier& n) {
  std::vector<std::string> segs;
  Query q;
  if (!split_target(req.target, segs, q)) fail_bad_request("invalid URL escape in the request");
  if (auto d = discovery(segs)) {
    if (req.method != "GET") fail_method_not_allowed();
    return *d;
  }
  Target t = route(segs);
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

}  // namespace kcoro::testing::fake
