// sample_controller — the Kubernetes sample-controller (k8s.io/sample-controller) with kcoro.
//
// A Foo (samplecontroller.k8s.io/v1alpha1) asks for a Deployment: spec.deploymentName running
// nginx with spec.replicas replicas. The controller watches Foos and the Deployments they own
// (ownerReference with controller: true); either changing puts the Foo's key on the work queue.
// Reconciling a Foo creates or scales its Deployment, copies the Deployment's available replicas
// into the Foo's status (the status subresource) and records an Event.
//
//   kubectl apply -f artifacts/crd.yaml -f artifacts/rbac.yaml -f artifacts/example-foo.yaml
//   sample_controller --kubeconfig ~/.kube/config
//   sample_controller --demo --run-for-seconds 5     # no cluster: an embedded fake API server
//
// Run as a Deployment of several replicas (artifacts/deployment.yaml), it elects a leader through
// a Lease (--leader-elect): one replica reconciles, the others wait to take over. It serves
// /metrics (--metrics-bind-address) and the kubelet's /healthz and /readyz probes
// (--health-probe-bind-address), as controller-runtime's manager does.
#include "../common.hpp"

#include "kcoro/controller.hpp"
#include "kcoro/event_recorder.hpp"
#include "kcoro/informer.hpp"
#include "kcoro/leader_election.hpp"
#include "kcoro/metrics_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <spdlog/spdlog.h>

#include <cstdio>

namespace net = boost::asio;
namespace json = boost::json;
namespace res = kcoro::resources;
using namespace std::chrono_literals;

namespace {

// The custom resource; kcoro needs no generated types, only where it lives.
const kcoro::Resource foos{"samplecontroller.k8s.io", "v1alpha1", "Foo", "foos", true};

// Event reasons and messages, as sample-controller's.
constexpr const char* kSuccessSynced = "SuccessSynced";
constexpr const char* kErrResourceExists = "ErrResourceExists";
constexpr const char* kMessageResourceSynced = "Foo synced successfully";

// newDeployment: nginx with the Foo's replicas, owned by the Foo (controller: true, so the
// Deployment's events come back to this Foo, and garbage collection deletes it with the Foo).
std::string new_deployment(const kcoro::Object& foo, const std::string& name, int64_t replicas) {
  const std::string foo_name(foo.meta().name);
  json::object labels{{"app", "nginx"}, {"controller", foo_name}};
  json::value d = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata",
       {{"name", name},
        {"namespace", std::string(foo.meta().ns)},
        {"ownerReferences", json::array{json::object{{"apiVersion", foos.api_version()},
                                                     {"kind", "Foo"},
                                                     {"name", foo_name},
                                                     {"uid", std::string(foo.meta().uid)},
                                                     {"controller", true},
                                                     {"blockOwnerDeletion", true}}}}}},
      {"spec",
       {{"replicas", replicas},
        {"selector", {{"matchLabels", labels}}},
        {"template",
         {{"metadata", {{"labels", labels}}},
          {"spec",
           {{"containers",
             json::array{json::object{{"name", "nginx"}, {"image", "nginx:latest"}}}}}}}}}}};
  return json::serialize(d);
}

// --- demo: the objects a user would `kubectl apply`, and a stand-in for the Deployment
// controller (the fake API server runs no controllers, so nothing would ever become available).

const char* kDemoCrd = R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
 "metadata":{"name":"foos.samplecontroller.k8s.io"},
 "spec":{"group":"samplecontroller.k8s.io","scope":"Namespaced",
  "names":{"plural":"foos","singular":"foo","kind":"Foo","listKind":"FooList"},
  "versions":[{"name":"v1alpha1","served":true,"storage":true,
   "schema":{"openAPIV3Schema":{"type":"object","properties":{
    "spec":{"type":"object","properties":{"deploymentName":{"type":"string"},
                                          "replicas":{"type":"integer","minimum":1,"maximum":10}}},
    "status":{"type":"object","properties":{"availableReplicas":{"type":"integer"}}}}}},
   "subresources":{"status":{}}}]}})";

const char* kDemoFoo = R"({"apiVersion":"samplecontroller.k8s.io/v1alpha1","kind":"Foo",
 "metadata":{"name":"example-foo","namespace":"default"},
 "spec":{"deploymentName":"example-foo","replicas":1}})";

// Every 200 ms, marks each Deployment's replicas available (status subresource), as the
// Deployment controller and the kubelets would once the pods run.
net::awaitable<void> demo_deployment_controller(kcoro::examples::App& app) {
  net::steady_timer timer(co_await net::this_coro::executor);
  auto& client = app.client();
  while (!app.stopping()) {
    timer.expires_after(200ms);
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (ec || app.stopping()) break;
    kcoro::ListOptions lo;
    auto page = co_await client.list(res::deployments, "default", lo);
    for (const auto& d : page.items) {
      const int64_t want = d->get<int64_t>("/spec/replicas").value_or(1);
      if (d->get<int64_t>("/status/availableReplicas").value_or(0) == want) continue;
      const std::string name(d->meta().name);
      json::value status = {
          {"status", {{"replicas", want}, {"readyReplicas", want}, {"availableReplicas", want}}}};
      kcoro::JsonBody body(status);
      kcoro::PatchOptions po;
      po.status = true;
      co_await client.patch(res::deployments, "default", name, kcoro::PatchType::merge, body, po);
      spdlog::info("Demo: Deployment {} has {} available replicas", name, want);
    }
  }
}

// After ~1 s, scales the Foo as `kubectl patch foo example-foo --type merge -p ...` would.
net::awaitable<void> demo_scale_foo(kcoro::examples::App& app) {
  net::steady_timer timer(co_await net::this_coro::executor, 1s);
  boost::system::error_code ec;
  co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
  if (ec || app.stopping()) co_return;
  spdlog::info("Demo: patching Foo example-foo to 3 replicas");
  kcoro::JsonBody body(R"({"spec":{"replicas":3}})");
  kcoro::PatchOptions po;
  co_await app.client().patch(foos, "default", "example-foo", kcoro::PatchType::merge, body, po);
}

// --demo-conflict: a Deployment someone else made, and a Foo that names it.
const char* kDemoTakenDeployment = R"({"apiVersion":"apps/v1","kind":"Deployment",
 "metadata":{"name":"taken","namespace":"default"},
 "spec":{"replicas":1,"selector":{"matchLabels":{"app":"other"}},
  "template":{"metadata":{"labels":{"app":"other"}},
   "spec":{"containers":[{"name":"other","image":"busybox"}]}}}})";
const char* kDemoConflictFoo = R"({"apiVersion":"samplecontroller.k8s.io/v1alpha1","kind":"Foo",
 "metadata":{"name":"conflict-foo","namespace":"default"},
 "spec":{"deploymentName":"taken","replicas":2}})";

// "15s", "200ms" (the leader election flags' durations).
std::chrono::milliseconds parse_duration(const std::string& text) {
  std::size_t used = 0;
  const long n = std::stol(text, &used);
  const std::string unit = text.substr(used);
  if (n > 0 && unit == "ms") return std::chrono::milliseconds(n);
  if (n > 0 && unit == "s") return std::chrono::seconds(n);
  throw std::invalid_argument("bad duration \"" + text + "\" (e.g. 15s or 200ms)");
}

// The demo asks its own endpoint what a kubelet or Prometheus would.
net::awaitable<void> demo_probe(net::any_io_executor ex, uint16_t port, const std::string& path) {
  kcoro::Client self(ex,
                     kcoro::ClusterConfig::from_url("http://127.0.0.1:" + std::to_string(port)));
  const kcoro::RawResponse r = co_await self.request("GET", path);
  std::string first = r.body.substr(0, r.body.find('\n'));
  if (path == "/metrics") {  // the line that shows reconciles being counted
    const auto at = r.body.find(
        "controller_runtime_reconcile_total{controller=\"sample-controller\",result=\"success\"}");
    first = at == std::string::npos ? "" : r.body.substr(at, r.body.find('\n', at) - at);
  }
  spdlog::info("GET {}: {} {}", path, r.status, first);
}

// At the end of the demo: what the controller left on the server.
net::awaitable<void> demo_report(kcoro::Client& client, std::vector<std::string> names) {
  for (const auto& name : names) {
    auto foo = co_await client.get(foos, "default", name);
    spdlog::info("Foo default/{} status.availableReplicas={}", name,
                 foo->get<int64_t>("/status/availableReplicas").value_or(0));
    kcoro::ListOptions lo;
    lo.field_selector = "involvedObject.name=" + name;
    auto events = co_await client.list(res::events, "default", lo);
    for (const auto& e : events.items) {
      if (e->get<std::string_view>("/involvedObject/kind").value_or("") != "Foo") continue;
      spdlog::info(
          "Event {}: {} (type {}, count {})", e->get<std::string_view>("/reason").value_or(""),
          e->get<std::string_view>("/message").value_or(""),
          e->get<std::string_view>("/type").value_or(""), e->get<int64_t>("/count").value_or(1));
    }
  }
  auto taken = co_await client.list(res::deployments, "default");
  for (const auto& d : taken.items) {
    const auto* owner = d->meta().controller_ref();
    spdlog::info("Deployment default/{}: replicas {}, controlled by {}", d->meta().name,
                 d->get<int64_t>("/spec/replicas").value_or(1),
                 owner ? std::string(owner->kind) + " " + std::string(owner->name) : "nobody");
  }
}

}  // namespace

int main(int argc, char** argv) {
  // 1. Flags: the common ones, then --namespace (default: every namespace) and --workers.
  kcoro::examples::App app(
      "sample_controller",
      " [--namespace NS] [--workers N] [--demo-conflict]\n"
      "       [--leader-elect] [--leader-elect-namespace NS] [--leader-elect-id NAME]\n"
      "       [--leader-elect-lease-duration 15s] [--leader-elect-renew-deadline 10s]\n"
      "       [--leader-elect-retry-period 2s]\n"
      "       [--metrics-bind-address ADDR] [--health-probe-bind-address ADDR]\n"
      "       ADDR is host:port or :port; \"0\" (the default) serves nothing");
  auto args = app.parse(argc, argv);
  std::string ns;
  int workers = 2;
  bool demo_conflict = false;
  bool leader_elect = false;
  std::string lease_ns;  // default: the configuration's namespace (in a pod: the pod's)
  std::string lease_name = "sample-controller";
  kcoro::LeaderElectionOptions lo;
  std::string metrics_address = "0";
  std::string probe_address = "0";
  try {
    if (auto v = args.value("--namespace")) ns = *v;
    if (auto v = args.value("--workers")) workers = std::stoi(*v);
    leader_elect = args.flag("--leader-elect");
    if (auto v = args.value("--leader-elect-namespace")) lease_ns = *v;
    if (auto v = args.value("--leader-elect-id")) lease_name = *v;
    if (auto v = args.value("--leader-elect-lease-duration"))
      lo.lease_duration = parse_duration(*v);
    if (auto v = args.value("--leader-elect-renew-deadline"))
      lo.renew_deadline = parse_duration(*v);
    if (auto v = args.value("--leader-elect-retry-period")) lo.retry_period = parse_duration(*v);
    if (auto v = args.value("--metrics-bind-address")) metrics_address = *v;
    if (auto v = args.value("--health-probe-bind-address")) probe_address = *v;
    // --demo-conflict: also a Foo naming a Deployment it does not own (ErrResourceExists).
    demo_conflict = args.flag("--demo-conflict");
    args.expect_empty();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sample_controller: %s (see --help)\n", e.what());
    return 2;
  }

  // 2. The cluster, or (--demo) an embedded fake API server with the CRD and an example Foo,
  //    as `kubectl apply -f artifacts/crd.yaml -f artifacts/example-foo.yaml` would leave them.
  kcoro::Client& client = app.connect();
  if (app.demo()) {
    app.fake()->cluster().apply_object(kDemoCrd);
    app.fake()->cluster().apply_object(kDemoFoo);
    if (demo_conflict) {
      app.fake()->cluster().apply_object(kDemoTakenDeployment);
      app.fake()->cluster().apply_object(kDemoConflictFoo);
    }
  }

  // 3. Informers for Foos and Deployments, and an EventRecorder writing Events in the background.
  kcoro::InformerOptions fo;
  fo.resource = foos;
  fo.ns = ns;
  kcoro::Informer foo_informer(client, fo, app.informer_executor(), app.executor());
  kcoro::InformerOptions dopts;
  dopts.resource = res::deployments;
  dopts.ns = ns;
  kcoro::Informer deployment_informer(client, dopts, app.informer_executor(), app.executor());
  kcoro::EventRecorderOptions ro;
  ro.component = "sample-controller";
  kcoro::EventRecorder recorder(client, ro);

  // 4. syncHandler: bring the Deployment of one Foo in line with the Foo's spec.
  auto reconcile = [&](const kcoro::Request& req,
                       kcoro::Context& ctx) -> net::awaitable<kcoro::Result> {
    // An invalid key cannot succeed later: drop it (the controller parsed it; be defensive).
    if (req.name.empty()) co_return kcoro::Result::terminal("invalid resource key");

    // The Foo, from the informer's cache. Gone: it was deleted; nothing to do (the Deployment
    // goes with it through its ownerReference).
    auto foo = foo_informer.store()->get(req.str());
    if (!foo) {
      ctx.log().info("foo '{}' in work queue no longer exists", req.str());
      co_return kcoro::Result::done();
    }
    const std::string deployment_name(
        foo->get<std::string_view>("/spec/deploymentName").value_or(""));
    if (deployment_name.empty()) {
      // Retrying will not help until the Foo changes, which enqueues it again.
      ctx.log().error("deployment name must be specified");
      co_return kcoro::Result::done();
    }
    const int64_t replicas = foo->get<int64_t>("/spec/replicas").value_or(1);

    // The Deployment named in the Foo: created when missing.
    auto deployment = deployment_informer.store()->get(req.ns + "/" + deployment_name);
    if (!deployment) {
      kcoro::JsonBody body(new_deployment(*foo, deployment_name, replicas));
      try {
        deployment = co_await ctx.client().create(res::deployments, req.ns, body);
        spdlog::info("Deployment {} created with {} replicas", deployment_name, replicas);
      } catch (const kcoro::ApiError& e) {
        // The cache lags behind our own create: the Deployment is there, read it.
        if (!kcoro::is_already_exists(e)) throw;
      }
      if (!deployment)
        deployment = co_await ctx.client().get(res::deployments, req.ns, deployment_name);
    }

    // Not ours: warn on the Foo and fail (retried with backoff) until a human sorts it out.
    const kcoro::OwnerReference* owner = deployment->meta().controller_ref();
    if (!owner || owner->uid != foo->meta().uid) {
      const std::string msg =
          "Resource \"" + deployment_name + "\" already exists and is not managed by Foo";
      ctx.recorder()->record(*foo, kcoro::EventType::warning, kErrResourceExists, msg);
      co_return kcoro::Result::error(msg);
    }

    // Replicas differ from the Foo's: scale the Deployment.
    if (deployment->get<int64_t>("/spec/replicas").value_or(1) != replicas) {
      json::value patch = {{"spec", {{"replicas", replicas}}}};
      kcoro::JsonBody body(patch);
      kcoro::PatchOptions po;
      deployment = co_await ctx.client().patch(res::deployments, req.ns, deployment_name,
                                               kcoro::PatchType::merge, body, po);
      spdlog::info("Deployment {} scaled to {} replicas", deployment_name, replicas);
    }

    // The Foo's status: the Deployment's available replicas, through the status subresource.
    const int64_t available = deployment->get<int64_t>("/status/availableReplicas").value_or(0);
    if (foo->get<int64_t>("/status/availableReplicas").value_or(-1) != available) {
      json::value patch = {{"status", {{"availableReplicas", available}}}};
      kcoro::JsonBody body(patch);
      kcoro::PatchOptions po;
      po.status = true;
      co_await ctx.client().patch(foos, req.ns, req.name, kcoro::PatchType::merge, body, po);
      spdlog::info("Foo {} status.availableReplicas set to {}", req.str(), available);
    }

    ctx.recorder()->record(*foo, kcoro::EventType::normal, kSuccessSynced, kMessageResourceSynced);
    co_return kcoro::Result::done();
  };

  // 5. The controller: Foo events enqueue the Foo; Deployment events enqueue their owning Foo.
  kcoro::ControllerOptions co;
  co.name = "sample-controller";
  co.workers = workers;
  co.recorder = &recorder;
  co.stop_timeout = 5s;  // controller_runtime_* and workqueue_* series: the global registry
  kcoro::Controller controller(client, app.worker_executor(), reconcile, co);
  controller.watches(foo_informer).owns(deployment_informer, "Foo");

  // 6. Leader election: only the replica holding the Lease reconciles.
  std::unique_ptr<kcoro::LeaderElector> elector;
  if (leader_elect) {
    if (lease_ns.empty()) lease_ns = client.config().default_namespace;
    lo.lease_namespace = lease_ns;
    lo.lease_name = lease_name;
    lo.recorder = &recorder;
    try {
      elector = std::make_unique<kcoro::LeaderElector>(client, lo);
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "sample_controller: %s\n", e.what());
      return 2;
    }
  }

  // 7. /metrics, and the probes: alive while the process serves; ready once the caches synced
  //    (a standby replica, waiting for the Lease, is ready too: a rollout must not wait for it).
  std::unique_ptr<kcoro::MetricsServer> metrics_server, probe_server;
  try {
    if (metrics_address != "0") {
      kcoro::MetricsServerOptions mo;
      mo.bind_address = metrics_address;
      metrics_server = std::make_unique<kcoro::MetricsServer>(app.executor(), mo);
    }
    if (probe_address != "0") {
      kcoro::MetricsServerOptions po;
      po.bind_address = probe_address;
      po.registry = nullptr;
      probe_server = std::make_unique<kcoro::MetricsServer>(app.executor(), po);
      probe_server->add_health_check("ping", [] { return std::nullopt; });
      probe_server->add_ready_check("informers", [&]() -> std::optional<std::string> {
        if (elector && !elector->is_leader()) return std::nullopt;  // standby
        if (foo_informer.has_synced() && deployment_informer.has_synced()) return std::nullopt;
        return "caches not synced yet";
      });
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sample_controller: %s\n", e.what());
    return 2;
  }

  // 8. SIGINT, SIGTERM or --run-for-seconds: stop the controller, the recorder, the informers.
  //    The Lease is released only once the workers are done (below).
  app.on_stop([&] {
    controller.stop();
    foo_informer.stop();
    deployment_informer.stop();
  });

  // 9. Run: the recorder and the endpoints in the background; the controller until stopped
  //    (while the Lease is held, with leader election).
  bool lost = false;
  auto run_controller = [&]() -> net::awaitable<void> {
    spdlog::info("Starting Foo controller");
    try {
      co_await controller.run();  // throws when a cache cannot sync for good (403, 404...)
    } catch (const kcoro::ApiError& e) {
      if (kcoro::is_not_found(e))
        spdlog::error(
            "Foos are not served: apply the CRD first (kubectl apply -f "
            "examples/sample_controller/artifacts/crd.yaml)");
      throw;
    }
    spdlog::info("Shutting down workers");
    if (elector) elector->stop();  // release the Lease now that nothing reconciles
  };
  auto keep_lease = [&]() -> net::awaitable<void> {
    if (co_await elector->hold() == kcoro::LeadershipEnd::lost) {
      lost = true;  // another replica may be leading already: stop reconciling at once
      app.runtime().stop();
    }
  };
  return app.run([&]() -> net::awaitable<void> {
    using namespace net::experimental::awaitable_operators;
    net::co_spawn(app.executor(), recorder.run(), net::detached);
    for (auto* server : {metrics_server.get(), probe_server.get()})
      if (server) net::co_spawn(app.executor(), server->run(), net::detached);
    if (app.demo()) {
      net::co_spawn(app.executor(), demo_deployment_controller(app), net::detached);
      net::co_spawn(app.executor(), demo_scale_foo(app), net::detached);
    }
    if (elector) {
      app.on_stop([&] {
        if (!elector->is_leader()) elector->stop();
      });  // a standby just quits
      spdlog::info("Waiting to lead: lease {}/{}, identity {}", lease_ns, lease_name,
                   elector->identity());
      if (co_await elector->acquire()) co_await (run_controller() && keep_lease());
    } else {
      co_await run_controller();
    }
    if (app.demo()) {
      std::vector<std::string> names{"example-foo"};
      if (demo_conflict) names.push_back("conflict-foo");
      co_await demo_report(client, names);
      if (probe_server) co_await demo_probe(app.executor(), probe_server->port(), "/readyz");
      if (metrics_server) co_await demo_probe(app.executor(), metrics_server->port(), "/metrics");
    }
    recorder.stop();
    for (auto* server : {metrics_server.get(), probe_server.get()})
      if (server) server->stop();
    if (lost) throw std::runtime_error("leader election lost");
  }());
}
