// The examples against a real kube-apiserver: sample_controller run as a user runs it, with a
// kubeconfig, must leave what upstream sample-controller leaves — its Deployment, its status
// write, its events with upstream's reasons and messages — and log upstream's lines; it follows
// a Foo scaled while it runs. pod_watcher and informer_printer see a pod come and go.
#include "kcoro/testing/envtest.hpp"

#include "envtest/env.hpp"
#include "support/co_test.hpp"
#include "testing/envtest_process.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace net = boost::asio;
using kcoro::Client;
using kcoro::test::co_run;
using kcoro::test::env;
using kcoro::test::fresh_namespace;
namespace res = kcoro::resources;
using namespace std::chrono_literals;

namespace {

const kcoro::Resource foos{"samplecontroller.k8s.io", "v1alpha1", "Foo", "foos", true};

std::string foo_json(const std::string& name, const std::string& deployment, int replicas) {
  return R"({"apiVersion":"samplecontroller.k8s.io/v1alpha1","kind":"Foo","metadata":{"name":")" +
         name + R"("},"spec":{"deploymentName":")" + deployment + R"(","replicas":)" +
         std::to_string(replicas) + "}}";
}

const char* kTakenDeployment = R"({"apiVersion":"apps/v1","kind":"Deployment",
 "metadata":{"name":"taken"},
 "spec":{"replicas":1,"selector":{"matchLabels":{"app":"other"}},
  "template":{"metadata":{"labels":{"app":"other"}},
   "spec":{"containers":[{"name":"other","image":"busybox"}]}}}})";

const char* kPod = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1"},)"
                   R"("spec":{"containers":[{"name":"c","image":"nginx"}]}})";

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// One example's run, as a user runs it: a namespace of its own, and a directory holding the
/// kubeconfig it is given and the log of its output (removed at the end).
struct Workspace {
  std::string ns;
  std::filesystem::path dir;

  explicit Workspace(const std::string& prefix) {
    co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
      Client c(ex, env().admin_config());
      ns = co_await fresh_namespace(c, prefix);
    });
    dir = std::filesystem::temp_directory_path() / ("kcoro-" + ns);
    std::filesystem::create_directories(dir);
    env().write_kubeconfig(dir / "kubeconfig");
  }
  ~Workspace() { std::filesystem::remove_all(dir); }

  std::filesystem::path log() const { return dir / "log"; }
  bool logged(const std::string& line) const {
    return read_file(log()).find(line) != std::string::npos;
  }
  /// Starts `binary` with --kubeconfig, --namespace and `extra`; its output goes to log().
  void start(kcoro::testing::ChildProcess& p, const std::string& binary,
             std::vector<std::string> extra = {}) const {
    std::vector<std::string> argv{binary, "--kubeconfig", (dir / "kubeconfig").string(),
                                  "--namespace", ns};
    argv.insert(argv.end(), extra.begin(), extra.end());
    p.spawn(std::filesystem::path(binary).filename().string(), argv, log());
  }
};

/// Polls `done` every 50 ms until it is true or `limit` has passed; returns its last answer.
template <class F>
bool eventually(std::chrono::milliseconds limit, F done) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

/// Runs `body` with a client of the admin's.
template <class F>
void with_client(F body) {
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, env().admin_config());
    co_await body(c);
  });
}

/// The events in `ns` about `object` with `reason`: "Type: message" each.
std::vector<std::string> events_about(const std::string& ns, const std::string& object,
                                      const std::string& reason) {
  std::vector<std::string> out;
  with_client([&](Client& c) -> net::awaitable<void> {
    auto events = co_await c.list(res::events, ns);
    for (const auto& ev : events.items) {
      if (ev->get<std::string>("/reason").value_or("") != reason) continue;
      if (ev->get<std::string>("/involvedObject/name").value_or("") != object) continue;
      out.push_back(ev->get<std::string>("/type").value_or("") + ": " +
                    ev->get<std::string>("/message").value_or(""));
    }
  });
  return out;
}

/// The replicas of Deployment `name` in `ns` as the server has them (0: no such Deployment).
int64_t deployment_replicas(const std::string& ns, const std::string& name) {
  int64_t n = 0;
  with_client([&](Client& c) -> net::awaitable<void> {
    kcoro::RawResponse r =
        co_await c.request("GET", "/apis/apps/v1/namespaces/" + ns + "/deployments/" + name);
    if (r.status == 200)
      n = kcoro::Object::parse(r.body)->get<int64_t>("/spec/replicas").value_or(0);
  });
  return n;
}

}  // namespace

TEST_CASE("envtest examples: sample_controller leaves what upstream sample-controller leaves") {
  if (std::string(KCORO_SAMPLE_CONTROLLER_BIN).empty()) {
    MESSAGE("sample_controller is not built (-Dexamples=disabled): not run");
    return;
  }
  env().install_crds({KCORO_SAMPLE_CONTROLLER_CRD});
  Workspace w("sample");
  with_client([&](Client& c) -> net::awaitable<void> {
    co_await c.create(foos, w.ns, foo_json("example-foo", "example-foo", 2));
    co_await c.create(res::deployments, w.ns, kTakenDeployment);
    co_await c.create(foos, w.ns, foo_json("conflict-foo", "taken", 1));
  });

  kcoro::testing::ChildProcess controller;
  w.start(controller, KCORO_SAMPLE_CONTROLLER_BIN);
  // Upstream's events, with its reasons and messages, once both Foos were handled.
  std::vector<std::string> synced, exists;
  eventually(30s, [&] {
    synced = events_about(w.ns, "example-foo", "Synced");
    exists = events_about(w.ns, "conflict-foo", "ErrResourceExists");
    return !synced.empty() && !exists.empty();
  });
  const std::string ended = controller.stop(10s);
  const std::string log = read_file(w.log());
  CAPTURE(log);
  CHECK(ended == "exit status 0");
  CHECK(!synced.empty());
  for (const auto& e : synced)
    CHECK(e == "Normal: Foo synced successfully");
  CHECK(!exists.empty());
  for (const auto& e : exists)
    CHECK(e == "Warning: Resource \"taken\" already exists and is not managed by Foo");
  const std::vector<std::string> lines{"Starting Foo controller",
                                       "Waiting for informer caches to sync",
                                       "Starting workers",
                                       "Started workers",
                                       "Successfully synced '" + w.ns + "/example-foo'",
                                       "Shutting down workers"};
  for (const auto& line : lines) {
    CAPTURE(line);
    CHECK(log.find(line) != std::string::npos);
  }

  with_client([&](Client& c) -> net::awaitable<void> {
    // The Deployment, controlled by its Foo, at the Foo's replicas.
    auto foo = co_await c.get(foos, w.ns, "example-foo");
    auto deployment = co_await c.get(res::deployments, w.ns, "example-foo");
    const kcoro::OwnerReference* owner = deployment->meta().controller_ref();
    REQUIRE(owner);
    CHECK(owner->kind == "Foo");
    CHECK(owner->uid == foo->meta().uid);
    CHECK(deployment->get<int64_t>("/spec/replicas") == 2);
    // The status was written through /status (no pods run here: 0 available).
    CHECK(foo->get<int64_t>("/status/availableReplicas") == 0);
    // Someone else's Deployment is left alone.
    auto taken = co_await c.get(res::deployments, w.ns, "taken");
    CHECK(taken->meta().controller_ref() == nullptr);
    CHECK(taken->get<int64_t>("/spec/replicas") == 1);
  });
}

TEST_CASE("envtest examples: sample_controller follows a Foo scaled while it runs") {
  if (std::string(KCORO_SAMPLE_CONTROLLER_BIN).empty()) {
    MESSAGE("sample_controller is not built (-Dexamples=disabled): not run");
    return;
  }
  env().install_crds({KCORO_SAMPLE_CONTROLLER_CRD});
  Workspace w("scale");
  with_client([&](Client& c) -> net::awaitable<void> {
    co_await c.create(foos, w.ns, foo_json("scaled", "scaled", 1));
  });
  kcoro::testing::ChildProcess controller;
  w.start(controller, KCORO_SAMPLE_CONTROLLER_BIN);
  const bool created = eventually(30s, [&] { return deployment_replicas(w.ns, "scaled") == 1; });
  CHECK(created);
  if (created) {
    with_client([&](Client& c) -> net::awaitable<void> {
      co_await c.patch(foos, w.ns, "scaled", kcoro::PatchType::merge, R"({"spec":{"replicas":3}})");
    });
    CHECK(eventually(30s, [&] { return deployment_replicas(w.ns, "scaled") == 3; }));
  }
  const std::string ended = controller.stop(10s);
  const std::string log = read_file(w.log());
  CAPTURE(log);
  CHECK(ended == "exit status 0");
  CHECK(log.find("Update deployment resource: replicas 1 -> 3") != std::string::npos);
  CHECK(log.find("Successfully synced '" + w.ns + "/scaled'") != std::string::npos);
}

TEST_CASE("envtest examples: pod_watcher sees a pod listed, then deleted") {
  if (std::string(KCORO_POD_WATCHER_BIN).empty()) {
    MESSAGE("pod_watcher is not built (-Dexamples=disabled): not run");
    return;
  }
  Workspace w("watcher");
  with_client([&](Client& c) -> net::awaitable<void> { co_await c.create(res::pods, w.ns, kPod); });
  kcoro::testing::ChildProcess watcher;
  w.start(watcher, KCORO_POD_WATCHER_BIN);
  // Once the watcher printed the listed pod, delete it: the watch must report the deletion.
  const bool listed = eventually(30s, [&] { return w.logged("Sync/Add/Update for Pod p1"); });
  CHECK(listed);
  if (listed) {
    with_client([&](Client& c) -> net::awaitable<void> {
      kcoro::DeleteOptions now;
      now.grace_period_seconds = 0;  // no kubelet here: delete at once
      co_await c.remove(res::pods, w.ns, "p1", now);
    });
    CHECK(eventually(30s, [&] { return w.logged("Pod " + w.ns + "/p1 does not exist anymore"); }));
  }
  const std::string ended = watcher.stop(10s);
  const std::string log = read_file(w.log());
  CAPTURE(log);
  CHECK(ended == "exit status 0");
  CHECK(log.find("Starting Pod controller") != std::string::npos);
  CHECK(log.find("Stopping Pod controller") != std::string::npos);
}

TEST_CASE("envtest examples: informer_printer prints a pod added, updated and deleted") {
  if (std::string(KCORO_INFORMER_PRINTER_BIN).empty()) {
    MESSAGE("informer_printer is not built (-Dexamples=disabled): not run");
    return;
  }
  Workspace w("printer");
  kcoro::testing::ChildProcess printer;
  w.start(printer, KCORO_INFORMER_PRINTER_BIN);
  CHECK(eventually(30s, [&] { return w.logged("Informer synced: 0 pods in the cache"); }));
  with_client([&](Client& c) -> net::awaitable<void> { co_await c.create(res::pods, w.ns, kPod); });
  CHECK(eventually(30s, [&] { return w.logged("New Pod Added to Store: p1"); }));
  with_client([&](Client& c) -> net::awaitable<void> {
    co_await c.patch(res::pods, w.ns, "p1", kcoro::PatchType::merge,
                     R"({"metadata":{"labels":{"tier":"web"}}})");
  });
  CHECK(eventually(30s, [&] { return w.logged("p1 Pod Updated to p1"); }));
  with_client([&](Client& c) -> net::awaitable<void> {
    kcoro::DeleteOptions now;
    now.grace_period_seconds = 0;  // no kubelet here: delete at once
    co_await c.remove(res::pods, w.ns, "p1", now);
  });
  CHECK(eventually(30s, [&] { return w.logged("Pod Deleted from Store: p1"); }));
  const std::string ended = printer.stop(10s);
  const std::string log = read_file(w.log());
  CAPTURE(log);
  CHECK(ended == "exit status 0");
  CHECK(log.find("Informer stopped") != std::string::npos);
}
