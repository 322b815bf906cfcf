// The controller's pure parts (retry policy, owner mapping, predicates, metrics rendering, the
// event recorder's caches), then the controller's retry path in virtual time: an io_context
// driven by poll() and a ManualClock, no sockets.
#include "kcoro/controller.hpp"
#include "control/event_cache.hpp"
#include "kcoro/metrics.hpp"
#include "kcoro/predicates.hpp"
#include "kcoro/reconcile.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/sinks/ringbuffer_sink.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
using kcoro::QueueOp;
using kcoro::Result;
using K = QueueOp::Kind;

namespace {

kcoro::ObjectPtr obj(const std::string& meta_json) {
  return kcoro::Object::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":)" + meta_json + "}");
}

std::vector<QueueOp> ops(Result::Kind k, int requeues, int max, std::chrono::nanoseconds d = {}) {
  auto o = kcoro::retry_policy(k, d, requeues, max);
  return {o.begin(), o.end()};
}

}  // namespace

TEST_CASE("retry policy: outcome x failures on record x max_retries -> queue operations") {
  struct Row {
    Result::Kind kind;
    std::chrono::nanoseconds after;
    int requeues;
    int max;
    std::vector<QueueOp> want;
  };
  const QueueOp forget{K::forget};
  const QueueOp rate_limited{K::add_rate_limited};
  const QueueOp add{K::add};
  const QueueOp drop{K::drop};
  const std::vector<Row> table{
      {Result::Kind::done, {}, 0, 5, {forget}},
      {Result::Kind::done, {}, 4, 5, {forget}},
      {Result::Kind::requeue, {}, 0, 5, {rate_limited}},
      {Result::Kind::requeue, {}, 9, 5, {rate_limited}},  // requeues are not failures
      {Result::Kind::requeue_after, 30s, 3, 5, {forget, {K::add_after, 30s}}},
      {Result::Kind::requeue_after, 0s, 0, 5, {forget, add}},
      {Result::Kind::error, {}, 0, 5, {rate_limited}},
      {Result::Kind::error, {}, 4, 5, {rate_limited}},
      {Result::Kind::error, {}, 5, 5, {forget, drop}},
      {Result::Kind::error, {}, 7, 5, {forget, drop}},
      {Result::Kind::error, {}, 0, 0, {forget, drop}},
      {Result::Kind::error, {}, 1000000, kcoro::unlimited_retries, {rate_limited}},
      {Result::Kind::terminal, {}, 0, 5, {forget, drop}},
      {Result::Kind::terminal, {}, 0, kcoro::unlimited_retries, {forget, drop}},
  };
  for (const auto& row : table) {
    CAPTURE(static_cast<int>(row.kind));
    CAPTURE(row.requeues);
    CAPTURE(row.max);
    CHECK(ops(row.kind, row.requeues, row.max, row.after) == row.want);
  }
}

TEST_CASE("owner mapping: the controlling owner of the right kind, in the object's namespace") {
  const auto owned = obj(R"({"name":"foo-abc","namespace":"ns1","ownerReferences":[
      {"apiVersion":"v1","kind":"Other","name":"x","uid":"1"},
      {"apiVersion":"samplecontroller.k8s.io/v1alpha1","kind":"Foo","name":"foo","uid":"2",
       "controller":true}]})");
  auto r = kcoro::owner_request(*owned, "Foo");
  REQUIRE(r);
  CHECK(r->str() == "ns1/foo");
  CHECK_FALSE(kcoro::owner_request(*owned, "Other"));  // not the controller
  CHECK_FALSE(kcoro::owner_request(*owned, "Bar"));
  const auto orphan = obj(R"({"name":"o","namespace":"ns1"})");
  CHECK_FALSE(kcoro::owner_request(*orphan, "Foo"));
  const auto cluster = obj(
      R"({"name":"c","ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"n1","uid":"3","controller":true}]})");
  CHECK(kcoro::owner_request(*cluster, "Node")->str() == "n1");
}

TEST_CASE("predicates: a table of create / update / delete decisions") {
  const auto a = obj(
      R"({"name":"a","namespace":"d","resourceVersion":"1","generation":1,"labels":{"x":"1","y":"2"},"annotations":{"k":"v"}})");
  const auto same = obj(
      R"({"name":"a","namespace":"d","resourceVersion":"1","generation":1,"labels":{"y":"2","x":"1"},"annotations":{"k":"v"}})");
  const auto status = obj(
      R"({"name":"a","namespace":"d","resourceVersion":"2","generation":1,"labels":{"x":"1","y":"2"},"annotations":{"k":"v"}})");
  const auto spec = obj(
      R"({"name":"a","namespace":"d","resourceVersion":"3","generation":2,"labels":{"x":"1","y":"2"},"annotations":{"k":"v"}})");
  const auto relabel = obj(
      R"({"name":"a","namespace":"d","resourceVersion":"4","generation":1,"labels":{"x":"1"},"annotations":{"k":"v"}})");
  const auto annotate = obj(
      R"({"name":"a","namespace":"d","resourceVersion":"5","generation":1,"labels":{"x":"1","y":"2"},"annotations":{"k":"w"}})");

  struct Row {
    const char* name;
    kcoro::Predicate p;
    // update from `a` to: same, status, spec, relabel, annotate; then create, delete
    std::vector<bool> want;
  };
  using namespace kcoro;
  const std::vector<Row> table{
      {"default", Predicate{}, {true, true, true, true, true, true, true}},
      {"resource_version", resource_version_changed(), {false, true, true, true, true, true, true}},
      {"generation", generation_changed(), {false, false, true, false, false, true, true}},
      {"labels", labels_changed(), {false, false, false, true, false, true, true}},
      {"annotations", annotations_changed(), {false, false, false, false, true, true, true}},
      {"generation || labels",
       generation_changed() || labels_changed(),
       {false, false, true, true, false, true, true}},
      {"rv && !generation",
       resource_version_changed() && !generation_changed(),
       {false, true, false, true, true, false, false}},
      {"matching name b",
       matching([](const Object& o) { return o.meta().name == "b"; }),
       {false, false, false, false, false, false, false}},
  };
  for (const auto& row : table) {
    CAPTURE(row.name);
    std::vector<bool> got;
    for (const auto& n : {same, status, spec, relabel, annotate})
      got.push_back(row.p.on_update(*a, *n));
    got.push_back(row.p.on_create(*a));
    got.push_back(row.p.on_delete(*a, true));
    CHECK(got == row.want);
  }
}

TEST_CASE("metrics: Prometheus text rendering") {
  kcoro::MetricsRegistry r;
  r.counter("requests_total", "Requests.", {"code", "path"}, {"200", "/a\"b\\c\nd"}).inc(3);
  r.counter("requests_total", "Requests.", {"code", "path"}, {"500", "/"}).inc();
  r.gauge("temperature", "Degrees.\nTwo lines.").set(-1.5);
  auto& h = r.histogram("latency_seconds", "Latency.", {"op"}, {"get"}, {0.005, 0.1, 1});
  h.observe(0.001);
  h.observe(0.05);
  h.observe(0.05);
  h.observe(3);
  CHECK(&r.counter("requests_total", "Requests.", {"code", "path"}, {"500", "/"}) ==
        &r.counter("requests_total", "Requests.", {"code", "path"}, {"500", "/"}));
  CHECK_THROWS_AS(r.gauge("requests_total", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("requests_total", "x", {"code"}, {"1"}), std::invalid_argument);
  CHECK(r.render() ==
        "# HELP latency_seconds Latency.\n"
        "# TYPE latency_seconds histogram\n"
        "latency_seconds_bucket{op=\"get\",le=\"0.005\"} 1\n"
        "latency_seconds_bucket{op=\"get\",le=\"0.1\"} 3\n"
        "latency_seconds_bucket{op=\"get\",le=\"1\"} 3\n"
        "latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"
        "latency_seconds_sum{op=\"get\"} 3.101\n"
        "latency_seconds_count{op=\"get\"} 4\n"
        "# HELP requests_total Requests.\n"
        "# TYPE requests_total counter\n"
        "requests_total{code=\"200\",path=\"/a\\\"b\\\\c\\nd\"} 3\n"
        "requests_total{code=\"500\",path=\"/\"} 1\n"
        "# HELP temperature Degrees.\\nTwo lines.\n"
        "# TYPE temperature gauge\n"
        "temperature -1.5\n");
}

TEST_CASE("metrics: exponential buckets are Prometheus' ExponentialBuckets") {
  const auto b = kcoro::exponential_buckets(10e-9, 10, 12);
  REQUIRE(b.size() == 12);
  CHECK(b.front() == doctest::Approx(1e-8));
  CHECK(b.back() == doctest::Approx(1e3));
}

TEST_CASE("event spam filter: 25 at once per object, then one per 5 minutes") {
  using clock = std::chrono::steady_clock;
  const clock::time_point t0 = clock::time_point{} + 1h;
  kcoro::detail::EventSpamFilter f(25, 5min, 100);
  int allowed = 0;
  for (int i = 0; i < 40; ++i)
    allowed += f.allow("pod-a", t0) ? 1 : 0;
  CHECK(allowed == 25);
  CHECK(f.allow("pod-b", t0));  // another object has its own bucket
  CHECK_FALSE(f.allow("pod-a", t0 + 4min));
  CHECK(f.allow("pod-a", t0 + 5min));
  CHECK_FALSE(f.allow("pod-a", t0 + 5min));
  CHECK(f.allow("pod-a", t0 + 15min));  // two tokens came back
  CHECK(f.allow("pod-a", t0 + 15min));
  CHECK_FALSE(f.allow("pod-a", t0 + 15min));
}

TEST_CASE("event correlator: repeats patch the written Event with a growing count") {
  kcoro::detail::EventCorrelator c(2);
  auto w = c.next("k1");
  CHECK_FALSE(w.existing);  // create
  c.written("k1", {"ns", "foo.1", 1, "T1"});
  w = c.next("k1");
  REQUIRE(w.existing);
  CHECK(w.existing->name == "foo.1");
  CHECK(w.existing->count == 2);
  c.written("k1", *w.existing);
  CHECK(c.next("k1").existing->count == 3);
  // LRU: two more keys push k1 out.
  c.written("k2", {"ns", "b.1", 1, "T"});
  c.written("k3", {"ns", "c.1", 1, "T"});
  CHECK_FALSE(c.next("k1").existing);
  CHECK(c.next("k3").existing);
}

// ---------------------------------------------------------------------------------------------
// The controller in virtual time.

namespace {

void poll(asio::io_context& io) {
  io.restart();
  io.poll();
}

struct Fixture {
  asio::io_context io;
  std::shared_ptr<kcoro::ManualClock> clock = std::make_shared<kcoro::ManualClock>();
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink =
      std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  std::shared_ptr<spdlog::logger> logger = std::make_shared<spdlog::logger>("test", sink);
  std::shared_ptr<kcoro::MetricsRegistry> registry = std::make_shared<kcoro::MetricsRegistry>();
  kcoro::Client client{io.get_executor(), kcoro::ClusterConfig::from_url("http://127.0.0.1:9")};
  std::vector<kcoro::QueueClock::time_point> attempts;
  bool run_ended = false;

  Fixture() { sink->set_pattern("%v"); }

  kcoro::ControllerOptions options(int max_retries = 5) {
    kcoro::ControllerOptions o;
    o.name = "test";
    o.max_retries = max_retries;
    o.queue.clock = clock;
    o.metrics = registry;
    o.logger = logger;
    return o;
  }
  void start(kcoro::Controller& c) {
    asio::co_spawn(io, c.run(), [this](std::exception_ptr e) {
      run_ended = true;
      if (e) std::rethrow_exception(e);
    });
    poll(io);
  }
  // Advances virtual time 1 ms at a time for `total`.
  void advance(std::chrono::milliseconds total) {
    for (auto t = 0ms; t < total; t += 1ms) {
      clock->advance(1ms);
      poll(io);
    }
  }
  void finish(kcoro::Controller& c) {
    c.stop();
    for (int i = 0; i < 100 && !run_ended; ++i)
      poll(io);
    CHECK(run_ended);
  }
  std::vector<std::chrono::milliseconds> gaps() const {
    std::vector<std::chrono::milliseconds> g;
    for (std::size_t i = 1; i < attempts.size(); ++i)
      g.push_back(
          std::chrono::duration_cast<std::chrono::milliseconds>(attempts[i] - attempts[i - 1]));
    return g;
  }
  bool logged(const std::string& needle) const {
    for (auto& line : sink->last_formatted())
      if (line.find(needle) != std::string::npos) return true;
    return false;
  }
  double metric(const std::string& line_prefix) const {
    const std::string text = registry->render();
    const auto at = text.find(line_prefix + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + line_prefix.size() + 1));
  }
};

const std::vector<std::chrono::milliseconds> kBackoff{5ms, 10ms, 20ms, 40ms, 80ms};

}  // namespace

TEST_CASE_FIXTURE(Fixture,
                  "controller: a failing reconciler is retried 5 times (5..80 ms), then dropped") {
  kcoro::Controller c(
      client, io.get_executor(),
      [this](const kcoro::Request& req, kcoro::Context& ctx) -> asio::awaitable<Result> {
        CHECK(req.str() == "ns/a");
        CHECK(ctx.retries() == static_cast<int>(attempts.size() % 6));
        attempts.push_back(clock->now());
        co_return Result::error("boom");
      },
      options());
  start(c);
  c.enqueue({"ns", "a"});
  poll(io);
  advance(1s);
  REQUIRE(attempts.size() == 6);  // the first attempt and 5 retries
  CHECK(gaps() == kBackoff);
  CHECK(logged("controller test: dropping ns/a out of the queue after 5 retries: boom"));
  CHECK(c.queue().num_requeues("ns/a") == 0);  // forgotten
  CHECK(c.queue().delayed_len() == 0);
  CHECK(metric(R"(controller_runtime_reconcile_total{controller="test",result="error"})") == 6);
  CHECK(metric(R"(controller_runtime_reconcile_errors_total{controller="test"})") == 6);
  CHECK(metric(R"(workqueue_retries_total{controller="test",name="test"})") == 5);
  CHECK(metric(R"(controller_runtime_max_concurrent_reconciles{controller="test"})") == 1);
  // A new event starts over.
  c.enqueue({"ns", "a"});
  poll(io);
  CHECK(attempts.size() == 7);
  finish(c);
}

TEST_CASE_FIXTURE(Fixture, "controller: a throwing reconciler is retried the same way") {
  kcoro::Controller c(
      client, io.get_executor(),
      [this](const kcoro::Request&, kcoro::Context&) -> asio::awaitable<Result> {
        attempts.push_back(clock->now());
        throw std::runtime_error("thrown");
        co_return Result::done();
      },
      options());
  start(c);
  c.enqueue({"ns", "t"});
  poll(io);
  advance(1s);
  REQUIRE(attempts.size() == 6);
  CHECK(gaps() == kBackoff);
  CHECK(logged("dropping ns/t out of the queue after 5 retries: thrown"));
  finish(c);
}

TEST_CASE_FIXTURE(Fixture, "controller: terminal errors are not retried; unlimited retries go on") {
  SUBCASE("TerminalError thrown") {
    kcoro::Controller c(
        client, io.get_executor(),
        [this](const kcoro::Request&, kcoro::Context&) -> asio::awaitable<Result> {
          attempts.push_back(clock->now());
          throw kcoro::TerminalError("bad spec");
          co_return Result::done();
        },
        options());
    start(c);
    c.enqueue({"", "cluster-scoped"});
    poll(io);
    advance(200ms);
    CHECK(attempts.size() == 1);
    CHECK(logged("reconcile cluster-scoped failed with a terminal error: bad spec"));
    CHECK(metric(R"(controller_runtime_terminal_reconcile_errors_total{controller="test"})") == 1);
    finish(c);
  }
  SUBCASE("Result::terminal") {
    kcoro::Controller c(
        client, io.get_executor(),
        [this](const kcoro::Request&, kcoro::Context&) -> asio::awaitable<Result> {
          attempts.push_back(clock->now());
          co_return Result::terminal("no");
        },
        options());
    start(c);
    c.enqueue({"ns", "x"});
    poll(io);
    advance(200ms);
    CHECK(attempts.size() == 1);
    finish(c);
  }
  SUBCASE("unlimited") {
    kcoro::Controller c(
        client, io.get_executor(),
        [this](const kcoro::Request&, kcoro::Context&) -> asio::awaitable<Result> {
          attempts.push_back(clock->now());
          co_return Result::error("again");
        },
        options(kcoro::unlimited_retries));
    start(c);
    c.enqueue({"ns", "x"});
    poll(io);
    advance(700ms);  // 5+10+20+40+80+160+320 = 635 ms: 8 attempts
    CHECK(attempts.size() == 8);
    CHECK_FALSE(logged("dropping"));
    finish(c);
  }
}

TEST_CASE_FIXTURE(Fixture,
                  "controller: success forgets the failures; requeue_after waits exactly") {
  kcoro::Controller c(
      client, io.get_executor(),
      [this](const kcoro::Request&, kcoro::Context& ctx) -> asio::awaitable<Result> {
        attempts.push_back(clock->now());
        switch (attempts.size()) {
          case 1:
          case 2:
            co_return Result::error("not yet");
          case 3:
            CHECK(ctx.retries() == 2);
            co_return Result::requeue_after(30s);
          case 4:
            CHECK(ctx.retries() == 0);  // requeue_after forgot the failures
            co_return Result::requeue();
          default:
            co_return Result::done();
        }
      },
      options());
  start(c);
  c.enqueue({"ns", "r"});
  poll(io);
  advance(15ms);  // retries at +5 and +15 ms
  REQUIRE(attempts.size() == 3);
  advance(29999ms);
  CHECK(attempts.size() == 3);
  advance(1ms);
  REQUIRE(attempts.size() == 4);
  CHECK(attempts[3] - attempts[2] == 30s);
  advance(5ms);  // requeue: rate limited, first failure on record -> 5 ms
  REQUIRE(attempts.size() == 5);
  CHECK(attempts[4] - attempts[3] == 5ms);
  CHECK(c.queue().num_requeues("ns/r") == 0);
  CHECK(metric(R"(controller_runtime_reconcile_total{controller="test",result="requeue_after"})") ==
        1);
  CHECK(metric(R"(controller_runtime_reconcile_total{controller="test",result="requeue"})") == 1);
  CHECK(metric(R"(controller_runtime_reconcile_total{controller="test",result="success"})") == 1);
  finish(c);
}

TEST_CASE_FIXTURE(Fixture, "controller: events during a backoff are coalesced into the retry") {
  kcoro::Controller c(
      client, io.get_executor(),
      [this](const kcoro::Request&, kcoro::Context&) -> asio::awaitable<Result> {
        attempts.push_back(clock->now());
        co_return attempts.size() < 3 ? Result::error("e") : Result::done();
      },
      options());
  start(c);
  c.enqueue({"ns", "a"});
  poll(io);
  for (int i = 0; i < 30; ++i) {
    c.enqueue({"ns", "a"});  // an event every millisecond
    advance(1ms);
  }
  REQUIRE(attempts.size() >= 3);
  CHECK(attempts[1] - attempts[0] == 5ms);
  CHECK(attempts[2] - attempts[1] == 10ms);
  finish(c);
}

TEST_CASE_FIXTURE(Fixture, "controller: stop before the workers start ends run at once") {
  kcoro::Controller c(
      client, io.get_executor(),
      [](const kcoro::Request&, kcoro::Context&) -> asio::awaitable<Result> {
        co_return Result::done();
      },
      options());
  c.stop();
  start(c);
  CHECK(run_ended);
}

// Graceful stop, in real time (short timers).
namespace {

struct StopFixture {
  asio::io_context io;
  kcoro::Client client{io.get_executor(), kcoro::ClusterConfig::from_url("http://127.0.0.1:9")};
  std::vector<std::string> steps;
  std::chrono::milliseconds reconcile_for{50};

  kcoro::Reconciler reconciler() {
    return [this](const kcoro::Request& req, kcoro::Context&) -> asio::awaitable<Result> {
      steps.push_back("start " + req.name);
      asio::steady_timer t(co_await asio::this_coro::executor, reconcile_for);
      try {
        co_await t.async_wait(asio::use_awaitable);
      } catch (const boost::system::system_error& e) {
        steps.push_back("cancelled " + req.name);
        throw;
      }
      steps.push_back("end " + req.name);
      co_return Result::done();
    };
  }
  // Runs the controller; stops it once the first reconcile started.
  void run(kcoro::ControllerOptions o) {
    o.metrics = nullptr;
    kcoro::Controller c(client, io.get_executor(), reconciler(), o);
    c.enqueue({"ns", "a"});
    c.enqueue({"ns", "b"});  // queued behind a: never started
    bool ended = false;
    asio::co_spawn(io, c.run(), [&](std::exception_ptr e) {
      ended = true;
      if (e) std::rethrow_exception(e);
    });
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer t(co_await asio::this_coro::executor, 10ms);
          co_await t.async_wait(asio::use_awaitable);
          steps.push_back("stop");
          c.stop();
        },
        asio::detached);
    io.run_for(5s);
    CHECK(ended);
  }
};

}  // namespace

TEST_CASE_FIXTURE(StopFixture,
                  "controller stop: an in-flight reconcile finishes within the grace") {
  kcoro::ControllerOptions o;
  o.stop_timeout = 2s;
  run(o);
  CHECK(steps == std::vector<std::string>{"start a", "stop", "end a"});
}

TEST_CASE_FIXTURE(StopFixture, "controller stop: past the grace, the reconcile is cancelled") {
  reconcile_for = 1h;
  kcoro::ControllerOptions o;
  o.stop_timeout = 30ms;
  const auto t0 = std::chrono::steady_clock::now();
  run(o);
  CHECK(steps == std::vector<std::string>{"start a", "stop", "cancelled a"});
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}
