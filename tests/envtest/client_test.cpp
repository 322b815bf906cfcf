// kcoro::Client against a real kube-apiserver: every verb, server-side apply, pagination, watches
// from a resourceVersion, bookmarks and the streaming initial list.
#include "kcoro/client.hpp"
#include "kcoro/testing/envtest.hpp"

#include "envtest/env.hpp"
#include "support/co_test.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <set>

namespace net = boost::asio;
using kcoro::ApiError;
using kcoro::Client;
using kcoro::PatchOptions;
using kcoro::PatchType;
using kcoro::WatchEventType;
using kcoro::test::co_run;
using kcoro::test::configmap_json;
using kcoro::test::env;
using kcoro::test::fresh_namespace;
using kcoro::test::legacy_env;
namespace res = kcoro::resources;
using namespace std::chrono_literals;

namespace {

const kcoro::Resource foos{"samplecontroller.k8s.io", "v1alpha1", "Foo", "foos", true};

// The sample controller's CRD, with the status subresource, as YAML.
constexpr const char* foo_crd = R"(
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: foos.samplecontroller.k8s.io
  annotations:
    # *.k8s.io groups are protected: the real server refuses a CRD without this annotation.
    api-approved.kubernetes.io: "unapproved, experimental-only"
spec:
  group: samplecontroller.k8s.io
  scope: Namespaced
  names: {plural: foos, singular: foo, kind: Foo, listKind: FooList}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              deploymentName: {type: string}
              replicas: {type: integer, minimum: 1, maximum: 10}
          status:
            type: object
            properties:
              availableReplicas: {type: integer}
)";

std::string data(const kcoro::ObjectPtr& o, const std::string& key) {
  return o->get<std::string>("/data/" + key).value_or("<none>");
}

template <class F>
net::awaitable<int> api_error_code(F f) {
  try {
    co_await f();
  } catch (const ApiError& e) {
    co_return e.http_code();
  }
  co_return 0;
}

}  // namespace

TEST_CASE("envtest client: get, create, replace, patch (merge, JSON, strategic), remove") {
  auto& e = env();
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    const auto ns = co_await fresh_namespace(c, "verbs");

    auto a = co_await c.create(res::configmaps, ns, configmap_json("a", ns, "1"));
    CHECK(a->meta().name == "a");
    CHECK(a->meta().ns == ns);
    CHECK_FALSE(a->meta().uid.empty());
    auto got = co_await c.get(res::configmaps, ns, "a");
    CHECK(got->meta().uid == a->meta().uid);
    CHECK(data(got, "k") == "1");
    CHECK(co_await api_error_code(
              [&] { return c.create(res::configmaps, ns, configmap_json("a", ns)); }) == 409);
    CHECK(co_await api_error_code([&] { return c.get(res::configmaps, ns, "missing"); }) == 404);

    // replace: the resourceVersion read is a precondition.
    auto body = boost::json::parse(configmap_json("a", ns, "2"));
    body.at("metadata").as_object()["resourceVersion"] = std::string(a->meta().resource_version);
    auto replaced = co_await c.replace(res::configmaps, ns, "a", body);
    CHECK(data(replaced, "k") == "2");
    CHECK(replaced->meta().resource_version != a->meta().resource_version);
    try {
      co_await c.replace(res::configmaps, ns, "a", body);  // the stale resourceVersion
      FAIL("a replace on a stale resourceVersion succeeded");
    } catch (const ApiError& err) {
      CHECK(kcoro::is_conflict(err));
      CHECK(err.reason() == "Conflict");
    }

    auto merged = co_await c.patch(res::configmaps, ns, "a", PatchType::merge,
                                   R"({"data":{"m":"merge","k":null}})");
    CHECK(data(merged, "m") == "merge");
    CHECK(data(merged, "k") == "<none>");
    auto patched = co_await c.patch(res::configmaps, ns, "a", PatchType::json,
                                    R"([{"op":"add","path":"/data/j","value":"json"}])");
    CHECK(data(patched, "j") == "json");
    CHECK(data(patched, "m") == "merge");
    CHECK(co_await api_error_code([&] {
            return c.patch(res::configmaps, ns, "a", PatchType::json,
                           R"([{"op":"test","path":"/data/j","value":"other"}])");
          }) == 422);

    // A strategic merge patch merges containers by name; a merge patch would replace the list.
    const std::string deployment = R"({"apiVersion":"apps/v1","kind":"Deployment",
      "metadata":{"name":"web","namespace":")" +
                                   ns + R"("},
      "spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},
        "template":{"metadata":{"labels":{"app":"web"}},
          "spec":{"containers":[{"name":"web","image":"nginx:1.25"},
                                {"name":"sidecar","image":"busybox:1.36"}]}}}})";
    co_await c.create(res::deployments, ns, deployment);
    auto d = co_await c.patch(
        res::deployments, ns, "web", PatchType::strategic_merge,
        R"({"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}})");
    CHECK(d->get<std::string>("/spec/template/spec/containers/0/image") == "nginx:1.26");
    CHECK(d->get<std::string>("/spec/template/spec/containers/1/name") == "sidecar");

    // remove: a Status answer (nullptr) for a configmap, then 404.
    auto removed = co_await c.remove(res::configmaps, ns, "a");
    CHECK(removed == nullptr);
    CHECK(co_await api_error_code([&] { return c.get(res::configmaps, ns, "a"); }) == 404);
    CHECK(co_await api_error_code([&] { return c.remove(res::configmaps, ns, "a"); }) == 404);
    // A precondition on a uid that is not the object's: 409.
    auto b = co_await c.create(res::configmaps, ns, configmap_json("b", ns));
    kcoro::DeleteOptions pre;
    pre.precondition_uid = "00000000-0000-0000-0000-000000000000";
    CHECK(co_await api_error_code([&] { return c.remove(res::configmaps, ns, "b", pre); }) == 409);
    pre.precondition_uid = std::string(b->meta().uid);
    CHECK(co_await c.remove(res::configmaps, ns, "b", pre) == nullptr);
  });
}

TEST_CASE("envtest client: a CRD with a status subresource: update_status and status patches") {
  auto& e = env();
  CHECK(e.install_crd_text(foo_crd) == std::vector<std::string>{"foos.samplecontroller.k8s.io"});
  CHECK(e.install_crd_text(foo_crd).size() == 1);  // installing again replaces it
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    const auto ns = co_await fresh_namespace(c, "status");
    auto foo = co_await c.create(foos, ns,
                                 R"({"apiVersion":"samplecontroller.k8s.io/v1alpha1","kind":"Foo",
          "metadata":{"name":"f"},"spec":{"deploymentName":"d","replicas":1}})");
    CHECK(foo->meta().generation == 1);
    // The schema is enforced: replicas is at most 10.
    CHECK(co_await api_error_code([&] {
            return c.patch(foos, ns, "f", PatchType::merge, R"({"spec":{"replicas":11}})");
          }) == 422);

    auto v = boost::json::parse(foo->json());
    v.as_object()["status"] = boost::json::object{{"availableReplicas", 1}};
    v.at("spec").as_object()["replicas"] = 3;  // ignored by the status subresource
    auto updated = co_await c.update_status(foos, ns, "f", v);
    CHECK(updated->get<int64_t>("/status/availableReplicas") == 1);
    CHECK(updated->get<int64_t>("/spec/replicas") == 1);
    CHECK(updated->meta().generation == 1);

    PatchOptions status;
    status.status = true;
    auto patched = co_await c.patch(foos, ns, "f", PatchType::merge,
                                    R"({"status":{"availableReplicas":2}})", status);
    CHECK(patched->get<int64_t>("/status/availableReplicas") == 2);
    // A write to the main resource leaves the status alone.
    auto spec = co_await c.patch(foos, ns, "f", PatchType::merge,
                                 R"({"spec":{"replicas":2},"status":{"availableReplicas":9}})");
    CHECK(spec->get<int64_t>("/status/availableReplicas") == 2);
    CHECK(spec->meta().generation == 2);
  });
}

TEST_CASE("envtest client: server-side apply; a conflict between managers; force") {
  auto& e = env();
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    const auto ns = co_await fresh_namespace(c, "apply");
    const std::string one = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg",
        "namespace":")" + ns +
                            R"("},"data":{"owned":"by-one","shared":"one"}})";
    PatchOptions m1;
    m1.field_manager = "manager-one";
    auto applied = co_await c.patch(res::configmaps, ns, "cfg", PatchType::apply, one, m1);
    CHECK(data(applied, "owned") == "by-one");
    // Applying the same configuration again changes nothing.
    auto again = co_await c.patch(res::configmaps, ns, "cfg", PatchType::apply, one, m1);
    CHECK(again->meta().resource_version == applied->meta().resource_version);

    const std::string two = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg",
        "namespace":")" + ns +
                            R"("},"data":{"shared":"two"}})";
    PatchOptions m2;
    m2.field_manager = "manager-two";
    try {
      co_await c.patch(res::configmaps, ns, "cfg", PatchType::apply, two, m2);
      FAIL("a conflicting apply succeeded");
    } catch (const ApiError& err) {
      CHECK(err.http_code() == 409);
      CHECK(kcoro::is_conflict(err));
      CHECK(err.status().message.find("manager-one") != std::string::npos);
      REQUIRE_FALSE(err.status().details.causes.empty());
      CHECK(err.status().details.causes[0].field == ".data.shared");
    }
    m2.force = true;
    auto forced = co_await c.patch(res::configmaps, ns, "cfg", PatchType::apply, two, m2);
    CHECK(data(forced, "shared") == "two");
    CHECK(data(forced, "owned") == "by-one");
    // manager-one no longer owns .data.shared: dropping it from its configuration keeps it.
    const std::string one_less = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg",
        "namespace":")" + ns + R"("},"data":{"owned":"by-one"}})";
    auto kept = co_await c.patch(res::configmaps, ns, "cfg", PatchType::apply, one_less, m1);
    CHECK(data(kept, "shared") == "two");
    // An apply without a field manager is refused before it is sent (the server would answer 422).
    bool refused = false;
    try {
      co_await c.patch(res::configmaps, ns, "cfg", PatchType::apply, one, PatchOptions());
    } catch (const std::invalid_argument&) {
      refused = true;
    }
    CHECK(refused);
  });
}

TEST_CASE("envtest client: list pages with continue tokens, and all pages streamed") {
  auto& e = env();
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    const auto ns = co_await fresh_namespace(c, "pages");
    for (int i = 0; i < 25; ++i)
      co_await c.create(res::configmaps, ns, configmap_json("c" + std::to_string(i), ns));
    std::set<std::string> names;
    kcoro::ListOptions o;
    o.limit = 10;
    int pages = 0;
    std::string list_rv;
    for (;;) {
      auto page = co_await c.list(res::configmaps, ns, o);
      ++pages;
      CHECK(page.kind == "ConfigMapList");
      CHECK(page.items.size() <= 10);
      if (pages == 1) {
        list_rv = page.meta.resource_version;
        CHECK(page.meta.remaining_item_count == 15);
      } else {
        CHECK(page.meta.resource_version == list_rv);  // one snapshot across pages
      }
      for (auto& item : page.items)
        names.insert(std::string(item->meta().name));
      if (page.meta.continue_token.empty()) break;
      o.continue_token = page.meta.continue_token;
      // A write between pages does not show in the snapshot.
      if (pages == 1) co_await c.create(res::configmaps, ns, configmap_json("late", ns));
    }
    CHECK(pages == 3);
    CHECK(names.size() == 25);
    CHECK_FALSE(names.count("late"));

    kcoro::ListOptions all;
    all.limit = 7;
    auto stream = c.list_all(res::configmaps, ns, all);
    std::size_t n = 0;
    while (auto obj = co_await stream.next())
      ++n;
    CHECK(n == 26);
    // A continue token that does not decode is a 400.
    kcoro::ListOptions bad;
    bad.limit = 5;
    bad.continue_token = "not-a-token";
    CHECK(co_await api_error_code([&] { return c.list(res::configmaps, ns, bad); }) == 400);
  });
}

TEST_CASE("envtest client: metadata-only lists and watches get PartialObjectMetadata") {
  auto& e = env();
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    const auto ns = co_await fresh_namespace(c, "metadata");
    co_await c.create(res::configmaps, ns, configmap_json("m", ns, "big"));
    kcoro::ListOptions o;
    o.metadata_only = true;
    auto page = co_await c.list(res::configmaps, ns, o);
    CHECK(page.kind == "PartialObjectMetadataList");
    REQUIRE(page.items.size() == 1);
    CHECK(page.items[0]->meta().kind == "PartialObjectMetadata");
    CHECK(page.items[0]->meta().name == "m");
    CHECK_FALSE(page.items[0]->get<std::string>("/data/k"));
    o.resource_version = page.meta.resource_version;
    auto watch = co_await c.watch(res::configmaps, ns, o);
    co_await c.patch(res::configmaps, ns, "m", PatchType::merge, R"({"data":{"k":"bigger"}})");
    auto ev = co_await watch.next();
    REQUIRE(ev);
    CHECK(ev->type == WatchEventType::modified);
    CHECK(ev->object->meta().kind == "PartialObjectMetadata");
    CHECK_FALSE(ev->object->get<std::string>("/data/k"));
    watch.close();
  });
}

TEST_CASE("envtest client: a watch from a resourceVersion replays what followed, in order") {
  auto& e = env();
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    const auto ns = co_await fresh_namespace(c, "watch");
    co_await c.create(res::configmaps, ns, configmap_json("a", ns, "0"));
    auto page = co_await c.list(res::configmaps, ns);
    co_await c.create(res::configmaps, ns, configmap_json("b", ns, "1"));
    co_await c.patch(res::configmaps, ns, "a", PatchType::merge, R"({"data":{"k":"2"}})");
    co_await c.remove(res::configmaps, ns, "b");
    kcoro::ListOptions w;
    w.resource_version = page.meta.resource_version;
    w.allow_watch_bookmarks = true;
    w.timeout_seconds = 30;
    auto watch = co_await c.watch(res::configmaps, ns, w);
    std::vector<std::string> seen;
    std::string last_rv = page.meta.resource_version;
    while (seen.size() < 3) {
      auto ev = co_await watch.next();
      REQUIRE(ev);
      if (ev->type == WatchEventType::bookmark) continue;
      CHECK(std::stoll(std::string(ev->resource_version())) > std::stoll(last_rv));
      last_rv = std::string(ev->resource_version());
      seen.push_back(std::string(kcoro::to_string(ev->type)) + " " +
                     std::string(ev->object->meta().name) + " " + data(ev->object, "k"));
    }
    CHECK(seen == std::vector<std::string>{"ADDED b 1", "MODIFIED a 2", "DELETED b 1"});
    // A live change arrives on the open watch.
    co_await c.create(res::configmaps, ns, configmap_json("c", ns, "3"));
    for (;;) {
      auto ev = co_await watch.next();
      REQUIRE(ev);
      if (ev->type == WatchEventType::bookmark) continue;
      CHECK(ev->type == WatchEventType::added);
      CHECK(ev->object->meta().name == "c");
      break;
    }
    watch.close();
  });
}

TEST_CASE("envtest client: a watch with bookmarks gets one before its timeout, with a newer RV") {
  auto& e = env();
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    const auto ns = co_await fresh_namespace(c, "bookmark");
    const auto other = co_await fresh_namespace(c, "bookmark-other");
    auto page = co_await c.list(res::configmaps, ns);
    // The watch cache sends a bookmark about 2 s before the watch's deadline.
    kcoro::ListOptions w;
    w.resource_version = page.meta.resource_version;
    w.allow_watch_bookmarks = true;
    w.timeout_seconds = 5;
    auto watch = co_await c.watch(res::configmaps, ns, w);
    // A write this watch does not see: only a bookmark can tell it the newer resourceVersion.
    auto elsewhere = co_await c.create(res::configmaps, other, configmap_json("x", other));
    const int64_t target = std::stoll(std::string(elsewhere->meta().resource_version));
    int bookmarks = 0;
    int64_t newest = 0;
    while (auto ev = co_await watch.next()) {
      REQUIRE(ev->type == WatchEventType::bookmark);
      ++bookmarks;
      CHECK(ev->object->meta().kind == "ConfigMap");
      newest = std::max<int64_t>(newest, std::stoll(std::string(ev->resource_version())));
    }
    CHECK(bookmarks >= 1);
    CHECK(newest >= target);
  });
}

TEST_CASE("envtest client: the streaming initial list ends with an initial-events-end bookmark") {
  auto& e = env();
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    const auto ns = co_await fresh_namespace(c, "stream");
    for (int i = 0; i < 3; ++i)
      co_await c.create(res::configmaps, ns, configmap_json("s" + std::to_string(i), ns));
    kcoro::ListOptions w;
    w.send_initial_events = true;
    w.resource_version_match = "NotOlderThan";
    w.allow_watch_bookmarks = true;
    auto watch = co_await c.watch(res::configmaps, ns, w);
    std::set<std::string> initial;
    for (;;) {
      auto ev = co_await watch.next();
      REQUIRE(ev);
      if (ev->type == WatchEventType::added) {
        initial.insert(std::string(ev->object->meta().name));
        continue;
      }
      REQUIRE(ev->type == WatchEventType::bookmark);
      CHECK(ev->initial_events_end());
      CHECK_FALSE(ev->resource_version().empty());
      break;
    }
    CHECK(initial == std::set<std::string>{"s0", "s1", "s2"});
    watch.close();
  });
}

TEST_CASE("envtest client: with WatchList off the streaming list is refused with 422") {
  auto& e = legacy_env();
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    kcoro::ListOptions w;
    w.send_initial_events = true;
    w.resource_version_match = "NotOlderThan";
    w.allow_watch_bookmarks = true;
    try {
      co_await c.watch(res::configmaps, "default", w);
      FAIL("the streaming list was served");
    } catch (const ApiError& err) {
      CHECK(kcoro::is_invalid(err));
      CHECK(err.status().message.find("WatchList feature gate") != std::string::npos);
      REQUIRE_FALSE(err.status().details.causes.empty());
      CHECK(err.status().details.causes[0].field == "sendInitialEvents");
    }
  });
}
