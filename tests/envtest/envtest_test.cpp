// EnvTest itself: assets, credentials, kubeconfig, start failures, compaction, restart, stop.
#include "kcoro/client.hpp"
#include "kcoro/testing/envtest.hpp"

#include "envtest/env.hpp"
#include "support/co_test.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
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
