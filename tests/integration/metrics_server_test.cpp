// The metrics and health endpoint over real sockets, checked by an independent HTTP client:
// /metrics, the probes and their checks, errors, keep-alive, binding, and stop.
#include "kcoro/metrics_server.hpp"

#include "integration/http_client.hpp"
#include "support/fake.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <stdexcept>
#include <system_error>

namespace net = boost::asio;
using kcoro::MetricsServer;
using kcoro::MetricsServerOptions;
using kcoro::itest::HttpClient;
using kcoro::test::co_run;
namespace http = boost::beast::http;

namespace {

MetricsServerOptions local(std::shared_ptr<kcoro::MetricsRegistry> registry) {
  MetricsServerOptions o;
  o.bind_address = "127.0.0.1:0";
  o.registry = std::move(registry);
  return o;
}

// Serves beside the test; `done` turns true when run() returns.
void serve(net::any_io_executor ex, MetricsServer& server, bool& done) {
  net::co_spawn(ex, server.run(), [&done](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
    done = true;
  });
}

// Stops the server and waits for run() to return (it writes `done`, which must outlive it).
net::awaitable<bool> stopped(MetricsServer& server, const bool& done) {
  server.stop();
  co_return co_await kcoro::test::eventually([&] { return done; });
}

}  // namespace

TEST_CASE("metrics server: /metrics renders the registry; unknown paths and methods fail") {
  auto registry = std::make_shared<kcoro::MetricsRegistry>();
  registry->counter("kcoro_test_total", "A test counter.", {"k"}, {"v"}).Increment(3);
  co_run([&](auto ex) -> net::awaitable<void> {
    MetricsServer server(ex, local(registry));
    CHECK(server.port() != 0);
    bool done = false;
    serve(ex, server, done);
    HttpClient c(ex, server.port());
    auto r = co_await c.request(http::verb::get, "/metrics");
    CHECK(r.status == 200);
    CHECK(r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(r.body == registry->render());
    CHECK(r.body.find("kcoro_test_total{k=\"v\"} 3\n") != std::string::npos);
    // The same connection serves the next requests.
    r = co_await c.request(http::verb::get, "/nothing");
    CHECK(r.status == 404);
    CHECK(r.body == "404 page not found\n");
    r = co_await c.request(http::verb::post, "/metrics", "{}");
    CHECK(r.status == 405);
    CHECK(r.header("Allow") == "GET, HEAD");
    r = co_await c.head("/metrics");
    CHECK(r.status == 200);
    CHECK(r.header("Content-Length") == std::to_string(registry->render().size()));
    r = co_await c.request(http::verb::get, "/healthzz");  // a prefix is not the probe
    CHECK(r.status == 404);
    CHECK(co_await stopped(server, done));
  });
}

TEST_CASE("metrics server: the user's own families in a shared prometheus::Registry are served") {
  auto prom = std::make_shared<prometheus::Registry>();
  auto registry = std::make_shared<kcoro::MetricsRegistry>(prom);
  registry->gauge("kcoro_test_gauge", "kcoro's own.").Set(4);
  co_run([&](auto ex) -> net::awaitable<void> {
    MetricsServer server(ex, local(registry));
    bool done = false;
    serve(ex, server, done);
    // Registered after the server started: /metrics collects the registry at each request.
    auto& mine = prometheus::BuildCounter().Name("my_app_jobs_total").Help("Jobs.").Register(*prom);
    mine.Add({{"queue", "fast"}}).Increment(2);
    HttpClient c(ex, server.port());
    auto r = co_await c.request(http::verb::get, "/metrics");
    CHECK(r.status == 200);
    CHECK(r.body.find("# TYPE my_app_jobs_total counter\n") != std::string::npos);
    CHECK(r.body.find("my_app_jobs_total{queue=\"fast\"} 2\n") != std::string::npos);
    CHECK(r.body.find("kcoro_test_gauge 4\n") != std::string::npos);
    CHECK(co_await stopped(server, done));
  });
}

TEST_CASE("metrics server: without a registry there is no /metrics") {
  co_run([&](auto ex) -> net::awaitable<void> {
    MetricsServer server(ex, local(nullptr));
    bool done = false;
    serve(ex, server, done);
    HttpClient c(ex, server.port());
    auto r = co_await c.request(http::verb::get, "/metrics");
    CHECK(r.status == 404);
    r = co_await c.request(http::verb::get, "/healthz");
    CHECK(r.status == 200);
    CHECK(co_await stopped(server, done));
  });
}

TEST_CASE("metrics server: probes answer as kube-apiserver does") {
  co_run([&](auto ex) -> net::awaitable<void> {
    MetricsServer server(ex, local(nullptr));
    std::atomic<bool> synced{false};
    server.add_health_check("ping", [] { return std::nullopt; });
    server.add_ready_check("informers", [&]() -> std::optional<std::string> {
      if (synced) return std::nullopt;
      return "pods informer not synced";
    });
    bool done = false;
    serve(ex, server, done);
    HttpClient c(ex, server.port());

    auto r = co_await c.request(http::verb::get, "/healthz");
    CHECK(r.status == 200);
    CHECK(r.body == "ok");
    r = co_await c.request(http::verb::get, "/livez");
    CHECK(r.body == "ok");
    r = co_await c.request(http::verb::get, "/healthz?verbose");
    CHECK(r.body == "[+]ping ok\nhealthz check passed\n");
    r = co_await c.request(http::verb::get, "/healthz/ping");
    CHECK(r.status == 200);
    CHECK(r.body == "ok");
    r = co_await c.request(http::verb::get, "/healthz/informers");
    CHECK(r.status == 404);

    // Not ready yet: the reason is withheld from the aggregate, given by the single check.
    r = co_await c.request(http::verb::get, "/readyz");
    CHECK(r.status == 500);
    CHECK(r.body == "[-]informers failed: reason withheld\nreadyz check failed\n");
    r = co_await c.request(http::verb::get, "/readyz/informers");
    CHECK(r.status == 500);
    CHECK(r.body == "internal server error: pods informer not synced\n");

    synced = true;
    r = co_await c.request(http::verb::get, "/readyz");
    CHECK(r.status == 200);
    CHECK(r.body == "ok");
    r = co_await c.request(http::verb::get, "/readyz?verbose=1");
    CHECK(r.body == "[+]informers ok\nreadyz check passed\n");

    // A check that throws has failed; the others still run and are listed.
    server.add_health_check(
        "broken", []() -> std::optional<std::string> { throw std::runtime_error("boom"); });
    r = co_await c.request(http::verb::get, "/healthz");
    CHECK(r.status == 500);
    CHECK(r.body == "[+]ping ok\n[-]broken failed: reason withheld\nhealthz check failed\n");
    r = co_await c.request(http::verb::get, "/livez/broken");
    CHECK(r.body == "internal server error: boom\n");
    CHECK(co_await stopped(server, done));
  });
}

TEST_CASE("metrics server: stop closes the listener and open connections; run() returns") {
  co_run([&](auto ex) -> net::awaitable<void> {
    MetricsServer server(ex, local(nullptr));
    bool done = false;
    serve(ex, server, done);
    HttpClient idle(ex, server.port());
    auto r = co_await idle.request(http::verb::get, "/healthz");  // the connection is kept open
    CHECK(r.status == 200);
    server.stop();
    server.stop();  // idempotent
    CHECK(co_await kcoro::test::eventually([&] { return done; }));
    bool refused = false;
    try {
      co_await idle.request(http::verb::get, "/healthz");  // the old connection was closed
    } catch (const boost::system::system_error&) {
      refused = true;
    }
    CHECK(refused);
    refused = false;
    HttpClient fresh(ex, server.port());
    try {
      co_await fresh.request(http::verb::get, "/healthz");
    } catch (const boost::system::system_error&) {
      refused = true;
    }
    CHECK(refused);
  });
}

TEST_CASE("metrics server: garbage and oversized requests get 400; the server keeps serving") {
  co_run([&](auto ex) -> net::awaitable<void> {
    MetricsServer server(ex, local(nullptr));
    bool done = false;
    serve(ex, server, done);
    for (const std::string& bad :
         {std::string("\x16\x03\x01 not http at all\r\n\r\n"),
          "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(20000, 'x') + "\r\n\r\n"}) {
      net::ip::tcp::socket s(ex);
      co_await s.async_connect({net::ip::address_v4::loopback(), server.port()},
                               net::use_awaitable);
      co_await net::async_write(s, net::buffer(bad), net::use_awaitable);
      std::string reply;
      for (;;) {  // until the server hangs up
        char buf[4096];
        auto [ec, n] =
            co_await s.async_read_some(net::buffer(buf), net::as_tuple(net::use_awaitable));
        reply.append(buf, n);
        if (ec) break;
      }
      CHECK(reply.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
    }
    HttpClient c(ex, server.port());
    auto r = co_await c.request(http::verb::get, "/healthz");
    CHECK(r.status == 200);
    CHECK(co_await stopped(server, done));
  });
}

TEST_CASE("metrics server: bind errors are thrown at construction") {
  net::io_context io;
  MetricsServer first(io.get_executor(), local(nullptr));
  MetricsServerOptions o = local(nullptr);
  o.bind_address = "127.0.0.1:" + std::to_string(first.port());
  CHECK_THROWS_AS(MetricsServer(io.get_executor(), o), std::system_error);
  for (const char* bad : {"8080", "127.0.0.1:http", "127.0.0.1:70000", "nohost:80", "[::1]80"}) {
    o.bind_address = bad;
    CHECK_THROWS_AS(MetricsServer(io.get_executor(), o), std::invalid_argument);
  }
  o.bind_address = ":0";  // every interface
  CHECK(MetricsServer(io.get_executor(), o).port() != 0);
}
