// FakeCluster, driven directly (no sockets): create, update and delete. The conformance case
// replays the fixtures' requests and compares status codes and JSON shapes with the recorded
// responses of a real kube-apiserver 1.32; then generation and no-op writes, PUT, the status
// subresource, finalizers, graceful deletion, direct access and generateName.
#include "kcoro/testing/fake_cluster.hpp"

#include "support/fake_cluster_requests.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace json = boost::json;
using namespace kcoro::test;
using kcoro::testing::FakeCluster;

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
  // No new finalizer on an object being deleted (kube-apiserver's ValidateNoNewFinalizers).
  r = c.handle(request("PATCH", kConfigMaps + "/f",
                       R"([{"op":"add","path":"/metadata/finalizers/-","value":"b/new"},
                           {"op":"add","path":"/metadata/finalizers/-","value":"a/new"}])",
                       "application/json-patch+json"));
  CHECK(r.status == 422);
  CHECK(body_of(r).at("message") ==
        "ConfigMap \"f\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be "
        "added if the object is being deleted, found new finalizers []string{\"a/new\", "
        "\"b/new\"}");
  CHECK(body_of(r).at("details").at("causes").at(0).at("reason") == "FieldValueForbidden");
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
