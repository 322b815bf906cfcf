// FakeCluster, driven directly (no sockets): CustomResourceDefinitions and discovery, replayed
// from the fixtures' requests and compared with the recorded responses of a real kube-apiserver
// 1.32.
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
