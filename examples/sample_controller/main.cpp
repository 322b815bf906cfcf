// sample_controller — the Kubernetes sample-controller (k8s.io/sample-controller) with kcoro.
//
// A Foo (samplecontroller.k8s.io/v1alpha1) asks for a Deployment: spec.deploymentName running
// nginx with spec.replicas replicas. The controller watches Foos and the Deployments they own
// (ownerReference with controller: true); either changing puts the Foo's key on the work queue.
// Reconciling a Foo creates or scales its Deployment, copies the Deployment's available replicas
// into the Foo's status (the status subresource) and records an Event. Foo is a typed custom
// resource (foo.hpp: described structs and KCORO_CUSTOM_RESOURCE), Deployment the generated
// apps/v1 type: the reconciler reads both typed from the cache and writes them typed.
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
#include "foo.hpp"

#include "kcoro/api/apps/v1.hpp"
#include "kcoro/crd.hpp"
#include "kcoro/event_recorder.hpp"
#include "kcoro/manager.hpp"
#include "kcoro/typed_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <spdlog/spdlog.h>

#include <cstdio>

namespace net = boost::asio;
namespace json = boost::json;
namespace res = kcoro::resources;
namespace appsv1 = kcoro::api::apps::v1;
using samplecontroller::v1alpha1::Foo;
using namespace std::chrono_literals;

namespace {

const kcoro::Resource& foos = Foo::resource();

// Event reasons and messages, as sample-controller's constants (SuccessSynced is "Synced").
constexpr const char* kSuccessSynced = "Synced";
constexpr const char* kErrResourceExists = "ErrResourceExists";
constexpr const char* kMessageResourceExists =
    "Resource \"{}\" already exists and is not managed by Foo";
constexpr const char* kMessageResourceSynced = "Foo synced successfully";

// newDeployment: nginx with the Foo's replicas, owned by the Foo (controller: true, so the
// Deployment's events come back to this Foo, and garbage collection deletes it with the Foo).
appsv1::Deployment new_deployment(const Foo& foo, const std::string& name, int32_t replicas) {
  const std::map<std::string, std::string> labels{{"app", "nginx"},
                                                  {"controller", *foo.metadata->name}};
  appsv1::Deployment d;
  auto& md = d.metadata.emplace();
  md.name = name;
  md.namespace_ = foo.metadata->namespace_;
  auto& owner = md.ownerReferences.emplace_back();
  owner.apiVersion = foos.api_version();
  owner.kind = foos.kind;
  owner.name = foo.metadata->name;
  owner.uid = foo.metadata->uid;
  owner.controller = true;
  owner.blockOwnerDeletion = true;
  auto& spec = d.spec.emplace();
  spec.replicas = replicas;
  spec.selector.emplace().matchLabels = labels;
  auto& pod = spec.template_.emplace();
  pod.metadata.emplace().labels = labels;
  auto& container = pod.spec.emplace().containers.emplace_back();
  container.name = "nginx";
  container.image = "nginx:latest";
  return d;
}

// The ownerReference with controller: true, or nullptr.
const kcoro::api::meta::v1::OwnerReference* controller_of(const appsv1::Deployment& d) {
  if (!d.metadata) return nullptr;
  for (const auto& ref : d.metadata->ownerReferences) {
    if (ref.controller.value_or(false)) return &ref;
  }
  return nullptr;
}

// --- demo: the objects a user would `kubectl apply`, and a stand-in for the Deployment
// controller (the fake API server runs no controllers, so nothing would ever become available).

const char* kDemoFoo = R"({"apiVersion":"samplecontroller.k8s.io/v1alpha1","kind":"Foo",
 "metadata":{"name":"example-foo","namespace":"default"},
 "spec":{"deploymentName":"example-foo","replicas":1}})";

// Every 200 ms, marks each Deployment's replicas available (status subresource), as the
// Deployment controller and the kubelets would once the pods run.
net::awaitable<void> demo_deployment_controller(kcoro::Manager& mgr) {
  net::steady_timer timer(co_await net::this_coro::executor);
  auto& client = mgr.client();
  for (;;) {
    timer.expires_after(200ms);
    co_await timer.async_wait(net::use_awaitable);  // cancelled when the manager stops
    auto page = co_await client.list(res::deployments, "default");
    for (const auto& d : page.items) {
      const int64_t want = d->get<int64_t>("/spec/replicas").value_or(1);
      if (d->get<int64_t>("/status/availableReplicas").value_or(0) == want) continue;
      const std::string name(d->meta().name);
      json::value status = {
          {"status", {{"replicas", want}, {"readyReplicas", want}, {"availableReplicas", want}}}};
      kcoro::PatchOptions po;
      po.status = true;
      co_await client.patch(res::deployments, "default", name, kcoro::PatchType::merge, status, po);
      spdlog::info("Demo: Deployment {} has {} available replicas", name, want);
    }
  }
}

// The demo asks its own endpoint what a kubelet or Prometheus would.
net::awaitable<void> demo_probe(net::any_io_executor ex, uint16_t port, std::string path) {
  if (port == 0) co_return;
  kcoro::Client self(ex,
                     kcoro::ClusterConfig::from_url("http://127.0.0.1:" + std::to_string(port)));
  const kcoro::RawResponse r = co_await self.request("GET", path);
  std::string first = r.body.substr(0, r.body.find('\n'));
  const auto at = r.body.find(  // the line that shows reconciles being counted
      "controller_runtime_reconcile_total{controller=\"sample-controller\",result=\"success\"}");
  if (at != std::string::npos) first = r.body.substr(at, r.body.find('\n', at) - at);
  spdlog::info("GET {}: {} {}", path, r.status, first);
}

// After ~1 s, scales the Foo as `kubectl patch foo example-foo --type merge -p ...` would; then,
// once the Foo reports 3 available replicas, asks the endpoints what a kubelet or Prometheus would.
net::awaitable<void> demo_scale_foo(kcoro::Manager& mgr) {
  net::steady_timer timer(co_await net::this_coro::executor, 1s);
  co_await timer.async_wait(net::use_awaitable);
  spdlog::info("Demo: patching Foo example-foo to 3 replicas");
  const kcoro::Api<Foo> api(mgr.client(), "default");
  Foo scale;  // a partly filled Foo is a merge patch: {"spec":{"replicas":3}}
  scale.spec.emplace().replicas = 3;
  const std::string patch = kcoro::api::encode(scale);
  co_await api.patch("example-foo", kcoro::PatchType::merge, patch);
  for (;;) {
    const Foo foo = co_await api.get("example-foo");
    if (foo.status && foo.status->availableReplicas == 3) break;
    timer.expires_after(100ms);
    co_await timer.async_wait(net::use_awaitable);
  }
  co_await demo_probe(mgr.runtime().io_executor(), mgr.health_probe_port(), "/readyz");
  co_await demo_probe(mgr.runtime().io_executor(), mgr.metrics_port(), "/metrics");
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

// Runs demo_report on its own thread once the manager is gone (the fake server still runs).
void report_demo(const std::string& url, std::vector<std::string> names) {
  net::io_context io;
  kcoro::Client client(io.get_executor(), kcoro::ClusterConfig::from_url(url));
  net::co_spawn(io, demo_report(client, std::move(names)), [](std::exception_ptr e) {
    if (e) spdlog::error("demo report: {}", kcoro::exception_message(e));
  });
  io.run();
}

// "15s", "200ms" (the leader election flags' durations).
std::chrono::milliseconds parse_duration(const std::string& text) {
  std::size_t used = 0;
  const long n = std::stol(text, &used);
  const std::string unit = text.substr(used);
  if (n > 0 && unit == "ms") return std::chrono::milliseconds(n);
  if (n > 0 && unit == "s") return std::chrono::seconds(n);
  throw std::invalid_argument("bad duration \"" + text + "\" (e.g. 15s or 200ms)");
}

// syncHandler: bring the Deployment of one Foo in line with the Foo's spec, then the Foo's
// status in line with the Deployment. An error (thrown) is retried with backoff, without a cap.
net::awaitable<kcoro::Result> sync_handler(const kcoro::Request& req, kcoro::Context& ctx,
                                           kcoro::Reads<Foo, appsv1::Deployment> cache) {
  // The Foo, from the cache. Gone: it was deleted, and its Deployment goes with it.
  std::optional<Foo> foo = cache.get<Foo>(req.ns, req.name);
  if (!foo) {
    ctx.log().error("foo '{}' in work queue no longer exists", req.str());
    co_return kcoro::Result::done();
  }
  const std::string name = foo->spec ? foo->spec->deploymentName.value_or("") : "";
  if (name.empty()) {  // retrying cannot help until the Foo changes, which enqueues it again
    ctx.log().error("deployment name must be specified");
    co_return kcoro::Result::done();
  }
  const std::optional<int32_t> replicas = foo->spec->replicas;
  kcoro::Api<appsv1::Deployment> deployments(ctx.client(), req.ns);

  // The Deployment named in the Foo, created when missing.
  std::optional<appsv1::Deployment> deployment = cache.get<appsv1::Deployment>(req.ns, name);
  if (!deployment) {
    const appsv1::Deployment want = new_deployment(*foo, name, replicas.value_or(1));
    appsv1::Deployment created = co_await deployments.create(want);
    deployment = std::move(created);
    ctx.log().info("Deployment {} created with {} replicas", name, replicas.value_or(1));
  }

  // Not controlled by this Foo: warn on the Foo and fail, until a human sorts it out.
  const auto* owner = controller_of(*deployment);
  if (!owner || owner->uid != foo->metadata->uid) {
    const std::string msg = fmt::format(kMessageResourceExists, name);
    ctx.recorder()->record(*foo, kcoro::EventType::warning, kErrResourceExists, msg);
    throw std::runtime_error(msg);
  }

  // The Foo asks for other replicas: update the Deployment to the Foo's spec.
  const int32_t current = deployment->spec ? deployment->spec->replicas.value_or(1) : 1;
  if (replicas && current != *replicas) {
    ctx.log().info("Update deployment resource: replicas {} -> {}", current, *replicas);
    const appsv1::Deployment want = new_deployment(*foo, name, *replicas);
    appsv1::Deployment updated = co_await deployments.update(want);
    deployment = std::move(updated);
  }

  // UpdateStatus: the Foo as cached, resourceVersion included, with the Deployment's available
  // replicas. A Foo changed meanwhile answers 409 Conflict: retried, never overwritten.
  Foo copy = *foo;
  copy.status.emplace().availableReplicas =
      deployment->status ? deployment->status->availableReplicas.value_or(0) : 0;
  const kcoro::Api<Foo> api(ctx.client(), req.ns);
  co_await api.update_status(copy);

  ctx.recorder()->record(*foo, kcoro::EventType::normal, kSuccessSynced, kMessageResourceSynced);
  ctx.log().info("Successfully synced '{}'", req.str());
  co_return kcoro::Result::done();
}

// The flags: the common ones (examples/common.hpp) and sample-controller's, into `opts`.
struct Flags {
  int workers = 2;
  bool demo_conflict = false;
};

Flags parse_flags(kcoro::examples::Args& args, kcoro::ManagerOptions& opts) {
  Flags f;
  opts.leader_election_id = "sample-controller";
  if (auto v = args.value("--namespace")) opts.cache.namespaces = {*v};
  if (auto v = args.value("--workers")) f.workers = std::stoi(*v);
  opts.leader_election = args.flag("--leader-elect");
  if (auto v = args.value("--leader-elect-namespace")) opts.leader_election_namespace = *v;
  if (auto v = args.value("--leader-elect-id")) opts.leader_election_id = *v;
  if (auto v = args.value("--leader-elect-lease-duration"))
    opts.lease_duration = parse_duration(*v);
  if (auto v = args.value("--leader-elect-renew-deadline"))
    opts.renew_deadline = parse_duration(*v);
  if (auto v = args.value("--leader-elect-retry-period")) opts.retry_period = parse_duration(*v);
  if (auto v = args.value("--metrics-bind-address")) opts.metrics_bind_address = *v;
  if (auto v = args.value("--health-probe-bind-address")) opts.health_probe_bind_address = *v;
  // --demo-conflict: also a Foo naming a Deployment it does not own (ErrResourceExists).
  f.demo_conflict = args.flag("--demo-conflict");
  args.expect_empty();
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  kcoro::examples::App app(
      "sample_controller",
      " [--namespace NS] [--workers N] [--demo-conflict]\n"
      "       [--leader-elect] [--leader-elect-namespace NS] [--leader-elect-id NAME]\n"
      "       [--leader-elect-lease-duration 15s] [--leader-elect-renew-deadline 10s]\n"
      "       [--leader-elect-retry-period 2s]\n"
      "       [--metrics-bind-address ADDR] [--health-probe-bind-address ADDR]\n"
      "       ADDR is host:port or :port; \"0\" (the default) serves nothing");
  auto args = app.parse(argc, argv);
  kcoro::ManagerOptions opts;
  Flags flags;
  try {
    opts = app.manager_options();  // the cluster, or (--demo) an embedded fake API server
    flags = parse_flags(args, opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sample_controller: %s (see --help)\n", e.what());
    return 2;
  }
  opts.graceful_shutdown_timeout = 5s;

  // --demo: the CRD (crd_of<Foo>(), which artifacts/crd.yaml is) and an example Foo, as
  // `kubectl apply -f artifacts/...` would leave them.
  if (app.demo()) {
    app.fake()->cluster().apply_object(kcoro::api::encode(kcoro::crd_of<Foo>()));
    app.fake()->cluster().apply_object(kDemoFoo);
    if (flags.demo_conflict) {
      app.fake()->cluster().apply_object(kDemoTakenDeployment);
      app.fake()->cluster().apply_object(kDemoConflictFoo);
    }
  }

  // The Manager: client, shared cache, recorder, leader election, /metrics and the probes.
  std::unique_ptr<kcoro::Manager> mgr;
  try {
    mgr = std::make_unique<kcoro::Manager>(opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sample_controller: %s\n", e.what());
    return 2;
  }
  app.bound(*mgr);

  // Foos enqueue themselves; Deployments enqueue the Foo that controls them.
  mgr->controller("sample-controller")
      .for_<Foo>()
      .owns<appsv1::Deployment>()
      .workers(flags.workers)
      .complete(sync_handler);

  if (app.demo()) {
    mgr->add([&] { return demo_deployment_controller(*mgr); }, false);
    mgr->add([&] { return demo_scale_foo(*mgr); }, false);
  }
  spdlog::info("Starting Foo controller");
  const int code = mgr->run();
  if (app.demo()) {
    std::vector<std::string> names{"example-foo"};
    if (flags.demo_conflict) names.push_back("conflict-foo");
    report_demo(app.fake()->url(), names);
  }
  return code;
}
