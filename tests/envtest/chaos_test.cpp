// Chaos against a real kube-apiserver: an informer keeps an exact cache while a TCP relay cuts
// its connections at seeded byte offsets (inside list pages and watch events), while the API
// server is killed with SIGKILL and restarted on the same port and etcd, and while the server's
// in-flight limit answers 429. A writer creates, changes and deletes ConfigMaps throughout.
//
// After each fault: within a bounded time the informer's store equals a fresh list from the
// server (names and resourceVersions) and the writer's own record of what exists; handlers saw
// no add of a key already cached, no update or delete of an unknown key, and end up holding
// exactly the store. The test prints one line of figures: time to converge after each fault,
// relists, watch restarts, 429s, cuts.
//
// Threads: the clients, informers, relay and writer run on one io_context driven by a thread of
// the test; the main thread injects the faults, because EnvTest is driven by the thread that
// started it (its children die with that thread). Every wait is bounded and fails with a message.
#include "kcoro/informer.hpp"
#include "kcoro/testing/envtest.hpp"

#include "envtest/env.hpp"
#include "envtest/tcp_relay.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

namespace net = boost::asio;
using kcoro::ApiError;
using kcoro::Client;
using kcoro::Informer;
using kcoro::InformerOptions;
using kcoro::ObjectPtr;
using kcoro::test::eventually;
using kcoro::test::TcpRelay;
using kcoro::testing::EnvTest;
using kcoro::testing::EnvTestOptions;
namespace res = kcoro::resources;
const kcoro::Resource clusterrolebindings{"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding",
                                          "clusterrolebindings", false};
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

using State = std::map<std::string, std::string>;  // name -> resourceVersion

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// The sum of every series of `family` whose labels contain `label` (e.g. code="429").
double metric_sum(const kcoro::MetricsRegistry& m, const std::string& family,
                  const std::string& label = {}) {
  std::istringstream text(m.render());
  double sum = 0;
  for (std::string line; std::getline(text, line);) {
    if (line.rfind(family + "{", 0) != 0 && line.rfind(family + " ", 0) != 0) continue;
    if (!label.empty() && line.find(label) == std::string::npos) continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

// Runs the io_context on a thread of its own; the main thread hands it coroutines and waits for
// them with a deadline. Declare it after everything its coroutines use: it stops first.
class IoThread {
 public:
  explicit IoThread(net::io_context& io)
      : io_(io), work_(io.get_executor()), thread_([this] { io_.run(); }) {}
  ~IoThread() { halt(); }

  template <class T>
  T run(net::awaitable<T> aw, std::chrono::milliseconds limit, const std::string& what) {
    auto done = net::co_spawn(io_, std::move(aw), net::use_future);
    if (done.wait_for(limit) != std::future_status::ready) {
      halt();  // nothing may run on once the test unwinds
      FAIL(what << ": no answer within " << limit.count() << " ms");
    }
    return done.get();
  }

  void halt() {
    if (!thread_.joinable()) return;
    work_.reset();
    io_.stop();
    thread_.join();
  }

 private:
  net::io_context& io_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::thread thread_;
};

// What a handler saw, checked against the informer's contract. Touched on the io thread only,
// read by the main thread once the io thread is idle or through the mutex.
struct HandlerLog {
  std::mutex mu;
  State cached;
  std::vector<std::string> violations;
  uint64_t adds = 0, updates = 0, deletes = 0, tombstones = 0;

  kcoro::EventHandler handler() {
    auto name = [](const ObjectPtr& o) { return std::string(o->meta().name); };
    auto rv = [](const ObjectPtr& o) { return std::string(o->meta().resource_version); };
    return {[=, this](const ObjectPtr& o) {
              std::lock_guard lock(mu);
              ++adds;
              if (!cached.emplace(name(o), rv(o)).second)
                violations.push_back("add of a cached key " + name(o));
            },
            [=, this](const ObjectPtr&, const ObjectPtr& o) {
              std::lock_guard lock(mu);
              ++updates;
              auto it = cached.find(name(o));
              if (it == cached.end())
                violations.push_back("update of an unknown key " + name(o));
              else
                it->second = rv(o);
            },
            [=, this](const ObjectPtr& o, bool tombstone) {
              std::lock_guard lock(mu);
              ++deletes;
              tombstones += tombstone ? 1 : 0;
              if (cached.erase(name(o)) == 0)
                violations.push_back("delete of an unknown key " + name(o));
            }};
  }
  State snapshot() {
    std::lock_guard lock(mu);
    return cached;
  }
};

State store_state(const kcoro::Store& store) {
  State s;
  for (auto& o : store.list())
    s[std::string(o->meta().name)] = std::string(o->meta().resource_version);
  return s;
}

std::string names(const State& s) {
  std::string out;
  for (auto& [k, v] : s)
    out += k + "@" + v + " ";
  return out;
}

// A ConfigMap of about 1.5 KB, so that a list page and a watch event span several reads.
std::string configmap(const std::string& name, const std::string& ns, int value) {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name +
         R"(","namespace":")" + ns + R"("},"data":{"k":")" + std::to_string(value) +
         R"(","pad":")" + std::string(1500, 'x') + R"("}})";
}

// The writer: creates, changes and deletes ConfigMaps, keeping its own record of what exists.
// A write that fails for a transient reason (connection, 5xx, 429: the API server is down or
// busy) is tried again; a create that had reached the server answers 409 on the retry, a delete
// 404, and both count as done.
struct Writer {
  Writer(Client c, uint64_t seed) : client(std::move(c)), rng(seed) {}
  Client client;
  std::string ns;
  std::mt19937_64 rng;
  std::set<std::string> expect;
  std::atomic<bool> stop{false};
  int next = 0;
  uint64_t creates = 0, updates = 0, deletes = 0, retries = 0;

  enum class Op { create, update, remove };

  net::awaitable<void> write(Op op, const std::string& name, int value) {
    net::steady_timer t(co_await net::this_coro::executor);
    for (int attempt = 0;; ++attempt) {
      std::string failure;
      try {
        if (op == Op::create) {
          co_await client.create(res::configmaps, ns, configmap(name, ns, value));
        } else if (op == Op::update) {
          const std::string patch = R"({"data":{"k":")" + std::to_string(value) + R"("}})";
          co_await client.patch(res::configmaps, ns, name, kcoro::PatchType::merge, patch);
        } else {
          co_await client.remove(res::configmaps, ns, name);
        }
        co_return;
      } catch (const ApiError& e) {
        if (attempt > 0 && op == Op::create && kcoro::is_already_exists(e)) co_return;
        if (attempt > 0 && op == Op::remove && kcoro::is_not_found(e)) co_return;
        if (kcoro::classify_failure(e) != kcoro::FailureClass::retry) throw;
        failure = e.what();
      } catch (const std::system_error& e) {
        failure = e.what();
      }
      if (attempt == 300) throw std::runtime_error("writer: gave up on " + name + ": " + failure);
      ++retries;
      t.expires_after(50ms);
      co_await t.async_wait(net::use_awaitable);
    }
  }

  net::awaitable<void> run() {
    net::steady_timer t(co_await net::this_coro::executor);
    std::uniform_real_distribution<double> coin(0, 1);
    while (!stop.load()) {
      // About 30 objects at a time: a list is a few pages, each of them cut-able.
      const double c = expect.size() < 20 ? 0 : expect.size() > 40 ? 1 : coin(rng);
      if (c < 0.35) {
        const std::string name = "cm-" + std::to_string(next++);
        co_await write(Op::create, name, next);
        expect.insert(name);
        ++creates;
      } else {
        auto it = expect.begin();
        std::advance(it, std::uniform_int_distribution<std::size_t>(0, expect.size() - 1)(rng));
        const std::string name = *it;
        if (c < 0.65) {
          co_await write(Op::update, name, next++);
          ++updates;
        } else {
          co_await write(Op::remove, name, 0);
          expect.erase(name);
          ++deletes;
        }
      }
      t.expires_after(10ms);
      co_await t.async_wait(net::use_awaitable);
    }
  }
};

InformerOptions chaos_informer(const std::string& ns, std::shared_ptr<kcoro::MetricsRegistry> m,
                               uint64_t seed) {
  InformerOptions o;
  o.resource = res::configmaps;
  o.ns = ns;
  o.policy.page_size = 10;                   // lists of several pages, each cut-able
  o.policy.initial_list_from_cache = false;  // a paginated, consistent first list
  o.policy.backoff_initial = 100ms;
  o.policy.backoff_max = 2s;
  o.seed = seed;
  o.metrics = std::move(m);
  return o;
}

uint64_t chaos_seed() {
  const char* s = std::getenv("KCORO_CHAOS_SEED");
  return s ? std::strtoull(s, nullptr, 10) : 20261207;
}

}  // namespace

TEST_CASE(
    "envtest chaos: an informer's cache stays exact through cuts, a SIGKILLed API server and "
    "429s") {
  const uint64_t seed = chaos_seed();
  MESSAGE("chaos seed ", seed, " (KCORO_CHAOS_SEED replays it)");
  // An API server of its own: it is killed, and its in-flight limit is tiny. The classic
  // max-in-flight filter (priority and fairness off) answers 429 at once when the limit is
  // reached, except to system:masters: the informers run as "kcoro-nobody", given rights below.
  // No watch cache for configmaps: a watch resumed at a resourceVersion that etcd compacted
  // meanwhile reaches etcd and answers 410, so cuts and compactions make the informer relist.
  EnvTestOptions opts;
  opts.apiserver_flags = {"--enable-priority-and-fairness=false", "--max-requests-inflight=1",
                          "--max-mutating-requests-inflight=1", "--watch-cache-sizes=configmaps#0"};
  opts.stop_timeout = 5s;
  EnvTest e(opts);
  e.start();

  net::io_context io;
  auto ex = io.get_executor();
  auto metrics = std::make_shared<kcoro::MetricsRegistry>();
  auto metrics2 = std::make_shared<kcoro::MetricsRegistry>();
  kcoro::ClientOptions copts;
  copts.metrics = metrics;
  Client admin(ex, e.admin_config());
  TcpRelay relay(ex, {.upstream_port = static_cast<uint16_t>(std::stoi(e.url().substr(18))),
                      .seed = seed,
                      .min_cut_bytes = 1024,
                      .max_cut_bytes = 24 * 1024});
  auto relayed = e.token_config(EnvTest::nobody_token);
  relayed.port = relay.port();
  relayed.server = "https://127.0.0.1:" + std::to_string(relayed.port);
  Client nobody(ex, relayed, copts);
  copts.metrics = metrics2;
  // The second informer meets a saturated read slot: its client retries a 429 ten times, honouring
  // Retry-After, as client-go's REST client does (kcoro's default is four).
  copts.retry.max_retries = 10;
  Client nobody2(ex, e.token_config(EnvTest::nobody_token), copts);
  // The load's client does not wait out Retry-After: it keeps the read slot busy.
  auto load_metrics = std::make_shared<kcoro::MetricsRegistry>();
  Client load(ex, e.token_config(EnvTest::nobody_token),
              kcoro::ClientOptions{.retry = {.max_retries = 0}, .metrics = load_metrics});
  Writer writer(admin, seed);
  HandlerLog seen, seen2;
  std::unique_ptr<Informer> inf, inf2;
  IoThread thread(io);

  // Setup: a namespace, and cluster-admin rights for kcoro-nobody (not system:masters, so the
  // in-flight limit applies to it).
  const std::string ns = thread.run(
      [&]() -> net::awaitable<std::string> {
        const auto ns = co_await kcoro::test::fresh_namespace(admin, "chaos");
        co_await admin.create(
            clusterrolebindings, "",
            R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",)"
            R"("metadata":{"name":"kcoro-nobody-admin"},"roleRef":{"apiGroup":)"
            R"("rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},)"
            R"("subjects":[{"kind":"User","name":"kcoro-nobody","apiGroup":)"
            R"("rbac.authorization.k8s.io"}]})");
        const bool allowed = co_await eventually([&]() -> net::awaitable<bool> {
          try {
            co_await nobody2.list(res::configmaps, ns);
            co_return true;
          } catch (const ApiError&) {
            co_return false;
          }
        });
        co_return allowed ? ns : std::string();
      }(),
      30s, "setup");
  REQUIRE_MESSAGE(!ns.empty(), "kcoro-nobody never got the rights of its binding");
  writer.ns = ns;

  // Converged: the store equals a fresh list and the writer's record, and the handlers hold it.
  auto converge = [&](Informer& i, HandlerLog& log, const char* fault) -> int64_t {
    const auto began = Clock::now();
    State server;
    const bool ok = thread.run(
        [&]() -> net::awaitable<bool> {
          co_return co_await eventually(
              [&]() -> net::awaitable<bool> {
                State s;
                auto page = co_await admin.list(res::configmaps, ns);
                for (auto& o : page.items)
                  s[std::string(o->meta().name)] = std::string(o->meta().resource_version);
                server = s;
                co_return i.has_synced() && store_state(*i.store()) == s&& log.snapshot() == s;
              },
              20s);
        }(),
        30s, std::string("converging after ") + fault);
    const int64_t took = ms_since(began);
    CHECK_MESSAGE(ok, "after " << fault << " the store did not converge within 20 s\nserver: "
                               << names(server) << "\nstore:  " << names(store_state(*i.store()))
                               << "\nhandlers: " << names(log.snapshot()));
    std::set<std::string> have;
    for (auto& [k, v] : server)
      have.insert(k);
    CHECK_MESSAGE(have == writer.expect, "after " << fault << " the server lacks a write");
    return took;
  };
  auto run_writer = [&] {
    writer.stop = false;
    return net::co_spawn(io, writer.run(), net::use_future);
  };
  auto stop_writer = [&](std::future<void>& w) {
    writer.stop = true;
    REQUIRE_MESSAGE(w.wait_for(40s) == std::future_status::ready, "the writer did not stop");
    w.get();
  };

  // Recovered: an object created once the fault is over is in the informer's store. The time
  // from the end of the fault to then is the figure; convergence is checked after it.
  int probes = 0;
  auto recovery = [&](Informer& i, const char* fault) -> int64_t {
    const auto began = Clock::now();
    const std::string name = "probe-" + std::to_string(++probes);
    const bool ok = thread.run(
        [&]() -> net::awaitable<bool> {
          co_await admin.create(res::configmaps, ns, configmap(name, ns, 0));
          co_return co_await eventually(
              [&] { return i.has_synced() && store_state(*i.store()).count(name) == 1; }, 20s);
        }(),
        30s, std::string("recovering from ") + fault);
    CHECK_MESSAGE(ok, "after " << fault << " the informer did not see a new object within 20 s");
    writer.expect.insert(name);
    return ms_since(began);
  };

  // (a) Cuts: for 6 s of writes every connection through the relay is cut after its budget of
  // bytes, and etcd is compacted every second. The informer starts then: its first list is cut
  // too.
  relay.set_cutting(true);
  inf = std::make_unique<Informer>(nobody, chaos_informer(ns, metrics, seed), ex);
  inf->add_handler(seen.handler());
  net::post(io, [&] { inf->start(); });
  auto w = run_writer();
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(1s);  // the length of the fault, not a wait for an outcome
    e.compact_etcd();
  }
  stop_writer(w);
  relay.set_cutting(false);
  const auto cut_stats = relay.stats();
  const int64_t after_cuts = recovery(*inf, "relay cuts");
  converge(*inf, seen, "relay cuts");
  const double relists_cuts = metric_sum(*metrics, "kcoro_reflector_relists_total");
  CHECK(cut_stats.cuts >= 5);

  // (b) SIGKILL: the API server dies mid-churn and comes back on the same port and etcd.
  w = run_writer();
  std::this_thread::sleep_for(1s);
  const auto killed = Clock::now();
  e.restart_apiserver();
  const int64_t restart_ms = ms_since(killed);
  stop_writer(w);
  const int64_t after_kill = recovery(*inf, "the API server's SIGKILL and restart");
  converge(*inf, seen, "the API server's SIGKILL and restart");

  // (c) 429: six clients keep kcoro-nobody's one read slot busy (and are answered 429) while a
  // second informer makes its first (paginated) list and syncs.
  std::atomic<bool> loading{true};
  auto busy = [&]() -> net::awaitable<void> {
    net::steady_timer t(co_await net::this_coro::executor);
    while (loading.load()) {
      bool refused = false;
      try {
        co_await load.list(res::configmaps, ns);
      } catch (const std::exception&) {
        refused = true;  // 429s and the like: pause a little and keep the pressure on
      }
      if (refused) {
        t.expires_after(10ms);
        co_await t.async_wait(net::use_awaitable);
      }
    }
  };
  std::vector<std::future<void>> loaders;
  for (int i = 0; i < 6; ++i)
    loaders.push_back(net::co_spawn(io, busy(), net::use_future));
  auto answered_429 = [](const kcoro::MetricsRegistry& m) {
    return metric_sum(m, "rest_client_requests_total", "code=\"429\"");
  };
  // The informer starts once the load is being turned away: its list then meets a full slot.
  const bool saturated = thread.run(
      [&]() -> net::awaitable<bool> {
        co_return co_await eventually([&] { return answered_429(*load_metrics) >= 20; }, 15s);
      }(),
      20s, "waiting for the load to fill the read slot");
  CHECK_MESSAGE(saturated, "six clients listing at once were not answered 429 twenty times");
  inf2 = std::make_unique<Informer>(nobody2, chaos_informer(ns, metrics2, seed + 1), ex);
  inf2->add_handler(seen2.handler());
  net::post(io, [&] { inf2->start(); });
  w = run_writer();
  // The informer syncs while the limit bites. Whether its own requests meet the full slot is a
  // matter of timing (the figure below counts them); the fake-server chaos test in the
  // integration tier answers an informer 429 deterministically.
  const bool synced_under_load = thread.run(
      [&]() -> net::awaitable<bool> {
        co_return co_await eventually([&] { return inf2->has_synced(); }, 60s);
      }(),
      65s, "waiting for the second informer's sync");
  CHECK_MESSAGE(synced_under_load, "the second informer did not sync while the load ran");
  const double load_429 = answered_429(*load_metrics);
  loading = false;
  for (auto& l : loaders)
    REQUIRE_MESSAGE(l.wait_for(30s) == std::future_status::ready, "a load client did not stop");
  stop_writer(w);
  const int64_t after_429 = recovery(*inf2, "429s");
  converge(*inf2, seen2, "429s");
  // The first informer rode it all out too.
  converge(*inf, seen, "429s (first informer)");

  for (auto* log : {&seen, &seen2}) {
    std::lock_guard lock(log->mu);
    std::string all;
    for (auto& v : log->violations)
      all += v + "\n";
    CHECK_MESSAGE(log->violations.empty(), "handlers saw:\n" << all);
  }
  std::printf(
      "chaos figures: seed %llu; writes %llu creates, %llu updates, %llu deletes, %llu write "
      "retries | relay: %llu connections, %llu cut, 6 compactions | recovered %lld ms after the "
      "cuts, %lld ms after the restart (SIGKILL to ready %lld ms), %lld ms after the 429 load | "
      "informer 1: %.0f lists, %.0f relists (%.0f in the cut phase), %.0f watches, %.0f watch "
      "restarts, %llu tombstones | informer 2: %.0f lists, %.0f of %.0f requests answered 429 (the "
      "load: %.0f)\n",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(writer.creates),
      static_cast<unsigned long long>(writer.updates),
      static_cast<unsigned long long>(writer.deletes),
      static_cast<unsigned long long>(writer.retries),
      static_cast<unsigned long long>(cut_stats.connections),
      static_cast<unsigned long long>(cut_stats.cuts), static_cast<long long>(after_cuts),
      static_cast<long long>(after_kill), static_cast<long long>(restart_ms),
      static_cast<long long>(after_429), metric_sum(*metrics, "kcoro_reflector_lists_total"),
      metric_sum(*metrics, "kcoro_reflector_relists_total"), relists_cuts,
      metric_sum(*metrics, "kcoro_reflector_watches_total"),
      metric_sum(*metrics, "kcoro_reflector_watch_restarts_total"),
      static_cast<unsigned long long>(seen.tombstones),
      metric_sum(*metrics2, "kcoro_reflector_lists_total"),
      metric_sum(*metrics2, "rest_client_requests_total", "code=\"429\""),
      metric_sum(*metrics2, "rest_client_requests_total"), load_429);
  std::fflush(stdout);

  thread.run(
      [&]() -> net::awaitable<void> {
        inf->stop();
        inf2->stop();
        relay.stop();
        co_return;
      }(),
      10s, "stopping");
  thread.halt();
}
