// Integration: many watchers and writers at once, the throughput mode, and the standalone
// kcoro-fake-apiserver binary.
#include "integration/http_client.hpp"
#include "support/fake.hpp"
#include "kcoro/kubeconfig.hpp"
#include "kcoro/testing/fake_apiserver.hpp"

#include <boost/json.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <set>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace kcoro::itest;
using kcoro::testing::FakeApiServer;
using kcoro::testing::FakeApiServerOptions;
namespace json = boost::json;

extern char** environ;

using kcoro::test::configmap_json;

namespace {

const std::string kCms = "/api/v1/namespaces/default/configmaps";

}  // namespace

TEST_CASE("fake apiserver: many watchers and many writers at once") {
  constexpr int kWatchers = 8, kWriters = 4, kPerWriter = 25;
  FakeApiServerOptions opts;
  opts.threads = 2;
  FakeApiServer server(opts);
  const uint64_t rv0 = server.cluster().resource_version();

  // Writers: threads of their own, each with its own client, creating distinct ConfigMaps.
  std::atomic<int> created{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      asio::io_context ioc;
      asio::co_spawn(
          ioc,
          [&]() -> awaitable<void> {
            HttpClient c(ioc.get_executor(), server.port());
            for (int i = 0; i < kPerWriter; ++i) {
              const auto name = "w" + std::to_string(w) + "-" + std::to_string(i);
              const Response r = co_await c.request(http::verb::post, kCms, configmap_json(name));
              if (r.status == 201) ++created;
            }
          },
          asio::detached);
      ioc.run_for(60s);
    });
  }

  // Watchers: coroutines on this thread, each until it has seen every create.
  asio::io_context ioc;
  std::vector<std::set<std::string>> seen(kWatchers);
  int finished = 0;
  std::vector<std::exception_ptr> errors;
  for (int i = 0; i < kWatchers; ++i) {
    asio::co_spawn(
        ioc,
        [&, i]() -> awaitable<void> {
          HttpClient c(ioc.get_executor(), server.port());
          const Response head =
              co_await c.start_stream(kCms + "?watch=1&resourceVersion=" + std::to_string(rv0));
          if (head.status != 200) throw std::runtime_error("watch: " + std::to_string(head.status));
          while (seen[i].size() < kWriters * kPerWriter) {
            const auto line = co_await c.next_line();
            if (!line) throw std::runtime_error("the watch ended early");
            const json::value ev = json::parse(*line);
            if (ev.at("type").as_string() == "ADDED") {
              seen[i].insert(std::string(ev.at("object").at("metadata").at("name").as_string()));
            }
          }
        },
        [&](std::exception_ptr e) {
          ++finished;
          if (e) errors.push_back(e);
        });
  }
  ioc.run_for(60s);
  for (auto& t : writers)
    t.join();

  CHECK(created == kWriters * kPerWriter);
  CHECK(finished == kWatchers);
  for (const auto& e : errors) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      FAIL_CHECK(ex.what());
    }
  }
  for (const auto& names : seen)
    CHECK(names.size() == kWriters * kPerWriter);
  CHECK(server.wait_for(
      [](const auto& s) { return s.watches_open == 0 && s.connections_open == 0; }, 10s));
  CHECK(server.stats().watches == kWatchers);
}

TEST_CASE("fake apiserver: throughput mode streams the pre-rendered events and reports them") {
  FakeApiServerOptions opts;
  opts.seed_pods = 20;
  opts.seed_namespaces = 2;
  opts.throughput.events = 300;
  opts.throughput.write_size = 64 * 1024;
  FakeApiServer server(opts);
  CHECK(server.throughput().prerendered_bytes > 300 * 1000);
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    HttpClient c(ioc, server.port());
    Response r = co_await c.request(http::verb::get, "/api/v1/pods");
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body).at("items").as_array().size() == 20);
    r = co_await c.request(http::verb::get, "/api/v1/namespaces/ns-1/pods");
    CHECK(json::parse(r.body).at("items").as_array().size() == 10);

    CHECK((co_await c.start_stream("/api/v1/pods?watch=1")).status == 200);
    uint64_t last_rv = 0;
    int events = 0;
    while (const auto line = co_await c.next_line()) {
      const json::value ev = json::parse(*line);
      CHECK(ev.at("type").as_string() == "MODIFIED");
      const uint64_t rv = std::stoull(
          std::string(ev.at("object").at("metadata").at("resourceVersion").as_string()));
      CHECK(rv > last_rv);
      last_rv = rv;
      ++events;
    }
    CHECK(events == 300);
    CHECK(c.chunk_sizes.size() == 300);
  });
  REQUIRE(server.wait_for([](const auto& s) { return s.watches_open == 0; }, 10s));
  const auto report = server.throughput();
  CHECK(report.streams == 1);
  CHECK(report.bytes == report.prerendered_bytes);
  CHECK(report.seconds > 0);
  CHECK(report.bytes_per_second() > 0);
}

#ifdef KCORO_FAKE_APISERVER_BIN
namespace {

/// The binary, started with its stdout on a pipe.
struct Child {
  pid_t pid = -1;
  int out = -1;

  explicit Child(std::vector<std::string> args) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    args.insert(args.begin(), KCORO_FAKE_APISERVER_BIN);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc =
        posix_spawn(&pid, KCORO_FAKE_APISERVER_BIN, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out = fds[0];
    REQUIRE(rc == 0);
  }
  ~Child() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (out >= 0) close(out);
  }

  /// The first line on its stdout, waiting at most `limit`.
  std::string read_line(std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    std::string line;
    char ch;
    while (line.empty() || line.back() != '\n') {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      pollfd p{out, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      if (read(out, &ch, 1) != 1) break;
      line += ch;
    }
    return line;
  }

  /// Sends `sig` and waits at most `limit` for the exit; returns the wait status, or -1.
  int signal_and_wait(int sig, std::chrono::milliseconds limit) {
    kill(pid, sig);
    const auto until = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (std::chrono::steady_clock::now() < until) {
      const pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        pid = -1;
        return status;
      }
      std::this_thread::sleep_for(5ms);  // polling the exit, bounded by `limit`
    }
    return -1;
  }
};

}  // namespace

TEST_CASE("kcoro-fake-apiserver: serves, writes its kubeconfig, stops cleanly on SIGTERM") {
  for (const bool tls : {false, true}) {
    CAPTURE(tls);
    const auto dir = std::filesystem::temp_directory_path() /
                     ("kcoro-fake-bin-" + std::to_string(getpid()) + (tls ? "-tls" : ""));
    std::filesystem::create_directories(dir);
    const auto kubeconfig = (dir / "kubeconfig").string();
    std::vector<std::string> args = {"--port",           "0",       "--pods",  "5",
                                     "--namespaces",     "1",       "--churn", "50",
                                     "--kubeconfig-out", kubeconfig};
    if (tls) {
      for (const char* a : {"--tls", "--token", "s3cret"})
        args.emplace_back(a);
    }
    Child child(args);
    const std::string line = child.read_line(30s);
    const std::string prefix = std::string("kcoro-fake-apiserver listening on ") +
                               (tls ? "https" : "http") + "://127.0.0.1:";
    REQUIRE(line.starts_with(prefix));
    const auto port = static_cast<uint16_t>(std::stoi(line.substr(prefix.size())));

    const kcoro::ClusterConfig config = kcoro::load_kubeconfig({kubeconfig});
    CHECK(config.port == port);
    CHECK(config.token == (tls ? "s3cret" : ""));

    kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
      ClientOptions o;
      o.tls = tls;
      o.ca_pem = config.ca_data;
      o.token = config.token;
      HttpClient c(ioc, port, o);
      const Response r = co_await c.request(http::verb::get, "/api/v1/pods");
      CHECK(r.status == 200);
      const auto pods = json::parse(r.body).at("items").as_array().size();
      CHECK(pods >= 3);  // 5 seeded, kept around 5 by churn
      if (tls) {
        ClientOptions no_token = o;
        no_token.token.clear();
        HttpClient anonymous(ioc, port, no_token);
        CHECK((co_await anonymous.request(http::verb::get, "/api/v1/pods")).status == 401);
      }
    });

    const int status = child.signal_and_wait(SIGTERM, 30s);
    REQUIRE(status != -1);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    std::filesystem::remove_all(dir);
  }
}
#endif
