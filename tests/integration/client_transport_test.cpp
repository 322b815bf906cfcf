// kcoro::Client against the fake API server: retries, connections, TLS, credentials, metrics.
#include "client_common.hpp"

TEST_CASE("client: 429 honours Retry-After and 5xx is retried for reads, never for writes") {
  FakeApiServer server;
  server.cluster().apply_object(pod_json("a"));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    kcoro::ClientOptions copts;
    copts.retry.base = 10ms;
    Client client(ex, config_for(server), copts);
    Fault f;
    f.kind = FaultKind::status;
    f.status = 429;
    f.retry_after = 1s;
    f.method = "GET";
    f.times = 1;
    server.add_fault(f);
    const auto t0 = std::chrono::steady_clock::now();
    ObjectPtr a = co_await client.get(res::pods, "default", "a");
    CHECK(a->meta().name == "a");
    CHECK(std::chrono::steady_clock::now() - t0 >= 900ms);  // waited out Retry-After

    f.status = 503;
    f.times = 2;
    server.add_fault(f);
    CHECK((co_await client.get(res::pods, "default", "a"))->meta().name == "a");

    f.method = "POST";
    f.status = 500;
    f.times = 1;
    server.add_fault(f);
    const auto before = server.stats().requests;
    try {
      co_await client.create(res::pods, "default", pod_json("b"));
      FAIL("a write must not be retried");
    } catch (const ApiError& e) {
      CHECK(e.http_code() == 500);
    }
    CHECK(server.stats().requests == before + 1);

    f.method = "GET";
    f.status = 500;
    f.times = Fault::kAlways;
    const int id = server.add_fault(f);
    try {
      co_await client.get(res::pods, "default", "a");
      FAIL("expected 500 after the retries");
    } catch (const ApiError& e) {
      CHECK(kcoro::is_server_error(e));
    }
    server.remove_fault(id);
  });
}

TEST_CASE("client: keep-alive reuses one connection") {
  FakeApiServer server;
  server.cluster().apply_object(pod_json("a"));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    for (int i = 0; i < 10; ++i)
      co_await client.get(res::pods, "default", "a");
  });
  CHECK(server.stats().connections == 1);
}

TEST_CASE("client: transport failures name the server") {
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    // A port nobody listens on: take an ephemeral one and stop its server.
    uint16_t port;
    {
      FakeApiServer gone;
      port = gone.port();
    }
    kcoro::ClientOptions copts;
    copts.retry.max_retries = 1;
    copts.retry.base = 1ms;
    Client client(ex, ClusterConfig::from_url("http://127.0.0.1:" + std::to_string(port)), copts);
    try {
      co_await client.get(res::pods, "default", "a");
      FAIL("expected a connection failure");
    } catch (const std::system_error& e) {
      CHECK(e.code() == kcoro::errc::connection_failed);
      CHECK(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
    }
  });
}

TEST_CASE("client: rest_client_* count each attempt by code, <error> when refused; nullptr: none") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    using kcoro::test::metric_value;
    auto metrics = std::make_shared<kcoro::MetricsRegistry>();
    kcoro::ClientOptions copts;
    copts.metrics = metrics;
    Client client(ex, config_for(server), copts);
    co_await client.create(res::configmaps, "default", configmap_json("a"));
    co_await client.get(res::configmaps, "default", "a");
    bool not_found = false;
    try {
      co_await client.get(res::configmaps, "default", "missing");
    } catch (const ApiError& e) {
      not_found = e.http_code() == 404;
    }
    CHECK(not_found);
    const std::string host = "127.0.0.1:" + std::to_string(server.port());
    auto requests = [&](const std::string& code, const std::string& method) {
      return metric_value(*metrics, "rest_client_requests_total{code=\"" + code + "\",host=\"" +
                                        host + "\",method=\"" + method + "\"}");
    };
    CHECK(requests("201", "POST") == 1);
    CHECK(requests("200", "GET") == 1);
    CHECK(requests("404", "GET") == 1);
    CHECK(metric_value(*metrics, "rest_client_request_duration_seconds_count{host=\"" + host +
                                     "\",verb=\"GET\"}") == 2);
    CHECK(metrics->render().find("rest_client_request_duration_seconds_bucket{host=\"" + host +
                                 "\",verb=\"POST\",le=\"60\"} 1\n") != std::string::npos);

    // A refused connection, tried twice (one retry): two attempts without an answer.
    uint16_t port;
    {
      FakeApiServer gone;
      port = gone.port();
    }
    kcoro::ClientOptions ropts;
    ropts.metrics = metrics;
    ropts.retry.max_retries = 1;
    ropts.retry.base = 1ms;
    Client refused(ex, ClusterConfig::from_url("http://127.0.0.1:" + std::to_string(port)), ropts);
    bool failed = false;
    try {
      co_await refused.get(res::pods, "default", "a");
    } catch (const std::system_error& e) {
      failed = e.code() == kcoro::errc::connection_failed;
    }
    CHECK(failed);
    CHECK(metric_value(*metrics, "rest_client_requests_total{code=\"<error>\",host=\"127.0.0.1:" +
                                     std::to_string(port) + "\",method=\"GET\"}") == 2);

    // Without a registry nothing is recorded (and the global registry is not touched).
    const std::string before = metrics->render();
    const std::string global_before = kcoro::MetricsRegistry::global()->render();
    kcoro::ClientOptions quiet_opts;
    quiet_opts.metrics = nullptr;
    Client quiet(ex, config_for(server), quiet_opts);
    co_await quiet.get(res::configmaps, "default", "a");
    CHECK(metrics->render() == before);
    CHECK(kcoro::MetricsRegistry::global()->render() == global_before);
  });
}

TEST_CASE(
    "client: TLS refuses a wrong CA, host name or an expired certificate; client certificates") {
  FakeApiServerOptions o;
  o.tls = true;
  FakeApiServer server(o);
  FakeApiServerOptions o2;
  o2.tls = true;
  FakeApiServer other(o2);  // another throwaway CA
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    kcoro::ClientOptions copts;
    copts.retry.max_retries = 0;
    ClusterConfig wrong_ca = config_for(server);
    wrong_ca.ca_data = other.ca_pem();
    try {
      Client client(ex, wrong_ca, copts);
      co_await client.get(res::pods, "default", "a");
      FAIL("a server signed by another CA must be refused");
    } catch (const std::system_error& e) {
      CHECK(e.code() == kcoro::errc::tls_failed);
    }
    ClusterConfig wrong_name = config_for(server);
    wrong_name.tls_server_name = "not-the-server.example";
    try {
      Client client(ex, wrong_name, copts);
      co_await client.get(res::pods, "default", "a");
      FAIL("a certificate for another name must be refused");
    } catch (const std::system_error& e) {
      CHECK(e.code() == kcoro::errc::tls_failed);
    }
    FakeApiServerOptions o3;
    o3.tls = true;
    o3.expired_server_certificate = true;
    FakeApiServer expired(o3);
    try {
      Client client(ex, config_for(expired), copts);
      co_await client.get(res::pods, "default", "a");
      FAIL("an expired server certificate must be refused");
    } catch (const std::system_error& e) {
      CHECK(e.code() == kcoro::errc::tls_failed);
    }
    ClusterConfig insecure = config_for(server);
    insecure.ca_data.clear();
    insecure.insecure_skip_tls_verify = true;
    Client insecure_client(ex, insecure, copts);
    auto version = co_await insecure_client.request("GET", "/version");
    CHECK(version.status == 200);
  });

  FakeApiServerOptions auth;
  auth.tls = true;
  auth.require_auth = true;
  FakeApiServer secured(auth);
  secured.cluster().apply_object(pod_json("a"));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    ClusterConfig cfg = config_for(secured);
    auto [cert, key] = secured.issue_client_cert("carol");
    cfg.client_cert_data = cert;
    cfg.client_key_data = key;
    Client carol(ex, cfg);
    ObjectPtr a = co_await carol.get(res::pods, "default", "a");
    CHECK(a->meta().name == "a");
    // A certificate from a CA the server does not trust authenticates nobody: as kube-apiserver
    // (which requests client certificates and verifies them in its authenticator), a 401.
    ClusterConfig stranger = config_for(secured);
    auto [stranger_cert, stranger_key] = other.issue_client_cert("mallory");
    stranger.client_cert_data = stranger_cert;
    stranger.client_key_data = stranger_key;
    kcoro::ClientOptions no_retry;
    no_retry.retry.max_retries = 0;
    Client mallory(ex, stranger, no_retry);
    try {
      co_await mallory.get(res::pods, "default", "a");
      FAIL("a client certificate from an untrusted CA must be refused");
    } catch (const ApiError& e) {
      CHECK(kcoro::is_unauthorized(e));
    }
    secured.cluster().forbid("carol", "pods");  // proves the server saw the user "carol"
    try {
      co_await carol.get(res::pods, "default", "a");
      FAIL("carol is forbidden now");
    } catch (const ApiError& e) {
      CHECK(kcoro::is_forbidden(e));
    }
  });
}

TEST_CASE("client: a token file is re-read when it rotates") {
  FakeApiServerOptions o;
  o.tokens = {{"token-a", "alice"}, {"token-b", "bob"}};
  o.require_auth = true;
  FakeApiServer server(o);
  server.cluster().apply_object(pod_json("a"));
  TempDir dir;
  const std::string file = dir.write("token", "token-a\n");
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    ClusterConfig cfg = config_for(server);
    cfg.token_file = file;
    kcoro::ClientOptions copts;
    copts.token_file_refresh = 0s;
    Client client(ex, cfg, copts);
    CHECK((co_await client.get(res::pods, "default", "a"))->meta().name == "a");
    server.cluster().forbid("alice", "pods");
    dir.write("token", "token-b\n");
    std::filesystem::last_write_time(file, std::filesystem::last_write_time(file) + 2s);
    CHECK((co_await client.get(res::pods, "default", "a"))->meta().name == "a");  // as bob
  });
}

TEST_CASE("client: exec credential plugins") {
  FakeApiServerOptions o;
  o.tokens = {{"exec-token", "eve"}};
  o.require_auth = true;
  FakeApiServer server(o);
  server.cluster().apply_object(pod_json("a"));
  TempDir dir;
  // The first run returns a token the server refuses, later runs the right one: a 401 must make
  // the client run the plugin again. The plugin checks KUBERNETES_EXEC_INFO and its env.
  const std::string counter = dir.path("runs");
  std::string text = R"SH(#!/bin/sh
echo run >> "@COUNTER@"
case "$KUBERNETES_EXEC_INFO" in *ExecCredential*) ;; *) echo "no exec info" >&2; exit 3;; esac
[ "$PLUGIN_MODE" = "test" ] || { echo "env not passed" >&2; exit 4; }
if [ "$(wc -l < "@COUNTER@")" -eq 1 ]; then tok=stale; else tok=exec-token; fi
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"2999-01-01T00:00:00Z"}}' "$tok"
)SH";
  for (auto at = text.find("@COUNTER@"); at != std::string::npos; at = text.find("@COUNTER@")) {
    text.replace(at, 9, counter);
  }
  const std::string script = dir.write("plugin.sh", text, true);
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    ClusterConfig cfg = config_for(server);
    kcoro::ExecConfig exec;
    exec.command = script;
    exec.api_version = "client.authentication.k8s.io/v1";
    exec.env = {{"PLUGIN_MODE", "test"}};
    cfg.exec = exec;
    Client client(ex, cfg);
    CHECK((co_await client.get(res::pods, "default", "a"))->meta().name == "a");
    CHECK((co_await client.get(res::pods, "default", "a"))->meta().name == "a");  // cached

    kcoro::ExecConfig missing;
    missing.command = dir.path("no-such-plugin");
    missing.api_version = "client.authentication.k8s.io/v1";
    missing.install_hint = "install it with: apt-get install the-plugin";
    ClusterConfig cfg2 = config_for(server);
    cfg2.exec = missing;
    try {
      Client no_plugin(ex, cfg2);
      co_await no_plugin.get(res::pods, "default", "a");
      FAIL("expected the install hint");
    } catch (const std::system_error& e) {
      CHECK(e.code() == kcoro::errc::auth_failed);
      CHECK(std::string(e.what()).find("apt-get install the-plugin") != std::string::npos);
    }
  });
  std::ifstream runs(counter);
  int lines = 0;
  for (std::string l; std::getline(runs, l);)
    ++lines;
  CHECK(lines == 2);  // stale token, then a fresh run after the 401; the second get used the cache
}

TEST_CASE("client: the rate limit spaces requests") {
  FakeApiServer server;
  server.cluster().apply_object(pod_json("a"));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    kcoro::ClientOptions copts;
    copts.qps = 20;
    copts.burst = 1;
    Client client(ex, config_for(server), copts);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; ++i)
      co_await client.get(res::pods, "default", "a");
    CHECK(std::chrono::steady_clock::now() - t0 >= 190ms);  // 4 waits of 50 ms
  });
}

TEST_CASE("client: a Client made on a strand inside a coroutine, used and destroyed there") {
  FakeApiServer server;
  server.cluster().apply_object(configmap_json("c1"));
  boost::asio::io_context io;
  std::exception_ptr error;
  int done = 0;
  auto use = [&](std::string path) -> net::awaitable<void> {
    // The executor first: GCC 12 destroys twice the temporaries of a full-expression that holds
    // a co_await (here config_for's ClusterConfig), so the two stay apart.
    auto ex = co_await net::this_coro::executor;  // the strand
    Client c(ex, config_for(server));
    const kcoro::RawResponse r = co_await c.request("GET", path);
    CHECK(r.status == 200);
    ++done;
  };
  net::co_spawn(
      net::make_strand(io.get_executor()),
      [&]() -> net::awaitable<void> {
        co_await use("/api/v1/namespaces/default/configmaps/c1");
        co_await use("/api/v1/namespaces/default/configmaps");
      },
      [&](std::exception_ptr e) { error = e; });
  io.run_for(10s);
  if (error) std::rethrow_exception(error);
  CHECK(done == 2);
}
