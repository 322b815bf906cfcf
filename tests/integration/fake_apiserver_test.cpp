// Integration: FakeApiServer on 127.0.0.1, plain and TLS, driven by an independent Beast client.
// Round trips, chunked watches fed from another thread, timeoutSeconds, authentication,
// kubeconfig, stats.
#include "integration/http_client.hpp"
#include "kcoro/kubeconfig.hpp"
#include "kcoro/testing/fake_apiserver.hpp"
#include "support/fake.hpp"
#include "support/fixtures.hpp"
#include "testing/tls_certs.hpp"

#include <boost/json.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <thread>

using namespace kcoro::itest;
using kcoro::testing::FakeApiServer;
using kcoro::testing::FakeApiServerOptions;
namespace json = boost::json;

using kcoro::test::configmap_json;

namespace {

std::string event_type(const std::string& line) {
  return std::string(json::parse(line).at("type").as_string());
}

ClientOptions client_for(const FakeApiServer& server) {
  ClientOptions o;
  o.tls = server.tls();
  o.ca_pem = server.ca_pem();
  return o;
}

const char* const kCms = "/api/v1/namespaces/default/configmaps";

}  // namespace

TEST_CASE("fake apiserver: create, get, list, patch and delete round trips, plain and TLS") {
  for (const bool tls : {false, true}) {
    CAPTURE(tls);
    FakeApiServerOptions opts;
    opts.tls = tls;
    FakeApiServer server(opts);
    CHECK(server.url() ==
          (tls ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(server.port()));
    CHECK(server.ca_pem().empty() != tls);

    kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
      HttpClient c(ioc, server.port(), client_for(server));
      const std::string path = kCms;

      Response r = co_await c.request(http::verb::post, path, configmap_json("cm-1", "one"));
      CHECK(r.status == 201);
      CHECK(r.header("Content-Type") == "application/json");
      CHECK(r.header("Cache-Control") == "no-cache, private");
      CHECK(r.header("Audit-Id").size() == 36);
      CHECK(r.header("Date").ends_with(" GMT"));
      CHECK(r.header("Content-Length") == std::to_string(r.body.size()));
      CHECK(json::parse(r.body).at("metadata").at("name").as_string() == "cm-1");

      r = co_await c.request(http::verb::get, path + "/cm-1");
      CHECK(r.status == 200);
      CHECK(json::parse(r.body).at("data").at("k").as_string() == "one");

      r = co_await c.request(http::verb::get, path);
      CHECK(r.status == 200);
      const json::value list = json::parse(r.body);
      REQUIRE(list.at("items").as_array().size() == 1);
      CHECK(list.at("items").at(0).at("metadata").at("name").as_string() == "cm-1");

      r = co_await c.request(http::verb::patch, path + "/cm-1", R"({"data":{"k":"two"}})",
                             "application/merge-patch+json");
      CHECK(r.status == 200);
      CHECK(json::parse(r.body).at("data").at("k").as_string() == "two");

      r = co_await c.request(http::verb::delete_, path + "/cm-1");
      CHECK(r.status == 200);
      r = co_await c.request(http::verb::get, path + "/cm-1");
      CHECK(r.status == 404);
      CHECK(json::parse(r.body).at("reason").as_string() == "NotFound");

      r = co_await c.request(http::verb::get, "/apis/samplecontroller.k8s.io/v1alpha1/foos");
      CHECK(r.status == 404);
      CHECK(r.header("Content-Type") == "text/plain; charset=utf-8");
      CHECK(r.body == "404 page not found\n");
    });
    // Keep-alive: every request went over one connection.
    CHECK(server.stats().connections == 1);
    CHECK(server.stats().requests == 7);
    CHECK(server.stats().bytes_sent > 0);
  }
}

TEST_CASE("fake apiserver: TLS verifies as 127.0.0.1 and localhost, and only with its CA") {
  FakeApiServerOptions opts;
  opts.tls = true;
  FakeApiServer server(opts);
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    ClientOptions by_name = client_for(server);
    by_name.verify_host = "localhost";
    by_name.sni = "localhost";
    HttpClient c(ioc, server.port(), by_name);
    CHECK((co_await c.request(http::verb::get, "/version")).status == 200);

    ClientOptions wrong_ca = client_for(server);
    wrong_ca.ca_pem = kcoro::testing::CertificateAuthority("another-ca").cert_pem();
    HttpClient bad(ioc, server.port(), wrong_ca);
    bool refused = false;
    try {
      co_await bad.connect();
    } catch (const boost::system::system_error&) {
      refused = true;
    }
    CHECK(refused);

    ClientOptions wrong_name = client_for(server);
    wrong_name.verify_host = "kubernetes.default.svc";
    HttpClient bad_name(ioc, server.port(), wrong_name);
    refused = false;
    try {
      co_await bad_name.connect();
    } catch (const boost::system::system_error&) {
      refused = true;
    }
    CHECK(refused);
  });
}

TEST_CASE(
    "fake apiserver: a chunked watch sees ADDED, MODIFIED, DELETED written by another thread") {
  for (const bool tls : {false, true}) {
    CAPTURE(tls);
    FakeApiServerOptions opts;
    opts.tls = tls;
    FakeApiServer server(opts);
    const uint64_t rv0 = server.cluster().resource_version();
    std::thread writer;
    kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
      HttpClient c(ioc, server.port(), client_for(server));
      const Response head = co_await c.start_stream(
          std::string(kCms) + "?watch=1&resourceVersion=" + std::to_string(rv0));
      CHECK(head.status == 200);
      CHECK(head.header("Transfer-Encoding") == "chunked");
      CHECK(head.header("Content-Type") == "application/json");
      CHECK(head.header("Cache-Control") == "no-cache, private");
      CHECK(head.header("Content-Length").empty());

      writer = std::thread([&server] {
        server.cluster().apply_object(configmap_json("w1", "a"));
        server.cluster().apply_object(configmap_json("w1", "b"));
        server.cluster().delete_object("v1", "ConfigMap", "default", "w1");
      });
      std::vector<std::string> types, lines;
      while (types.size() < 3) {
        auto line = co_await c.next_line();
        REQUIRE(line);
        if (event_type(*line) == "BOOKMARK") continue;
        lines.push_back(*line);
        types.push_back(event_type(*line));
      }
      CHECK(types == std::vector<std::string>{"ADDED", "MODIFIED", "DELETED"});
      // As on the real server: one event per chunk.
      for (std::size_t i = 0; i < c.chunk_sizes.size() && i < lines.size(); ++i) {
        CHECK(c.chunk_sizes[i] == lines[i].size());
      }
      CHECK(server.stats().watches_open == 1);
    });
    writer.join();
    CHECK(server.wait_for([](const auto& s) { return s.watches_open == 0; }, 10s));
  }
}

TEST_CASE("fake apiserver: timeoutSeconds ends the stream and the connection is kept alive") {
  FakeApiServer server;
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    HttpClient c(ioc, server.port());
    const auto t0 = std::chrono::steady_clock::now();
    const Response head = co_await c.start_stream(std::string(kCms) + "?watch=1&timeoutSeconds=1");
    CHECK(head.status == 200);
    while (co_await c.next_line()) {
    }
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(took >= 900ms);
    CHECK(took < 10s);
    const Response r = co_await c.request(http::verb::get, kCms);
    CHECK(r.status == 200);
  });
  CHECK(server.stats().connections == 1);
  CHECK(server.stats().watches == 1);
}

TEST_CASE("fake apiserver: a client leaving ends its watch on the server") {
  FakeApiServer server;
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    HttpClient c(ioc, server.port());
    CHECK((co_await c.start_stream(std::string(kCms) + "?watch=1")).status == 200);
    CHECK(server.wait_for([](const auto& s) { return s.watches_open == 1; }, 10s));
    c.close();
    co_return;
  });
  CHECK(server.wait_for(
      [](const auto& s) { return s.watches_open == 0 && s.connections_open == 0; }, 10s));
}

TEST_CASE("fake apiserver: bearer tokens: 401 without a good one, the user reaches the cluster") {
  FakeApiServerOptions opts;
  opts.tokens = {{"good-token", "alice"}};
  FakeApiServer server(opts);
  server.cluster().forbid("alice", "secrets");
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    HttpClient anonymous(ioc, server.port());
    Response r = co_await anonymous.request(http::verb::get, kCms);
    CHECK(r.status == 401);
    CHECK(r.header("Content-Type") == "application/json");
    CHECK(r.body == kcoro::test::http_body("error-401-bad-token.http"));

    ClientOptions bad;
    bad.token = "bad-token";
    HttpClient bad_client(ioc, server.port(), bad);
    CHECK((co_await bad_client.request(http::verb::get, kCms)).status == 401);
    CHECK((co_await bad_client.start_stream(std::string(kCms) + "?watch=1")).status == 401);

    ClientOptions good;
    good.token = "good-token";
    HttpClient good_client(ioc, server.port(), good);
    CHECK((co_await good_client.request(http::verb::get, kCms)).status == 200);
    r = co_await good_client.request(http::verb::get, "/api/v1/namespaces/default/secrets");
    CHECK(r.status == 403);
    CHECK(r.body.find("alice") != std::string::npos);
  });
}

TEST_CASE("fake apiserver: client certificates authenticate their CN") {
  FakeApiServerOptions opts;
  opts.tls = true;
  opts.require_auth = true;
  FakeApiServer server(opts);
  server.cluster().forbid("bob", "secrets");
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    ClientOptions with_cert = client_for(server);
    std::tie(with_cert.cert_pem, with_cert.key_pem) = server.issue_client_cert("bob");
    HttpClient bob(ioc, server.port(), with_cert);
    CHECK((co_await bob.request(http::verb::get, kCms)).status == 200);
    const Response r = co_await bob.request(http::verb::get, "/api/v1/namespaces/default/secrets");
    CHECK(r.status == 403);
    CHECK(r.body.find("bob") != std::string::npos);

    HttpClient nobody(ioc, server.port(), client_for(server));
    CHECK((co_await nobody.request(http::verb::get, kCms)).status == 401);

    ClientOptions foreign = client_for(server);
    const auto other = kcoro::testing::CertificateAuthority("another-ca").issue_client("mallory");
    foreign.cert_pem = other.cert_pem;
    foreign.key_pem = other.key_pem;
    HttpClient mallory(ioc, server.port(), foreign);
    CHECK((co_await mallory.request(http::verb::get, kCms)).status == 401);
  });
}

TEST_CASE("fake apiserver: write_kubeconfig points at the server, as kcoro's loader reads it") {
  FakeApiServerOptions opts;
  opts.tls = true;
  opts.tokens = {{"t0ken", "admin"}};
  FakeApiServer server(opts);
  const auto dir = std::filesystem::temp_directory_path() /
                   ("kcoro-fake-kubeconfig-" + std::to_string(server.port()));
  std::filesystem::create_directories(dir);

  server.write_kubeconfig((dir / "token").string());
  kcoro::ClusterConfig c = kcoro::load_kubeconfig({dir / "token"});
  CHECK(c.server == server.url());
  CHECK(c.port == server.port());
  CHECK(c.ca_data == server.ca_pem());
  CHECK(c.token == "t0ken");
  CHECK(c.context == "kcoro-fake");

  kcoro::testing::KubeconfigOptions cert;
  cert.client_cert_cn = "carol";
  cert.token = "other";
  server.write_kubeconfig((dir / "cert").string(), cert);
  c = kcoro::load_kubeconfig({dir / "cert"});
  CHECK(c.token == "other");
  CHECK(c.client_cert_data.starts_with("-----BEGIN CERTIFICATE-----"));
  CHECK(c.client_key_data.find("PRIVATE KEY") != std::string::npos);

  // The embedded client certificate works.
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    ClientOptions o = client_for(server);
    o.cert_pem = c.client_cert_data;
    o.key_pem = c.client_key_data;
    HttpClient client(ioc, server.port(), o);
    CHECK((co_await client.request(http::verb::get, kCms)).status == 200);
  });
  std::filesystem::remove_all(dir);
}

TEST_CASE("fake apiserver: the cluster's own faults pass through: compact and expired continue") {
  FakeApiServer server;
  for (int i = 0; i < 3; ++i)
    server.cluster().apply_object(configmap_json("c" + std::to_string(i), "v"));
  const uint64_t old_rv = server.cluster().resource_version() - 2;
  server.cluster().apply_object(configmap_json("late", "v"));
  server.cluster().compact();
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    HttpClient c(ioc, server.port());
    CHECK((co_await c.start_stream(std::string(kCms) +
                                   "?watch=1&resourceVersion=" + std::to_string(old_rv)))
              .status == 200);
    const auto line = co_await c.next_line();
    REQUIRE(line);
    const json::value ev = json::parse(*line);
    CHECK(ev.at("type").as_string() == "ERROR");
    CHECK(ev.at("object").at("code").as_int64() == 410);
    CHECK(!(co_await c.next_line()));

    HttpClient lister(ioc, server.port());
    Response r = co_await lister.request(http::verb::get, std::string(kCms) + "?limit=2");
    REQUIRE(r.status == 200);
    const std::string token =
        std::string(json::parse(r.body).at("metadata").at("continue").as_string());
    server.cluster().expire_continue_tokens();
    r = co_await lister.request(http::verb::get, std::string(kCms) + "?limit=2&continue=" + token);
    CHECK(r.status == 410);
  });
}
