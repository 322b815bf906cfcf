// The controller's workers on a 4-thread pool while other threads add keys, under TSan: a key is
// never reconciled by two workers at once, and every add is seen by a reconcile that started after
// it.
#include "kcoro/controller.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace asio = boost::asio;
using namespace std::chrono_literals;

TEST_CASE("controller: 8 workers on 4 threads never run a key twice at once") {
  constexpr int kKeys = 40;
  constexpr int kAddsPerProducer = 3000;
  asio::thread_pool pool(4);
  kcoro::Client client(pool.get_executor(), kcoro::ClusterConfig::from_url("http://127.0.0.1:9"));

  std::mutex mu;
  std::set<std::string> in_flight;
  std::map<std::string, uint64_t> seen;  // the add sequence a reconcile started after
  int max_parallel = 0;
  bool overlap = false;
  std::atomic<uint64_t> seq{0};
  std::array<std::atomic<uint64_t>, kKeys> last_add{};
  std::atomic<int> calls{0};
  std::set<std::thread::id> threads;

  kcoro::ControllerOptions opts;
  opts.name = "threads";
  opts.workers = 8;
  opts.metrics = std::make_shared<kcoro::MetricsRegistry>();
  opts.logger = std::make_shared<spdlog::logger>("quiet");  // no sinks
  kcoro::Controller ctl(
      client, pool.get_executor(),
      [&](const kcoro::Request& req, kcoro::Context&) -> asio::awaitable<kcoro::Result> {
        const int i = std::stoi(req.name);
        {
          std::lock_guard lk(mu);
          overlap |= !in_flight.insert(req.name).second;
          max_parallel = std::max(max_parallel, static_cast<int>(in_flight.size()));
          seen[req.name] = last_add[static_cast<std::size_t>(i)].load();
          threads.insert(std::this_thread::get_id());
        }
        asio::steady_timer t(co_await asio::this_coro::executor,
                             std::chrono::microseconds(50 * (i % 5)));
        co_await t.async_wait(asio::use_awaitable);
        {
          std::lock_guard lk(mu);
          in_flight.erase(req.name);
        }
        if (++calls % 7 == 0) co_return kcoro::Result::error("every seventh call fails");
        co_return kcoro::Result::done();
      },
      opts);

  std::promise<void> ended;
  asio::co_spawn(pool, ctl.run(), [&](std::exception_ptr e) {
    if (e) {
      ended.set_exception(e);
    } else {
      ended.set_value();
    }
  });

  std::vector<std::thread> producers;
  for (int p = 0; p < 2; ++p) {
    producers.emplace_back([&, p] {
      for (int n = 0; n < kAddsPerProducer; ++n) {
        const int i = (n * 7 + p) % kKeys;
        last_add[static_cast<std::size_t>(i)].store(++seq);
        ctl.enqueue({"ns", std::to_string(i)});
        if (n % 64 == 0) std::this_thread::sleep_for(100us);
      }
    });
  }
  std::thread scraper([&] {  // metrics read while they are written
    for (int i = 0; i < 20; ++i) {
      CHECK(!opts.metrics->render().empty());
      std::this_thread::sleep_for(5ms);
    }
  });
  for (auto& t : producers)
    t.join();
  scraper.join();

  // Waits until every key's last add has been seen by a reconcile and the queue is empty. The
  // three lengths are read one after another, so an empty reading alone can miss a key moving
  // from the delayed set to the queue; the last adds cannot be missed that way.
  auto& q = ctl.queue();
  const auto all_seen = [&] {
    std::lock_guard lk(mu);
    for (int i = 0; i < kKeys; ++i)
      if (seen[std::to_string(i)] != last_add[static_cast<std::size_t>(i)].load()) return false;
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while ((q.len() || q.processing_len() || q.delayed_len() || !all_seen()) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  ctl.stop();
  ended.get_future().get();
  pool.join();

  std::lock_guard lk(mu);
  CHECK_FALSE(overlap);
  CHECK(max_parallel > 1);
  CHECK(threads.size() > 1);
  for (int i = 0; i < kKeys; ++i) {
    CAPTURE(i);
    CHECK(seen[std::to_string(i)] == last_add[static_cast<std::size_t>(i)].load());
  }
  CHECK(opts.metrics->render().find(
            "controller_runtime_active_workers{controller=\"threads\"} 0") != std::string::npos);
}
