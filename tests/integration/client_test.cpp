// kcoro::Client against the fake API server, over plain HTTP and TLS.
#include "kcoro/client.hpp"
#include "kcoro/testing/fake_apiserver.hpp"

#include "support/co_test.hpp"
#include "support/fake.hpp"
#include "support/metric_value.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

namespace net = boost::asio;
using kcoro::ApiError;
using kcoro::Client;
using kcoro::ClusterConfig;
using kcoro::ListOptions;
using kcoro::ObjectPtr;
using kcoro::WatchEventType;
using kcoro::test::co_run;
using kcoro::test::config_for;
using kcoro::test::configmap_json;
using kcoro::test::pod_json;
using kcoro::testing::FakeApiServer;
using kcoro::testing::FakeApiServerOptions;
using kcoro::testing::Fault;
using kcoro::testing::FaultKind;
namespace res = kcoro::resources;
using namespace std::chrono_literals;

namespace {

// A temporary folder removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("kcoro-client-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::string write(const std::string& name, const std::string& content, bool executable = false) {
    auto p = path / name;
    std::ofstream(p, std::ios::binary) << content;
    if (executable) {
      std::filesystem::permissions(p, std::filesystem::perms::owner_all);
    }
    return p.string();
  }
};

}  // namespace

TEST_CASE("client: every verb against the fake, plain and TLS") {
  for (bool tls : {false, true}) {
    CAPTURE(tls);
    FakeApiServerOptions o;
    o.tls = tls;
    FakeApiServer server(o);
    co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
      Client client(ex, config_for(server));
      ObjectPtr created = co_await client.create(res::pods, "default", pod_json("web-1"));
      CHECK(created->meta().name == "web-1");
      CHECK_FALSE(created->meta().uid.empty());
      CHECK_FALSE(created->meta().resource_version.empty());
      CHECK(created->json().find("managedFields") == std::string_view::npos);

      ObjectPtr got = co_await client.get(res::pods, "default", "web-1");
      CHECK(got->meta().uid == created->meta().uid);
      CHECK(got->get<std::string_view>("/spec/containers/0/image") == "nginx:1.25");

      // replace with the current resourceVersion
      auto v = boost::json::parse(got->json());
      v.at("metadata").as_object()["labels"].as_object()["tier"] = "front";
      ObjectPtr replaced = co_await client.replace(res::pods, "default", "web-1", v);
      CHECK(replaced->meta().labels.get("tier") == "front");
      CHECK(replaced->meta().resource_version != got->meta().resource_version);

      // status subresource
      auto st = boost::json::parse(replaced->json());
      st.as_object()["status"] = boost::json::object{{"phase", "Running"}};
      ObjectPtr with_status = co_await client.update_status(res::pods, "default", "web-1", st);
      CHECK(with_status->get<std::string_view>("/status/phase") == "Running");

      // the four patch types
      ObjectPtr merged =
          co_await client.patch(res::pods, "default", "web-1", kcoro::PatchType::merge,
                                R"({"metadata":{"labels":{"merged":"yes"}}})");
      CHECK(merged->meta().labels.get("merged") == "yes");
      ObjectPtr jsonp = co_await client.patch(
          res::pods, "default", "web-1", kcoro::PatchType::json,
          R"([{"op":"replace","path":"/metadata/labels/merged","value":"again"}])");
      CHECK(jsonp->meta().labels.get("merged") == "again");
      ObjectPtr smp =
          co_await client.patch(res::pods, "default", "web-1", kcoro::PatchType::strategic_merge,
                                R"({"spec":{"containers":[{"name":"c","image":"nginx:1.26"}]}})");
      CHECK(smp->get<std::string_view>("/spec/containers/0/image") == "nginx:1.26");
      kcoro::PatchOptions apply_opts;
      apply_opts.field_manager = "kcoro-test";
      apply_opts.force = true;
      ObjectPtr applied = co_await client.patch(
          res::configmaps, "default", "cfg", kcoro::PatchType::apply,
          R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","namespace":"default"},"data":{"a":"1"}})",
          apply_opts);
      CHECK(applied->get<std::string_view>("/data/a") == "1");

      // list one page, then delete
      kcoro::ListPage page = co_await client.list(res::pods, "default");
      CHECK(page.kind == "PodList");
      REQUIRE(page.items.size() == 1);
      CHECK(page.items[0]->meta().kind == "Pod");
      CHECK_FALSE(page.meta.resource_version.empty());

      kcoro::DeleteOptions del;
      del.precondition_uid = std::string(created->meta().uid);
      co_await client.remove(res::pods, "default", "web-1", del);
      bool gone = false;
      try {
        co_await client.get(res::pods, "default", "web-1");
      } catch (const ApiError& e) {
        gone = kcoro::is_not_found(e);
      }
      CHECK(gone);

      auto version = co_await client.request("GET", "/version");
      CHECK(version.status == 200);
      CHECK(version.body.find("gitVersion") != std::string::npos);
    });
  }
}

TEST_CASE("client: every error maps to ApiError with its Status") {
  FakeApiServerOptions o;
  o.tokens = {{"alice-token", "alice"}};
  o.require_auth = true;
  FakeApiServer server(o);
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    ClusterConfig cfg = config_for(server);
    cfg.token = "alice-token";
    Client client(ex, cfg);
    ObjectPtr first = co_await client.create(res::pods, "default", pod_json("a"));
    co_await client.patch(res::pods, "default", "a", kcoro::PatchType::merge,
                          R"({"metadata":{"labels":{"bump":"1"}}})");
    const std::string stale(first->meta().resource_version);

    auto expect = [&](auto op, int code, auto pred) -> net::awaitable<void> {
      try {
        co_await op();
        FAIL("expected ApiError " << code);
      } catch (const ApiError& e) {
        CHECK(e.http_code() == code);
        CHECK(pred(e));
        CHECK_FALSE(e.status().message.empty());
      }
    };
    co_await expect([&] { return client.get(res::pods, "default", "nope"); }, 404,
                    [](auto& e) { return kcoro::is_not_found(e) && e.reason() == "NotFound"; });
    co_await expect([&] { return client.create(res::pods, "default", pod_json("a")); }, 409,
                    [](auto& e) { return kcoro::is_already_exists(e); });
    co_await expect(
        [&] {
          return client.replace(
              res::pods, "default", "a",
              R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"default","resourceVersion":")" +
                  stale + R"("},"spec":{"containers":[{"name":"c","image":"x"}]}})");
        },
        409, [](auto& e) { return kcoro::is_conflict(e); });
    co_await expect(
        [&] { return client.create(res::pods, "default", pod_json("Bad_Name")); }, 422,
        [](auto& e) { return kcoro::is_invalid(e) && !e.status().details.causes.empty(); });
    co_await expect([&] { return client.create(res::pods, "default", "{not json"); }, 400,
                    [](auto& e) { return kcoro::is_bad_request(e); });
    kcoro::Resource foos{"samplecontroller.k8s.io", "v1alpha1", "Foo", "foos", true};
    co_await expect([&] { return client.get(foos, "default", "x"); }, 404,
                    [](auto& e) {
                      return kcoro::is_not_found(e) && e.status().message == "404 page not found";
                    });
    server.cluster().forbid("alice", "secrets");
    co_await expect([&] { return client.list(res::secrets, "default"); }, 403,
                    [](auto& e) { return kcoro::is_forbidden(e); });

    ClusterConfig bad = config_for(server);
    bad.token = "wrong";
    Client stranger(ex, bad);
    co_await expect([&] { return stranger.get(res::pods, "default", "a"); }, 401,
                    [](auto& e) { return kcoro::is_unauthorized(e); });
  });
}

TEST_CASE("client: list_all pages through limit/continue") {
  FakeApiServer server;
  for (int i = 0; i < 7; ++i)
    server.cluster().apply_object(pod_json("p" + std::to_string(i)));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    ListOptions opts;
    opts.limit = 2;
    kcoro::ListPage first = co_await client.list(res::pods, "default", opts);
    CHECK(first.items.size() == 2);
    CHECK_FALSE(first.meta.continue_token.empty());
    CHECK(first.meta.remaining_item_count == 5);

    auto stream = client.list_all(res::pods, "default", opts);
    std::vector<std::string> names;
    while (ObjectPtr o = co_await stream.next())
      names.emplace_back(o->meta().name);
    CHECK(names == std::vector<std::string>{"p0", "p1", "p2", "p3", "p4", "p5", "p6"});
    CHECK_FALSE(stream.meta().resource_version.empty());
    CHECK(stream.meta().continue_token.empty());
  });
  CHECK(server.stats().requests >= 5);  // one page plus four pages of list_all
}

TEST_CASE("client: metadata_only lists and watches PartialObjectMetadata") {
  FakeApiServer server;
  for (int i = 0; i < 3; ++i)
    server.cluster().apply_object(pod_json("p" + std::to_string(i)));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    ListOptions opts;
    opts.metadata_only = true;
    kcoro::ListPage page = co_await client.list(res::pods, "default", opts);
    CHECK(page.kind == "PartialObjectMetadataList");
    REQUIRE(page.items.size() == 3);
    CHECK(page.items[0]->meta().kind == "PartialObjectMetadata");
    CHECK(page.items[0]->get<std::string_view>("/metadata/labels/app") == "web");
    CHECK_FALSE(page.items[0]->get<std::string_view>("/spec/containers/0/image").has_value());

    opts.limit = 2;  // every page of list_all asks for metadata
    auto stream = client.list_all(res::pods, "default", opts);
    int n = 0;
    while (ObjectPtr o = co_await stream.next()) {
      CHECK(o->meta().kind == "PartialObjectMetadata");
      ++n;
    }
    CHECK(n == 3);

    ListOptions wopts;
    wopts.metadata_only = true;
    wopts.resource_version = page.meta.resource_version;
    auto watch = co_await client.watch(res::pods, "default", wopts);
    server.cluster().apply_object(pod_json("p9"));
    auto ev = co_await watch.next();
    REQUIRE(ev);
    CHECK(ev->type == WatchEventType::added);
    CHECK(ev->object->meta().name == "p9");
    CHECK(ev->object->meta().kind == "PartialObjectMetadata");
    CHECK_FALSE(ev->object->get<std::string_view>("/spec/containers/0/image").has_value());

    // Without the option, whole objects.
    kcoro::ListPage whole = co_await client.list(res::pods, "default");
    CHECK(whole.kind == "PodList");
    CHECK(whole.items[0]->get<std::string_view>("/spec/containers/0/image") == "nginx:1.25");
  });
}

TEST_CASE("client: an expired continue token is a 410 with a fresh token") {
  FakeApiServer server;
  for (int i = 0; i < 5; ++i)
    server.cluster().apply_object(pod_json("p" + std::to_string(i)));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    ListOptions opts;
    opts.limit = 2;
    auto stream = client.list_all(res::pods, "default", opts);
    CHECK(co_await stream.next());
    CHECK(co_await stream.next());
    server.cluster().expire_continue_tokens();
    try {
      co_await stream.next();
      FAIL("expected 410");
    } catch (const ApiError& e) {
      CHECK(kcoro::is_gone(e));
      CHECK_FALSE(e.status().continue_token.empty());
    }
  });
}

TEST_CASE("client: watch delivers changes in order and resumes from a resourceVersion") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    kcoro::ListPage page = co_await client.list(res::configmaps, "default");
    ListOptions opts;
    opts.resource_version = page.meta.resource_version;
    auto watch = co_await client.watch(res::configmaps, "default", opts);
    server.cluster().apply_object(configmap_json("a", "1"));
    server.cluster().apply_object(configmap_json("a", "2"));
    server.cluster().delete_object("v1", "ConfigMap", "default", "a");
    std::vector<std::string> seen;
    std::string last_rv;
    for (int i = 0; i < 3; ++i) {
      auto ev = co_await watch.next();
      REQUIRE(ev);
      seen.push_back(std::string(kcoro::to_string(ev->type)) + " " +
                     std::string(ev->object->get<std::string_view>("/data/k").value_or("")));
      last_rv = std::string(ev->resource_version());
    }
    CHECK(seen == std::vector<std::string>{"ADDED 1", "MODIFIED 2", "DELETED 2"});
    watch.close();

    // Resume from the second event: only what came after it.
    server.cluster().apply_object(configmap_json("b", "3"));
    opts.resource_version = last_rv;
    auto resumed = co_await client.watch(res::configmaps, "default", opts);
    auto ev = co_await resumed.next();
    REQUIRE(ev);
    CHECK(ev->type == WatchEventType::added);
    CHECK(ev->object->meta().name == "b");
  });
}

TEST_CASE("client: a watch ends at timeoutSeconds, and a too-old resourceVersion is 410") {
  FakeApiServer server;
  server.cluster().apply_object(configmap_json("a", "1"));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    ListOptions opts;
    opts.timeout_seconds = 1;
    opts.resource_version = std::to_string(server.cluster().resource_version());
    auto watch = co_await client.watch(res::configmaps, "default", opts);
    CHECK_FALSE(co_await watch.next());  // the server ended it cleanly

    const std::string before = std::to_string(server.cluster().resource_version());
    server.cluster().apply_object(configmap_json("b", "2"));
    server.cluster().compact();  // revisions before b's are gone
    opts.resource_version = before;
    opts.timeout_seconds.reset();
    auto old = co_await client.watch(res::configmaps, "default", opts);
    auto ev = co_await old.next();
    REQUIRE(ev);
    CHECK(ev->type == WatchEventType::error);
    CHECK(ev->error == kcoro::errc::resource_expired);
  });
}

TEST_CASE("client: a watch cut at any byte resumes with no loss and no duplicate") {
  FakeApiServer server;
  const uint64_t start_rv = server.cluster().resource_version();
  for (int i = 0; i < 3; ++i)
    server.cluster().apply_object(configmap_json("c" + std::to_string(i), "v"));
  // The whole stream from start_rv, to learn its length.
  std::size_t total = 0;
  std::vector<std::string> expected;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    ListOptions opts;
    opts.resource_version = std::to_string(start_rv);
    opts.timeout_seconds = 1;
    auto w = co_await client.watch(res::configmaps, "default", opts);
    while (auto ev = co_await w.next())
      expected.emplace_back(ev->object->meta().name);
  });
  REQUIRE(expected == std::vector<std::string>{"c0", "c1", "c2"});
  total = server.stats().bytes_sent;  // an upper bound of the body: enough cut points
  REQUIRE(total > 0);

  const std::size_t step = 7;  // every 7th byte keeps the test quick; offsets cover every event
  for (std::size_t cut = 1; cut < 1200; cut += step) {
    CAPTURE(cut);
    Fault f;
    f.kind = FaultKind::cut;
    f.watch_only = true;
    f.bytes = cut;
    f.path_prefix = "/api/v1/namespaces/default/configmaps";
    const int id = server.add_fault(f);
    std::vector<std::string> seen;
    co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
      Client client(ex, config_for(server));
      std::string rv = std::to_string(start_rv);
      for (int attempt = 0; attempt < 3 && seen.size() < 3; ++attempt) {
        ListOptions opts;
        opts.resource_version = rv;
        opts.timeout_seconds = 1;
        auto w = co_await client.watch(res::configmaps, "default", opts);
        try {
          while (auto ev = co_await w.next()) {
            seen.emplace_back(ev->object->meta().name);
            rv = std::string(ev->resource_version());
            if (seen.size() == expected.size()) break;  // no need to wait for timeoutSeconds
          }
        } catch (const std::system_error& e) {
          CHECK((e.code() == kcoro::errc::connection_closed ||
                 e.code() == kcoro::errc::truncated_input ||
                 e.code() == kcoro::errc::http_protocol));
        }
      }
    });
    server.remove_fault(id);
    CHECK(seen == expected);
  }
}

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

TEST_CASE("client: garbage and idle watches fail clearly") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    kcoro::ClientOptions copts;
    copts.retry.max_retries = 0;
    copts.stream_idle_timeout = 300ms;
    Client client(ex, config_for(server), copts);
    Fault g;
    g.kind = FaultKind::garbage;
    g.method = "GET";
    server.add_fault(g);
    try {
      co_await client.get(res::pods, "default", "a");
      FAIL("expected a protocol error");
    } catch (const std::system_error& e) {
      CHECK(e.code() == kcoro::errc::http_protocol);
    }

    Fault stall;
    stall.kind = FaultKind::stall;
    stall.watch_only = true;
    server.add_fault(stall);
    auto w = co_await client.watch(res::pods, "default");
    try {
      co_await w.next();
      FAIL("expected an idle timeout");
    } catch (const std::system_error& e) {
      CHECK(e.code() == kcoro::errc::timeout);
    }
  });
}

TEST_CASE("client: a cancelled watch closes its connection") {
  using namespace boost::asio::experimental::awaitable_operators;
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    auto w = co_await client.watch(res::pods, "default");
    CHECK(server.wait_for([](auto& s) { return s.watches_open == 1; }, 5s));
    net::steady_timer timer(ex, 100ms);
    auto result = co_await (w.next() || timer.async_wait(net::use_awaitable));
    CHECK(result.index() == 1);  // the timer won; the read was cancelled
    w.close();
  });
  CHECK(server.wait_for([](auto& s) { return s.watches_open == 0; }, 5s));
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
  const std::string counter = (dir.path / "runs").string();
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
    missing.command = (dir.path / "no-such-plugin").string();
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
