#include "kcoro/resource.hpp"

#include <doctest/doctest.h>

#include <cctype>
#include <string>

using kcoro::ListOptions;
using kcoro::Resource;
namespace res = kcoro::resources;

TEST_CASE("api_version and base_path for core and grouped resources") {
  CHECK(res::pods.api_version() == "v1");
  CHECK(res::pods.base_path() == "/api/v1");
  CHECK(res::deployments.api_version() == "apps/v1");
  CHECK(res::deployments.base_path() == "/apis/apps/v1");
  CHECK(res::leases.api_version() == "coordination.k8s.io/v1");
  CHECK(res::customresourcedefinitions.base_path() == "/apis/apiextensions.k8s.io/v1");
  CHECK(res::jobs.api_version() == "batch/v1");
}

TEST_CASE("built-in resources have the API server's kinds, plurals and scopes") {
  struct Row {
    const Resource& r;
    const char* api_version;
    const char* kind;
    const char* plural;
    bool namespaced;
  };
  const Row rows[] = {
      {res::pods, "v1", "Pod", "pods", true},
      {res::services, "v1", "Service", "services", true},
      {res::configmaps, "v1", "ConfigMap", "configmaps", true},
      {res::secrets, "v1", "Secret", "secrets", true},
      {res::serviceaccounts, "v1", "ServiceAccount", "serviceaccounts", true},
      {res::events, "v1", "Event", "events", true},
      {res::namespaces, "v1", "Namespace", "namespaces", false},
      {res::nodes, "v1", "Node", "nodes", false},
      {res::deployments, "apps/v1", "Deployment", "deployments", true},
      {res::replicasets, "apps/v1", "ReplicaSet", "replicasets", true},
      {res::statefulsets, "apps/v1", "StatefulSet", "statefulsets", true},
      {res::daemonsets, "apps/v1", "DaemonSet", "daemonsets", true},
      {res::jobs, "batch/v1", "Job", "jobs", true},
      {res::leases, "coordination.k8s.io/v1", "Lease", "leases", true},
      {res::customresourcedefinitions, "apiextensions.k8s.io/v1", "CustomResourceDefinition",
       "customresourcedefinitions", false},
  };
  for (const auto& row : rows) {
    CAPTURE(row.kind);
    CHECK(row.r.api_version() == row.api_version);
    CHECK(row.r.kind == row.kind);
    CHECK(row.r.plural == row.plural);
    CHECK(row.r.namespaced == row.namespaced);
  }
}

TEST_CASE("collection, object and status paths") {
  SUBCASE("namespaced core resource") {
    CHECK(res::pods.collection_path("default") == "/api/v1/namespaces/default/pods");
    CHECK(res::pods.collection_path() == "/api/v1/pods");
    CHECK(res::pods.collection_path("") == "/api/v1/pods");
    CHECK(res::pods.object_path("default", "web-0") == "/api/v1/namespaces/default/pods/web-0");
    CHECK(res::pods.status_path("default", "web-0") ==
          "/api/v1/namespaces/default/pods/web-0/status");
    CHECK(res::pods.subresource_path("kube-system", "p", "log") ==
          "/api/v1/namespaces/kube-system/pods/p/log");
  }
  SUBCASE("namespaced grouped resource") {
    CHECK(res::deployments.collection_path("prod") == "/apis/apps/v1/namespaces/prod/deployments");
    CHECK(res::leases.object_path("kube-system", "my-ctrl") ==
          "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/my-ctrl");
  }
  SUBCASE("cluster-scoped resources ignore the namespace") {
    CHECK(res::nodes.collection_path() == "/api/v1/nodes");
    CHECK(res::nodes.collection_path("default") == "/api/v1/nodes");
    CHECK(res::nodes.object_path("default", "node-1") == "/api/v1/nodes/node-1");
    CHECK(res::namespaces.status_path("", "prod") == "/api/v1/namespaces/prod/status");
    CHECK(res::customresourcedefinitions.object_path("", "foos.samplecontroller.k8s.io") ==
          "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/foos.samplecontroller.k8s.io");
  }
  SUBCASE("custom resource described by the caller") {
    Resource foo{"samplecontroller.k8s.io", "v1alpha1", "Foo", "foos", true};
    CHECK(foo.api_version() == "samplecontroller.k8s.io/v1alpha1");
    CHECK(foo.collection_path("fixtures") ==
          "/apis/samplecontroller.k8s.io/v1alpha1/namespaces/fixtures/foos");
    CHECK(foo.status_path("fixtures", "example-foo") ==
          "/apis/samplecontroller.k8s.io/v1alpha1/namespaces/fixtures/foos/example-foo/status");
    Resource cluster_scoped{"example.com", "v1", "Widget", "widgets", false};
    CHECK(cluster_scoped.collection_path("ns") == "/apis/example.com/v1/widgets");
    CHECK(foo == Resource{"samplecontroller.k8s.io", "v1alpha1", "Foo", "foos", true});
    CHECK_FALSE(foo == cluster_scoped);
  }
  SUBCASE("path segments are percent-encoded") {
    CHECK(res::configmaps.object_path("a b", "x/y") == "/api/v1/namespaces/a%20b/configmaps/x%2Fy");
  }
}

TEST_CASE("query_string writes only what is set, in alphabetical order") {
  CHECK(kcoro::query_string({}) == "");
  CHECK(res::pods.list_url("default", {}) == "/api/v1/namespaces/default/pods");

  ListOptions o;
  o.limit = 500;
  CHECK(kcoro::query_string(o) == "limit=500");

  ListOptions all;
  all.label_selector = "app=web";
  all.field_selector = "spec.nodeName=node-1";
  all.limit = 500;
  all.continue_token = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAsInN0YXJ0IjoicDJcdTAwMDAifQ==";
  all.resource_version = "12345";
  all.resource_version_match = "NotOlderThan";
  all.timeout_seconds = 290;
  all.allow_watch_bookmarks = true;
  all.send_initial_events = true;
  all.watch = true;
  CHECK(kcoro::query_string(all) ==
        "allowWatchBookmarks=true"
        "&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAsInN0YXJ0IjoicDJcdTAwMDAifQ%3D%3D"
        "&fieldSelector=spec.nodeName%3Dnode-1"
        "&labelSelector=app%3Dweb"
        "&limit=500"
        "&resourceVersion=12345"
        "&resourceVersionMatch=NotOlderThan"
        "&sendInitialEvents=true"
        "&timeoutSeconds=290"
        "&watch=true");

  ListOptions meta;  // an Accept header, never a query parameter
  meta.metadata_only = true;
  CHECK(kcoro::query_string(meta) == "");
}

TEST_CASE("list_url for list and watch requests") {
  ListOptions list;
  list.label_selector = "app=web";
  list.limit = 500;
  CHECK(res::pods.list_url("default", list) ==
        "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb&limit=500");

  ListOptions watch;
  watch.watch = true;
  watch.allow_watch_bookmarks = true;
  watch.resource_version = "4711";
  watch.timeout_seconds = 300;
  CHECK(res::deployments.list_url("", watch) ==
        "/apis/apps/v1/deployments?allowWatchBookmarks=true&resourceVersion=4711"
        "&timeoutSeconds=300&watch=true");

  SUBCASE("resourceVersion \"0\" and an empty one are sent when set") {
    ListOptions rv0;
    rv0.resource_version = "0";
    CHECK(res::pods.list_url("", rv0) == "/api/v1/pods?resourceVersion=0");
    ListOptions empty_rv;
    empty_rv.resource_version = "";
    CHECK(res::pods.list_url("", empty_rv) == "/api/v1/pods?resourceVersion=");
  }
  SUBCASE("sendInitialEvents=false is sent when set explicitly") {
    ListOptions o;
    o.send_initial_events = false;
    CHECK(kcoro::query_string(o) == "sendInitialEvents=false");
  }
  SUBCASE("limit 0 and negative timeouts are written as given") {
    ListOptions o;
    o.limit = 0;
    o.timeout_seconds = -1;
    CHECK(kcoro::query_string(o) == "limit=0&timeoutSeconds=-1");
  }
}

TEST_CASE("selectors with every reserved character are percent-encoded") {
  ListOptions o;
  o.label_selector = "app in (web, api),tier!=db,!canary";
  CHECK(kcoro::query_string(o) ==
        "labelSelector=app%20in%20%28web%2C%20api%29%2Ctier%21%3Ddb%2C%21canary");
  ListOptions f;
  f.field_selector = "metadata.name==a/b&c+d?e#f";
  CHECK(kcoro::query_string(f) == "fieldSelector=metadata.name%3D%3Da%2Fb%26c%2Bd%3Fe%23f");
}

TEST_CASE("percent_encode keeps exactly RFC 3986's unreserved set") {
  CHECK(kcoro::percent_encode("") == "");
  CHECK(kcoro::percent_encode("AZaz09-._~") == "AZaz09-._~");
  CHECK(kcoro::percent_encode(" ") == "%20");
  CHECK(kcoro::percent_encode("=,!/") == "%3D%2C%21%2F");
  CHECK(kcoro::percent_encode("%") == "%25");
  CHECK(kcoro::percent_encode("+") == "%2B");
  CHECK(kcoro::percent_encode("caf\xC3\xA9") == "caf%C3%A9");       // "café" in UTF-8
  CHECK(kcoro::percent_encode("\xE2\x9C\x93") == "%E2%9C%93");      // U+2713
  CHECK(kcoro::percent_encode(std::string("a\0b", 3)) == "a%00b");  // NUL
  CHECK(kcoro::percent_encode("\x7F\xFF") == "%7F%FF");

  // Every byte: unreserved bytes map to themselves, all others to three characters.
  for (int b = 0; b < 256; ++b) {
    CAPTURE(b);
    auto c = static_cast<char>(b);
    std::string enc = kcoro::percent_encode(std::string_view(&c, 1));
    bool unreserved = std::isalnum(b) != 0 || b == '-' || b == '.' || b == '_' || b == '~';
    if (b >= 0x80) unreserved = false;
    CHECK(enc.size() == (unreserved ? 1u : 3u));
    auto dec = kcoro::percent_decode(enc);
    REQUIRE(dec);
    CHECK(*dec == std::string(1, c));
  }
}

TEST_CASE("percent_decode") {
  CHECK(kcoro::percent_decode("") == std::string());
  CHECK(kcoro::percent_decode("app%3Dweb") == std::string("app=web"));
  CHECK(kcoro::percent_decode("caf%c3%a9") == std::string("caf\xC3\xA9"));  // lower-case hex
  CHECK(kcoro::percent_decode("a+b") == std::string("a+b"));
  CHECK(kcoro::percent_decode("%00") == std::string(1, '\0'));
  CHECK_FALSE(kcoro::percent_decode("%"));
  CHECK_FALSE(kcoro::percent_decode("%4"));
  CHECK_FALSE(kcoro::percent_decode("abc%4"));
  CHECK_FALSE(kcoro::percent_decode("%G0"));
  CHECK_FALSE(kcoro::percent_decode("%0g"));
  CHECK_FALSE(kcoro::percent_decode("%%41"));
  std::string utf8 = "ns=\xE6\x97\xA5\xE6\x9C\xAC, x!";
  CHECK(kcoro::percent_decode(kcoro::percent_encode(utf8)) == utf8);
}
