// FakeCluster, driven directly (no sockets): watches. The conformance cases replay the fixtures'
// requests and compare the event lines with the recorded responses of a real kube-apiserver 1.32;
// then replay from a resourceVersion, selector transitions, bookmarks and timeouts on an injected
// clock. Many writers with many watchers, on threads: tests/thread/fake_cluster_thread_test.cpp.
#include "kcoro/testing/fake_cluster.hpp"

#include "support/fake_cluster_requests.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace json = boost::json;
using namespace kcoro::test;
using kcoro::testing::FakeCluster;
using kcoro::testing::FakeClusterOptions;
using kcoro::testing::Watcher;

TEST_CASE("FakeCluster conformance: watch lines, graceful delete and bookmarks") {
  ManualTime clock;
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

  // Without allowWatchBookmarks the real server (envtest conformance_test) sends the initial
  // events and no bookmark ends them.
  auto quiet = c.watch(request("GET", kPods + "?watch=1&sendInitialEvents=true&"
                                              "resourceVersionMatch=NotOlderThan"));
  REQUIRE(quiet.watcher);
  auto events = split_lines(poll_all(*quiet.watcher));
  REQUIRE(events.size() == got.size() - 1);  // the same events, less the bookmark
  for (const auto& e : events)
    CHECK(e.at("type") == "ADDED");
  // sendInitialEvents needs resourceVersionMatch=NotOlderThan.
  auto bad =
      c.watch(request("GET", kPods + "?watch=1&sendInitialEvents=true&allowWatchBookmarks=1"));
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
  ManualTime clock;
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
