// The examples against a real kube-apiserver: sample_controller run as a user runs it, with a
// kubeconfig, must leave what upstream sample-controller leaves — its Deployment, its status
// write, its events with upstream's reasons and messages — and log upstream's lines; it follows
// a Foo scaled while it runs. pod_watcher and informer_printer see a pod come and go.
#include "kcoro/testing/envtest.hpp"

#include "envtest/env.hpp"
#include "support/co_test.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
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

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// An example run as a user runs it, its stdout and stderr in `log`, until stop() (SIGTERM).
class Example {
 public:
  Example(const std::string& binary, std::vector<std::string> args,
          const std::filesystem::path& log) {
    args.insert(args.begin(), binary);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    if (::posix_spawn(&pid_, binary.c_str(), &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Example() { stop(); }
  bool started() const { return pid_ > 0; }
  /// SIGTERM, then its exit status (-1 if it did not exit normally).
  int stop() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
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

TEST_CASE("envtest examples: sample_controller follows a Foo scaled while it runs") {
  if (std::string(KCORO_SAMPLE_CONTROLLER_BIN).empty()) {
    MESSAGE("sample_controller is not built (-Dexamples=disabled): not run");
    return;
  }
  auto& e = env();
  e.install_crds({KCORO_SAMPLE_CONTROLLER_CRD});
  std::string ns;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    ns = co_await fresh_namespace(c, "scale");
    co_await c.create(foos, ns, foo_json("scaled", "scaled", 1));
  });
  const auto dir = std::filesystem::temp_directory_path() / ("kcoro-scale-" + ns);
  std::filesystem::create_directories(dir);
  e.write_kubeconfig(dir / "kubeconfig");
  Example controller(KCORO_SAMPLE_CONTROLLER_BIN,
                     {"--kubeconfig", (dir / "kubeconfig").string(), "--namespace", ns},
                     dir / "log");
  REQUIRE(controller.started());

  // The Deployment's replicas as the server has them (0: no Deployment yet).
  const auto replicas = [&] {
    int64_t n = 0;
    co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
      Client c(ex, e.admin_config());
      kcoro::RawResponse r =
          co_await c.request("GET", "/apis/apps/v1/namespaces/" + ns + "/deployments/scaled");
      if (r.status != 200) co_return;
      n = kcoro::Object::parse(r.body)->get<int64_t>("/spec/replicas").value_or(0);
    });
    return n;
  };
  const bool created = eventually(20s, [&] { return replicas() == 1; });
  CHECK(created);
  if (created) {
    co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
      Client c(ex, e.admin_config());
      co_await c.patch(foos, ns, "scaled", kcoro::PatchType::merge, R"({"spec":{"replicas":3}})");
    });
    CHECK(eventually(20s, [&] { return replicas() == 3; }));
  }
  const int status = controller.stop();
  const std::string log = read_file(dir / "log");
  CAPTURE(log);
  CHECK(status == 0);
  CHECK(log.find("Update deployment resource: replicas 1 -> 3") != std::string::npos);
  CHECK(log.find("Successfully synced '" + ns + "/scaled'") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("envtest examples: informer_printer prints a pod added, updated and deleted") {
  if (std::string(KCORO_INFORMER_PRINTER_BIN).empty()) {
    MESSAGE("informer_printer is not built (-Dexamples=disabled): not run");
    return;
  }
  auto& e = env();
  std::string ns;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    ns = co_await fresh_namespace(c, "printer");
  });
  const auto dir = std::filesystem::temp_directory_path() / ("kcoro-printer-" + ns);
  std::filesystem::create_directories(dir);
  e.write_kubeconfig(dir / "kubeconfig");
  const auto log_path = dir / "log";
  Example printer(KCORO_INFORMER_PRINTER_BIN,
                  {"--kubeconfig", (dir / "kubeconfig").string(), "--namespace", ns}, log_path);
  REQUIRE(printer.started());
  const auto seen = [&](const std::string& line) {
    return read_file(log_path).find(line) != std::string::npos;
  };
  CHECK(eventually(20s, [&] { return seen("Informer synced: 0 pods in the cache"); }));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    co_await c.create(res::pods, ns,
                      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1"},)"
                      R"("spec":{"containers":[{"name":"c","image":"nginx"}]}})");
  });
  CHECK(eventually(20s, [&] { return seen("New Pod Added to Store: p1"); }));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    co_await c.patch(res::pods, ns, "p1", kcoro::PatchType::merge,
                     R"({"metadata":{"labels":{"tier":"web"}}})");
  });
  CHECK(eventually(20s, [&] { return seen("p1 Pod Updated to p1"); }));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    kcoro::DeleteOptions now;
    now.grace_period_seconds = 0;  // no kubelet here: delete at once
    co_await c.remove(res::pods, ns, "p1", now);
  });
  CHECK(eventually(20s, [&] { return seen("Pod Deleted from Store: p1"); }));
  const int status = printer.stop();
  const std::string log = read_file(log_path);
  CAPTURE(log);
  CHECK(status == 0);
  CHECK(log.find("Informer stopped") != std::string::npos);
  std::filesystem::remove_all(dir);
}
