// FakeCluster, driven directly (no sockets): a conformance suite that replays the fixtures'
// requests and compares status codes and JSON shapes with the recorded responses of a real
// kube-apiserver 1.32, then behaviour tests for each feature.
#include "kcoro/testing/fake_cluster.hpp"
#include "testing/fake_internal.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace json = boost::json;
using kcoro::testing::FakeCluster;
using kcoro::testing::FakeClusterOptions;
using kcoro::testing::FakeRequest;
using kcoro::testing::FakeResponse;
using kcoro::testing::Watcher;

namespace {

std::string read_fixture(const std::string& name) {
  std::ifstream in(std::string(KCORO_FIXTURES_DIR) + "/" + name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json::value fixture_json(const std::string& name) {
  return json::parse(read_fixture(name));
}

/// A recorded .http response: status code, content type and body.
struct HttpFixture {
  int status = 0;
  std::string content_type;
  std::string body;
};

HttpFixture http_fixture(const std::string& name) {
  std::string text = read_fixture(name);
  HttpFixture f;
  f.status = std::stoi(text.substr(9, 3));
  auto ct = text.find("Content-Type: ") + 14;
  f.content_type = text.substr(ct, text.find_first_of("\r\n", ct) - ct);
  auto sep = text.find("\r\n\r\n");
  f.body = sep == std::string::npos ? text.substr(text.find("\n\n") + 2) : text.substr(sep + 4);
  return f;
}

/// The JSON documents of a watch fixture (.http with chunk framing, or .ndjson).
std::vector<json::value> watch_fixture_lines(const std::string& name) {
  std::istringstream in(read_fixture(name));
  std::vector<json::value> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.front() == '{') out.push_back(json::parse(line));
  }
  return out;
}

std::vector<json::value> split_lines(const std::string& text) {
  std::vector<json::value> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    REQUIRE(nl != std::string::npos);  // every event ends with a newline
    out.push_back(json::parse(text.substr(start, nl - start)));
    start = nl + 1;
  }
  return out;
}

const char* kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "bool";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "number";
    case json::kind::string:
      return "string";
    case json::kind::array:
      return "array";
    case json::kind::object:
      return "object";
  }
  return "?";
}

/// Same keys and value types recursively (values themselves may differ). Arrays of objects with
/// a "name" are matched by name where both sides have it; otherwise element by element.
/// fieldsV1 trees are schema-derived on the real server and only checked to be objects.
bool same_shape(const json::value& want, const json::value& got, const std::string& path,
                std::string& why) {
  if (std::string(kind_name(want)) != kind_name(got)) {
    why = path + ": want " + kind_name(want) + ", got " + kind_name(got);
    return false;
  }
  if (want.is_object()) {
    const auto& w = want.get_object();
    const auto& g = got.get_object();
    if (path.ends_with(".fieldsV1")) return true;
    for (const auto& kv : w) {
      if (!g.contains(kv.key())) {
        why = path + ": missing key " + std::string(kv.key());
        return false;
      }
      if (!same_shape(kv.value(), g.at(kv.key()), path + "." + std::string(kv.key()), why)) {
        return false;
      }
    }
    for (const auto& kv : g) {
      if (!w.contains(kv.key())) {
        why = path + ": unexpected key " + std::string(kv.key());
        return false;
      }
    }
    return true;
  }
  if (want.is_array()) {
    const auto& w = want.get_array();
    const auto& g = got.get_array();
    if (w.empty() != g.empty()) {
      why = path + ": array emptiness differs";
      return false;
    }
    auto name_of = [](const json::value& v) -> std::string {
      if (!v.is_object() || !v.get_object().contains("name")) return {};
      const auto& n = v.get_object().at("name");
      return n.is_string() ? std::string(n.get_string()) : std::string();
    };
    for (std::size_t i = 0; i < g.size(); ++i) {
      std::string n = name_of(g[i]);
      const json::value* match = nullptr;
      if (!n.empty()) {
        for (const auto& e : w) {
          if (name_of(e) == n) match = &e;
        }
      }
      if (!match && i < w.size() && n.empty()) match = &w[i];
      if (!match) continue;
      if (!same_shape(*match, g[i], path + "[" + std::to_string(i) + "]", why)) return false;
    }
    return true;
  }
  return true;
}

#define CHECK_SHAPE(want, got)                       \
  do {                                               \
    std::string why_;                                \
    bool ok_ = same_shape((want), (got), "$", why_); \
    CHECK_MESSAGE(ok_, why_ << "\n got: " << (got)); \
  } while (0)

FakeRequest request(std::string method, std::string target, std::string body = {},
                    std::string content_type = {}) {
  FakeRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

json::value body_of(const FakeResponse& r) {
  return json::parse(r.body);
}

/// A fixture object without what the server sets: a request body.
std::string request_body(json::value obj) {
  auto& o = obj.as_object();
  auto& meta = o["metadata"].as_object();
  for (const char* k : {"uid", "resourceVersion", "creationTimestamp", "generation",
                        "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds"}) {
    meta.erase(k);
  }
  o.erase("status");
  return json::serialize(obj);
}

std::string pod_body(const std::string& name, const std::string& tier,
                     const std::string& node = "node-a", const std::string& ns = "fixtures") {
  json::value pod = fixture_json("create-pod-1.json");
  auto& meta = pod.as_object()["metadata"].as_object();
  meta["name"] = name;
  meta["namespace"] = ns;
  meta["labels"].as_object()["tier"] = tier;
  if (node.empty()) {
    pod.as_object()["spec"].as_object().erase("nodeName");
  } else {
    pod.as_object()["spec"].as_object()["nodeName"] = node;
  }
  return request_body(std::move(pod));
}

std::string rv_of(const json::value& obj) {
  return std::string(obj.at("metadata").at("resourceVersion").as_string());
}

std::string name_of(const json::value& obj) {
  return std::string(obj.at("metadata").at("name").as_string());
}

std::vector<std::string> item_names(const json::value& list) {
  std::vector<std::string> out;
  for (const auto& i : list.at("items").as_array())
    out.push_back(name_of(i));
  return out;
}

/// A manual steady clock for bookmarks and deadlines.
struct ManualClock {
  std::shared_ptr<std::chrono::steady_clock::time_point> now =
      std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  std::function<std::chrono::steady_clock::time_point()> fn() const {
    auto p = now;
    return [p] { return *p; };
  }
  void advance(std::chrono::milliseconds d) const { *now += d; }
};

std::string poll_all(Watcher& w) {
  std::string out;
  w.poll(out);
  return out;
}

const std::string kPods = "/api/v1/namespaces/fixtures/pods";
const std::string kConfigMaps = "/api/v1/namespaces/fixtures/configmaps";
const std::string kFoos = "/apis/samplecontroller.k8s.io/v1alpha1/namespaces/fixtures/foos";
const std::string kCrds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

std::string cm_body(const std::string& name, const std::string& labels_json = "{}",
                    const std::string& extra_meta = "") {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"(","labels":)" +
         labels_json + extra_meta + R"(},"data":{"k":"v"}})";
}

}  // namespace

// ================================================================================================
// Conformance: the fixtures' requests, replayed.
// ================================================================================================

TEST_CASE("FakeCluster conformance: create, patch and delete a pod") {
  FakeCluster c;
  auto r = c.handle(request("POST", kPods, request_body(fixture_json("create-pod-1.json"))));
  REQUIRE(r.status == 201);
  CHECK(r.content_type == "application/json");
  CHECK_SHAPE(fixture_json("create-pod-1.json"), body_of(r));

  // A minimal pod gets the same defaults the real server filled in.
  std::string minimal = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-2",
    "labels":{"app":"web","tier":"frontend"},"annotations":{"example.com/note":"fixture"}},
    "spec":{"nodeName":"node-a","containers":[{"name":"nginx","image":"nginx:1.25",
    "ports":[{"containerPort":80}],"env":[{"name":"MODE","value":"fixture"}],
    "resources":{"limits":{"memory":"128Mi"},"requests":{"cpu":"100m","memory":"64Mi"}}}],
    "tolerations":[{"key":"dedicated","operator":"Exists","effect":"NoSchedule"}]}})";
  r = c.handle(request("POST", kPods, minimal));
  REQUIRE(r.status == 201);
  CHECK_SHAPE(fixture_json("create-pod-2.json"), body_of(r));
  auto created = body_of(r);
  CHECK(created.at("status") == json::parse(R"({"phase":"Pending","qosClass":"Burstable"})"));
  CHECK(created.at("spec").at("tolerations").as_array().size() == 3);

  r = c.handle(request("PATCH", kPods + "/web-1?fieldManager=curl",
                       R"({"metadata":{"labels":{"patched":"yes"}}})",
                       "application/merge-patch+json"));
  REQUIRE(r.status == 200);
  CHECK_SHAPE(fixture_json("patch-merge-pod.json"), body_of(r));

  r = c.handle(request("DELETE", kPods + "/web-2"));
  REQUIRE(r.status == 200);
  CHECK_SHAPE(fixture_json("delete-pod.json"), body_of(r));
  CHECK(body_of(r).at("metadata").at("deletionGracePeriodSeconds") == 30);
}

TEST_CASE("FakeCluster conformance: list pages, rv=0 and selectors") {
  FakeCluster c;
  for (const char* f : {"create-pod-1.json", "create-pod-2.json", "create-pod-3.json"}) {
    REQUIRE(c.handle(request("POST", kPods, request_body(fixture_json(f)))).status == 201);
  }
  auto r = c.handle(request("GET", kPods + "?limit=2"));
  REQUIRE(r.status == 200);
  auto page1 = body_of(r);
  CHECK_SHAPE(fixture_json("list-pods-page1.json"), page1);
  CHECK(item_names(page1) == std::vector<std::string>{"web-1", "web-2"});
  CHECK(page1.at("metadata").at("remainingItemCount") == 1);
  // The token has the real server's form.
  std::string token(page1.at("metadata").at("continue").as_string());
  CHECK(token.find('=') == std::string::npos);

  r = c.handle(request("GET", kPods + "?limit=2&continue=" + token));
  REQUIRE(r.status == 200);
  auto page2 = body_of(r);
  CHECK_SHAPE(fixture_json("list-pods-page2.json"), page2);
  CHECK(item_names(page2) == std::vector<std::string>{"web-3"});
  CHECK(page2.at("metadata").at("resourceVersion") == page1.at("metadata").at("resourceVersion"));

  r = c.handle(request("GET", kPods + "?resourceVersion=0&limit=1"));  // the cache ignores limit
  REQUIRE(r.status == 200);
  CHECK_SHAPE(fixture_json("list-pods-rv0.json"), body_of(r));
  CHECK(item_names(body_of(r)).size() == 3);

  r = c.handle(
      request("GET", kPods + "?labelSelector=app%3Dweb&fieldSelector=status.phase%3DPending"));
  REQUIRE(r.status == 200);
  CHECK_SHAPE(fixture_json("list-pods-selectors.json"), body_of(r));

  r = c.handle(request("GET", kPods + "?labelSelector=app%3Dnone"));
  REQUIRE(r.status == 200);
  CHECK(r.body.find("\"items\":[]") != std::string::npos);

  // All namespaces.
  r = c.handle(request("GET", "/api/v1/pods"));
  REQUIRE(r.status == 200);
  CHECK(item_names(body_of(r)).size() == 3);
}

TEST_CASE("FakeCluster conformance: watch lines, graceful delete and bookmarks") {
  ManualClock clock;
  FakeClusterOptions opts;
  opts.clock = clock.fn();
  opts.bookmark_interval = std::chrono::milliseconds(5000);
  FakeCluster c(opts);
  auto r = c.handle(request("POST", kPods, pod_body("web-1", "frontend")));
  std::string from = rv_of(body_of(r));
  c.handle(request("POST", kPods, pod_body("web-2", "frontend")));
  c.handle(request("POST", kPods, pod_body("web-3", "frontend")));

  auto ws =
      c.watch(request("GET", kPods + "?watch=1&allowWatchBookmarks=true&resourceVersion=" + from));
  REQUIRE(!ws.error);
  REQUIRE(ws.watcher);
  int notified = 0;
  ws.watcher->set_notify([&] { ++notified; });
  c.handle(request("POST", kPods, pod_body("web-4", "backend")));
  CHECK(notified >= 1);
  c.handle(request("PATCH", kPods + "/web-1", R"({"metadata":{"labels":{"patched":"yes"}}})",
                   "application/merge-patch+json"));
  c.handle(request("DELETE", kPods + "/web-2"));
  clock.advance(std::chrono::milliseconds(5000));
  std::string out;
  CHECK(ws.watcher->poll(out));
  auto got = split_lines(out);
  auto want = watch_fixture_lines("watch-pods.http");
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].at("type") == want[i].at("type"));
    CHECK_SHAPE(want[i], got[i]);
    if (want[i].at("type") != "BOOKMARK") {
      CHECK(name_of(got[i].at("object")) == name_of(want[i].at("object")));
    }
  }
  CHECK(rv_of(got.back().at("object")) == std::to_string(c.resource_version()));
}

TEST_CASE("FakeCluster conformance: streaming list (sendInitialEvents)") {
  FakeCluster c;
  for (const char* n : {"web-1", "web-2", "web-3", "web-4"}) {
    c.handle(
        request("POST", kPods, pod_body(n, n == std::string("web-4") ? "backend" : "frontend")));
  }
  c.handle(request("PATCH", kPods + "/web-1", R"({"metadata":{"labels":{"patched":"yes"}}})",
                   "application/merge-patch+json"));
  c.handle(request("DELETE", kPods + "/web-2"));
  auto ws =
      c.watch(request("GET", kPods + "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&"
                                     "resourceVersionMatch=NotOlderThan"));
  REQUIRE(ws.watcher);
  auto got = split_lines(poll_all(*ws.watcher));
  auto want = watch_fixture_lines("watch-list-initial-events.ndjson");
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].at("type") == want[i].at("type"));
    CHECK_SHAPE(want[i], got[i]);
  }
  CHECK(got.back().at("object").at("metadata").at("annotations").at("k8s.io/initial-events-end") ==
        "true");
  CHECK(got.back().at("object").at("metadata").at("annotations") ==
        want.back().at("object").at("metadata").at("annotations"));

  // sendInitialEvents needs allowWatchBookmarks and resourceVersionMatch=NotOlderThan.
  auto bad = c.watch(request("GET", kPods + "?watch=1&sendInitialEvents=true&"
                                            "resourceVersionMatch=NotOlderThan"));
  REQUIRE(bad.error);
  CHECK(bad.error->status == 400);
  bad = c.watch(request("GET", kPods + "?watch=1&sendInitialEvents=true&allowWatchBookmarks=1"));
  REQUIRE(bad.error);
  CHECK(bad.error->status == 422);
}

TEST_CASE("FakeCluster conformance: a watch from a compacted resourceVersion") {
  FakeCluster c;
  auto r = c.handle(request("POST", kPods, pod_body("web-1", "frontend")));
  std::string old = rv_of(body_of(r));
  c.handle(request("POST", kPods, pod_body("web-2", "frontend")));
  c.compact();
  auto ws = c.watch(request("GET", kPods + "?watch=true&resourceVersion=" + old));
  REQUIRE(!ws.error);
  REQUIRE(ws.watcher);
  std::string out;
  CHECK_FALSE(ws.watcher->poll(out));
  auto lines = split_lines(out);
  REQUIRE(lines.size() == 1);
  auto want = watch_fixture_lines("watch-too-old-rv.http");
  CHECK_SHAPE(want[0], lines[0]);
  CHECK(lines[0].at("object").at("code") == 410);
  CHECK(lines[0].at("object").at("message") ==
        json::value("too old resource version: " + old + " (" +
                    std::to_string(c.resource_version()) + ")"));
}

TEST_CASE("FakeCluster conformance: 410 for an expired continue and a compacted exact list") {
  FakeCluster c;
  for (const char* n : {"web-1", "web-2", "web-3"}) {
    c.handle(request("POST", kPods, pod_body(n, "frontend")));
  }
  auto page = body_of(c.handle(request("GET", kPods + "?limit=2")));
  std::string token(page.at("metadata").at("continue").as_string());
  c.expire_continue_tokens();
  auto r = c.handle(request("GET", kPods + "?limit=2&continue=" + token));
  auto want = http_fixture("error-410-expired-continue.http");
  CHECK(r.status == want.status);
  CHECK(body_of(r).at("message") == json::parse(want.body).at("message"));
  CHECK_SHAPE(json::parse(want.body), body_of(r));
  // The fresh token continues (inconsistently) after the same key.
  std::string fresh(body_of(r).at("metadata").at("continue").as_string());
  r = c.handle(request("GET", kPods + "?limit=2&continue=" + fresh));
  REQUIRE(r.status == 200);
  CHECK(item_names(body_of(r)) == std::vector<std::string>{"web-3"});
  // New lists are fine.
  CHECK(c.handle(request("GET", kPods + "?limit=2")).status == 200);

  std::string rv = std::to_string(c.resource_version());
  c.handle(request("POST", kPods, pod_body("web-4", "frontend")));
  r = c.handle(request("GET", kPods + "?resourceVersion=" + rv + "&resourceVersionMatch=Exact"));
  CHECK(r.status == 200);
  c.compact();
  r = c.handle(request("GET", kPods + "?resourceVersion=" + rv + "&resourceVersionMatch=Exact"));
  auto want2 = http_fixture("error-410-list-too-old-rv.http");
  CHECK(r.status == want2.status);
  CHECK(body_of(r) == json::parse(want2.body));
}

TEST_CASE("FakeCluster conformance: error responses") {
  FakeCluster c;
  REQUIRE(c.handle(request("POST", kPods, pod_body("web-1", "frontend"))).status == 201);

  auto check_exact = [&](const FakeResponse& r, const char* fixture) {
    auto want = http_fixture(fixture);
    CAPTURE(fixture);
    CHECK(r.status == want.status);
    CHECK(r.content_type == want.content_type);
    CHECK(body_of(r) == json::parse(want.body));
  };
  check_exact(c.handle(request("POST", kPods, R"({"apiVersion":"v1",)")),
              "error-400-bad-json.http");
  check_exact(c.handle(request("GET", kPods + "/nope")), "error-404-get-missing.http");
  check_exact(c.handle(request("POST", kPods, pod_body("web-1", "frontend"))),
              "error-409-already-exists.http");
  auto stale = fixture_json("create-pod-1.json");
  stale.as_object()["metadata"].as_object()["resourceVersion"] = "1";
  c.handle(request("PATCH", kPods + "/web-1", R"({"metadata":{"labels":{"x":"y"}}})",
                   "application/merge-patch+json"));
  check_exact(c.handle(request("PUT", kPods + "/web-1", json::serialize(stale))),
              "error-409-conflict-stale-rv.http");
  check_exact(c.handle(request("POST", kPods,
                               R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"Bad_Name"},
                                   "spec":{}})")),
              "error-422-invalid.http");

  c.forbid("limited", "pods");
  auto req = request("GET", "/api/v1/pods");
  req.user = "limited";
  check_exact(c.handle(req), "error-403-forbidden.http");
  req.target = kPods;
  auto r = c.handle(req);
  CHECK(r.status == 403);
  CHECK(body_of(r).at("message") ==
        "pods is forbidden: User \"limited\" cannot list resource \"pods\" in API group \"\" in "
        "the namespace \"fixtures\"");
  req.user = "someone-else";
  CHECK(c.handle(req).status == 200);
  auto wreq = request("GET", kPods + "?watch=1");
  wreq.user = "limited";
  auto ws = c.watch(wreq);
  REQUIRE(ws.error);
  CHECK(ws.error->status == 403);

  auto unknown = http_fixture("error-404-unknown-resource.http");
  r = c.handle(request("GET", kFoos));
  CHECK(r.status == 404);
  CHECK(r.content_type == unknown.content_type);
  CHECK(r.body == unknown.body);
  CHECK(c.handle(request("GET", "/api/v1/namespaces/fixtures/widgets")).status == 404);
  CHECK(c.handle(request("GET", "/apis/nothing/v1")).status == 404);
  CHECK(c.handle(request("GET", "/healthz/x")).status == 404);
  auto wu = c.watch(request("GET", kFoos + "?watch=1"));
  REQUIRE(wu.error);
  CHECK(wu.error->body == unknown.body);

  // 405, 415
  r = c.handle(request("POST", kPods + "/web-1", pod_body("web-1", "frontend")));
  CHECK(r.status == 405);
  CHECK(body_of(r).at("reason") == "MethodNotAllowed");
  r = c.handle(request("PATCH", kPods + "/web-1", "{}", "text/plain"));
  CHECK(r.status == 415);
  CHECK(body_of(r).at("reason") == "UnsupportedMediaType");
}

TEST_CASE("FakeCluster conformance: CRD, custom resources, status patch, list and watch") {
  FakeCluster c;
  CHECK(c.handle(request("GET", kFoos)).status == 404);
  auto crd_watch = c.watch(request("GET", kCrds + "?watch=1&resourceVersion=0"));
  REQUIRE(crd_watch.watcher);
  auto r = c.handle(request("POST", kCrds, request_body(fixture_json("create-crd-foo.json"))));
  REQUIRE(r.status == 201);
  CHECK_SHAPE(fixture_json("create-crd-foo.json"), body_of(r));
  // The CRD is established right away (ADDED, then MODIFIED with the conditions).
  auto crd_events = split_lines(poll_all(*crd_watch.watcher));
  REQUIRE(crd_events.size() == 2);
  CHECK(crd_events[1].at("type") == "MODIFIED");
  CHECK(crd_events[1].at("object").at("status").at("conditions").as_array().size() == 2);

  r = c.handle(
      request("POST", kFoos + "?fieldManager=curl", request_body(fixture_json("create-foo.json"))));
  REQUIRE(r.status == 201);
  CHECK_SHAPE(fixture_json("create-foo.json"), body_of(r));
  CHECK(r.body.starts_with("{\"apiVersion\":"));  // unstructured: keys sorted

  r = c.handle(request("PATCH", kFoos + "/example-foo/status?fieldManager=curl",
                       R"({"status":{"availableReplicas":1},"spec":{"replicas":5}})",
                       "application/merge-patch+json"));
  REQUIRE(r.status == 200);
  CHECK_SHAPE(fixture_json("patch-foo-status.json"), body_of(r));
  CHECK(body_of(r).at("spec").at("replicas") == 1);  // only status changes through /status

  r = c.handle(request("GET", kFoos));
  REQUIRE(r.status == 200);
  CHECK_SHAPE(fixture_json("list-foos.json"), body_of(r));

  auto ws = c.watch(request("GET", kFoos + "?watch=1&resourceVersion=0"));
  REQUIRE(ws.watcher);
  auto lines = split_lines(poll_all(*ws.watcher));
  auto want = watch_fixture_lines("watch-foos-rv0.ndjson");
  REQUIRE(lines.size() == want.size());
  CHECK_SHAPE(want[0], lines[0]);

  // Strategic merge patch is not for custom resources.
  r = c.handle(
      request("PATCH", kFoos + "/example-foo", "{}", "application/strategic-merge-patch+json"));
  CHECK(r.status == 415);

  // A Deployment owned by the Foo.
  r = c.handle(request("POST", "/apis/apps/v1/namespaces/fixtures/deployments",
                       request_body(fixture_json("create-deployment-owned.json"))));
  REQUIRE(r.status == 201);
  CHECK_SHAPE(fixture_json("create-deployment-owned.json"), body_of(r));

  // Discovery shows the group; deleting the CRD removes the resource and ends its watches.
  r = c.handle(request("GET", "/apis/samplecontroller.k8s.io/v1alpha1"));
  REQUIRE(r.status == 200);
  CHECK(body_of(r).at("resources").as_array().size() == 2);  // foos, foos/status
  r = c.handle(request("DELETE", kCrds + "/foos.samplecontroller.k8s.io"));
  CHECK(r.status == 200);
  std::string out;
  CHECK_FALSE(ws.watcher->poll(out));
  CHECK(split_lines(out).back().at("type") == "DELETED");
  CHECK(c.handle(request("GET", kFoos)).status == 404);
  CHECK(c.handle(request("GET", kFoos)).body == "404 page not found\n");
}

TEST_CASE("FakeCluster conformance: server-side apply, lease, event") {
  FakeCluster c;
  auto r = c.handle(request("PATCH", kConfigMaps + "/applied?fieldManager=kcoro&force=true",
                            R"({"apiVersion":"v1","kind":"ConfigMap",
                                "metadata":{"name":"applied","namespace":"fixtures"},
                                "data":{"k":"v"}})",
                            "application/apply-patch+yaml"));
  REQUIRE(r.status == 201);
  auto want = fixture_json("apply-configmap.json");
  CHECK_SHAPE(want, body_of(r));
  CHECK(body_of(r).at("metadata").at("managedFields").at(0).at("fieldsV1") ==
        want.at("metadata").at("managedFields").at(0).at("fieldsV1"));
  CHECK(body_of(r).at("metadata").at("managedFields").at(0).at("operation") == "Apply");

  r = c.handle(request("POST", "/apis/coordination.k8s.io/v1/namespaces/fixtures/leases",
                       request_body(fixture_json("create-lease.json"))));
  REQUIRE(r.status == 201);
  CHECK_SHAPE(fixture_json("create-lease.json"), body_of(r));

  auto event = fixture_json("create-event.json");
  for (const char* k : {"eventTime", "reportingComponent", "reportingInstance"}) {
    event.as_object().erase(k);  // defaulted by the server
  }
  r = c.handle(request("POST", "/api/v1/namespaces/fixtures/events", request_body(event)));
  REQUIRE(r.status == 201);
  CHECK_SHAPE(fixture_json("create-event.json"), body_of(r));
}

TEST_CASE("FakeCluster conformance: discovery and version") {
  FakeCluster c;
  auto r = c.handle(request("GET", "/api"));
  REQUIRE(r.status == 200);
  CHECK(body_of(r) == fixture_json("discovery-api.json"));
  r = c.handle(request("GET", "/version"));
  CHECK(body_of(r) == fixture_json("version.json"));
  r = c.handle(request("GET", "/apis/apps/v1"));
  REQUIRE(r.status == 200);
  CHECK_SHAPE(fixture_json("discovery-apps-v1.json"), body_of(r));
  auto names = item_names(json::parse(R"({"items":[]})"));
  auto apps_v1 = body_of(r);
  for (const auto& res : apps_v1.at("resources").as_array()) {
    names.push_back(std::string(res.at("name").as_string()));
  }
  CHECK(names == std::vector<std::string>{"deployments", "deployments/status", "replicasets",
                                          "replicasets/status"});
  r = c.handle(request("GET", "/api/v1"));
  REQUIRE(r.status == 200);
  CHECK(body_of(r).at("kind") == "APIResourceList");
  r = c.handle(request("GET", "/apis"));
  REQUIRE(r.status == 200);
  CHECK(body_of(r).at("kind") == "APIGroupList");
  bool apps = false;
  auto groups = body_of(r);
  for (const auto& g : groups.at("groups").as_array()) {
    apps = apps || g.at("name") == "apps";
  }
  CHECK(apps);
  r = c.handle(request("GET", "/apis/apps"));
  CHECK(body_of(r).at("preferredVersion").at("groupVersion") == "apps/v1");
  CHECK(c.handle(request("POST", "/api")).status == 405);
}

// ================================================================================================
// Behaviour
// ================================================================================================

TEST_CASE("FakeCluster label selectors: every operator") {
  FakeCluster c;
  c.handle(request("POST", kConfigMaps, cm_body("a", R"({"app":"web","tier":"fe"})")));
  c.handle(request("POST", kConfigMaps, cm_body("b", R"({"app":"web","tier":"be"})")));
  c.handle(request("POST", kConfigMaps, cm_body("c", R"({"app":"db","n":"5"})")));
  c.handle(request("POST", kConfigMaps, cm_body("d")));
  auto names = [&](const std::string& sel) {
    auto r = c.handle(request("GET", kConfigMaps + "?labelSelector=" + sel));
    REQUIRE(r.status == 200);
    return item_names(body_of(r));
  };
  using V = std::vector<std::string>;
  CHECK(names("app%3Dweb") == V{"a", "b"});
  CHECK(names("app%3D%3Dweb") == V{"a", "b"});
  CHECK(names("app!%3Dweb") == V{"c", "d"});
  CHECK(names("tier+in+(fe,be)") == V{"a", "b"});
  CHECK(names("tier%20in%20%28fe%2Cxx%29") == V{"a"});
  CHECK(names("tier+notin+(fe)") == V{"b", "c", "d"});
  CHECK(names("tier") == V{"a", "b"});
  CHECK(names("!tier") == V{"c", "d"});
  CHECK(names("app%3Dweb,tier!%3Dfe") == V{"b"});
  CHECK(names("app,!n") == V{"a", "b"});
  CHECK(names("n%3E4") == V{"c"});
  CHECK(names("n%3C4") == V{});
  CHECK(names("") == V{"a", "b", "c", "d"});
  for (const char* bad : {"app%3D%3D%3D", "tier+in+fe", "Bad%20Key%3Dx", "a%3Db%3Dc%3D%3D"}) {
    CAPTURE(bad);
    auto r = c.handle(request("GET", kConfigMaps + "?labelSelector=" + bad));
    CHECK(r.status == 400);
    CHECK(body_of(r).at("reason") == "BadRequest");
  }
}

TEST_CASE("FakeCluster field selectors") {
  FakeCluster c;
  c.handle(request("POST", kPods, pod_body("p1", "fe", "node-a")));
  c.handle(request("POST", kPods, pod_body("p2", "fe", "node-b")));
  c.handle(request("POST", "/api/v1/namespaces/other/pods", pod_body("p3", "fe", "", "other")));
  auto names = [&](const std::string& target) {
    auto r = c.handle(request("GET", target));
    REQUIRE(r.status == 200);
    return item_names(body_of(r));
  };
  using V = std::vector<std::string>;
  CHECK(names(kPods + "?fieldSelector=metadata.name%3Dp2") == V{"p2"});
  CHECK(names(kPods + "?fieldSelector=metadata.name%3D%3Dp2") == V{"p2"});
  CHECK(names(kPods + "?fieldSelector=metadata.name!%3Dp2") == V{"p1"});
  CHECK(names("/api/v1/pods?fieldSelector=metadata.namespace%3Dother") == V{"p3"});
  CHECK(names("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a") == V{"p1"});
  CHECK(names("/api/v1/pods?fieldSelector=spec.nodeName%3D") == V{"p3"});
  CHECK(names("/api/v1/pods?fieldSelector=status.phase%3DPending,spec.nodeName!%3Dnode-a") ==
        V{"p2", "p3"});
  auto r = c.handle(request("GET", kPods + "?fieldSelector=spec.foo%3Dx"));
  CHECK(r.status == 400);
  CHECK(body_of(r).at("message") == "field label not supported: spec.foo");
  r = c.handle(request("GET", kConfigMaps + "?fieldSelector=spec.nodeName%3Dx"));
  CHECK(r.status == 400);
}

TEST_CASE("FakeCluster pagination over a consistent snapshot") {
  FakeCluster c;
  for (int i = 0; i < 7; ++i) {
    c.handle(request("POST", kConfigMaps, cm_body("cm-" + std::to_string(i))));
  }
  auto page1 = body_of(c.handle(request("GET", kConfigMaps + "?limit=3")));
  CHECK(item_names(page1) == std::vector<std::string>{"cm-0", "cm-1", "cm-2"});
  CHECK(page1.at("metadata").at("remainingItemCount") == 4);
  std::string snapshot = rv_of(page1);
  (void)snapshot;
  std::string cm4_rv = rv_of(body_of(c.handle(request("GET", kConfigMaps + "/cm-4"))));

  // Changes after the first page: none of them may show up in the following pages.
  c.handle(request("POST", kConfigMaps, cm_body("cm-9")));
  c.handle(request("PATCH", kConfigMaps + "/cm-4", R"({"data":{"k":"changed"}})",
                   "application/merge-patch+json"));
  c.handle(request("DELETE", kConfigMaps + "/cm-6"));
  c.handle(request("POST", kConfigMaps, cm_body("cm-3a")));

  std::string token(page1.at("metadata").at("continue").as_string());
  auto page2 = body_of(c.handle(request("GET", kConfigMaps + "?limit=3&continue=" + token)));
  CHECK(item_names(page2) == std::vector<std::string>{"cm-3", "cm-4", "cm-5"});
  CHECK(page2.at("metadata").at("remainingItemCount") == 1);
  CHECK(page2.at("metadata").at("resourceVersion") == page1.at("metadata").at("resourceVersion"));
  CHECK(rv_of(page2.at("items").at(1)) == cm4_rv);
  CHECK(page2.at("items").at(1).at("data").at("k") == "v");
  token = std::string(page2.at("metadata").at("continue").as_string());
  auto page3 = body_of(c.handle(request("GET", kConfigMaps + "?limit=3&continue=" + token)));
  CHECK(item_names(page3) == std::vector<std::string>{"cm-6"});
  CHECK_FALSE(page3.at("metadata").as_object().contains("continue"));
  CHECK_FALSE(page3.at("metadata").as_object().contains("remainingItemCount"));

  // A fresh list sees the changes; with a selector there is no remainingItemCount.
  auto now = body_of(c.handle(request("GET", kConfigMaps)));
  CHECK(item_names(now) ==
        std::vector<std::string>{"cm-0", "cm-1", "cm-2", "cm-3", "cm-3a", "cm-4", "cm-5", "cm-9"});
  auto sel = body_of(c.handle(request("GET", kConfigMaps + "?limit=2&labelSelector=!x")));
  CHECK(sel.at("metadata").as_object().contains("continue"));
  CHECK_FALSE(sel.at("metadata").as_object().contains("remainingItemCount"));

  // Once the history no longer covers the snapshot, the token expires.
  c.compact();
  c.handle(request("POST", kConfigMaps, cm_body("cm-10")));
  auto r = c.handle(request("GET", kConfigMaps + "?limit=3&continue=" + token));
  CHECK(r.status == 410);

  // Exact lists at an old resourceVersion, newer than current is a 504.
  r = c.handle(request("GET", kConfigMaps + "?resourceVersion=999999"));
  CHECK(r.status == 504);
  r = c.handle(request("GET", kConfigMaps + "?resourceVersionMatch=Exact"));
  CHECK(r.status == 422);
}

TEST_CASE("FakeCluster list at an exact resourceVersion and a small history") {
  FakeClusterOptions opts;
  opts.history = 3;
  FakeCluster c(opts);
  auto r = c.handle(request("POST", kConfigMaps, cm_body("a")));
  std::string rv1 = rv_of(body_of(r));
  c.handle(request("POST", kConfigMaps, cm_body("b")));
  auto exact = body_of(c.handle(
      request("GET", kConfigMaps + "?resourceVersion=" + rv1 + "&resourceVersionMatch=Exact")));
  CHECK(item_names(exact) == std::vector<std::string>{"a"});
  CHECK(rv_of(exact) == rv1);
  for (int i = 0; i < 5; ++i)
    c.handle(request("POST", kConfigMaps, cm_body("x" + std::to_string(i))));
  r = c.handle(
      request("GET", kConfigMaps + "?resourceVersion=" + rv1 + "&resourceVersionMatch=Exact"));
  CHECK(r.status == 410);
  auto ws = c.watch(request("GET", kConfigMaps + "?watch=1&resourceVersion=" + rv1));
  REQUIRE(ws.watcher);
  auto lines = split_lines(poll_all(*ws.watcher));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].at("type") == "ERROR");
}

TEST_CASE("FakeCluster watch replays from a resourceVersion, then goes live") {
  FakeCluster c;
  c.handle(request("POST", kConfigMaps, cm_body("a")));
  std::string from = std::to_string(c.resource_version());
  c.handle(request("POST", kConfigMaps, cm_body("b")));
  c.handle(request("PATCH", kConfigMaps + "/a", R"({"data":{"k":"2"}})",
                   "application/merge-patch+json"));
  c.handle(request("DELETE", kConfigMaps + "/b"));
  c.handle(request("POST", "/api/v1/namespaces/other/configmaps", cm_body("elsewhere")));
  auto ws = c.watch(request("GET", kConfigMaps + "?watch=1&resourceVersion=" + from));
  REQUIRE(ws.watcher);
  auto lines = split_lines(poll_all(*ws.watcher));
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].at("type") == "ADDED");
  CHECK(name_of(lines[0].at("object")) == "b");
  CHECK(lines[1].at("type") == "MODIFIED");
  CHECK(lines[2].at("type") == "DELETED");
  CHECK(lines[0].at("object").at("kind") == "ConfigMap");
  uint64_t prev = 0;
  for (const auto& l : lines) {
    uint64_t rv = std::stoull(rv_of(l.at("object")));
    CHECK(rv > prev);
    prev = rv;
  }
  // Live.
  c.handle(request("POST", kConfigMaps, cm_body("c")));
  lines = split_lines(poll_all(*ws.watcher));
  REQUIRE(lines.size() == 1);
  CHECK(name_of(lines[0].at("object")) == "c");
  // rv 0: the current state as ADDED.
  auto ws0 = c.watch(request("GET", "/api/v1/configmaps?watch=1&resourceVersion=0"));
  CHECK(split_lines(poll_all(*ws0.watcher)).size() == 3);
  // A closed watcher receives nothing more and ends.
  ws0.watcher->close();
  c.handle(request("POST", kConfigMaps, cm_body("d")));
  std::string out;
  CHECK_FALSE(ws0.watcher->poll(out));
  CHECK(out.empty());
  // A watch on one object (the object path).
  auto one = c.watch(request("GET", kConfigMaps + "/a?watch=1"));
  REQUIRE(one.watcher);
  CHECK(split_lines(poll_all(*one.watcher)).size() == 1);
  auto legacy = c.watch(request("GET", "/api/v1/watch/namespaces/fixtures/configmaps"));
  REQUIRE(legacy.watcher);
  CHECK(split_lines(poll_all(*legacy.watcher)).size() == 3);
  CHECK(FakeCluster::is_watch(request("GET", "/api/v1/watch/pods")));
  CHECK(FakeCluster::is_watch(request("GET", kPods + "?watch=true")));
  CHECK_FALSE(FakeCluster::is_watch(request("GET", kPods + "?watch=false")));
  CHECK(c.handle(request("GET", kPods + "?watch=1")).status == 400);
}

TEST_CASE("FakeCluster watch: selectors turn changes into ADDED/DELETED") {
  FakeCluster c;
  auto ws = c.watch(request("GET", kConfigMaps + "?watch=1&labelSelector=app%3Dweb"));
  REQUIRE(ws.watcher);
  c.handle(request("POST", kConfigMaps, cm_body("a", R"({"app":"db"})")));
  CHECK(poll_all(*ws.watcher).empty());
  c.handle(request("PATCH", kConfigMaps + "/a", R"({"metadata":{"labels":{"app":"web"}}})",
                   "application/merge-patch+json"));
  c.handle(request("PATCH", kConfigMaps + "/a", R"({"data":{"k":"2"}})",
                   "application/merge-patch+json"));
  auto patched =
      c.handle(request("PATCH", kConfigMaps + "/a", R"({"metadata":{"labels":{"app":"db"}}})",
                       "application/merge-patch+json"));
  c.handle(request("DELETE", kConfigMaps + "/a"));
  auto lines = split_lines(poll_all(*ws.watcher));
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].at("type") == "ADDED");
  CHECK(lines[1].at("type") == "MODIFIED");
  CHECK(lines[2].at("type") == "DELETED");
  // The previous content, at the change's resourceVersion.
  CHECK(lines[2].at("object").at("metadata").at("labels").at("app") == "web");
  CHECK(rv_of(lines[2].at("object")) == rv_of(body_of(patched)));
}

TEST_CASE("FakeCluster watch: bookmarks and timeouts from an injected clock") {
  ManualClock clock;
  FakeClusterOptions opts;
  opts.clock = clock.fn();
  opts.bookmark_interval = std::chrono::milliseconds(1000);
  FakeCluster c(opts);
  auto start = *clock.now;
  auto ws =
      c.watch(request("GET", kConfigMaps + "?watch=1&allowWatchBookmarks=true&timeoutSeconds=5"));
  REQUIRE(ws.watcher);
  auto& w = *ws.watcher;
  REQUIRE(w.deadline());
  CHECK(*w.deadline() == start + std::chrono::seconds(5));
  REQUIRE(w.next_bookmark());
  CHECK(*w.next_bookmark() == start + std::chrono::milliseconds(1000));
  CHECK(poll_all(w).empty());
  c.handle(request("POST", kConfigMaps, cm_body("a")));
  clock.advance(std::chrono::milliseconds(999));
  CHECK(split_lines(poll_all(w)).size() == 1);
  clock.advance(std::chrono::milliseconds(1));
  auto lines = split_lines(poll_all(w));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].at("type") == "BOOKMARK");
  CHECK(rv_of(lines[0].at("object")) == std::to_string(c.resource_version()));
  CHECK(lines[0].at("object").at("kind") == "ConfigMap");
  CHECK(*w.next_bookmark() == *clock.now + std::chrono::milliseconds(1000));
  CHECK(poll_all(w).empty());
  clock.advance(std::chrono::milliseconds(4000));
  std::string out;
  CHECK_FALSE(w.poll(out));
  CHECK(out.empty());
  CHECK_FALSE(w.next_bookmark());
  // Without allowWatchBookmarks: none.
  auto plain = c.watch(request(
      "GET", kConfigMaps + "?watch=1&resourceVersion=" + std::to_string(c.resource_version())));
  CHECK_FALSE(plain.watcher->next_bookmark());
  CHECK_FALSE(plain.watcher->deadline());
  clock.advance(std::chrono::milliseconds(10000));
  CHECK(poll_all(*plain.watcher).empty());
}

TEST_CASE("FakeCluster generation, no-op writes, PUT semantics") {
  FakeCluster c;
  const std::string deps = "/apis/apps/v1/namespaces/fixtures/deployments";
  auto r =
      c.handle(request("POST", deps, request_body(fixture_json("create-deployment-owned.json"))));
  REQUIRE(r.status == 201);
  auto d = body_of(r);
  CHECK(d.at("metadata").at("generation") == 1);
  std::string uid(d.at("metadata").at("uid").as_string());
  CHECK(uid.size() == 36);
  CHECK(uid[14] == '4');

  // Label change: no bump.
  auto labels = body_of(
      c.handle(request("PATCH", deps + "/example-foo", R"({"metadata":{"labels":{"x":"y"}}})",
                       "application/merge-patch+json")));
  CHECK(labels.at("metadata").at("generation") == 1);
  // Spec change through PUT: bump. Stale resourceVersion: 409. None: unconditional.
  auto put = labels;
  put.at("spec").as_object()["replicas"] = 3;
  r = c.handle(request("PUT", deps + "/example-foo", json::serialize(put)));
  REQUIRE(r.status == 200);
  CHECK(body_of(r).at("metadata").at("generation") == 2);
  CHECK(body_of(r).at("metadata").at("uid") == json::value(uid));
  r = c.handle(request("PUT", deps + "/example-foo", json::serialize(put)));
  CHECK(r.status == 409);
  CHECK(body_of(r).at("reason") == "Conflict");
  put.at("metadata").as_object().erase("resourceVersion");
  put.at("spec").as_object()["replicas"] = 4;
  r = c.handle(request("PUT", deps + "/example-foo", json::serialize(put)));
  REQUIRE(r.status == 200);
  CHECK(body_of(r).at("metadata").at("generation") == 3);
  // A no-op write does not change the resourceVersion.
  uint64_t rv = c.resource_version();
  r = c.handle(request("PUT", deps + "/example-foo", json::serialize(put)));
  CHECK(r.status == 200);
  CHECK(c.resource_version() == rv);
  // Status through /status: no bump, and the main resource ignores status.
  r = c.handle(request("PUT", deps + "/example-foo/status",
                       R"({"metadata":{"name":"example-foo"},"spec":{"replicas":9},
                           "status":{"replicas":4}})"));
  REQUIRE(r.status == 200);
  CHECK(body_of(r).at("metadata").at("generation") == 3);
  CHECK(body_of(r).at("spec").at("replicas") == 4);
  CHECK(body_of(r).at("status").at("replicas") == 4);
  r = c.handle(request("PATCH", deps + "/example-foo", R"({"status":{"replicas":1}})",
                       "application/merge-patch+json"));
  CHECK(body_of(r).at("status").at("replicas") == 4);

  // PUT errors.
  put.at("metadata").as_object()["name"] = "missing";
  CHECK(c.handle(request("PUT", deps + "/missing", json::serialize(put))).status == 404);
  CHECK(c.handle(request("PUT", deps + "/other", json::serialize(put))).status == 400);
  CHECK(
      c.handle(request("POST", "/api/v1/namespaces/elsewhere/pods", pod_body("x", "fe"))).status ==
      400);  // body says namespace fixtures
  CHECK(c.handle(request("GET", "/api/v1/namespaces/fixtures/configmaps/x/status")).status == 404);
}

TEST_CASE("FakeCluster status subresource of pods") {
  FakeCluster c;
  c.handle(request("POST", kPods, pod_body("p", "fe")));
  auto pod = body_of(c.handle(request("GET", kPods + "/p")));
  pod.at("status").as_object()["phase"] = "Running";
  pod.at("spec").as_object()["activeDeadlineSeconds"] = 10;
  auto r = c.handle(request("PUT", kPods + "/p/status", json::serialize(pod)));
  REQUIRE(r.status == 200);
  CHECK(body_of(r).at("status").at("phase") == "Running");
  CHECK_FALSE(body_of(r).at("spec").as_object().contains("activeDeadlineSeconds"));
  r = c.handle(request("GET", kPods + "/p/status"));
  CHECK(body_of(r).at("status").at("phase") == "Running");
  auto mf = body_of(r).at("metadata").at("managedFields").as_array();
  CHECK(mf.back().at("subresource") == "status");
  // Field selector on the new phase.
  r = c.handle(request("GET", kPods + "?fieldSelector=status.phase%3DRunning"));
  CHECK(item_names(body_of(r)) == std::vector<std::string>{"p"});
  CHECK(c.handle(request("DELETE", kPods + "/p/status")).status == 405);
}

TEST_CASE("FakeCluster finalizers and deletion") {
  FakeCluster c;
  auto ws = c.watch(request("GET", kConfigMaps + "?watch=1"));
  c.handle(
      request("POST", kConfigMaps, cm_body("f", "{}", R"(,"finalizers":["example.com/keep"])")));
  auto r = c.handle(request("DELETE", kConfigMaps + "/f"));
  REQUIRE(r.status == 200);
  auto obj = body_of(r);
  CHECK(obj.at("metadata").as_object().contains("deletionTimestamp"));
  CHECK(obj.at("metadata").at("deletionGracePeriodSeconds") == 0);
  CHECK(c.handle(request("GET", kConfigMaps + "/f")).status == 200);
  // Deleting again changes nothing.
  uint64_t rv = c.resource_version();
  CHECK(c.handle(request("DELETE", kConfigMaps + "/f")).status == 200);
  CHECK(c.resource_version() == rv);
  r = c.handle(request("PATCH", kConfigMaps + "/f", R"({"metadata":{"finalizers":null}})",
                       "application/merge-patch+json"));
  CHECK(r.status == 200);
  CHECK(c.handle(request("GET", kConfigMaps + "/f")).status == 404);
  auto lines = split_lines(poll_all(*ws.watcher));
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].at("type") == "ADDED");
  CHECK(lines[1].at("type") == "MODIFIED");
  CHECK(lines[2].at("type") == "DELETED");

  // Preconditions.
  auto created = body_of(c.handle(request("POST", kConfigMaps, cm_body("p"))));
  r = c.handle(
      request("DELETE", kConfigMaps + "/p",
              R"({"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"x"}})"));
  CHECK(r.status == 409);
  CHECK(body_of(r).at("reason") == "Conflict");
  r = c.handle(
      request("DELETE", kConfigMaps + "/p", R"({"preconditions":{"resourceVersion":"1"}})"));
  CHECK(r.status == 409);
  json::object pre{{"preconditions", json::object{{"uid", created.at("metadata").at("uid")},
                                                  {"resourceVersion", rv_of(created)}}},
                   {"propagationPolicy", "Foreground"}};
  r = c.handle(request("DELETE", kConfigMaps + "/p", json::serialize(pre)));
  CHECK(r.status == 200);
  CHECK(c.handle(request("DELETE", kConfigMaps + "/p")).status == 404);
  CHECK(c.handle(request("DELETE", kConfigMaps + "/x", "{bad")).status == 404);

  // Namespaces are cluster-scoped and go at once.
  r = c.handle(request("POST", "/api/v1/namespaces",
                       R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a"}})"));
  REQUIRE(r.status == 201);
  CHECK(body_of(r).at("status").at("phase") == "Active");
  CHECK(c.handle(request("GET", "/api/v1/namespaces/team-a")).status == 200);
  CHECK(c.handle(request("DELETE", "/api/v1/namespaces/team-a")).status == 200);
  CHECK(c.handle(request("GET", "/api/v1/namespaces/team-a")).status == 404);
  CHECK(c.handle(request("POST", "/api/v1/namespaces",
                         R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a.b"}})"))
            .status == 422);
}

TEST_CASE("FakeCluster graceful pod deletion") {
  FakeCluster c;
  auto ws = c.watch(request("GET", kPods + "?watch=1"));
  c.handle(request("POST", kPods, pod_body("scheduled", "fe", "node-a")));
  c.handle(request("POST", kPods, pod_body("pending", "fe", "")));
  c.handle(request("POST", kPods, pod_body("quick", "fe", "node-a")));
  poll_all(*ws.watcher);

  auto r = c.handle(request("DELETE", kPods + "/scheduled"));
  REQUIRE(r.status == 200);
  CHECK(body_of(r).at("metadata").at("deletionGracePeriodSeconds") == 30);
  CHECK(c.handle(request("GET", kPods + "/scheduled")).status == 200);
  auto lines = split_lines(poll_all(*ws.watcher));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].at("type") == "MODIFIED");
  CHECK(c.handle(request("DELETE", kPods + "/scheduled")).status == 200);
  CHECK(poll_all(*ws.watcher).empty());
  r = c.handle(request("DELETE", kPods + "/scheduled?gracePeriodSeconds=0"));
  CHECK(r.status == 200);
  CHECK(c.handle(request("GET", kPods + "/scheduled")).status == 404);
  lines = split_lines(poll_all(*ws.watcher));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].at("type") == "DELETED");

  c.handle(request("DELETE", kPods + "/pending"));
  c.handle(request("DELETE", kPods + "/quick", R"({"gracePeriodSeconds":0})"));
  lines = split_lines(poll_all(*ws.watcher));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].at("type") == "DELETED");
  CHECK(lines[1].at("type") == "DELETED");
}

TEST_CASE("FakeCluster patches: merge, JSON patch, strategic merge") {
  FakeCluster c;
  c.handle(request("POST", kConfigMaps, cm_body("m", R"({"a":"1","b":"2"})")));
  auto r = c.handle(request("PATCH", kConfigMaps + "/m",
                            R"({"metadata":{"labels":{"a":null,"c":"3"}},"data":{"n":"x"}})",
                            "application/merge-patch+json; charset=utf-8"));
  REQUIRE(r.status == 200);
  auto m = body_of(r);
  CHECK(m.at("metadata").at("labels") == json::parse(R"({"b":"2","c":"3"})"));
  CHECK(m.at("data") == json::parse(R"({"k":"v","n":"x"})"));

  r = c.handle(request("PATCH", kConfigMaps + "/m", R"([
      {"op":"test","path":"/data/k","value":"v"},
      {"op":"add","path":"/data/a~1b","value":"1"},
      {"op":"replace","path":"/data/k","value":"w"},
      {"op":"copy","from":"/data/k","path":"/data/k2"},
      {"op":"move","from":"/data/n","path":"/data/n2"},
      {"op":"remove","path":"/metadata/labels/b"},
      {"op":"add","path":"/metadata/finalizers","value":[]},
      {"op":"add","path":"/metadata/finalizers/-","value":"x/y"}])",
                       "application/json-patch+json"));
  REQUIRE(r.status == 200);
  m = body_of(r);
  CHECK(m.at("data") == json::parse(R"({"k":"w","a/b":"1","k2":"w","n2":"x"})"));
  CHECK(m.at("metadata").at("labels") == json::parse(R"({"c":"3"})"));
  CHECK(m.at("metadata").at("finalizers") == json::parse(R"(["x/y"])"));
  uint64_t rv = c.resource_version();
  r = c.handle(request("PATCH", kConfigMaps + "/m",
                       R"([{"op":"replace","path":"/data/k","value":"z"},
                           {"op":"test","path":"/data/k","value":"nope"}])",
                       "application/json-patch+json"));
  CHECK(r.status == 422);
  CHECK(body_of(r).at("reason") == "Invalid");
  CHECK(c.resource_version() == rv);  // nothing applied
  r = c.handle(request("PATCH", kConfigMaps + "/m", R"([{"op":"remove","path":"/nope"}])",
                       "application/json-patch+json"));
  CHECK(r.status == 422);
  r = c.handle(
      request("PATCH", kConfigMaps + "/m", R"({"not":"a list"})", "application/json-patch+json"));
  CHECK(r.status == 400);
  r = c.handle(request("PATCH", kConfigMaps + "/m", R"({bad)", "application/merge-patch+json"));
  CHECK(r.status == 400);
  r = c.handle(request("PATCH", kConfigMaps + "/missing", R"({})", "application/merge-patch+json"));
  CHECK(r.status == 404);
  // A stale resourceVersion in a patch is a precondition.
  r = c.handle(request("PATCH", kConfigMaps + "/m", R"({"metadata":{"resourceVersion":"1"}})",
                       "application/merge-patch+json"));
  CHECK(r.status == 409);

  // Strategic merge: containers by name, env by name, $patch: delete.
  std::string two = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"s"},"spec":{
      "containers":[{"name":"a","image":"a:1","env":[{"name":"X","value":"1"}]},
                    {"name":"b","image":"b:1"}]}})";
  REQUIRE(c.handle(request("POST", kPods, two)).status == 201);
  r = c.handle(request("PATCH", kPods + "/s", R"({"spec":{"containers":[
      {"name":"a","image":"a:2","env":[{"name":"Y","value":"2"}]},
      {"name":"b","$patch":"delete"}]}})",
                       "application/strategic-merge-patch+json"));
  REQUIRE(r.status == 200);
  auto containers = body_of(r).at("spec").at("containers").as_array();
  REQUIRE(containers.size() == 1);
  CHECK(containers[0].at("image") == "a:2");
  CHECK(containers[0].at("env").as_array().size() == 2);
  r = c.handle(request("PATCH", kPods + "/s",
                       R"({"spec":{"containers":[{"name":"c","image":"c:1"}]},
                           "metadata":{"labels":{"l":"1"}}})",
                       "application/strategic-merge-patch+json"));
  CHECK(body_of(r).at("spec").at("containers").as_array().size() == 2);
  CHECK(body_of(r).at("metadata").at("labels").at("l") == "1");
}

TEST_CASE("FakeCluster server-side apply: ownership, conflicts, force") {
  FakeCluster c;
  const std::string url = kConfigMaps + "/cfg";
  auto apply = [&](const std::string& manager, const std::string& data, bool force = false) {
    return c.handle(request("PATCH",
                            url + "?fieldManager=" + manager + (force ? "&force=true" : ""),
                            R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},
                                "data":)" +
                                data + "}",
                            "application/apply-patch+yaml"));
  };
  REQUIRE(apply("alice", R"({"a":"1","b":"2"})").status == 201);
  // Same values: no conflict, shared ownership.
  auto r = apply("bob", R"({"a":"1"})");
  REQUIRE(r.status == 200);
  // A different value for a field alice owns: conflict.
  r = apply("bob", R"({"b":"3"})");
  REQUIRE(r.status == 409);
  auto st = body_of(r);
  CHECK(st.at("reason") == "Conflict");
  CHECK(st.at("message") ==
        "Apply failed with 1 conflict: conflict with \"alice\" using v1: .data.b");
  CHECK(st.at("details").at("causes").at(0).at("field") == ".data.b");
  // Forced: bob takes b.
  r = apply("bob", R"({"b":"3"})", true);
  REQUIRE(r.status == 200);
  auto cm = body_of(r);
  CHECK(cm.at("data") == json::parse(R"({"a":"1","b":"3"})"));
  std::map<std::string, json::value> owned;
  for (const auto& e : cm.at("metadata").at("managedFields").as_array()) {
    owned[std::string(e.at("manager").as_string())] = e.at("fieldsV1");
  }
  CHECK(owned["alice"] == json::parse(R"({"f:data":{"f:a":{}}})"));
  CHECK(owned["bob"] == json::parse(R"({"f:data":{"f:b":{}}})"));  // bob's last apply: only b
  // alice stops applying a: bob no longer applies it either, so it goes.
  r = apply("alice", R"({})");
  REQUIRE(r.status == 200);
  CHECK(body_of(r).at("data") == json::parse(R"({"b":"3"})"));
  // An Update manager owns what it changed, and apply conflicts with it.
  c.handle(request("PATCH", url + "?fieldManager=kubectl-edit", R"({"data":{"e":"1"}})",
                   "application/merge-patch+json"));
  r = apply("alice", R"({"e":"2"})");
  CHECK(r.status == 409);
  // fieldManager is required; force only with apply.
  r = c.handle(request("PATCH", url, R"({"apiVersion":"v1","kind":"ConfigMap"})",
                       "application/apply-patch+yaml"));
  CHECK(r.status == 422);
  r = c.handle(request("PATCH", url + "?force=true", "{}", "application/merge-patch+json"));
  CHECK(r.status == 422);
  // Apply to a deployment's status only touches status.
  c.handle(request("POST", "/apis/apps/v1/namespaces/fixtures/deployments",
                   request_body(fixture_json("create-deployment-owned.json"))));
  r = c.handle(request("PATCH",
                       "/apis/apps/v1/namespaces/fixtures/deployments/example-foo/status?"
                       "fieldManager=ctrl",
                       R"({"apiVersion":"apps/v1","kind":"Deployment",
                           "metadata":{"name":"example-foo"},"spec":{"replicas":7},
                           "status":{"readyReplicas":1}})",
                       "application/apply-patch+yaml"));
  REQUIRE(r.status == 200);
  CHECK(body_of(r).at("status").at("readyReplicas") == 1);
  CHECK(body_of(r).at("spec").at("replicas") == 1);
}

TEST_CASE("FakeCluster metadata-only lists, gets and watches") {
  FakeCluster c;
  c.handle(request("POST", kPods, pod_body("p1", "fe")));
  c.handle(request("POST", kPods, pod_body("p2", "fe")));
  auto req = request("GET", kPods + "?limit=1");
  req.accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
  auto r = c.handle(req);
  REQUIRE(r.status == 200);
  auto list = body_of(r);
  CHECK(list.at("kind") == "PartialObjectMetadataList");
  CHECK(list.at("apiVersion") == "meta.k8s.io/v1");
  CHECK(list.at("metadata").as_object().contains("continue"));
  REQUIRE(list.at("items").as_array().size() == 1);
  const auto& item = list.at("items").at(0).as_object();
  CHECK(item.size() == 3);
  CHECK(item.at("kind") == "PartialObjectMetadata");
  CHECK(item.at("metadata").at("name") == "p1");

  req = request("GET", kPods + "/p2");
  req.accept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
  auto obj = body_of(c.handle(req));
  CHECK(obj.at("kind") == "PartialObjectMetadata");
  CHECK_FALSE(obj.as_object().contains("spec"));

  req = request("GET", kPods + "?watch=1");
  req.accept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
  auto ws = c.watch(req);
  auto lines = split_lines(poll_all(*ws.watcher));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].at("object").at("kind") == "PartialObjectMetadata");
  CHECK_FALSE(lines[0].at("object").as_object().contains("spec"));
}

TEST_CASE("FakeCluster direct access, generateName, cluster-scoped custom resources") {
  FakeCluster c;
  std::string stored = c.apply_object(
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"seeded","namespace":"fixtures"},
          "spec":{"containers":[{"name":"c","image":"i"}]},"status":{"phase":"Running"}})");
  auto seeded = json::parse(stored);
  CHECK(seeded.at("status").at("phase") == "Running");  // seeding keeps status
  CHECK(seeded.at("kind") == "Pod");
  stored = c.apply_object(
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"seeded","namespace":"fixtures"},
          "spec":{"containers":[{"name":"c","image":"i"}]},"status":{"phase":"Succeeded"}})");
  CHECK(json::parse(stored).at("status").at("phase") == "Succeeded");
  CHECK(json::parse(stored).at("metadata").at("uid") == seeded.at("metadata").at("uid"));
  CHECK(c.delete_object("v1", "Pod", "fixtures", "seeded"));
  CHECK_FALSE(c.delete_object("v1", "Pod", "fixtures", "seeded"));
  CHECK_THROWS_AS(c.apply_object(R"({"apiVersion":"x/v1","kind":"Nope","metadata":{}})"),
                  std::invalid_argument);

  auto r = c.handle(request("POST", kConfigMaps,
                            R"({"apiVersion":"v1","kind":"ConfigMap",
                                "metadata":{"generateName":"gen-"}})"));
  REQUIRE(r.status == 201);
  std::string name = name_of(body_of(r));
  CHECK(name.size() == 9);
  CHECK(name.starts_with("gen-"));
  r = c.handle(request("POST", kConfigMaps, R"({"apiVersion":"v1","kind":"ConfigMap",
                                                "metadata":{}})"));
  CHECK(r.status == 422);

  // A cluster-scoped CRD with two served versions and no status subresource.
  c.apply_object(R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
      "metadata":{"name":"widgets.example.com"},
      "spec":{"group":"example.com","scope":"Cluster",
        "names":{"plural":"widgets","kind":"Widget"},
        "versions":[{"name":"v1","served":true,"storage":true},
                    {"name":"v1beta1","served":true,"storage":false}]}})");
  r = c.handle(request("POST", "/apis/example.com/v1/widgets",
                       R"({"apiVersion":"example.com/v1","kind":"Widget",
                           "metadata":{"name":"w"},"spec":{"size":1},"status":{"x":1}})"));
  REQUIRE(r.status == 201);
  CHECK(body_of(r).at("status").at("x") == 1);  // no status subresource: status is plain data
  r = c.handle(request("GET", "/apis/example.com/v1beta1/widgets/w"));
  REQUIRE(r.status == 200);
  CHECK(body_of(r).at("apiVersion") == "example.com/v1beta1");
  CHECK(c.handle(request("GET", "/apis/example.com/v1/widgets/w/status")).status == 404);
  CHECK(c.handle(request("GET", "/apis/example.com/v1/namespaces/x/widgets")).status == 404);
  r = c.handle(request("PUT", "/apis/example.com/v1/widgets/w",
                       R"({"apiVersion":"example.com/v1","kind":"Widget",
                           "metadata":{"name":"w"},"spec":{"size":2}})"));
  CHECK(body_of(r).at("metadata").at("generation") == 2);
  r = c.handle(request("POST", kCrds, R"({"apiVersion":"apiextensions.k8s.io/v1",
      "kind":"CustomResourceDefinition","metadata":{"name":"wrong.example.com"},
      "spec":{"group":"example.com","scope":"Cluster","names":{"plural":"gadgets","kind":"Gadget"},
      "versions":[{"name":"v1","served":true,"storage":true}]}})"));
  CHECK(r.status == 422);
}

TEST_CASE("FakeCluster many writers and watchers") {
  FakeCluster c;
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 40;
  std::mutex m;
  std::condition_variable cv;
  int wakeups = 0;
  std::vector<std::shared_ptr<Watcher>> watchers;
  for (int i = 0; i < 3; ++i) {
    auto ws = c.watch(request("GET", "/api/v1/configmaps?watch=1&resourceVersion=0"));
    REQUIRE(ws.watcher);
    ws.watcher->set_notify([&] {
      std::lock_guard lk(m);
      ++wakeups;
      cv.notify_all();
    });
    watchers.push_back(ws.watcher);
  }
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::string ns = "/api/v1/namespaces/ns" + std::to_string(w) + "/configmaps";
      for (int i = 0; i < kPerWriter; ++i) {
        std::string name = "c" + std::to_string(i);
        c.handle(request("POST", ns, cm_body(name)));
        c.handle(request("PATCH", ns + "/" + name, R"({"data":{"k":"2"}})",
                         "application/merge-patch+json"));
        if (i % 2 == 0) c.handle(request("DELETE", ns + "/" + name));
      }
    });
  }
  std::vector<std::string> seen(watchers.size());
  std::thread reader([&] {
    for (std::size_t i = 0; i < watchers.size(); ++i) {
      for (int round = 0; round < 10000; ++round) {
        watchers[i]->poll(seen[i]);
        if (std::count(seen[i].begin(), seen[i].end(), '\n') ==
            kWriters * kPerWriter * 2 + kWriters * kPerWriter / 2) {
          break;
        }
        std::unique_lock lk(m);
        cv.wait_for(lk, std::chrono::milliseconds(10));
      }
    }
  });
  for (auto& t : threads)
    t.join();
  reader.join();
  const std::size_t expected = kWriters * kPerWriter * 2 + kWriters * kPerWriter / 2;
  for (const auto& s : seen) {
    auto lines = split_lines(s);
    CHECK(lines.size() == expected);
    uint64_t prev = 0;
    bool ordered = true;
    for (const auto& l : lines) {
      uint64_t rv = std::stoull(rv_of(l.at("object")));
      ordered = ordered && rv > prev;
      prev = rv;
    }
    CHECK(ordered);
  }
  CHECK(wakeups > 0);
  auto list = body_of(c.handle(request("GET", "/api/v1/configmaps")));
  CHECK(list.at("items").as_array().size() == kWriters * kPerWriter / 2);
}

// ================================================================================================
// Internals: selectors, patches, field sets
// ================================================================================================

TEST_CASE("FakeCluster internals: label selector parsing") {
  namespace fake = kcoro::testing::fake;
  std::string err;
  auto sel = fake::parse_label_selector("a in (x, y), b notin (z),c!=d, e==f, g, !h", err);
  REQUIRE(sel);
  REQUIRE(sel->reqs.size() == 6);
  CHECK(sel->reqs[0].op == fake::LabelRequirement::Op::In);
  CHECK(sel->reqs[0].values == std::vector<std::string>{"x", "y"});
  CHECK(sel->reqs[1].op == fake::LabelRequirement::Op::NotIn);
  CHECK(sel->reqs[2].op == fake::LabelRequirement::Op::NotEq);
  CHECK(sel->reqs[3].op == fake::LabelRequirement::Op::Eq);
  CHECK(sel->reqs[4].op == fake::LabelRequirement::Op::Exists);
  CHECK(sel->reqs[5].op == fake::LabelRequirement::Op::NotExists);
  auto labels = json::parse(R"({"a":"x","c":"q","e":"f","g":""})").as_object();
  CHECK(sel->matches(&labels));
  labels["h"] = "1";
  CHECK_FALSE(sel->matches(&labels));
  CHECK(fake::parse_label_selector("example.com/app=web", err));
  for (const char* bad : {"a in (x", "a=(b)", ",", "a in ()x", "-a=b"}) {
    CAPTURE(bad);
    CHECK_FALSE(fake::parse_label_selector(bad, err));
  }
  auto fs = fake::parse_field_selector(R"(metadata.name=a\,b,spec.x!=y)", err);
  REQUIRE(fs);
  REQUIRE(fs->reqs.size() == 2);
  CHECK(fs->reqs[0].value == "a,b");
  CHECK(fs->reqs[1].negate);
  CHECK_FALSE(fake::parse_field_selector("nonsense", err));
}

TEST_CASE("FakeCluster internals: patches") {
  namespace fake = kcoro::testing::fake;
  json::value doc = json::parse(R"({"a":{"b":1,"c":2},"l":[1,2]})");
  fake::merge_patch(doc, json::parse(R"({"a":{"b":null,"d":{"e":null,"f":1}},"l":[3]})"));
  CHECK(doc == json::parse(R"({"a":{"c":2,"d":{"f":1}},"l":[3]})"));

  doc = json::parse(R"({"x":[1,2,3]})");
  CHECK_FALSE(fake::json_patch(doc, json::parse(R"([{"op":"move","from":"/x/0","path":"/x/-"},
      {"op":"test","path":"/x","value":[2,3,1]},{"op":"add","path":"/x/1","value":9}])")));
  CHECK(doc == json::parse(R"({"x":[2,9,3,1]})"));
  auto err = fake::json_patch(doc, json::parse(R"([{"op":"test","path":"/x/0","value":5}])"));
  REQUIRE(err);
  CHECK(err->code == 422);
  CHECK(err->message == "testing value /x/0 failed: test failed");
  err = fake::json_patch(doc, json::parse(R"([{"op":"frobnicate","path":"/x"}])"));
  REQUIRE(err);
  CHECK(err->code == 400);

  doc = json::parse(R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80},
      {"containerPort":81}]}]},"metadata":{"finalizers":["f1"]},"m":{"k":1,"j":2}})");
  fake::strategic_merge(doc, json::parse(R"({"spec":{"containers":[{"name":"a","ports":[
      {"containerPort":81,"name":"alt"},{"containerPort":82}]}]},
      "metadata":{"finalizers":["f2","f1"]},"m":{"$patch":"replace","z":0}})"));
  CHECK(doc.at("spec").at("containers").at(0).at("ports") ==
        json::parse(R"([{"containerPort":80},{"containerPort":81,"name":"alt"},
                        {"containerPort":82}])"));
  CHECK(doc.at("metadata").at("finalizers") == json::parse(R"(["f1","f2"])"));
  CHECK(doc.at("m") == json::parse(R"({"z":0})"));
}

TEST_CASE("FakeCluster internals: field sets") {
  namespace fake = kcoro::testing::fake;
  auto obj = json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p",
      "labels":{"a":"1"},"finalizers":["x"]},"spec":{"containers":[{"name":"c","image":"i"}],
      "tolerations":[{"key":"k"}]},"status":{"phase":"Running"}})")
                 .as_object();
  auto leaves = fake::collect_leaves(obj, fake::FieldScope::MainNoStatus);
  auto set = fake::keys_of(leaves);
  CHECK(set.size() == 5);  // labels.a, finalizers x, containers[c].name/.image, tolerations
  auto fields = fake::to_fields_v1(set, false);
  CHECK(fields == json::parse(R"({"f:metadata":{"f:finalizers":{".":{},"v:\"x\"":{}},
      "f:labels":{".":{},"f:a":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},
      "f:image":{},"f:name":{}}},"f:tolerations":{}}})"));
  CHECK(fake::from_fields_v1(fields) == set);
  CHECK(fake::keys_of(fake::collect_leaves(obj, fake::FieldScope::Status)).size() == 1);
  fake::FieldPath image{"f:spec", "f:containers", "k:{\"name\":\"c\"}", "f:image"};
  CHECK(fake::path_string(image) == ".spec.containers[name=\"c\"].image");
  fake::remove_path(obj, image);
  fake::remove_path(obj, {"f:spec", "f:containers", "k:{\"name\":\"c\"}", "f:name"});
  CHECK(obj.at("spec").at("containers").as_array().empty());
  fake::remove_path(obj, {"f:metadata", "f:finalizers", "v:\"x\""});
  CHECK(obj.at("metadata").at("finalizers").as_array().empty());
}
