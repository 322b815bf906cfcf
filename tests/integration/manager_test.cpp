// The Manager and its controller builder on the fake API server: shared informers, owns() by API
// group and kind, cache reads through the Context, restricted caches, runnables, the stop order,
// signals, endpoints, and leader election across two managers.
#include "kcoro/event_recorder.hpp"
#include "kcoro/manager.hpp"
#include "kcoro/testing/fake_apiserver.hpp"

#include "support/co_test.hpp"
#include "support/fake.hpp"
#include "support/manager_run.hpp"
#include "support/metric_value.hpp"

#include <doctest/doctest.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/json.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <csignal>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace net = boost::asio;
using kcoro::Context;
using kcoro::Manager;
using kcoro::ManagerOptions;
using kcoro::Request;
using kcoro::Result;
using kcoro::test::config_for;
using kcoro::test::options_for;
using kcoro::test::Running;
using kcoro::test::wait_until;
using kcoro::testing::FakeApiServer;
namespace res = kcoro::resources;
using namespace std::chrono_literals;

namespace {

// Keys reconciled, by thread-safe record.
struct Seen {
  mutable std::mutex mu;
  std::vector<std::string> keys;
  void add(std::string k) {
    std::lock_guard lock(mu);
    keys.push_back(std::move(k));
  }
  bool has(const std::string& k) const {
    std::lock_guard lock(mu);
    return std::find(keys.begin(), keys.end(), k) != keys.end();
  }
  std::size_t count(const std::string& k) const {
    std::lock_guard lock(mu);
    return std::count(keys.begin(), keys.end(), k);
  }
  std::size_t size() const {
    std::lock_guard lock(mu);
    return keys.size();
  }
};

kcoro::Reconciler recording(Seen& seen) {
  return [&seen](const Request& req, Context&) -> net::awaitable<Result> {
    seen.add(req.str());
    co_return Result::done();
  };
}

std::string deployment_json(const std::string& name, const std::string& ns = "default") {
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":")" + name +
         R"(","namespace":")" + ns +
         R"("},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"x"}},)"
         R"("template":{"metadata":{"labels":{"app":"x"}},)"
         R"("spec":{"containers":[{"name":"c","image":"nginx"}]}}}})";
}

// A ConfigMap whose controller is `owner_kind` `owner` of `api_version`.
std::string owned_configmap(const std::string& name, const std::string& api_version,
                            const std::string& owner_kind, const std::string& owner) {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name +
         R"(","namespace":"default","ownerReferences":[{"apiVersion":")" + api_version +
         R"(","kind":")" + owner_kind + R"(","name":")" + owner +
         R"(","uid":"u-1","controller":true}]},"data":{"k":"v"}})";
}

}  // namespace

TEST_CASE("Manager: two controllers watching one resource share one informer") {
  FakeApiServer server;
  Manager mgr(options_for(server));
  Seen a, b;
  mgr.controller("a").for_(res::configmaps).complete(recording(a));
  mgr.controller("b").for_(res::configmaps).owns(res::pods).complete(recording(b));
  const auto first = mgr.informers(res::configmaps);
  REQUIRE(first.size() == 1);
  CHECK(mgr.informers(res::configmaps).front() == first.front());

  Running run(mgr);
  server.cluster().apply_object(kcoro::test::configmap_json("c1"));
  CHECK(wait_until([&] { return a.has("default/c1") && b.has("default/c1"); }));
  CHECK(mgr.caches_synced());
  CHECK(mgr.is_leader());  // no leader election: leading from the start
  CHECK(run.finish() == 0);
}

TEST_CASE("Manager: CacheOptions' watch timeouts end each watch; the informer resumes it") {
  FakeApiServer server;
  ManagerOptions o = options_for(server);
  o.cache.min_watch_timeout = 1s;  // every watch asks for timeoutSeconds=1
  o.cache.max_watch_timeout = 1s;
  Manager mgr(o);
  Seen seen;
  mgr.controller("configmaps").for_(res::configmaps).complete(recording(seen));
  Running run(mgr);
  // The server ends each watch after a second; the informer watches again, with no new list.
  CHECK(server.wait_for([](const auto& s) { return s.watches >= 3; }, 15s));
  const auto requests = server.stats().requests;
  CHECK(requests - server.stats().watches <= 2);  // one list (and perhaps discovery), no relist
  // A change made after those resumptions still arrives.
  server.cluster().apply_object(kcoro::test::configmap_json("after-resumes"));
  CHECK(wait_until([&] { return seen.has("default/after-resumes"); }));
  CHECK(run.finish() == 0);
}

TEST_CASE(
    "Manager: owns() maps through controller references of the For resource's group and kind") {
  FakeApiServer server;
  server.cluster().apply_object(deployment_json("web"));
  Manager mgr(options_for(server));
  Seen seen;
  mgr.controller("deployments")
      .for_(res::deployments)
      .owns(res::configmaps)
      .complete(recording(seen));
  Running run(mgr);
  REQUIRE(wait_until([&] { return seen.has("default/web"); }));
  const std::size_t before = seen.count("default/web");

  // A Deployment of another group, then a Pod as controller: neither is this controller's owner.
  server.cluster().apply_object(
      owned_configmap("other-group", "example.com/v1", "Deployment", "web"));
  server.cluster().apply_object(owned_configmap("other-kind", "apps/v1", "StatefulSet", "web"));
  // The sentinel, through the same informer after both: once its owner is reconciled, the two
  // events before it were handled and enqueued nothing.
  server.cluster().apply_object(owned_configmap("mine", "apps/v1", "Deployment", "sentinel"));
  REQUIRE(wait_until([&] { return seen.has("default/sentinel"); }));
  CHECK(seen.count("default/web") == before);

  server.cluster().apply_object(owned_configmap("ours", "apps/v1", "Deployment", "web"));
  CHECK(wait_until([&] { return seen.count("default/web") > before; }));
  CHECK(run.finish() == 0);
}

TEST_CASE(
    "Manager: a reconciler reads the cache through its Context; undeclared reads are terminal") {
  FakeApiServer server;
  server.cluster().apply_object(deployment_json("web"));
  server.cluster().apply_object(kcoro::test::pod_json("p1"));
  server.cluster().apply_object(kcoro::test::pod_json("p2", "default", R"(,"tier":"db")"));
  Manager mgr(options_for(server));
  std::mutex mu;
  std::optional<std::string> deployment_name;
  std::vector<std::string> db_pods;
  std::string not_watched;
  std::atomic<bool> done{false};
  mgr.controller("reader")
      .for_(res::deployments)
      .reads(res::pods)
      .complete([&](const Request& req, Context& ctx) -> net::awaitable<Result> {
        auto d = ctx.get(res::deployments, req.ns, req.name);
        auto pods = ctx.list(res::pods, "default", kcoro::LabelSelector::parse("tier=db"));
        std::string error;
        try {
          ctx.get(res::configmaps, "default", "x");
        } catch (const kcoro::NotWatchedError& e) {
          error = e.what();
        }
        std::lock_guard lock(mu);
        if (d) deployment_name = std::string(d->meta().name);
        for (const auto& p : pods)
          db_pods.emplace_back(p->meta().name);
        not_watched = error;
        CHECK(ctx.get(res::deployments, "default", "missing") == nullptr);
        done = true;
        co_return Result::done();
      });
  Running run(mgr);
  REQUIRE(wait_until([&] { return done.load(); }));
  {
    std::lock_guard lock(mu);
    CHECK(deployment_name == "web");
    CHECK(db_pods == std::vector<std::string>{"p2"});
    CHECK(not_watched.find("does not watch configmaps") != std::string::npos);
  }
  CHECK(run.finish() == 0);
}

TEST_CASE(
    "Manager: a reconciler asking for an unwatched resource is dropped as terminal, not retried") {
  FakeApiServer server;
  server.cluster().apply_object(kcoro::test::configmap_json("c1"));
  auto opts = options_for(server);
  auto metrics = opts.metrics;
  Manager mgr(opts);
  std::atomic<int> calls{0};
  mgr.controller("careless")
      .for_(res::configmaps)
      .complete([&](const Request&, Context& ctx) -> net::awaitable<Result> {
        ++calls;
        ctx.get(res::secrets, "default", "s");  // throws NotWatchedError
        co_return Result::done();
      });
  Running run(mgr);
  REQUIRE(wait_until([&] {
    return kcoro::test::metric_value(
               *metrics,
               R"(controller_runtime_terminal_reconcile_errors_total{controller="careless"})") == 1;
  }));
  CHECK(calls.load() == 1);
  CHECK(run.finish() == 0);
}

TEST_CASE(
    "Manager: a restricted cache holds only its namespaces, selected labels and transformed "
    "objects") {
  FakeApiServer server;
  for (const char* ns : {"a", "b", "c"})
    server.cluster().apply_object(kcoro::test::configmap_json("cm", "v", ns));
  server.cluster().apply_object(kcoro::test::pod_json("web-1", "a"));
  server.cluster().apply_object(kcoro::test::pod_json("db-1", "a", R"(,"tier":"db")"));
  auto opts = options_for(server);
  opts.cache.namespaces = {"a", "b"};
  opts.cache.by_object.push_back(
      {.resource = res::pods, .label_selector = "tier=db", .channel_capacity = 16, .page_size = 1});
  opts.cache.transform = [](std::string& json) {  // every object: drop the data
    auto at = json.find(R"("data":)");
    if (at != std::string::npos) json.replace(at, json.find('}', at) - at + 1, R"("data":{})");
  };
  Manager mgr(opts);
  Seen seen;
  std::mutex mu;
  std::vector<std::string> pods;
  std::string in_c;
  mgr.controller("restricted")
      .for_(res::configmaps)
      .reads(res::pods)
      .complete([&](const Request& req, Context& ctx) -> net::awaitable<Result> {
        std::lock_guard lock(mu);
        if (req.ns == "a") {
          for (const auto& p : ctx.list(res::pods))
            pods.emplace_back(p->meta().name);
          try {
            ctx.get(res::configmaps, "c", "cm");
          } catch (const kcoro::NotWatchedError& e) {
            in_c = e.what();
          }
        }
        seen.add(req.str());
        co_return Result::done();
      });
  REQUIRE(mgr.informers(res::configmaps).size() == 2);
  REQUIRE(mgr.informers(res::pods).size() == 2);
  CHECK(mgr.informers(res::pods).front()->options().policy.page_size == 1);
  CHECK(mgr.informers(res::pods).front()->options().channel_capacity == 16);
  Running run(mgr);
  REQUIRE(wait_until([&] { return seen.has("a/cm") && seen.has("b/cm"); }));
  // The sentinel: a change in "b" after the one in "c" reaches the controller; "c"'s never does.
  server.cluster().apply_object(kcoro::test::configmap_json("late", "v", "c"));
  server.cluster().apply_object(kcoro::test::configmap_json("late", "v", "b"));
  REQUIRE(wait_until([&] { return seen.has("b/late"); }));
  CHECK_FALSE(seen.has("c/cm"));
  CHECK_FALSE(seen.has("c/late"));
  {
    std::lock_guard lock(mu);
    CHECK(pods == std::vector<std::string>{"db-1"});
    CHECK(in_c.find("in namespace c") != std::string::npos);
  }
  auto stored = mgr.informers(res::configmaps).front()->store()->list();
  REQUIRE_FALSE(stored.empty());
  CHECK(stored.front()->get<std::string_view>("/data/k") == std::nullopt);  // transformed
  CHECK(run.finish() == 0);
}

TEST_CASE(
    "Manager: stops controllers, then runnables, then releases the lease, caches and endpoints") {
  FakeApiServer server;
  server.cluster().apply_object(kcoro::test::configmap_json("slow"));
  auto opts = options_for(server);
  opts.leader_election = true;
  opts.leader_election_id = "order-test";
  opts.leader_election_namespace = "default";
  opts.lease_duration = 2s;
  opts.renew_deadline = 1s;
  opts.retry_period = 100ms;
  opts.health_probe_bind_address = "127.0.0.1:0";
  Manager mgr(opts);
  std::mutex mu;
  std::vector<std::string> log;
  auto note = [&](std::string what) {
    std::lock_guard lock(mu);
    log.push_back(std::move(what));
  };
  std::atomic<bool> in_reconcile{false};
  mgr.controller("ordered")
      .for_(res::configmaps)
      .complete([&](const Request&, Context&) -> net::awaitable<Result> {
        note("reconcile begins");
        in_reconcile = true;
        net::steady_timer t(co_await net::this_coro::executor, 300ms);  // work still in flight
        co_await t.async_wait(net::use_awaitable);
        note("reconcile ends");
        co_return Result::done();
      });
  std::atomic<bool> lease_held_at_runnable_stop{false};
  mgr.add(
      [&]() -> net::awaitable<void> {
        note("runnable starts");
        net::steady_timer t(co_await net::this_coro::executor, 1h);
        boost::system::error_code ec;
        co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
        lease_held_at_runnable_stop = mgr.is_leader();
        note(ec == net::error::operation_aborted ? "runnable cancelled" : "runnable timer fired");
      },
      true);
  Running run(mgr);
  REQUIRE(wait_until([&] { return in_reconcile.load(); }));
  CHECK(run.finish() == 0);
  std::lock_guard lock(mu);
  REQUIRE(log.size() == 4);
  CHECK(log[2] == "reconcile ends");  // the controller finished its work first
  CHECK(log[3] == "runnable cancelled");
  CHECK(lease_held_at_runnable_stop.load());  // the lease outlived the runnables
  CHECK_FALSE(mgr.is_leader());
  // Released: the Lease names no holder.
  kcoro::testing::FakeRequest req;
  req.method = "GET";
  req.target = "/apis/coordination.k8s.io/v1/namespaces/default/leases/order-test";
  auto lease = kcoro::Object::parse(server.cluster().handle(req).body);
  REQUIRE(lease);
  CHECK(lease->get<std::string_view>("/spec/holderIdentity").value_or("") == "");
  // The elector recorded its win on the Lease, and the recorder flushed it at stop.
  req.target = "/api/v1/namespaces/default/events";
  auto events = boost::json::parse(server.cluster().handle(req).body);
  bool became_leader = false;
  for (const auto& ev : events.at("items").as_array()) {
    const auto& o = ev.as_object();
    if (o.at("reason").as_string() == "LeaderElection" &&
        o.at("involvedObject").at("name").as_string() == "order-test") {
      became_leader = std::string_view(o.at("message").as_string()).ends_with("became leader");
    }
  }
  CHECK(became_leader);
}

TEST_CASE("Manager: SIGTERM stops run() cleanly") {
  FakeApiServer server;
  auto opts = options_for(server);
  opts.runtime.handle_signals = true;
  Manager mgr(opts);
  std::atomic<bool> started{false};
  mgr.add(
      [&]() -> net::awaitable<void> {
        started = true;
        co_await mgr.wait_for_stop();
      },
      false);
  Running run(mgr);
  REQUIRE(wait_until([&] { return started.load(); }));
  std::raise(SIGTERM);
  CHECK(run.wait() == 0);
  CHECK(mgr.runtime().stop_signal() == SIGTERM);
}

TEST_CASE("Manager: a runnable that throws stops the manager and run() reports it") {
  FakeApiServer server;
  Manager mgr(options_for(server));
  mgr.add([]() -> net::awaitable<void> { throw std::runtime_error("boom"); }, false);
  Running run(mgr);
  CHECK(run.wait() == 1);
}

TEST_CASE(
    "Manager: /readyz turns ready once the caches synced; /metrics serves the controllers' "
    "series") {
  FakeApiServer server;
  server.cluster().apply_object(kcoro::test::configmap_json("c1"));
  auto opts = options_for(server);
  opts.metrics_bind_address = "127.0.0.1:0";
  opts.health_probe_bind_address = "127.0.0.1:0";
  kcoro::testing::Fault failing_list;
  failing_list.method = "GET";
  failing_list.path_prefix = "/api/v1/configmaps";
  failing_list.times = kcoro::testing::Fault::kAlways;
  const int fault = server.add_fault(failing_list);
  Manager mgr(opts);
  Seen seen;
  mgr.controller("served").for_(res::configmaps).complete(recording(seen));
  REQUIRE(mgr.metrics_port() != 0);
  REQUIRE(mgr.health_probe_port() != 0);
  Running run(mgr);
  auto get = [](uint16_t port, std::string path) {
    kcoro::RawResponse out;
    kcoro::test::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
      kcoro::Client c(ex,
                      kcoro::ClusterConfig::from_url("http://127.0.0.1:" + std::to_string(port)));
      out = co_await c.request("GET", path);
    });
    return out;
  };
  CHECK(get(mgr.health_probe_port(), "/healthz").status == 200);
  CHECK(get(mgr.health_probe_port(), "/readyz").status == 500);  // the list keeps failing
  server.remove_fault(fault);
  REQUIRE(wait_until([&] { return seen.has("default/c1"); }));
  CHECK(get(mgr.health_probe_port(), "/readyz").status == 200);
  const auto metrics = get(mgr.metrics_port(), "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find(
            R"(controller_runtime_reconcile_total{controller="served",result="success"} 1)") !=
        std::string::npos);
  CHECK(run.finish() == 0);
}

TEST_CASE("Manager: two replicas, one leader; the standby's cache is warm and it takes over") {
  FakeApiServer server;
  auto opts = options_for(server);
  opts.leader_election = true;
  opts.leader_election_id = "replicas";
  opts.leader_election_namespace = "default";
  opts.lease_duration = 1s;
  opts.renew_deadline = 500ms;
  opts.retry_period = 50ms;
  opts.leader_election_release_on_cancel = false;  // stopping the leader is a crash: no release
  Manager first(opts);
  Manager second(opts);
  Seen seen_first, seen_second;
  first.controller("replicated").for_(res::configmaps).complete(recording(seen_first));
  second.controller("replicated").for_(res::configmaps).complete(recording(seen_second));
  server.cluster().apply_object(kcoro::test::configmap_json("c1"));

  auto run_first = std::make_unique<Running>(first);
  REQUIRE(wait_until([&] { return first.is_leader(); }));
  Running run_second(second);
  REQUIRE(wait_until([&] { return second.caches_synced(); }));  // warm while standing by
  REQUIRE(wait_until([&] { return seen_first.has("default/c1"); }));
  CHECK_FALSE(second.is_leader());
  CHECK(seen_second.size() == 0);

  // The leader dies without releasing: the standby leads once the lease expires, and reconciles.
  CHECK(run_first->finish() == 0);
  run_first.reset();
  REQUIRE(wait_until([&] { return second.is_leader(); }));
  CHECK(wait_until([&] { return seen_second.has("default/c1"); }));
  server.cluster().apply_object(kcoro::test::configmap_json("c2"));
  CHECK(wait_until([&] { return seen_second.has("default/c2"); }));
  CHECK_FALSE(seen_first.has("default/c2"));
  CHECK(run_second.finish() == 0);
}

TEST_CASE("Manager: a lost lease stops everything and run() returns 1") {
  FakeApiServer server;
  auto opts = options_for(server);
  opts.leader_election = true;
  opts.leader_election_id = "lost";
  opts.leader_election_namespace = "default";
  opts.lease_duration = 1s;
  opts.renew_deadline = 500ms;
  opts.retry_period = 50ms;
  Manager mgr(opts);
  Seen seen;
  mgr.controller("doomed").for_(res::configmaps).complete(recording(seen));
  Running run(mgr);
  REQUIRE(wait_until([&] { return mgr.is_leader(); }));
  kcoro::testing::Fault renewals;  // every lease request fails from now on
  renewals.path_prefix = "/apis/coordination.k8s.io/";
  renewals.times = kcoro::testing::Fault::kAlways;
  server.add_fault(renewals);
  CHECK(run.wait() == 1);
  CHECK_FALSE(mgr.is_leader());
}

TEST_CASE("Manager: options and builder misuse are errors at construction") {
  FakeApiServer server;
  {
    auto opts = options_for(server);
    opts.leader_election = true;  // no id
    CHECK_THROWS_AS(Manager{opts}, std::invalid_argument);
  }
  {
    auto opts = options_for(server);
    opts.metrics_bind_address = "not an address";
    CHECK_THROWS_AS(Manager{opts}, std::invalid_argument);
  }
  Manager mgr(options_for(server));
  Seen seen;
  CHECK_THROWS_AS(mgr.controller("no-for").owns(res::pods).complete(recording(seen)),
                  std::logic_error);
  CHECK_THROWS_AS(
      mgr.controller("two-for").for_(res::pods).for_(res::configmaps).complete(recording(seen)),
      std::logic_error);
  CHECK_THROWS_AS(mgr.controller("no-map").watches(res::pods, {}), std::invalid_argument);
  CHECK_THROWS_AS(mgr.controller("no-workers").workers(0), std::invalid_argument);
}
