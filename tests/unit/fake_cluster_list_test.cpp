// FakeCluster, driven directly (no sockets): lists and gets. The conformance cases replay the
// fixtures' requests and compare status codes and JSON shapes with the recorded responses of a
// real kube-apiserver 1.32; then pages over a snapshot, selectors, resourceVersion semantics and
// metadata-only reads.
#include "kcoro/testing/fake_cluster.hpp"

#include "support/fake_cluster_requests.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

namespace json = boost::json;
using namespace kcoro::test;
using kcoro::testing::FakeCluster;
using kcoro::testing::FakeClusterOptions;

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
