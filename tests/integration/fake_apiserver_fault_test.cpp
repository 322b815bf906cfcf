// Integration: FakeApiServer's injected faults and restart(), each observed from the client side.
#include "integration/http_client.hpp"
#include "support/fake.hpp"
#include "kcoro/testing/fake_apiserver.hpp"

#include <boost/json.hpp>

#include <doctest/doctest.h>

using namespace kcoro::itest;
using kcoro::testing::FakeApiServer;
using kcoro::testing::Fault;
using kcoro::testing::FaultKind;
namespace json = boost::json;

using kcoro::test::configmap_json;

namespace {

const std::string kCms = "/api/v1/namespaces/default/configmaps";

Fault fault(FaultKind kind, std::string method = "GET", std::string prefix = kCms) {
  Fault f;
  f.kind = kind;
  f.method = std::move(method);
  f.path_prefix = std::move(prefix);
  return f;
}

/// Runs `op`; returns the error it failed with (a default error_code if it did not fail).
template <class Op>
awaitable<boost::system::error_code> failure(Op op) {
  try {
    co_await op();
  } catch (const boost::system::system_error& e) {
    co_return e.code();
  }
  co_return boost::system::error_code{};
}

}  // namespace

TEST_CASE("faults: cut a watch after N body bytes, inside an event") {
  FakeApiServer server;
  const uint64_t rv0 = server.cluster().resource_version();
  for (int i = 0; i < 3; ++i)
    server.cluster().apply_object(configmap_json("c" + std::to_string(i)));
  const std::string watch = kCms + "?watch=1&resourceVersion=" + std::to_string(rv0);
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    HttpClient whole(ioc, server.port());
    CHECK((co_await whole.start_stream(watch)).status == 200);
    const auto first = co_await whole.next_line();
    REQUIRE(first);
    whole.close();

    Fault f = fault(FaultKind::cut);
    f.watch_only = true;
    f.bytes = first->size() + 10;
    server.add_fault(f);
    HttpClient cut(ioc, server.port());
    CHECK((co_await cut.start_stream(watch)).status == 200);
    CHECK(co_await cut.next_line() == first);  // the first event whole
    const auto ec = co_await failure([&]() -> awaitable<void> { co_await cut.next_line(); });
    CHECK(ec == http::error::partial_message);  // then 10 bytes of the second, and the cut
    CHECK(cut.payload_bytes == first->size() + 10);
  });
  CHECK(server.stats().faults == 1);
}

TEST_CASE("faults: cut an ordinary response, then the rule is used up") {
  FakeApiServer server;
  server.cluster().apply_object(configmap_json("a"));
  Fault f = fault(FaultKind::cut);
  f.bytes = 5;
  server.add_fault(f);
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    HttpClient c(ioc, server.port());
    const auto ec =
        co_await failure([&]() -> awaitable<void> { co_await c.request(http::verb::get, kCms); });
    CHECK(ec == http::error::partial_message);
    c.close();
    CHECK((co_await c.request(http::verb::get, kCms)).status == 200);
  });
}

TEST_CASE("faults: delay a response") {
  FakeApiServer server;
  Fault f = fault(FaultKind::delay);
  f.delay = 300ms;
  server.add_fault(f);
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    HttpClient c(ioc, server.port());
    const auto t0 = std::chrono::steady_clock::now();
    CHECK((co_await c.request(http::verb::get, kCms)).status == 200);
    CHECK(std::chrono::steady_clock::now() - t0 >= 300ms);
  });
}

TEST_CASE("faults: 429 with Retry-After, 500 and 503; the request is not applied") {
  FakeApiServer server;
  Fault too_many = fault(FaultKind::status, "POST");
  too_many.status = 429;
  too_many.retry_after = 3s;
  server.add_fault(too_many);
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    HttpClient c(ioc, server.port());
    Response r = co_await c.request(http::verb::post, kCms, configmap_json("x"));
    CHECK(r.status == 429);
    CHECK(r.header("Retry-After") == "3");
    json::value status = json::parse(r.body);
    CHECK(status.at("kind").as_string() == "Status");
    CHECK(status.at("reason").as_string() == "TooManyRequests");
    CHECK(status.at("details").at("retryAfterSeconds").as_int64() == 3);
    CHECK(status.at("code").as_int64() == 429);
    CHECK((co_await c.request(http::verb::get, kCms + "/x")).status == 404);
    CHECK((co_await c.request(http::verb::post, kCms, configmap_json("x"))).status == 201);

    Fault twice = fault(FaultKind::status);
    twice.status = 500;
    twice.times = 2;
    server.add_fault(twice);
    for (int i = 0; i < 2; ++i) {
      r = co_await c.request(http::verb::get, kCms + "/x");
      CHECK(r.status == 500);
      CHECK(json::parse(r.body).at("reason").as_string() == "InternalError");
    }
    CHECK((co_await c.request(http::verb::get, kCms + "/x")).status == 200);

    Fault always = fault(FaultKind::status);
    always.status = 503;
    always.times = Fault::kAlways;
    const int id = server.add_fault(always);
    for (int i = 0; i < 3; ++i) {
      r = co_await c.request(http::verb::get, kCms + "/x");
      CHECK(r.status == 503);
      CHECK(json::parse(r.body).at("reason").as_string() == "ServiceUnavailable");
    }
    server.remove_fault(id);
    CHECK((co_await c.request(http::verb::get, kCms + "/x")).status == 200);
  });
  CHECK(server.stats().faults == 6);
  CHECK(server.stats().connections == 1);  // status faults keep the connection
}

TEST_CASE("faults: garbage instead of a response") {
  FakeApiServer server;
  server.add_fault(fault(FaultKind::garbage));
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    HttpClient c(ioc, server.port());
    const auto ec =
        co_await failure([&]() -> awaitable<void> { co_await c.request(http::verb::get, kCms); });
    CHECK(ec);
    CHECK(ec.category() == make_error_code(http::error::bad_version).category());
  });
}

TEST_CASE("faults: a stalled watch sends its head, then nothing") {
  FakeApiServer server;
  Fault f = fault(FaultKind::stall);
  f.watch_only = true;
  server.add_fault(f);
  server.cluster().apply_object(configmap_json("present"));  // a normal watch would send it at once
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    HttpClient c(ioc, server.port());
    const Response head = co_await c.start_stream(kCms + "?watch=1&resourceVersion=0");
    CHECK(head.status == 200);
    CHECK(head.header("Transfer-Encoding") == "chunked");
    CHECK(server.stats().watches_open == 1);
    Deadline idle(ioc, 300ms, [&] { c.close(); });
    const auto ec = co_await failure([&]() -> awaitable<void> { co_await c.next_line(); });
    CHECK(ec);
    CHECK(idle.fired());
    CHECK(c.payload_bytes == 0);
  });
  CHECK(server.wait_for(
      [](const auto& s) { return s.watches_open == 0 && s.connections_open == 0; }, 10s));
}

TEST_CASE("faults: a stalled request is never answered") {
  FakeApiServer server;
  server.add_fault(fault(FaultKind::stall));
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    HttpClient c(ioc, server.port());
    Deadline idle(ioc, 300ms, [&] { c.close(); });
    const auto ec =
        co_await failure([&]() -> awaitable<void> { co_await c.request(http::verb::get, kCms); });
    CHECK(ec);
    CHECK(idle.fired());
  });
}

TEST_CASE("faults: restart drops connections and watches, keeps state and port") {
  FakeApiServer server;
  server.cluster().apply_object(configmap_json("kept"));
  const uint16_t port = server.port();
  kcoro::test::co_run([&](Executor ioc) -> awaitable<void> {
    HttpClient watcher(ioc, server.port());
    CHECK((co_await watcher.start_stream(kCms + "?watch=1&resourceVersion=0")).status == 200);
    REQUIRE(co_await watcher.next_line());  // ADDED kept
    HttpClient idle(ioc, server.port());
    CHECK((co_await idle.request(http::verb::get, kCms)).status == 200);
    CHECK(server.stats().connections_open == 2);

    server.restart();
    CHECK(server.stats().connections_open == 0);
    CHECK(server.stats().watches_open == 0);
    const auto ec = co_await failure([&]() -> awaitable<void> { co_await watcher.next_line(); });
    CHECK(ec == http::error::partial_message);

    CHECK(server.port() == port);
    HttpClient again(ioc, port);
    const Response r = co_await again.request(http::verb::get, kCms + "/kept");
    CHECK(r.status == 200);
  });
}
