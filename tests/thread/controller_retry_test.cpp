// The controller's retry path in virtual time: an io_context driven by poll() and a ManualClock,
// no sockets. Failures, throws, terminal errors, requeues and coalesced events, checked against
// the attempts' times, the log and the metrics.
#include "kcoro/controller.hpp"
#include "kcoro/metrics.hpp"
#include "kcoro/reconcile.hpp"

#include "support/metric_value.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <spdlog/sinks/ringbuffer_sink.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
using kcoro::Result;

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
  double metric(const std::string& series) const {
    return kcoro::test::metric_value(*registry, series);
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
