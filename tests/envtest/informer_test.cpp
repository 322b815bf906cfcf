// The informer pipeline against a real kube-apiserver: the streaming initial list where it is
// served and the fallback to list+watch where it is refused, a 403 surfacing through
// wait_for_sync, and the relist after etcd compaction.
#include "kcoro/informer.hpp"
#include "kcoro/testing/envtest.hpp"

#include "envtest/env.hpp"
#include "support/co_test.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <map>

namespace net = boost::asio;
using kcoro::ApiError;
using kcoro::Client;
using kcoro::Informer;
using kcoro::InformerOptions;
using kcoro::test::co_run;
using kcoro::test::configmap_json;
using kcoro::test::env;
using kcoro::test::eventually;
using kcoro::test::fresh_namespace;
using kcoro::test::legacy_env;
using kcoro::test::LogCapture;
using kcoro::testing::EnvTest;
namespace res = kcoro::resources;
using namespace std::chrono_literals;

namespace {

InformerOptions configmaps(const std::string& ns, bool streaming) {
  InformerOptions o;
  o.resource = res::configmaps;
  o.ns = ns;
  o.policy.streaming_initial_list = streaming;
  o.policy.backoff_initial = 50ms;
  o.policy.backoff_max = 500ms;
  o.seed = 1;
  return o;
}

using State = std::map<std::string, std::string>;  // name -> resourceVersion

net::awaitable<State> server_state(Client& c, const std::string& ns) {
  State s;
  auto page = co_await c.list(res::configmaps, ns);
  for (auto& o : page.items)
    s[std::string(o->meta().name)] = std::string(o->meta().resource_version);
  co_return s;
}

State store_state(const kcoro::Store& store) {
  State s;
  for (auto& o : store.list())
    s[std::string(o->meta().name)] = std::string(o->meta().resource_version);
  return s;
}

// Starts an informer on `e`, checks that it syncs the objects already there and then follows
// live changes until the store equals the server. `wait`: wait_for_sync, else poll has_synced.
void sync_and_follow(EnvTest& e, bool streaming, bool wait = true) {
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    const auto ns = co_await fresh_namespace(c, streaming ? "streaming" : "listwatch");
    for (int i = 0; i < 5; ++i)
      co_await c.create(res::configmaps, ns, configmap_json("c" + std::to_string(i), ns));
    Informer inf(c, configmaps(ns, streaming), ex);
    int adds = 0;
    inf.add_handler({[&](const kcoro::ObjectPtr&) { ++adds; }, {}, {}});
    inf.start();
    if (wait) {
      co_await inf.wait_for_sync();
    } else {
      CHECK(co_await eventually([&] { return inf.has_synced(); }));
    }
    // The first list asks for resourceVersion "0": whatever the watch cache holds, which may
    // trail the writes just made by a few milliseconds. The watch then brings the rest.
    const State initial = co_await server_state(c, ns);
    CHECK(co_await eventually([&] { return store_state(*inf.store()) == initial; }));
    co_await c.create(res::configmaps, ns, configmap_json("live", ns));
    co_await c.patch(res::configmaps, ns, "c0", kcoro::PatchType::merge, R"({"data":{"k":"2"}})");
    co_await c.remove(res::configmaps, ns, "c1");
    const State want = co_await server_state(c, ns);
    CHECK(co_await eventually([&] { return store_state(*inf.store()) == want; }));
    CHECK(co_await eventually([&] { return adds == 6; }));
    CHECK_FALSE(inf.last_resource_version().empty());
    inf.stop();
  });
}

}  // namespace

TEST_CASE("envtest informer: the streaming initial list syncs where it is served") {
  LogCapture log;
  sync_and_follow(env(), true);
  // Served: no watch failed on the way, so no fallback to list+watch happened.
  for (const auto& l : log.lines())
    CHECK_MESSAGE(l.find("watch failed") == std::string::npos, l);
}

TEST_CASE("envtest informer: where the streaming list is refused (422) it falls back and syncs") {
  LogCapture log;
  sync_and_follow(legacy_env(), true, false);
  CHECK(log.contains("sendInitialEvents is forbidden"));
}

// Found by this test: the reflector reported the 422 that refuses the streaming list to on_error,
// and the informer takes a 4xx before sync as fatal, so wait_for_sync threw the 422 although the
// reflector fell back and the store synced. A refused streaming list is no longer reported.
TEST_CASE("envtest informer: wait_for_sync rides out a refused streaming list") {
  sync_and_follow(legacy_env(), true, true);
}

TEST_CASE("envtest informer: list+watch without streaming syncs on both servers") {
  sync_and_follow(env(), false);
  sync_and_follow(legacy_env(), false);
}

TEST_CASE("envtest informer: a 403 surfaces through wait_for_sync") {
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    for (bool streaming : {false, true}) {
      Client nobody(ex, env().token_config(EnvTest::nobody_token));
      Informer inf(nobody, configmaps("default", streaming), ex);
      inf.start();
      try {
        co_await inf.wait_for_sync();
        FAIL("an informer without rights synced");
      } catch (const ApiError& err) {
        CHECK(kcoro::is_forbidden(err));
        CHECK(err.status().message.find("kcoro-nobody") != std::string::npos);
      }
      CHECK_FALSE(inf.has_synced());
      inf.stop();
    }
  });
}

TEST_CASE("envtest informer: after etcd compaction the watch answers 410 and the store converges") {
  // legacy_env has no watch cache for configmaps: a watch at a compacted resourceVersion
  // reaches etcd, which answers 410 Expired.
  auto& e = legacy_env();
  LogCapture log;
  co_run(
      [&](net::any_io_executor ex) -> net::awaitable<void> {
        Client c(ex, e.admin_config());
        const auto ns = co_await fresh_namespace(c, "relist");
        const auto other = co_await fresh_namespace(c, "relist-other");
        co_await c.create(res::configmaps, ns, configmap_json("a", ns));
        auto opts = configmaps(ns, false);
        // Short watches: each ends within seconds and is resumed from the last resourceVersion.
        opts.policy.min_watch_timeout = 2s;
        opts.policy.max_watch_timeout = 3s;
        Informer inf(c, opts, ex);
        inf.start();
        co_await inf.wait_for_sync();
        co_await c.create(res::configmaps, ns, configmap_json("b", ns));
        CHECK(co_await eventually([&] { return inf.store()->size() == 2; }));
        // Writes the informer does not watch move etcd's revision on, then compaction drops
        // every revision the informer knows.
        for (int i = 0; i < 3; ++i)
          co_await c.create(res::configmaps, other, configmap_json("x" + std::to_string(i), other));
        const int64_t rev = e.compact_etcd();
        CHECK(rev > std::stoll(inf.last_resource_version()));
        // The next watch, from the informer's last resourceVersion, is answered 410.
        CHECK(co_await eventually([&] { return log.contains("Expired"); }, 30s));
        // The informer relists, then follows changes again: the store converges on the server.
        co_await c.create(res::configmaps, ns, configmap_json("c", ns));
        co_await c.remove(res::configmaps, ns, "a");
        const State want = co_await server_state(c, ns);
        CHECK(co_await eventually([&] { return store_state(*inf.store()) == want; }, 30s));
        CHECK(inf.has_synced());
        inf.stop();
      },
      90s);
  for (const auto& l : log.lines())
    MESSAGE(l);
}
