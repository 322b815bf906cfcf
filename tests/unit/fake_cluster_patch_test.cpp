// FakeCluster, driven directly (no sockets): patches and server-side apply. The conformance case
// replays the fixtures' requests and compares status codes and JSON shapes with the recorded
// responses of a real kube-apiserver 1.32; then each patch type, and apply's field ownership,
// conflicts and force.
#include "kcoro/testing/fake_cluster.hpp"

#include "support/fake_cluster_requests.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <string>

namespace json = boost::json;
using namespace kcoro::test;
using kcoro::testing::FakeCluster;

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
