// Custom resources against the fake API server: the CRD from crd_of, every typed verb, a partial
// server-side apply by two managers, and a Manager whose controller is built with the typed calls
// (for_<Widget>, owns<ConfigMap>) and reads and writes typed objects.
#include "kcoro/api/core/v1.hpp"
#include "kcoro/event_recorder.hpp"
#include "kcoro/manager.hpp"
#include "kcoro/testing/fake_apiserver.hpp"

#include "support/co_test.hpp"
#include "support/fake.hpp"
#include "support/manager_run.hpp"
#include "support/widget_scenarios.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <future>

namespace net = boost::asio;
namespace corev1 = kcoro::api::core::v1;
using kcoro::Api;
using kcoro::Client;
using kcoro::test::co_run;
using kcoro::test::config_for;
using kcoro::test::options_for;
using kcoro::test::Reached;
using kcoro::test::Running;
using kcoro::test::Widget;
using kcoro::testing::FakeApiServer;
using namespace std::chrono_literals;

TEST_CASE("custom resource on the fake server: crd_of created, then every typed verb") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    co_await kcoro::test::widget_verbs(client, "default");
  });
}

TEST_CASE(
    "custom resource on the fake server: a partial typed apply leaves other managers' fields") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    co_await kcoro::test::widget_apply(client, "default");
  });
}

TEST_CASE("Manager: for_<Widget>().owns<ConfigMap>(), typed reads and writes in the reconciler") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    co_await kcoro::test::install_crd_of<Widget>(client);
    co_await Api<Widget>(client, "default").create(kcoro::test::make_widget("typed"));
  });

  kcoro::Manager mgr(options_for(server));
  Reached reconciled;
  // The reconciler: the Widget from the cache, typed; a ConfigMap it owns (created typed, and
  // read back typed from the cache once its event enqueued the Widget again); the Widget's status.
  mgr.controller("widgets").for_<Widget>().owns<corev1::ConfigMap>().complete(
      [&](const kcoro::Request& req, kcoro::Context& ctx) -> net::awaitable<kcoro::Result> {
        std::optional<Widget> w = ctx.get<Widget>(req.ns, req.name);
        if (!w) co_return kcoro::Result::done();
        CHECK(w->kind == "Widget");
        CHECK(w->spec->image == "nginx");
        CHECK(ctx.list<Widget>("default").size() == 1);
        std::optional<corev1::ConfigMap> cm = ctx.get<corev1::ConfigMap>(req.ns, req.name);
        if (!cm) {
          corev1::ConfigMap want;
          auto& md = want.metadata.emplace();
          md.name = req.name;
          md.namespace_ = req.ns;
          auto& ref = md.ownerReferences.emplace_back();
          ref.apiVersion = Widget::resource().api_version();
          ref.kind = Widget::resource().kind;
          ref.name = *w->metadata->name;
          ref.uid = *w->metadata->uid;
          ref.controller = true;
          want.data["image"] = w->spec->image;
          co_await Api<corev1::ConfigMap>(ctx.client()).create(want);
          co_return kcoro::Result::done();  // its event brings the Widget back
        }
        CHECK(cm->data.at("image") == "nginx");
        Widget copy = *w;
        copy.status.emplace().observedGeneration = w->metadata->generation.value_or(0);
        const Widget written = co_await Api<Widget>(ctx.client()).update_status(copy);
        CHECK(written.status->observedGeneration.has_value());
        reconciled.set();
        co_return kcoro::Result::done();
      });
  Running running(mgr);
  const bool ok = reconciled.wait_for(20s);
  CHECK(ok);
  if (ok) {
    // The shared cache's informer, read typed.
    auto informers = mgr.informers<Widget>();
    REQUIRE(informers.size() == 1);
    std::optional<Widget> cached = informers[0]->store()->get<Widget>("default/typed");
    REQUIRE(cached);
    CHECK(cached->spec->replicas == 1);
  }
  CHECK(running.finish() == 0);
}

TEST_CASE(
    "Manager: watches<T>(map) with a typed map function; an undecodable object maps to none") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    co_await kcoro::test::install_crd_of<Widget>(client);
    co_await Api<Widget>(client, "default").create(kcoro::test::make_widget("mapped"));
  });
  // A ConfigMap naming the Widget it is for; and one whose data is not what ConfigMap's type says
  // (the fake stores it as sent), which must not stop the informer.
  server.cluster().apply_object(
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"for-mapped","namespace":"default"},"data":{"widget":"mapped"}})");
  server.cluster().apply_object(
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"odd","namespace":"default"},"data":{"widget":7}})");

  kcoro::Manager mgr(options_for(server));
  std::mutex mu;
  std::vector<std::string> keys;
  Reached seen;
  mgr.controller("mapped")
      .for_<Widget>(kcoro::matching([](const kcoro::Object&) { return false; }))
      .watches<corev1::ConfigMap>([](const corev1::ConfigMap& cm) {
        std::vector<kcoro::Request> out;
        if (auto it = cm.data.find("widget"); it != cm.data.end()) {
          out.push_back({*cm.metadata->namespace_, it->second});
        }
        return out;
      })
      .complete([&](const kcoro::Request& req, kcoro::Context&) -> net::awaitable<kcoro::Result> {
        {
          std::lock_guard lock(mu);
          keys.push_back(req.str());
        }
        seen.set();
        co_return kcoro::Result::done();
      });
  Running running(mgr);
  CHECK(seen.wait_for(20s));
  CHECK(mgr.caches_synced());
  CHECK(running.finish() == 0);
  std::lock_guard lock(mu);
  CHECK(keys == std::vector<std::string>{"default/mapped"});
}

// A get or list of an undeclared type does not compile (the constraint of Reads::get and list).
template <class R, class T>
concept reads_get = requires(const R& r) {
  r.template get<T>("ns", "name");
};
template <class R, class T>
concept reads_list = requires(const R& r) {
  r.template list<T>();
};
static_assert(reads_get<kcoro::Reads<Widget>, Widget> && reads_list<kcoro::Reads<Widget>, Widget>);
static_assert(!reads_get<kcoro::Reads<Widget>, corev1::ConfigMap>);
static_assert(!reads_list<kcoro::Reads<Widget>, corev1::ConfigMap>);

TEST_CASE("Manager: a reconciler's declared reads (Reads<...>) are checked when it is built") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    co_await kcoro::test::install_crd_of<Widget>(client);
    co_await Api<Widget>(client, "default").create(kcoro::test::make_widget("declared"));
    corev1::ConfigMap cm;
    cm.metadata.emplace().name = "settings";
    cm.data["mode"] = "fast";
    co_await Api<corev1::ConfigMap>(client, "default").create(cm);
  });

  kcoro::Manager mgr(options_for(server));
  using Declared = kcoro::Reads<Widget, corev1::ConfigMap>;

  // Reads ConfigMaps without caching them: refused when built, naming what is missing.
  std::string message;
  try {
    mgr.controller("undeclared")
        .for_<Widget>()
        .complete(
            [](const kcoro::Request&, kcoro::Context&, Declared) -> net::awaitable<kcoro::Result> {
              co_return kcoro::Result::done();
            });
  } catch (const std::logic_error& e) {
    message = e.what();
  }
  CHECK(message.find("controller undeclared") != std::string::npos);
  CHECK(message.find("reads configmaps") != std::string::npos);
  CHECK(message.find("widgets") == std::string::npos);  // the For resource is cached

  // Declared with reads<ConfigMap>(): built, and both typed reads work in the reconciler.
  Reached reconciled;
  mgr.controller("declared")
      .for_<Widget>()
      .reads<corev1::ConfigMap>()
      .complete([&](const kcoro::Request& req, kcoro::Context&,
                    Declared cache) -> net::awaitable<kcoro::Result> {
        std::optional<Widget> w = cache.get<Widget>(req.ns, req.name);
        CHECK(w.has_value());
        if (!w) co_return kcoro::Result::done();
        CHECK(w->spec->image == "nginx");
        std::vector<corev1::ConfigMap> cms = cache.list<corev1::ConfigMap>("default");
        std::optional<corev1::ConfigMap> settings =
            cache.get<corev1::ConfigMap>("default", "settings");
        if (!settings) co_return kcoro::Result::requeue_after(50ms);  // its cache is still filling
        CHECK(settings->data.at("mode") == "fast");
        CHECK(std::any_of(cms.begin(), cms.end(), [](const corev1::ConfigMap& c) {
          return c.metadata && c.metadata->name == "settings";
        }));
        reconciled.set();
        co_return kcoro::Result::done();
      });
  Running running(mgr);
  CHECK(reconciled.wait_for(20s));
  CHECK(running.finish() == 0);
}
