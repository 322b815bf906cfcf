// The examples against a real kube-apiserver: sample_controller run as a user runs it, with a
// kubeconfig, must leave what upstream sample-controller leaves — its Deployment, its status
// write, its events with upstream's reasons and messages — and log upstream's lines.
#include "kcoro/testing/envtest.hpp"

#include "envtest/env.hpp"
#include "support/co_test.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

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

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("envtest examples: sample_controller leaves what upstream sample-controller leaves") {
  if (std::string(KCORO_SAMPLE_CONTROLLER_BIN).empty()) {
    MESSAGE("sample_controller is not built (-Dexamples=disabled): not run");
    return;
  }
  auto& e = env();
  e.install_crds({KCORO_SAMPLE_CONTROLLER_CRD});
  std::string ns;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    ns = co_await fresh_namespace(c, "sample");
    co_await c.create(foos, ns, foo_json("example-foo", "example-foo", 2));
    co_await c.create(res::deployments, ns, kTakenDeployment);
    co_await c.create(foos, ns, foo_json("conflict-foo", "taken", 1));
  });

  // As a user runs it: a kubeconfig, one namespace, stopped after a few seconds.
  const auto dir = std::filesystem::temp_directory_path() / ("kcoro-sample-" + ns);
  std::filesystem::create_directories(dir);
  e.write_kubeconfig(dir / "kubeconfig");
  const std::string command = std::string(KCORO_SAMPLE_CONTROLLER_BIN) + " --kubeconfig " +
                              (dir / "kubeconfig").string() + " --namespace " + ns +
                              " --run-for-seconds 5 > " + (dir / "log").string() + " 2>&1";
  const int status = std::system(command.c_str());
  const std::string log = read_file(dir / "log");
  CAPTURE(log);
  CHECK(status == 0);
  const std::vector<std::string> lines{"Starting Foo controller",
                                       "Waiting for informer caches to sync",
                                       "Starting workers",
                                       "Started workers",
                                       "Successfully synced '" + ns + "/example-foo'",
                                       "Shutting down workers"};
  for (const auto& line : lines) {
    CAPTURE(line);
    CHECK(log.find(line) != std::string::npos);
  }

  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    // The Deployment, controlled by its Foo, at the Foo's replicas.
    auto foo = co_await c.get(foos, ns, "example-foo");
    auto deployment = co_await c.get(res::deployments, ns, "example-foo");
    const kcoro::OwnerReference* owner = deployment->meta().controller_ref();
    REQUIRE(owner);
    CHECK(owner->kind == "Foo");
    CHECK(owner->uid == foo->meta().uid);
    CHECK(deployment->get<int64_t>("/spec/replicas") == 2);
    // The status was written through /status (no pods run here: 0 available).
    CHECK(foo->get<int64_t>("/status/availableReplicas") == 0);
    // Someone else's Deployment is left alone.
    auto taken = co_await c.get(res::deployments, ns, "taken");
    CHECK(taken->meta().controller_ref() == nullptr);
    CHECK(taken->get<int64_t>("/spec/replicas") == 1);

    // The events, with upstream's reasons and messages.
    auto events = co_await c.list(res::events, ns);
    bool synced = false, exists = false;
    for (const auto& ev : events.items) {
      const auto reason = ev->get<std::string>("/reason").value_or("");
      const auto message = ev->get<std::string>("/message").value_or("");
      const auto about = ev->get<std::string>("/involvedObject/name").value_or("");
      if (reason == "Synced" && about == "example-foo") {
        CHECK(message == "Foo synced successfully");
        CHECK(ev->get<std::string>("/type") == "Normal");
        synced = true;
      }
      if (reason == "ErrResourceExists" && about == "conflict-foo") {
        CHECK(message == "Resource \"taken\" already exists and is not managed by Foo");
        CHECK(ev->get<std::string>("/type") == "Warning");
        exists = true;
      }
    }
    CHECK(synced);
    CHECK(exists);
  });
  std::filesystem::remove_all(dir);
}

TEST_CASE("envtest examples: pod_watcher sees a pod listed, then deleted") {
  if (std::string(KCORO_POD_WATCHER_BIN).empty()) {
    MESSAGE("pod_watcher is not built (-Dexamples=disabled): not run");
    return;
  }
  auto& e = env();
  std::string ns;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    ns = co_await fresh_namespace(c, "watcher");
    co_await c.create(res::pods, ns,
                      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1"},)"
                      R"("spec":{"containers":[{"name":"c","image":"nginx"}]}})");
  });
  const auto dir = std::filesystem::temp_directory_path() / ("kcoro-watcher-" + ns);
  std::filesystem::create_directories(dir);
  e.write_kubeconfig(dir / "kubeconfig");
  const auto log_path = dir / "log";
  int status = -1;
  std::thread watcher([&] {
    const std::string command = std::string(KCORO_POD_WATCHER_BIN) + " --kubeconfig " +
                                (dir / "kubeconfig").string() + " --namespace " + ns +
                                " --run-for-seconds 8 > " + log_path.string() + " 2>&1";
    status = std::system(command.c_str());
  });
  // Once the watcher printed the listed pod, delete it: the watch must report the deletion.
  const auto seen = [&](const std::string& line) {
    return read_file(log_path).find(line) != std::string::npos;
  };
  const auto deadline = std::chrono::steady_clock::now() + 6s;
  while (!seen("Sync/Add/Update for Pod p1") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  const bool listed = seen("Sync/Add/Update for Pod p1");
  if (listed) {
    co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
      Client c(ex, e.admin_config());
      kcoro::DeleteOptions now;
      now.grace_period_seconds = 0;  // no kubelet here: delete at once
      co_await c.remove(res::pods, ns, "p1", now);
    });
  }
  watcher.join();
  const std::string log = read_file(log_path);
  CAPTURE(log);
  CHECK(status == 0);
  CHECK(listed);
  CHECK(log.find("Starting Pod controller") != std::string::npos);
  CHECK(log.find("Pod " + ns + "/p1 does not exist anymore") != std::string::npos);
  CHECK(log.find("Stopping Pod controller") != std::string::npos);
  std::filesystem::remove_all(dir);
}
