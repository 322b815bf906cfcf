// EnvTest itself: assets, credentials, kubeconfig, start failures, compaction, restart, stop.
#include "kcoro/client.hpp"
#include "kcoro/testing/envtest.hpp"

#include "envtest/env.hpp"
#include "support/co_test.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

namespace net = boost::asio;
using kcoro::ApiError;
using kcoro::Client;
using kcoro::test::co_run;
using kcoro::test::configmap_json;
using kcoro::test::env;
using kcoro::testing::EnvTest;
using kcoro::testing::EnvTestError;
using kcoro::testing::EnvTestOptions;
namespace res = kcoro::resources;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// Children of this process that are zombies (exited, not reaped).
int zombie_children() {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::ifstream f(e.path() / "stat");
    std::string stat;
    if (!std::getline(f, stat)) continue;
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    long ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %ld", &state, &ppid) == 2 &&
        ppid == ::getpid() && state == 'Z') {
      ++n;
    }
  }
  return n;
}

// Processes whose command line mentions `text`.
std::vector<pid_t> processes_mentioning(const std::string& text) {
  std::vector<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (cmdline.find(text) != std::string::npos) out.push_back(std::stoi(name));
  }
  return out;
}

// Alive and not a zombie.
bool alive(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(f, stat)) return false;
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

}  // namespace

TEST_CASE("envtest: the servers die with the process that started them") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t owner = ::fork();
  REQUIRE(owner >= 0);
  if (owner == 0) {
    // The owner: starts an environment, says where, and waits to be killed.
    ::close(fds[0]);
    try {
      EnvTest e;
      e.start();
      const std::string dir = e.dir().string() + "\n";
      if (::write(fds[1], dir.data(), dir.size()) < 0) ::_exit(1);
      for (;;)
        ::pause();
    } catch (...) {
      ::_exit(1);
    }
  }
  ::close(fds[1]);
  std::string dir;
  char c = 0;
  while (::read(fds[0], &c, 1) == 1 && c != '\n')
    dir += c;
  ::close(fds[0]);
  REQUIRE_MESSAGE(!dir.empty(), "the owner process failed to start its environment");
  const auto servers = processes_mentioning(dir);
  CHECK(servers.size() == 2);  // etcd and kube-apiserver
  ::kill(owner, SIGKILL);
  int status = 0;
  ::waitpid(owner, &status, 0);
  // PR_SET_PDEATHSIG: the kernel kills both at once.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  bool gone = false;
  while (!gone && std::chrono::steady_clock::now() < deadline) {
    gone = std::none_of(servers.begin(), servers.end(), alive);
    if (!gone) std::this_thread::sleep_for(20ms);
  }
  CHECK(gone);
  std::error_code ec;
  fs::remove_all(dir, ec);  // the owner died before it could
}

TEST_CASE("envtest: assets are found through the options, then the environment variables") {
  EnvTestOptions none;
  none.env = [](const std::string&) { return std::optional<std::string>(); };
  CHECK_FALSE(kcoro::testing::find_envtest_assets(none));
  EnvTest missing(none);
  CHECK_THROWS_WITH_AS(missing.start(), doctest::Contains("KCORO_TEST_ASSETS"), EnvTestError);

  auto found = kcoro::testing::find_envtest_assets();
  REQUIRE(found);
  EnvTestOptions kubebuilder;
  kubebuilder.env = [&](const std::string& name) {
    return name == "KUBEBUILDER_ASSETS" ? std::optional<std::string>(found->string())
                                        : std::optional<std::string>();
  };
  CHECK(kcoro::testing::find_envtest_assets(kubebuilder) == found);
  EnvTestOptions wrong;
  wrong.assets_dir = "/nonexistent";
  CHECK_FALSE(kcoro::testing::find_envtest_assets(wrong));
}

TEST_CASE("envtest: the admin through a kubeconfig; 403 without rights; 401 for a stranger") {
  auto& e = env();
  const fs::path kubeconfig = e.dir() / "test-kubeconfig";
  e.write_kubeconfig(kubeconfig);
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client admin(ex, kcoro::load_kubeconfig({kubeconfig}));
    auto version = co_await admin.request("GET", "/version");
    CHECK(version.status == 200);
    CHECK(boost::json::parse(version.body).at("gitVersion").as_string().starts_with("v1.32.13"));
    auto ns = co_await admin.get(res::namespaces, "", "default");
    CHECK(ns->meta().name == "default");

    Client nobody(ex, e.token_config(EnvTest::nobody_token));
    try {
      co_await nobody.get(res::namespaces, "", "default");
      FAIL("a user without rights read a namespace");
    } catch (const ApiError& err) {
      CHECK(kcoro::is_forbidden(err));
      CHECK(err.status().message.find("kcoro-nobody") != std::string::npos);
    }
    Client stranger(ex, e.token_config("no-such-token"));
    try {
      co_await stranger.get(res::namespaces, "", "default");
      FAIL("an unknown token was accepted");
    } catch (const ApiError& err) {
      CHECK(kcoro::is_unauthorized(err));
    }
    Client admin_token(ex, e.token_config(EnvTest::admin_token));
    CHECK((co_await admin_token.get(res::namespaces, "", "default"))->meta().name == "default");
  });
}

TEST_CASE("envtest: a start that fails throws the API server's last log lines and cleans up") {
  EnvTestOptions opts;
  opts.apiserver_flags = {"--no-such-flag=1"};
  opts.stop_timeout = 2s;
  EnvTest bad(opts);
  std::string message;
  try {
    bad.start();
  } catch (const EnvTestError& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(message.find("kube-apiserver exited during start-up") != std::string::npos);
  CHECK(message.find("unknown flag: --no-such-flag") != std::string::npos);
  CHECK_FALSE(bad.running());
  CHECK(bad.dir().empty());
  CHECK(zombie_children() == 0);
}

TEST_CASE("envtest: a port in use and a start-up too slow fail with the log's last lines") {
  // A port taken: the API server cannot listen on it.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  EnvTestOptions taken;
  taken.apiserver_flags = {"--secure-port=" + std::to_string(ntohs(addr.sin_port))};
  EnvTest a(taken);
  CHECK_THROWS_WITH_AS(a.start(), doctest::Contains("address already in use"), EnvTestError);
  ::close(fd);
  CHECK(a.dir().empty());

  EnvTestOptions hurried;
  hurried.start_timeout = 1ms;
  EnvTest b(hurried);
  CHECK_THROWS_WITH_AS(b.start(), doctest::Contains("was not ready within 1 ms; last lines of"),
                       EnvTestError);
  CHECK_FALSE(b.running());
  CHECK(zombie_children() == 0);
}

TEST_CASE("envtest: CRDs from YAML (several documents) and JSON files in a folder") {
  auto& e = env();
  const fs::path dir = e.dir() / "crds";
  fs::create_directories(dir);
  const auto crd = [](const std::string& plural, const std::string& kind, bool yaml) {
    if (yaml) {
      return "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
             "  name: " +
             plural +
             ".kcoro.example.com\nspec:\n  group: kcoro.example.com\n"
             "  scope: Cluster\n  names: {plural: " +
             plural + ", kind: " + kind +
             "}\n"
             "  versions:\n  - name: v1\n    served: true\n    storage: true\n"
             "    schema:\n      openAPIV3Schema:\n        type: object\n"
             "        x-kubernetes-preserve-unknown-fields: true\n";
    }
    return R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
      "metadata":{"name":")" +
           plural + R"(.kcoro.example.com"},
      "spec":{"group":"kcoro.example.com","scope":"Namespaced",
        "names":{"plural":")" +
           plural + R"(","kind":")" + kind + R"("},
        "versions":[{"name":"v1","served":true,"storage":true,
          "schema":{"openAPIV3Schema":{"type":"object",
            "x-kubernetes-preserve-unknown-fields":true}}}]}})";
  };
  std::ofstream(dir / "a.yaml") << "---\n"
                                << crd("alphas", "Alpha", true) << "---\n"
                                << crd("betas", "Beta", true);
  std::ofstream(dir / "b.json") << crd("gammas", "Gamma", false);
  std::ofstream(dir / "notes.txt") << "not a CRD";  // ignored: not .yaml, .yml or .json
  auto names = e.install_crds({dir});
  CHECK(names == std::vector<std::string>{"alphas.kcoro.example.com", "betas.kcoro.example.com",
                                          "gammas.kcoro.example.com"});
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, e.admin_config());
    auto discovery = co_await client.request("GET", "/apis/kcoro.example.com/v1");
    REQUIRE(discovery.status == 200);
    std::set<std::string> served;
    const auto doc = boost::json::parse(discovery.body);
    for (auto& r : doc.at("resources").as_array())
      served.insert(std::string(r.at("name").as_string()));
    CHECK(served.count("alphas"));
    CHECK(served.count("betas"));
    CHECK(served.count("gammas"));
    // Served means usable: a cluster-scoped Alpha with an integer field kept as an integer.
    const kcoro::Resource alphas{"kcoro.example.com", "v1", "Alpha", "alphas", false};
    auto a = co_await client.create(
        alphas, "",
        R"({"apiVersion":"kcoro.example.com/v1","kind":"Alpha","metadata":{"name":"x"},"n":3})");
    CHECK(a->get<int64_t>("/n") == 3);
  });
  std::ofstream(dir / "c.yaml") << "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
  CHECK_THROWS_WITH_AS(e.install_crds({dir / "c.yaml"}),
                       doctest::Contains("is not a CustomResourceDefinition"), EnvTestError);
}

TEST_CASE("envtest: compaction makes older resourceVersions answer 410") {
  auto& e = env();
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, e.admin_config());
    const auto ns = co_await kcoro::test::fresh_namespace(client, "compact");
    auto a = co_await client.create(res::configmaps, ns, configmap_json("a", ns));
    co_await client.create(res::configmaps, ns, configmap_json("b", ns));
    const int64_t rev = e.compact_etcd();
    CHECK(rev > std::stoll(std::string(a->meta().resource_version)));
    CHECK(e.etcd_revision() >= rev);
    kcoro::ListOptions old;
    old.resource_version = std::string(a->meta().resource_version);
    old.limit = 500;  // served by etcd at that revision, not by the watch cache
    try {
      co_await client.list(res::configmaps, ns, old);
      FAIL("a list at a compacted resourceVersion succeeded");
    } catch (const ApiError& err) {
      CHECK(kcoro::is_gone(err));
    }
    auto page = co_await client.list(res::configmaps, ns);
    CHECK(page.items.size() == 2);
  });
}

TEST_CASE("envtest: an environment of its own starts, restarts its API server and stops clean") {
  EnvTestOptions opts;
  opts.stop_timeout = 5s;
  EnvTest own(opts);
  own.start();
  MESSAGE("start-up (etcd and kube-apiserver ready): ", own.startup_time().count(), " ms");
  CHECK(own.running());
  const fs::path dir = own.dir();
  CHECK(fs::exists(dir / "tokens.csv"));
  co_run(
      [&](net::any_io_executor ex) -> net::awaitable<void> {
        Client client(ex, own.admin_config());
        co_await client.create(res::configmaps, "default", configmap_json("before", "default"));
        kcoro::ListOptions w;
        w.resource_version = "0";
        auto watch = co_await client.watch(res::configmaps, "default", w);
        const auto began = std::chrono::steady_clock::now();
        own.restart_apiserver();
        MESSAGE("API server restart: ",
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - began)
                    .count(),
                " ms");
        // The watch was cut: it ends or fails; either way it does not hang.
        bool ended = false;
        try {
          while (co_await watch.next()) {
          }
          ended = true;
        } catch (const std::system_error&) {
          ended = true;
        }
        CHECK(ended);
        // The same data, on the same port.
        auto obj = co_await client.get(res::configmaps, "default", "before");
        CHECK(obj->meta().name == "before");
      },
      60s);
  const auto began = std::chrono::steady_clock::now();
  own.stop();
  MESSAGE("stop: ",
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                began)
              .count(),
          " ms");
  CHECK_FALSE(own.running());
  CHECK_FALSE(fs::exists(dir));
  CHECK(zombie_children() == 0);
  own.stop();  // idempotent
}
