// Test support for tests on the fake API server: a client configuration that points at it, the
// JSON of the objects the tests write, watches kept away, and a bounded wait for a condition.
#pragma once

#include "kcoro/kubeconfig.hpp"
#include "kcoro/testing/fake_apiserver.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace kcoro::test {

/// A configuration for `server`: its URL, and its CA when it speaks TLS.
inline ClusterConfig config_for(const testing::FakeApiServer& server) {
  ClusterConfig cfg = ClusterConfig::from_url(server.url());
  if (server.tls()) cfg.ca_data = server.ca_pem();
  return cfg;
}

/// Keeps informers away: every watch request gets 503 until the returned fault is removed, and
/// the server restarts so the open watches end now. Writes made meanwhile, then a compact(),
/// make the informers' resourceVersion too old: their next watch gets 410 and they relist.
inline int fail_watches(testing::FakeApiServer& server) {
  testing::Fault down;
  down.kind = testing::FaultKind::status;
  down.status = 503;
  down.watch_only = true;
  down.times = testing::Fault::kAlways;
  const int id = server.add_fault(down);
  server.restart();
  return id;
}

/// A ConfigMap with one key, "k".
inline std::string configmap_json(const std::string& name, const std::string& value = "v",
                                  const std::string& ns = "default") {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name +
         R"(","namespace":")" + ns + R"("},"data":{"k":")" + value + R"("}})";
}

/// A Pod labelled app=web (plus `extra_labels`, written as `,"k":"v"`) running nginx:1.25.
inline std::string pod_json(const std::string& name, const std::string& ns = "default",
                            const std::string& extra_labels = "") {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name + R"(","namespace":")" +
         ns + R"(","labels":{"app":"web")" + extra_labels +
         R"(}},"spec":{"containers":[{"name":"c","image":"nginx:1.25"}]}})";
}

/// Waits until `pred` holds, checking every millisecond on the coroutine's executor; false when
/// `limit` passes first. For effects that cross a socket, where no completion can be awaited.
inline boost::asio::awaitable<bool> eventually(
    std::function<bool()> pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    t.expires_after(std::chrono::milliseconds(1));
    co_await t.async_wait(boost::asio::use_awaitable);
  }
  co_return true;
}

}  // namespace kcoro::test
