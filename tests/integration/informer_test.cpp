// The informer pipeline (reflector → channel → informer → store → handlers) on the fake server.
#include "kcoro/informer.hpp"
#include "kcoro/testing/fake_apiserver.hpp"

#include "support/co_test.hpp"
#include "support/fake.hpp"
#include "support/metric_value.hpp"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <map>
#include <random>
#include <stdexcept>
#include <thread>

namespace net = boost::asio;
using kcoro::Client;
using kcoro::ClusterConfig;
using kcoro::Informer;
using kcoro::InformerOptions;
using kcoro::ObjectPtr;
using kcoro::test::co_run;
using kcoro::test::config_for;
using kcoro::test::configmap_json;
using kcoro::test::eventually;
using kcoro::testing::FakeApiServer;
using kcoro::testing::FakeApiServerOptions;
using kcoro::testing::Fault;
using kcoro::testing::FaultKind;
namespace res = kcoro::resources;
using namespace std::chrono_literals;

namespace {

// Waits (bounded) until `pred` holds, checking every millisecond on the coroutine's executor.

// Records every notification as "add name rv", "update name rv", "delete name rv [tombstone]".
struct Recorder {
  std::vector<std::string> log;
  kcoro::EventHandler handler() {
    return {
        [this](const ObjectPtr& o) { log.push_back("add " + id(o)); },
        [this](const ObjectPtr&, const ObjectPtr& o) { log.push_back("update " + id(o)); },
        [this](const ObjectPtr& o, bool tomb) {
          log.push_back("delete " + std::string(o->meta().name) + (tomb ? " tombstone" : ""));
        },
    };
  }
  static std::string id(const ObjectPtr& o) {
    return std::string(o->meta().name) + " " +
           std::string(o->get<std::string_view>("/data/k").value_or(""));
  }
};

InformerOptions configmaps(int64_t page = 500) {
  InformerOptions o;
  o.resource = res::configmaps;
  o.ns = "default";
  o.policy.page_size = page;
  o.policy.backoff_initial = 20ms;
  o.policy.backoff_max = 200ms;
  o.seed = 1;
  return o;
}

// The server's state of default/configmaps: name -> resourceVersion.
std::map<std::string, std::string> server_state(FakeApiServer& server) {
  kcoro::testing::FakeRequest req;
  req.method = "GET";
  req.target = "/api/v1/namespaces/default/configmaps";
  auto resp = server.cluster().handle(req);
  std::map<std::string, std::string> m;
  auto v = boost::json::parse(resp.body);
  for (auto& item : v.at("items").as_array()) {
    m[std::string(item.at("metadata").at("name").as_string())] =
        std::string(item.at("metadata").at("resourceVersion").as_string());
  }
  return m;
}

std::map<std::string, std::string> store_state(const kcoro::Store& store) {
  std::map<std::string, std::string> m;
  for (auto& o : store.list())
    m[std::string(o->meta().name)] = std::string(o->meta().resource_version);
  return m;
}

}  // namespace

TEST_CASE("informer: initial sync of thousands of objects over many pages") {
  FakeApiServer server;
  for (int i = 0; i < 2500; ++i)
    server.cluster().apply_object(configmap_json("c" + std::to_string(i), "v"));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    auto opts = configmaps(100);
    opts.policy.initial_list_from_cache = false;  // a consistent list comes in pages
    Informer inf(client, opts, ex);
    Recorder rec;
    inf.add_handler(rec.handler());
    CHECK_FALSE(inf.has_synced());
    inf.start();
    co_await inf.wait_for_sync();
    CHECK(inf.has_synced());
    CHECK(inf.store()->size() == 2500);
    CHECK(co_await eventually([&] { return rec.log.size() == 2500; }));
    CHECK(inf.store()->get("default/c42")->meta().name == "c42");
    CHECK(inf.store()->by_index(kcoro::namespace_index, "default").size() == 2500);
    inf.stop();
  });
  CHECK(server.stats().requests >= 25);  // 25 pages at least
}

TEST_CASE("informer: adds, updates and deletes arrive in order; a late handler gets the cache") {
  FakeApiServer server;
  server.cluster().apply_object(configmap_json("a", "0"));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    Informer inf(client, configmaps(), ex);
    Recorder rec;
    inf.add_handler(rec.handler());
    inf.start();
    co_await inf.wait_for_sync();
    server.cluster().apply_object(configmap_json("b", "1"));
    server.cluster().apply_object(configmap_json("a", "2"));
    server.cluster().delete_object("v1", "ConfigMap", "default", "b");
    server.cluster().apply_object(configmap_json("c", "3"));
    CHECK(co_await eventually([&] { return rec.log.size() == 5; }));
    CHECK(rec.log ==
          std::vector<std::string>{"add a 0", "add b 1", "update a 2", "delete b", "add c 3"});
    Recorder late;
    inf.add_handler(late.handler());
    CHECK(co_await eventually([&] { return late.log.size() == 2; }));
    std::sort(late.log.begin(), late.log.end());
    CHECK(late.log == std::vector<std::string>{"add a 2", "add c 3"});
    server.cluster().apply_object(configmap_json("d", "4"));
    CHECK(co_await eventually([&] { return late.log.size() == 3 && rec.log.size() == 6; }));
    CHECK(late.log.back() == "add d 4");
    inf.stop();
  });
}

TEST_CASE("informer: a primed cache turns what the server no longer has into tombstones") {
  FakeApiServer server;
  server.cluster().apply_object(configmap_json("kept", "new"));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    Informer inf(client, configmaps(), ex);
    Recorder rec;
    inf.add_handler(rec.handler());
    // What a previous run knew: one object still there (changed since), one gone.
    inf.prime(kcoro::Object::parse(configmap_json("kept", "old")));
    inf.prime(kcoro::Object::parse(configmap_json("gone", "old")));
    CHECK(inf.store()->size() == 2);
    inf.start();
    CHECK_THROWS_AS(inf.prime(kcoro::Object::parse(configmap_json("late"))), std::logic_error);
    co_await inf.wait_for_sync();
    CHECK(co_await eventually([&] { return rec.log.size() == 2; }));
    std::sort(rec.log.begin(), rec.log.end());
    // Priming notifies nobody; the first list's verdict on each primed object does.
    CHECK(rec.log == std::vector<std::string>{"delete gone tombstone", "update kept new"});
    CHECK(inf.store()->get("default/gone") == nullptr);
    inf.stop();
  });
}

TEST_CASE("informer: a watch cut mid-event resumes with no loss and no duplicate") {
  FakeApiServer server;
  // A real cluster's resourceVersion is never 0 (a watch from "0" starts at the current state).
  server.cluster().apply_object(
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"default"}})");
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    Informer inf(client, configmaps(), ex);
    Recorder rec;
    inf.add_handler(rec.handler());
    inf.start();
    co_await inf.wait_for_sync();
    Fault cut;
    cut.kind = FaultKind::cut;
    cut.watch_only = true;
    cut.bytes = 150;  // inside the first event
    cut.times = 3;
    server.add_fault(cut);
    // The current watch is already open; restart() drops it, so the next watches hit the fault.
    server.restart();
    std::vector<std::string> want;
    for (int i = 0; i < 20; ++i) {
      server.cluster().apply_object(configmap_json("x" + std::to_string(i % 5), std::to_string(i)));
      want.push_back((i < 5 ? "add x" : "update x") + std::to_string(i % 5) + " " +
                     std::to_string(i));
    }
    CHECK(co_await eventually([&] { return rec.log.size() >= want.size(); }));
    CHECK(rec.log == want);
    CHECK(store_state(*inf.store()) == server_state(server));
    inf.stop();
  });
}

TEST_CASE("informer: a forced 410 relists; handlers see exactly what changed while away") {
  FakeApiServer server;
  for (const char* n : {"keep", "change", "drop"})
    server.cluster().apply_object(configmap_json(n, "0"));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    Informer inf(client, configmaps(), ex);
    Recorder rec;
    inf.add_handler(rec.handler());
    inf.start();
    co_await inf.wait_for_sync();
    CHECK(co_await eventually([&] { return rec.log.size() == 3; }));
    rec.log.clear();
    // Keep the informer away: its watches fail until the fault is removed.
    const int id = kcoro::test::fail_watches(server);
    server.cluster().apply_object(configmap_json("change", "1"));
    server.cluster().delete_object("v1", "ConfigMap", "default", "drop");
    server.cluster().apply_object(configmap_json("new", "2"));
    server.cluster().compact();  // the informer's resourceVersion is gone from the history
    server.remove_fault(id);
    CHECK(co_await eventually([&] { return rec.log.size() == 3; }));
    std::sort(rec.log.begin(), rec.log.end());
    CHECK(rec.log ==
          std::vector<std::string>{"add new 2", "delete drop tombstone", "update change 1"});
    CHECK(store_state(*inf.store()) == server_state(server));
    inf.stop();
  });
}

TEST_CASE("informer: kcoro_reflector_* count lists, watches, events, and a relist after a 410") {
  FakeApiServer server;
  for (const char* n : {"a", "b"})
    server.cluster().apply_object(configmap_json(n, "0"));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    auto metrics = std::make_shared<kcoro::MetricsRegistry>();
    auto opts = configmaps();
    opts.metrics = metrics;
    Informer inf(client, opts, ex);
    Recorder rec;
    inf.add_handler(rec.handler());
    auto count = [&](const std::string& what) {
      return kcoro::test::metric_value(
          *metrics, "kcoro_reflector_" + what + "_total{resource=\"configmaps\"}");
    };
    inf.start();
    co_await inf.wait_for_sync();
    CHECK(count("lists") == 1);
    CHECK(count("relists") == 0);
    CHECK(co_await eventually([&] { return count("watches") == 1; }));
    const double events_before = count("watch_events");  // bookmarks only, if any
    server.cluster().apply_object(configmap_json("c", "1"));
    server.cluster().apply_object(configmap_json("a", "1"));
    CHECK(co_await eventually([&] { return rec.log.size() == 4; }));
    CHECK(count("watch_events") >= events_before + 2);
    CHECK(count("watch_restarts") == 0);

    // Away while the history is compacted: the next watch gets 410 and the reflector relists.
    const int id = kcoro::test::fail_watches(server);
    server.cluster().apply_object(configmap_json("b", "1"));
    server.cluster().compact();
    server.remove_fault(id);
    CHECK(co_await eventually([&] { return count("relists") == 1; }));
    CHECK(co_await eventually([&] { return store_state(*inf.store()) == server_state(server); }));
    // The relist's one change reached the handler (nothing is left to deliver to `rec`).
    CHECK(co_await eventually([&] { return rec.log.size() == 5; }));
    CHECK(rec.log.back() == "update b 1");
    CHECK(count("lists") == 2);
    CHECK(count("watches") >= 3);  // the first, the refused ones, the one that got 410
    CHECK(count("watch_restarts") >= 2);
    CHECK(co_await eventually([&] { return count("watches") == count("watch_restarts") + 1; }));
    inf.stop();
  });
}

TEST_CASE(
    "informer: logs through its logger; a handler that throws is logged, the next still runs") {
  FakeApiServer server;
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
    sink->set_pattern("%v");
    auto opts = configmaps();
    opts.logger = std::make_shared<spdlog::logger>("informer-test", sink);
    Informer inf(client, opts, ex);
    kcoro::EventHandler thrower;
    thrower.on_add = [](const ObjectPtr& o) {
      throw std::runtime_error("boom on " + std::string(o->meta().name));
    };
    inf.add_handler(thrower);
    Recorder rec;
    inf.add_handler(rec.handler());
    inf.start();
    co_await inf.wait_for_sync();
    server.cluster().apply_object(configmap_json("a", "1"));
    CHECK(co_await eventually([&] { return rec.log.size() == 1; }));
    CHECK(co_await eventually([&] {
      for (auto& l : sink->last_formatted())
        if (l.rfind("informer handler threw: boom on a", 0) == 0) return true;
      return false;
    }));
    inf.stop();
  });
}

TEST_CASE("informer: bookmarks advance the resume point; the streaming initial list works") {
  FakeApiServerOptions o;
  o.cluster.bookmark_interval = 50ms;
  FakeApiServer server(o);
  server.cluster().apply_object(configmap_json("a", "1"));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    auto opts = configmaps();
    opts.policy.streaming_initial_list = true;
    Informer inf(client, opts, ex);
    inf.start();
    co_await inf.wait_for_sync();
    CHECK(inf.store()->size() == 1);
    const uint64_t after_sync = std::stoull(inf.last_resource_version());
    // Writes elsewhere move the server's resourceVersion; only bookmarks tell this informer.
    for (int i = 0; i < 3; ++i) {
      server.cluster().apply_object(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s)" +
                                    std::to_string(i) + R"(","namespace":"default"}})");
    }
    const uint64_t target = server.cluster().resource_version();
    CHECK(target > after_sync);
    CHECK(co_await eventually([&] { return std::stoull(inf.last_resource_version()) >= target; }));
    CHECK(inf.store()->size() == 1);
    inf.stop();
  });
}

TEST_CASE("informer: a 403 surfaces from wait_for_sync") {
  FakeApiServerOptions o;
  o.tokens = {{"t", "mallory"}};
  o.require_auth = true;
  FakeApiServer server(o);
  server.cluster().forbid("mallory", "configmaps");
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    ClusterConfig cfg = config_for(server);
    cfg.token = "t";
    Client client(ex, cfg);
    Informer inf(client, configmaps(), ex);
    inf.start();
    try {
      co_await inf.wait_for_sync();
      FAIL("expected 403");
    } catch (const kcoro::ApiError& e) {
      CHECK(kcoro::is_forbidden(e));
    }
    CHECK_FALSE(inf.has_synced());
    inf.stop();
  });
}

TEST_CASE("informer: a slow handler does not stall the others") {
  FakeApiServer server;
  net::io_context slow_io;
  auto guard = net::make_work_guard(slow_io);
  std::thread slow_thread([&] { slow_io.run(); });
  std::atomic<int> slow_seen{0};
  std::atomic<bool> release{false};
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    Informer inf(client, configmaps(), ex);
    int fast_seen = 0;
    inf.add_handler({[&](const ObjectPtr&) { ++fast_seen; }, {}, {}});
    kcoro::HandlerOptions ho;
    ho.executor = slow_io.get_executor();
    inf.add_handler({[&](const ObjectPtr&) {
                       while (!release.load())
                         std::this_thread::yield();  // stuck until released
                       ++slow_seen;
                     },
                     {},
                     {}},
                    ho);
    inf.start();
    co_await inf.wait_for_sync();
    for (int i = 0; i < 50; ++i)
      server.cluster().apply_object(configmap_json("s" + std::to_string(i), "v"));
    CHECK(co_await eventually([&] { return fast_seen == 50; }));
    CHECK(slow_seen.load() == 0);  // the slow handler is still on its first object
    release = true;
    CHECK(co_await eventually([&] { return slow_seen.load() == 50; }));
    inf.stop();
  });
  guard.reset();
  slow_thread.join();
}

TEST_CASE("informer: resync redelivers on_update(obj, obj)") {
  FakeApiServer server;
  server.cluster().apply_object(configmap_json("a", "1"));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    Informer inf(client, configmaps(), ex);
    int same = 0;
    kcoro::HandlerOptions ho;
    ho.resync_period = 20ms;
    inf.add_handler({{}, [&](const ObjectPtr& a, const ObjectPtr& b) { same += a == b; }, {}}, ho);
    inf.start();
    co_await inf.wait_for_sync();
    CHECK(co_await eventually([&] { return same >= 3; }));
    inf.stop();
  });
}

TEST_CASE("informer: random churn with random connection cuts ends equal to the server") {
  FakeApiServer server;
  std::mt19937 rng(20261122);
  co_run(
      [&](net::any_io_executor ex) -> net::awaitable<void> {
        Client client(ex, config_for(server));
        Informer inf(client, configmaps(7), ex);
        inf.start();
        co_await inf.wait_for_sync();
        net::steady_timer t(ex);
        for (int step = 0; step < 400; ++step) {
          const std::string name = "r" + std::to_string(rng() % 40);
          switch (rng() % 10) {
            case 0:
            case 1:
              server.cluster().delete_object("v1", "ConfigMap", "default", name);
              break;
            case 2: {
              Fault cut;
              cut.kind = FaultKind::cut;
              cut.watch_only = true;
              cut.bytes = 1 + rng() % 600;
              server.add_fault(cut);
              server.restart();
              break;
            }
            case 3:
              server.cluster().compact();
              break;
            default:
              server.cluster().apply_object(configmap_json(name, std::to_string(step)));
          }
          if (step % 10 == 0) {
            t.expires_after(1ms);
            co_await t.async_wait(net::use_awaitable);
          }
        }
        server.clear_faults();
        server.restart();
        CHECK(co_await eventually([&] { return store_state(*inf.store()) == server_state(server); },
                                  20s));
        inf.stop();
      },
      60s);
}

TEST_CASE("informer: the shared factory gives one informer per resource and selectors") {
  FakeApiServer server;
  server.cluster().apply_object(configmap_json("a", "1"));
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    kcoro::SharedInformerFactory factory(client, ex);
    auto a = factory.informer(res::configmaps, "default");
    auto b = factory.informer(res::configmaps, "default");
    auto c = factory.informer(res::configmaps, "default", "app=x");
    CHECK(a == b);
    CHECK(a != c);
    factory.start();
    co_await factory.wait_for_sync();
    CHECK(a->store()->size() == 1);
    CHECK(c->store()->size() == 0);
    factory.stop();
  });
}

TEST_CASE("informer: a metadata-only informer caches PartialObjectMetadata") {
  FakeApiServer server;
  server.cluster().apply_object(
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"default",)"
      R"("labels":{"app":"web"}},"data":{"k":"a big value the cache does not need"}})");
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    kcoro::SharedInformerFactory factory(client, ex);
    auto meta = factory.metadata_informer(res::configmaps, "default");
    auto full = factory.informer(res::configmaps, "default");
    CHECK(meta != full);
    CHECK(meta == factory.metadata_informer(res::configmaps, "default"));
    CHECK(meta->options().metadata_only);
    std::vector<std::string> log;
    meta->add_handler({
        [&](const ObjectPtr& o) { log.push_back("add " + std::string(o->meta().name)); },
        [&](const ObjectPtr&, const ObjectPtr& o) {
          log.push_back("update " + std::string(o->meta().name) + " " +
                        std::string(o->get<std::string_view>("/metadata/labels/app").value_or("")));
        },
        [&](const ObjectPtr& o, bool) { log.push_back("delete " + std::string(o->meta().name)); },
    });
    factory.start();
    co_await factory.wait_for_sync();
    auto a = meta->store()->get("default/a");
    REQUIRE(a);
    CHECK(a->meta().kind == "PartialObjectMetadata");
    CHECK(a->meta().api_version == "meta.k8s.io/v1");
    CHECK(a->get<std::string_view>("/metadata/labels/app") == "web");
    CHECK_FALSE(a->get<std::string_view>("/data/k").has_value());
    CHECK(full->store()->get("default/a")->get<std::string_view>("/data/k").has_value());
    // Watch events arrive as PartialObjectMetadata too.
    server.cluster().apply_object(
        R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"default",)"
        R"("labels":{"app":"api"}},"data":{"k":"changed"}})");
    server.cluster().apply_object(configmap_json("b", "1"));
    server.cluster().delete_object("v1", "ConfigMap", "default", "a");
    CHECK(co_await eventually([&] { return log.size() == 4; }));
    CHECK(log == std::vector<std::string>{"add a", "update a api", "add b", "delete a"});
    auto b = meta->store()->get("default/b");
    REQUIRE(b);
    CHECK(b->meta().kind == "PartialObjectMetadata");
    CHECK_FALSE(b->get<std::string_view>("/data/k").has_value());
    factory.stop();
  });
}

// The deterministic half of the envtest chaos test's 429 fault: the real server's in-flight limit
// answers 429 when it answers it; the fake answers exactly the requests it is told to.
TEST_CASE("informer: 429s beyond the client's retries keep wait_for_sync waiting, then it syncs") {
  FakeApiServer server;
  for (int i = 0; i < 30; ++i)
    server.cluster().apply_object(configmap_json("c" + std::to_string(i)));
  Fault busy;
  busy.method = "GET";
  busy.path_prefix = "/api/v1/namespaces/default/configmaps";
  busy.status = 429;
  busy.retry_after = 1s;
  busy.times = 3;
  server.add_fault(busy);
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto m = std::make_shared<kcoro::MetricsRegistry>();
    kcoro::ClientOptions copts;
    copts.metrics = m;
    copts.retry.max_retries = 1;  // a list gives up after two 429s: the reflector takes over
    Client client(ex, config_for(server), copts);
    auto opts = configmaps(10);
    opts.metrics = m;
    Informer inf(client, opts, ex);
    Recorder rec;
    inf.add_handler(rec.handler());
    const auto began = std::chrono::steady_clock::now();
    inf.start();
    co_await inf.wait_for_sync();
    const auto took = std::chrono::steady_clock::now() - began;
    // 429, Retry-After 1 s, 429: the list fails; the reflector backs off and lists again: 429,
    // Retry-After 1 s, then the pages.
    const std::string host = "127.0.0.1:" + std::to_string(server.port());
    CHECK(kcoro::test::metric_value(*m, "rest_client_requests_total{code=\"429\",host=\"" + host +
                                            "\",method=\"GET\"}") == 3);
    CHECK(kcoro::test::metric_value(*m, "kcoro_reflector_lists_total{resource=\"configmaps\"}") ==
          2);
    CHECK(took >= 2s);
    CHECK(store_state(*inf.store()) == server_state(server));
    CHECK(co_await eventually([&] { return rec.log.size() == 30; }));
    MESSAGE("synced ", std::chrono::duration_cast<std::chrono::milliseconds>(took).count(),
            " ms after start through three 429s (Retry-After 1 s)");
    inf.stop();
  });
}
