// FakeCluster, driven directly (no sockets): error responses (the Status objects, codes and
// reasons), compared with the recorded responses of a real kube-apiserver 1.32.
#include "kcoro/testing/fake_cluster.hpp"

#include "support/fake_cluster_requests.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

namespace json = boost::json;
using namespace kcoro::test;
using kcoro::testing::FakeCluster;
using kcoro::testing::FakeResponse;

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
