// The controller's graceful stop, in real time (short timers): an in-flight reconcile finishes
// within the grace, or is cancelled past it.
#include "kcoro/controller.hpp"
#include "kcoro/reconcile.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
using kcoro::Result;

namespace {

struct StopFixture {
  asio::io_context io;
  kcoro::Client client{io.get_executor(), kcoro::ClusterConfig::from_url("http://127.0.0.1:9")};
  std::vector<std::string> steps;
  std::chrono::milliseconds reconcile_for{50};

  kcoro::Controller* controller = nullptr;

  kcoro::Reconciler reconciler() {
    return [this](const kcoro::Request& req, kcoro::Context&) -> asio::awaitable<Result> {
      steps.push_back("start " + req.name);
      if (steps.size() == 1) {
        // The stop comes once the first reconcile has started, whatever the machine's load.
        asio::post(co_await asio::this_coro::executor, [this] {
          steps.push_back("stop");
          controller->stop();
        });
      }
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
    controller = &c;
    c.enqueue({"ns", "a"});
    c.enqueue({"ns", "b"});  // queued behind a: never started
    bool ended = false;
    asio::co_spawn(io, c.run(), [&](std::exception_ptr e) {
      ended = true;
      if (e) std::rethrow_exception(e);
    });
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
