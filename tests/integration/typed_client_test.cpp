// kcoro::Api<T>: the typed verbs against the fake API server.
#include "kcoro/api/apps/v1.hpp"
#include "kcoro/api/core/v1.hpp"
#include "kcoro/testing/fake_apiserver.hpp"
#include "kcoro/typed_client.hpp"

#include "support/co_test.hpp"
#include "support/fake.hpp"

#include <doctest/doctest.h>

#include <boost/asio/use_awaitable.hpp>

namespace net = boost::asio;
namespace corev1 = kcoro::api::core::v1;
using kcoro::Api;
using kcoro::Client;
using kcoro::test::co_run;
using kcoro::test::config_for;
using kcoro::testing::FakeApiServer;

namespace {

corev1::Pod make_pod(const std::string& name) {
  corev1::Pod pod;
  auto& md = pod.metadata.emplace();
  md.name = name;
  md.labels["app"] = "web";
  auto& c = pod.spec.emplace().containers.emplace_back();
  c.name = "c";
  c.image = "nginx:1.25";
  c.resources.emplace().requests["cpu"] = kcoro::api::Quantity::parse("0.1");
  return pod;
}

}  // namespace

TEST_CASE("typed client: every verb on Pods and an apply of a ConfigMap") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    Api<corev1::Pod> pods(client, "default");

    const corev1::Pod created = co_await pods.create(make_pod("web-1"));
    REQUIRE(created.metadata);
    CHECK(created.metadata->name == "web-1");
    CHECK(created.metadata->namespace_ == "default");
    CHECK(created.metadata->uid.has_value());
    CHECK(created.spec->containers.at(0).resources->requests.at("cpu").str() == "100m");

    corev1::Pod got = co_await pods.get("web-1");
    CHECK(got.metadata->uid == created.metadata->uid);

    got.metadata->labels["tier"] = "front";
    const corev1::Pod updated = co_await pods.update(got);
    CHECK(updated.metadata->labels.at("tier") == "front");
    CHECK(updated.metadata->resourceVersion != got.metadata->resourceVersion);

    corev1::Pod with_status = updated;
    with_status.status.emplace().phase = "Running";
    const corev1::Pod st = co_await pods.update_status(with_status);
    CHECK(st.status->phase == "Running");

    // A partly filled Pod is a merge patch.
    corev1::Pod partial;
    partial.metadata.emplace().labels["merged"] = "yes";
    const corev1::Pod merged =
        co_await pods.patch("web-1", kcoro::PatchType::merge, kcoro::api::encode(partial));
    CHECK(merged.metadata->labels.at("merged") == "yes");
    CHECK(merged.metadata->labels.at("app") == "web");

    co_await pods.create(make_pod("web-2"));
    const kcoro::TypedList<corev1::Pod> list = co_await pods.list();
    CHECK(list.items.size() == 2);
    CHECK(list.items.at(0).kind == "Pod");
    CHECK(list.items.at(0).apiVersion == "v1");
    CHECK_FALSE(list.meta.resource_version.empty());

    // Server-side apply from a partly filled struct: apiVersion and kind are filled in.
    Api<corev1::ConfigMap> cms(client, "default");
    corev1::ConfigMap cfg;
    cfg.metadata.emplace().name = "cfg";
    cfg.data["a"] = "1";
    const corev1::ConfigMap applied = co_await cms.apply(cfg, "kcoro-test", true);
    CHECK(applied.data.at("a") == "1");
    CHECK(applied.kind == "ConfigMap");

    co_await pods.remove("web-1");
    bool gone = false;
    try {
      co_await pods.get("web-1");
    } catch (const kcoro::ApiError& e) {
      gone = kcoro::is_not_found(e);
    }
    CHECK(gone);

    // A namespaced object with no namespace anywhere fails before any I/O.
    Api<corev1::Pod> anywhere(client);
    CHECK_THROWS_AS(anywhere.create(make_pod("x")), std::invalid_argument);
    // A cluster-scoped kind needs none.
    Api<corev1::Namespace> namespaces(client);
    corev1::Namespace ns;
    ns.metadata.emplace().name = "typed";
    const corev1::Namespace created_ns = co_await namespaces.create(ns);
    CHECK(created_ns.metadata->name == "typed");
  });
}
