// The controller and the event recorder end to end on the fake API server: informers → handlers
// → work queue → reconciler → client writes → events back through the informers.
#include "kcoro/controller.hpp"
#include "kcoro/event_recorder.hpp"
#include "kcoro/testing/fake_apiserver.hpp"

#include "support/co_test.hpp"
#include "support/fake.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <spdlog/sinks/ringbuffer_sink.h>

#include <algorithm>
#include <map>
#include <mutex>

namespace net = boost::asio;
using kcoro::Client;
using kcoro::ClusterConfig;
using kcoro::Context;
using kcoro::Controller;
using kcoro::Informer;
using kcoro::InformerOptions;
using kcoro::Request;
using kcoro::Result;
using kcoro::test::co_run;
using kcoro::test::config_for;
using kcoro::test::configmap_json;
using kcoro::test::eventually;
using kcoro::testing::FakeApiServer;
using kcoro::testing::Fault;
using kcoro::testing::FaultKind;
namespace res = kcoro::resources;
using namespace std::chrono_literals;

namespace {

std::string secret_owned_by(const std::string& name, const std::string& owner,
                            const std::string& owner_uid, bool controller = true) {
  return R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":")" + name +
         R"(","namespace":"default","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":")" +
         owner + R"(","uid":")" + owner_uid + R"(","controller":)" +
         (controller ? "true" : "false") + "}]}}";
}

InformerOptions informer_for(const kcoro::Resource& r) {
  InformerOptions o;
  o.resource = r;
  o.ns = "default";
  o.policy.backoff_initial = 20ms;
  o.policy.backoff_max = 200ms;
  o.seed = 1;
  return o;
}

boost::json::value get_json(FakeApiServer& server, const std::string& target) {
  kcoro::testing::FakeRequest req;
  req.method = "GET";
  req.target = target;
  return boost::json::parse(server.cluster().handle(req).body);
}

// What the reconciler saw, in order: "<key> <data.k or NotFound>".
struct Log {
  std::mutex mu;
  std::vector<std::string> lines;
  void add(std::string s) {
    std::lock_guard lk(mu);
    lines.push_back(std::move(s));
  }
  std::size_t count(const std::string& s) {
    std::lock_guard lk(mu);
    return static_cast<std::size_t>(std::count(lines.begin(), lines.end(), s));
  }
  std::size_t size() {
    std::lock_guard lk(mu);
    return lines.size();
  }
};

kcoro::ControllerOptions options() {
  kcoro::ControllerOptions o;
  o.name = "cm-to-secret";
  o.metrics = std::make_shared<kcoro::MetricsRegistry>();
  o.stop_timeout = 2s;
  return o;
}

}  // namespace

TEST_CASE("controller: objects on the server are reconciled; the reconciler writes children") {
  FakeApiServer server;
  server.cluster().apply_object(
      configmap_json("before", "0"));  // exists before the controller starts
  co_run([&](auto ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    Informer configmaps(client, informer_for(res::configmaps), ex);
    Informer secrets(client, informer_for(res::secrets), ex);
    Log log;
    auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
    sink->set_pattern("%v");
    auto opts = options();
    opts.logger = std::make_shared<spdlog::logger>("ctl", sink);

    // Sample-controller's shape: a ConfigMap "owns" a Secret "<name>-child".
    Controller ctl(
        client, ex,
        [&](const Request& req, Context& ctx) -> net::awaitable<Result> {
          auto parent = ctx.store(res::configmaps)->get(req.str());
          if (!parent) {
            log.add(req.str() + " NotFound");
            co_return Result::done();
          }
          const std::string value(parent->get<std::string_view>("/data/k").value_or(""));
          log.add(req.str() + " " + value);
          ctx.log().info("reconciling value {}", value);
          const std::string child = req.name + "-child";
          if (!ctx.store("secrets")->get("default/" + child)) {
            try {
              co_await ctx.client().create(
                  res::secrets, "default",
                  secret_owned_by(child, req.name, std::string(parent->meta().uid)));
            } catch (const kcoro::ApiError& e) {
              if (!kcoro::is_already_exists(e)) throw;
            }
          }
          co_return Result::done();
        },
        opts);
    ctl.watches(configmaps).owns(secrets, "ConfigMap");
    net::co_spawn(ex, ctl.run(), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });

    // Sync, then the object that was there: reconciled, its child created.
    CHECK(co_await eventually([&] { return log.count("default/before 0") >= 1; }));
    CHECK(co_await eventually(
        [&] { return secrets.store()->get("default/before-child") != nullptr; }));
    CHECK(sink->last_formatted().size() > 0);
    bool prefixed = false;
    for (auto& l : sink->last_formatted())
      prefixed |= l.rfind("default/before: reconciling value 0", 0) == 0;
    CHECK(prefixed);

    // A new object.
    server.cluster().apply_object(configmap_json("a", "1"));
    CHECK(co_await eventually([&] { return log.count("default/a 1") >= 1; }));
    CHECK(co_await eventually([&] {
      return !get_json(server, "/api/v1/namespaces/default/secrets/a-child")
                  .as_object()
                  .contains("code");
    }));
    // An update enqueues; the reconciler sees the new state in the store.
    server.cluster().apply_object(configmap_json("a", "2"));
    CHECK(co_await eventually([&] { return log.count("default/a 2") >= 1; }));
    // A deletion enqueues; the store says NotFound.
    server.cluster().delete_object("v1", "ConfigMap", "default", "a");
    CHECK(co_await eventually([&] { return log.count("default/a NotFound") == 1; }));

    // A child changed on the server: its controlling owner is reconciled.
    const std::size_t before = log.count("default/before 0");
    server.cluster().apply_object(
        R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"before-child","namespace":"default","labels":{"touched":"yes"},"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"before","uid":"u","controller":true}]}})");
    CHECK(co_await eventually([&] { return log.count("default/before 0") > before; }));
    // A Secret whose owner reference is not a controller reference maps to nothing. The barrier:
    // a controlled Secret written after it. The informer delivers in order and one worker takes
    // keys first in, first out, so once its owner is reconciled, a key the loose Secret had
    // enqueued would have been reconciled before it.
    const std::size_t total = log.size();
    const std::size_t sentinel_before = log.count("default/before 0");
    server.cluster().apply_object(secret_owned_by("loose", "nobody", "u2", false));
    server.cluster().apply_object(secret_owned_by("sentinel", "before", "u"));
    CHECK(co_await eventually([&] { return log.count("default/before 0") > sentinel_before; }));
    CHECK(log.size() == total + 1);
    CHECK(log.count("default/nobody NotFound") == 0);

    const std::string metrics = ctl.options().metrics->render();
    CHECK(
        metrics.find(
            R"(controller_runtime_reconcile_total{controller="cm-to-secret",result="success"})") !=
        std::string::npos);
    CHECK(metrics.find(R"(workqueue_adds_total{controller="cm-to-secret",name="cm-to-secret"})") !=
          std::string::npos);
    CHECK(metrics.find("controller_runtime_reconcile_time_seconds_bucket") != std::string::npos);
    ctl.stop();
    configmaps.stop();
    secrets.stop();
  });
}

TEST_CASE("controller: a watched resource the server does not serve fails run() at once") {
  // A custom resource whose CRD was never applied: the list gets 404, which no retry mends.
  FakeApiServer server;
  co_run([&](auto ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    const kcoro::Resource widgets{"example.com", "v1", "Widget", "widgets", true};
    Informer configmaps(client, informer_for(res::configmaps), ex);
    Informer missing(client, informer_for(widgets), ex);
    Controller ctl(
        client, ex,
        [](const Request&, Context&) -> net::awaitable<Result> { co_return Result::done(); },
        options());
    ctl.watches(configmaps).watches(missing);
    int code = 0;
    try {
      co_await ctl.run();  // before the fix: waited for stop(), then returned as if all was well
    } catch (const kcoro::ApiError& e) {
      code = e.http_code();
    }
    CHECK(code == 404);
    configmaps.stop();
    missing.stop();
  });
}

TEST_CASE("controller: a child deleted while the informer was away maps to its owner (tombstone)") {
  FakeApiServer server;
  server.cluster().apply_object(secret_owned_by("p-child", "p", "uid-p"));
  co_run([&](auto ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    Informer secrets(client, informer_for(res::secrets), ex);
    Log log;
    bool tombstone_seen = false;
    secrets.add_handler(
        {nullptr, nullptr, [&](const kcoro::ObjectPtr&, bool t) { tombstone_seen |= t; }});
    Controller ctl(
        client, ex,
        [&](const Request& req, Context&) -> net::awaitable<Result> {
          log.add(req.str());
          co_return Result::done();
        },
        options());
    ctl.owns(secrets, "ConfigMap", kcoro::resource_version_changed());
    net::co_spawn(ex, ctl.run(), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    CHECK(co_await eventually([&] { return log.count("default/p") == 1; }));  // the initial add

    // Keep the informer away, delete the child, make its resourceVersion too old: it relists.
    const int id = kcoro::test::fail_watches(server);
    server.cluster().delete_object("v1", "Secret", "default", "p-child");
    server.cluster().compact();
    server.remove_fault(id);
    CHECK(co_await eventually([&] { return tombstone_seen; }));
    CHECK(co_await eventually([&] { return log.count("default/p") == 2; }));
    ctl.stop();
    secrets.stop();
  });
}

TEST_CASE("controller: watches(informer, map) and predicates on the fake") {
  FakeApiServer server;
  co_run([&](auto ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    Informer configmaps(client, informer_for(res::configmaps), ex);
    Log log;
    Controller ctl(
        client, ex,
        [&](const Request& req, Context&) -> net::awaitable<Result> {
          log.add(req.str());
          co_return Result::done();
        },
        options());
    // Every ConfigMap maps to a key per label value "targets=a.b" -> default/a, default/b.
    ctl.watches(
        configmaps,
        [](const kcoro::Object& o) {
          std::vector<Request> out;
          auto v = o.meta().labels.get("targets");
          if (!v) return out;
          std::string_view s = *v;
          while (!s.empty()) {
            const auto dot = s.find('.');
            out.push_back({"default", std::string(s.substr(0, dot))});
            s = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
          }
          return out;
        },
        kcoro::labels_changed());
    net::co_spawn(ex, ctl.run(), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    server.cluster().apply_object(
        R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"m","namespace":"default","labels":{"targets":"x.y"}}})");
    CHECK(co_await eventually(
        [&] { return log.count("default/x") == 1 && log.count("default/y") == 1; }));
    // A data change keeps the labels: the predicate drops it. The barrier: a second ConfigMap
    // written after it, mapping to "s". Events arrive in order and one worker takes keys first
    // in, first out, so x or y enqueued by the data change would be reconciled before s.
    server.cluster().apply_object(
        R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"m","namespace":"default","labels":{"targets":"x.y"}},"data":{"a":"b"}})");
    server.cluster().apply_object(
        R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"sentinel","namespace":"default","labels":{"targets":"s"}}})");
    CHECK(co_await eventually([&] { return log.count("default/s") == 1; }));
    CHECK(log.size() == 3);
    CHECK(log.count("default/x") == 1);
    // A label change maps the old and the new object: x, y (old) and z (new).
    server.cluster().apply_object(
        R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"m","namespace":"default","labels":{"targets":"z"}}})");
    CHECK(co_await eventually([&] { return log.count("default/z") == 1 && log.size() == 6; }));
    ctl.stop();
    configmaps.stop();
  });
}

TEST_CASE("event recorder: events are created, repeats aggregated, excess rate-limited") {
  FakeApiServer server;
  const std::string foo = server.cluster().apply_object(configmap_json("foo", "1"));
  const auto obj = kcoro::Object::parse(foo);
  co_run([&](auto ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    kcoro::EventRecorderOptions o;
    o.component = "sample-controller";
    o.reporting_instance = "sample-controller-1";
    kcoro::EventRecorder rec(client, o);
    rec.record(*obj, kcoro::EventType::normal, "Synced", "Foo synced successfully");  // before run
    net::co_spawn(ex, rec.run(), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    CHECK(co_await eventually([&] { return rec.stats().created == 1; }));
    auto list = get_json(server, "/api/v1/namespaces/default/events");
    REQUIRE(list.at("items").as_array().size() == 1);
    auto ev = list.at("items").as_array()[0];
    CHECK(ev.at("involvedObject").at("kind") == "ConfigMap");
    CHECK(ev.at("involvedObject").at("name") == "foo");
    CHECK(ev.at("involvedObject").at("namespace") == "default");
    CHECK(ev.at("involvedObject").at("uid").as_string() == obj->meta().uid);
    CHECK(ev.at("involvedObject").at("apiVersion") == "v1");
    CHECK(ev.at("reason") == "Synced");
    CHECK(ev.at("message") == "Foo synced successfully");
    CHECK(ev.at("type") == "Normal");
    CHECK(ev.at("source").at("component") == "sample-controller");
    CHECK(ev.at("reportingComponent") == "sample-controller");
    CHECK(ev.at("reportingInstance") == "sample-controller-1");
    CHECK(ev.at("count") == 1);
    CHECK(ev.at("firstTimestamp").as_string().size() == 20);
    CHECK(std::string(ev.at("metadata").at("name").as_string()).rfind("foo.", 0) == 0);

    // Repeats: the same Event, count 2 then 3.
    rec.record(*obj, kcoro::EventType::normal, "Synced", "Foo synced successfully");
    CHECK(co_await eventually([&] { return rec.stats().patched == 1; }));
    rec.record(*obj, kcoro::EventType::normal, "Synced", "Foo synced successfully");
    CHECK(co_await eventually([&] { return rec.stats().patched == 2; }));
    list = get_json(server, "/api/v1/namespaces/default/events");
    REQUIRE(list.at("items").as_array().size() == 1);
    CHECK(list.at("items").as_array()[0].at("count") == 3);

    // Another message is another Event; a Warning too.
    rec.record(*obj, kcoro::EventType::warning, "Failed", "it broke");
    CHECK(co_await eventually([&] { return rec.stats().created == 2; }));

    // The spam filter: 25 per object at once (4 used so far), the rest dropped.
    for (int i = 0; i < 30; ++i)
      rec.record(*obj, kcoro::EventType::normal, "Tick", "tick " + std::to_string(i));
    CHECK(co_await eventually([&] { return rec.stats().created == 23; }));
    CHECK(rec.stats().rate_limited == 9);
    CHECK(rec.stats().failed == 0);

    // A deleted Event is created again with the running count.
    kcoro::EventRecorder other(client, o);  // a fresh spam budget
    net::co_spawn(ex, other.run(), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    other.record(*obj, kcoro::EventType::normal, "Gone", "soon");
    CHECK(co_await eventually([&] { return other.stats().created == 1; }));
    auto events = get_json(server, "/api/v1/namespaces/default/events");
    for (auto& item : events.at("items").as_array()) {
      if (item.at("reason") != "Gone") continue;
      server.cluster().delete_object("v1", "Event", "default",
                                     std::string(item.at("metadata").at("name").as_string()));
    }
    other.record(*obj, kcoro::EventType::normal, "Gone", "soon");
    CHECK(co_await eventually([&] { return other.stats().created == 2; }));
    CHECK(other.stats().patched == 0);
    int gone = 0;
    events = get_json(server, "/api/v1/namespaces/default/events");
    for (auto& item : events.at("items").as_array()) {
      if (item.at("reason") != "Gone") continue;
      ++gone;
      CHECK(item.at("count") == 2);
    }
    CHECK(gone == 1);
    rec.stop();
    other.stop();
  });
}

TEST_CASE("event recorder: write failures are counted and logged, never thrown") {
  FakeApiServer server;
  const auto obj = kcoro::Object::parse(server.cluster().apply_object(configmap_json("foo", "1")));
  co_run([&](auto ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    Fault f;
    f.method = "POST";
    f.path_prefix = "/api/v1/namespaces/default/events";
    f.status = 500;
    server.add_fault(f);
    auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
    sink->set_pattern("%v");
    kcoro::EventRecorderOptions o;
    o.component = "c";
    o.logger = std::make_shared<spdlog::logger>("rec", sink);
    kcoro::EventRecorder rec(client, o);
    net::co_spawn(ex, rec.run(), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    rec.record(*obj, kcoro::EventType::warning, "A", "first");
    rec.record(*obj, kcoro::EventType::warning, "B", "second");
    CHECK(co_await eventually([&] { return rec.stats().failed == 1 && rec.stats().created == 1; }));
    REQUIRE(!sink->last_formatted().empty());
    CHECK(sink->last_formatted()[0].find(
              "event A Warning about default/foo could not be written") != std::string::npos);
    rec.stop();
  });
}
