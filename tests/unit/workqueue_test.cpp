// WorkQueue rules on one thread and in virtual time: the pure core (no io_context), then the Asio
// shell driven by io_context::poll() and a ManualClock. Nothing here sleeps or reads wall time.
// The scenarios of client-go's queue_test.go, delaying_queue_test.go and
// rate_limiting_queue_test.go are marked "client-go".
#include "kcoro/workqueue.hpp"

#include <doctest/doctest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <map>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace asio = boost::asio;
using Core = kcoro::detail::QueueCore<std::string>;
using kcoro::detail::DelayKind;

namespace {

const Core::time_point t0 = Core::time_point{} + 1h;

std::vector<std::string> drain_core(Core& q, Core::time_point now = t0) {
  std::vector<std::string> out;
  while (const auto* n = q.pop(now))
    out.push_back(n->first);
  return out;
}

// Records every metrics call as "name value" lines.
struct RecordingMetrics : kcoro::QueueMetrics {
  std::vector<std::string> calls;
  std::map<std::string, double> last;
  void set(Gauge g, double v) override { note(std::string(name(g)), v); }
  void inc(Counter c) override { note(std::string(name(c)), 1); }
  void observe(Histogram h, double v) override { note(std::string(name(h)), v); }
  void note(const std::string& n, double v) {
    calls.push_back(n + " " + std::to_string(v));
    last[n] = v;
  }
  int count(const std::string& n) const {
    int c = 0;
    for (auto& s : calls)
      c += s.rfind(n + " ", 0) == 0 ? 1 : 0;
    return c;
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// The pure core.

TEST_CASE("core: adds are deduplicated and handed out in FIFO order (client-go TestLen)") {
  Core q;
  CHECK(q.add("foo", t0));
  CHECK(q.len() == 1);
  CHECK(q.add("bar", t0));
  CHECK(q.len() == 2);
  CHECK_FALSE(q.add("foo", t0));  // already queued
  CHECK(q.len() == 2);
  q.add("baz", t0);
  CHECK(drain_core(q) == std::vector<std::string>{"foo", "bar", "baz"});
  CHECK(q.processing() == 3);
}

TEST_CASE("core: an item added while processing is queued again only at done (TestReinsert)") {
  Core q;
  q.add("foo", t0);
  REQUIRE(q.pop(t0)->first == "foo");
  CHECK_FALSE(q.add("foo", t0));  // dirty, not queued
  CHECK(q.len() == 0);
  CHECK(q.is_dirty("foo"));
  CHECK(q.is_processing("foo"));
  CHECK_FALSE(q.add("foo", t0));  // twice is still once
  CHECK(q.done("foo", t0));       // back in the queue
  CHECK(q.len() == 1);
  REQUIRE(q.pop(t0)->first == "foo");
  CHECK_FALSE(q.done("foo", t0));
  CHECK(q.len() == 0);
  CHECK(q.tracked() == 0);  // nothing left behind
}

TEST_CASE("core: done goes to the back of the FIFO; done on an unknown item is ignored") {
  Core q;
  q.add("a", t0);
  q.pop(t0);
  q.add("a", t0);
  q.add("b", t0);
  q.done("a", t0);
  CHECK(drain_core(q) == std::vector<std::string>{"b", "a"});
  CHECK_FALSE(q.done("never-added", t0));
  CHECK_FALSE(q.done("b", t0));
  CHECK_FALSE(q.done("b", t0));  // twice
}

TEST_CASE("core: shutdown refuses adds, keeps the FIFO, drops delayed items") {
  Core q;
  q.add("queued", t0);
  q.add("held", t0);
  REQUIRE(q.pop(t0)->first == "queued");
  q.add("queued", t0);  // dirty while processing
  q.add_after("later", 1s, t0, DelayKind::plain);
  q.shutdown();
  CHECK(q.shutting_down());
  CHECK_FALSE(q.add("new", t0));
  CHECK_FALSE(q.add_after("new", 1s, t0, DelayKind::plain));
  CHECK(q.delayed() == 0);
  CHECK(q.promote(t0 + 1h) == 0);
  CHECK(q.done("queued", t0));  // still requeued at done (client-go)
  CHECK(drain_core(q) == std::vector<std::string>{"held", "queued"});
  q.done("held", t0);
  q.done("queued", t0);
  CHECK(q.tracked() == 0);
}

TEST_CASE("core: add_after waits for its time (client-go TestSimpleQueue)") {
  Core q;
  CHECK_FALSE(q.add_after("foo", 50ms, t0, DelayKind::plain));
  CHECK(q.len() == 0);
  CHECK(q.next_ready() == t0 + 50ms);
  CHECK(q.promote(t0 + 49ms) == 0);
  CHECK(q.promote(t0 + 50ms) == 1);
  CHECK(q.len() == 1);
  CHECK(q.delayed() == 0);
  CHECK_FALSE(q.next_ready());
}

TEST_CASE("core: a delay <= 0 is an add") {
  Core q;
  CHECK(q.add_after("now", 0ms, t0, DelayKind::plain));
  CHECK(q.add_after("past", -5ms, t0, DelayKind::plain));
  CHECK(q.len() == 2);
  CHECK(q.delayed() == 0);
}

TEST_CASE("core: the earlier ready time wins (client-go TestDeduping)") {
  Core q;
  q.add_after("foo", 50ms, t0, DelayKind::plain);
  q.add_after("foo", 70ms, t0, DelayKind::plain);  // later: ignored
  CHECK(q.delayed() == 1);
  CHECK(q.ready_at("foo") == t0 + 50ms);
  CHECK(q.promote(t0 + 60ms) == 1);
  CHECK(drain_core(q) == std::vector<std::string>{"foo"});
  q.done("foo", t0);

  q.add_after("foo", 70ms, t0, DelayKind::plain);
  q.add_after("foo", 50ms, t0, DelayKind::plain);  // earlier: moves it up
  CHECK(q.ready_at("foo") == t0 + 50ms);
  CHECK(q.promote(t0 + 60ms) == 1);
  CHECK(q.delayed() == 0);
}

TEST_CASE("core: delayed items come out by ready time (TestAddTwoFireEarly, TestCopyShifting)") {
  SUBCASE("two fire early") {
    Core q;
    q.add_after("first", 1s, t0, DelayKind::plain);
    q.add_after("second", 50ms, t0, DelayKind::plain);
    CHECK(q.promote(t0 + 60ms) == 1);
    CHECK(drain_core(q) == std::vector<std::string>{"second"});
    q.add_after("third", 2s, t0 + 60ms, DelayKind::plain);
    CHECK(q.promote(t0 + 1060ms) == 1);
    CHECK(drain_core(q) == std::vector<std::string>{"first"});
    CHECK(q.promote(t0 + 2060ms) == 1);
    CHECK(drain_core(q) == std::vector<std::string>{"third"});
  }
  SUBCASE("copy shifting") {
    Core q;
    q.add_after("first", 1s, t0, DelayKind::plain);
    q.add_after("second", 500ms, t0, DelayKind::plain);
    q.add_after("third", 250ms, t0, DelayKind::plain);
    CHECK(q.promote(t0 + 2s) == 3);
    CHECK(drain_core(q) == std::vector<std::string>{"third", "second", "first"});
  }
  SUBCASE("ties keep the order of the calls; a big heap stays ordered") {
    Core q;
    for (int i = 0; i < 200; ++i) {
      q.add_after("k" + std::to_string(i), std::chrono::milliseconds((i * 37) % 50), t0,
                  DelayKind::plain);
    }
    std::vector<std::string> want;
    for (int ms = 0; ms < 50; ++ms) {
      for (int i = 0; i < 200; ++i) {
        if ((i * 37) % 50 == ms) want.push_back("k" + std::to_string(i));
      }
    }
    for (int ms = 1; ms <= 50; ++ms)
      q.promote(t0 + std::chrono::milliseconds(ms));
    CHECK(drain_core(q) == want);
  }
}

TEST_CASE("core: a delayed item that fires while processing is queued at done") {
  Core q;
  q.add("x", t0);
  q.pop(t0);
  q.add_after("x", 10ms, t0, DelayKind::plain);
  CHECK(q.promote(t0 + 10ms) == 0);  // dirty, not queued
  CHECK(q.is_dirty("x"));
  CHECK(q.done("x", t0 + 20ms));
  CHECK(q.len() == 1);
}

TEST_CASE("core: plain add over a plain delay runs now, and the delay still fires (client-go)") {
  Core q;
  q.add_after("x", 1s, t0, DelayKind::plain);
  CHECK(q.add("x", t0));
  CHECK(drain_core(q) == std::vector<std::string>{"x"});
  q.done("x", t0 + 1ms);
  CHECK(q.promote(t0 + 1s) == 1);
  CHECK(q.len() == 1);
}

// The retry rule (see workqueue.hpp): a pending rate-limited retry is a floor.
TEST_CASE("core: an add during a rate-limited retry is coalesced into the retry") {
  RecordingMetrics m;
  Core q(&m);
  q.add("x", t0);
  q.pop(t0);
  // The attempt failed: retry in 80 ms.
  q.add_after("x", 80ms, t0, DelayKind::rate_limited);
  q.done("x", t0);
  CHECK(q.waiting_retry("x"));
  const int adds_before = m.count("workqueue_adds_total");

  SUBCASE("add") {
    CHECK_FALSE(q.add("x", t0 + 1ms));
    CHECK_FALSE(q.add("x", t0 + 2ms));
  }
  SUBCASE("add_after sooner or later") {
    CHECK_FALSE(q.add_after("x", 1ms, t0, DelayKind::plain));
    CHECK_FALSE(q.add_after("x", 0ms, t0, DelayKind::plain));
    CHECK_FALSE(q.add_after("x", 1h, t0, DelayKind::plain));
  }
  CHECK(q.len() == 0);
  CHECK_FALSE(q.is_dirty("x"));
  CHECK(q.ready_at("x") == t0 + 80ms);
  CHECK(m.count("workqueue_adds_total") == adds_before);
  CHECK(q.promote(t0 + 79ms) == 0);
  CHECK(q.promote(t0 + 80ms) == 1);
  CHECK(drain_core(q) == std::vector<std::string>{"x"});  // once
  q.done("x", t0 + 90ms);
  // The retry is served: adds work normally again.
  CHECK(q.add("x", t0 + 91ms));
  CHECK(q.delayed() == 0);
}

TEST_CASE("core: an add that came in while the failing attempt ran is absorbed by the retry") {
  RecordingMetrics m;
  Core q(&m);
  q.add("x", t0);
  q.pop(t0);
  q.add("x", t0 + 1ms);  // event while processing: dirty
  CHECK(m.last["workqueue_depth"] == 1);
  q.add_after("x", 50ms, t0 + 2ms, DelayKind::rate_limited);
  CHECK_FALSE(q.is_dirty("x"));
  CHECK(m.last["workqueue_depth"] == 0);
  CHECK_FALSE(q.done("x", t0 + 3ms));  // not requeued now...
  CHECK(q.len() == 0);
  CHECK(q.promote(t0 + 52ms) == 1);  // ...but at the retry time
}

TEST_CASE("core: retries against other delays") {
  Core q;
  SUBCASE("a retry replaces a plain delay, even a sooner one") {
    q.add_after("x", 10ms, t0, DelayKind::plain);
    q.add_after("x", 100ms, t0, DelayKind::rate_limited);
    CHECK(q.ready_at("x") == t0 + 100ms);
    CHECK(q.waiting_retry("x"));
    CHECK(q.promote(t0 + 99ms) == 0);
    CHECK(q.promote(t0 + 100ms) == 1);
  }
  SUBCASE("between retries the earlier wins") {
    q.add_after("x", 100ms, t0, DelayKind::rate_limited);
    q.add_after("x", 300ms, t0, DelayKind::rate_limited);
    CHECK(q.ready_at("x") == t0 + 100ms);
    q.add_after("x", 20ms, t0, DelayKind::rate_limited);
    CHECK(q.ready_at("x") == t0 + 20ms);
    CHECK(q.delayed() == 1);
  }
  SUBCASE("an immediate retry replaces a pending one") {
    q.add_after("x", 100ms, t0, DelayKind::rate_limited);
    CHECK(q.add_after("x", 0ms, t0, DelayKind::rate_limited));
    CHECK(q.delayed() == 0);
    CHECK(q.len() == 1);
  }
  SUBCASE("an item already in the FIFO stays there") {
    q.add("x", t0);
    q.add_after("x", 100ms, t0, DelayKind::rate_limited);
    CHECK(drain_core(q) == std::vector<std::string>{"x"});
    q.done("x", t0);
    CHECK(q.promote(t0 + 100ms) == 1);
  }
}

TEST_CASE("core: metrics see controller-runtime's series") {
  RecordingMetrics m;
  Core q(&m);
  q.add("a", t0);
  q.add("a", t0);  // coalesced: not an add
  q.add("b", t0 + 1s);
  CHECK(m.count("workqueue_adds_total") == 2);
  CHECK(m.last["workqueue_depth"] == 2);
  q.pop(t0 + 3s);  // a waited 3 s
  CHECK(m.last["workqueue_queue_duration_seconds"] == doctest::Approx(3.0));
  CHECK(m.last["workqueue_depth"] == 1);
  q.pop(t0 + 4s);  // b waited 3 s too
  q.update_unfinished_work(t0 + 10s);
  CHECK(m.last["workqueue_unfinished_work_seconds"] == doctest::Approx(7.0 + 6.0));
  CHECK(m.last["workqueue_longest_running_processor_seconds"] == doctest::Approx(7.0));
  q.done("a", t0 + 5s);
  CHECK(m.last["workqueue_work_duration_seconds"] == doctest::Approx(2.0));
  q.add_after("c", 1s, t0, DelayKind::plain);
  q.add_after("c", 0s, t0, DelayKind::rate_limited);
  CHECK(m.count("workqueue_retries_total") == 2);
  q.done("b", t0 + 5s);
  q.update_unfinished_work(t0 + 10s);
  CHECK(m.last["workqueue_unfinished_work_seconds"] == 0);
  CHECK(m.last["workqueue_longest_running_processor_seconds"] == 0);
  CHECK(m.count("workqueue_work_duration_seconds") == 2);
  CHECK(m.count("workqueue_queue_duration_seconds") == 2);
}

TEST_CASE("metric names are controller-runtime's") {
  using M = kcoro::QueueMetrics;
  CHECK(M::name(M::Gauge::depth) == "workqueue_depth");
  CHECK(M::name(M::Counter::adds_total) == "workqueue_adds_total");
  CHECK(M::name(M::Histogram::queue_duration_seconds) == "workqueue_queue_duration_seconds");
  CHECK(M::name(M::Histogram::work_duration_seconds) == "workqueue_work_duration_seconds");
  CHECK(M::name(M::Gauge::unfinished_work_seconds) == "workqueue_unfinished_work_seconds");
  CHECK(M::name(M::Gauge::longest_running_processor_seconds) ==
        "workqueue_longest_running_processor_seconds");
  CHECK(M::name(M::Counter::retries_total) == "workqueue_retries_total");
}

TEST_CASE("core: spare nodes are reused without mixing keys") {
  Core q;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 2000; ++i)
      q.add("key-number-" + std::to_string(i), t0);
    auto got = drain_core(q);
    REQUIRE(got.size() == 2000);
    for (int i = 0; i < 2000; ++i) {
      REQUIRE(got[i] == "key-number-" + std::to_string(i));
      q.done(got[i], t0);
    }
    CHECK(q.tracked() == 0);
  }
}

// ---------------------------------------------------------------------------------------------
// The Asio shell, on one thread, with a ManualClock.

namespace {

using Queue = kcoro::WorkQueue<std::string>;

// Runs what is ready. An io_context that ran out of work stops, hence the restart.
void poll(asio::io_context& io) {
  io.restart();
  io.poll();
}

// The completion token for test coroutines: an escaped exception fails the test from poll().
const auto rethrow = [](std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
};

struct Fixture {
  asio::io_context io;
  std::shared_ptr<kcoro::ManualClock> clock = std::make_shared<kcoro::ManualClock>();
  std::shared_ptr<RecordingMetrics> metrics = std::make_shared<RecordingMetrics>();
  Queue q{io.get_executor(),
          Queue::Options{std::make_shared<kcoro::ExponentialRateLimiter<std::string>>(1ms, 1s),
                         metrics, clock}};

  // A consumer that takes `n` items (calling done on each) and records them.
  void consume(std::vector<std::string>& got, int n, bool* ended = nullptr) {
    asio::co_spawn(
        io,
        [&, n, ended]() -> asio::awaitable<void> {
          for (int i = 0; i < n; ++i) {
            auto item = co_await q.get();
            if (!item) break;
            got.push_back(*item);
            q.done(*item);
          }
          if (ended) *ended = true;
        },
        rethrow);
  }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "shell: a ready get() does not suspend") {
  std::vector<std::string> order;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::post(io, [&] { order.push_back("posted"); });
        q.add("a");
        auto item = co_await q.get();
        order.push_back("got " + *item);  // before the posted handler: no round trip
        q.done(*item);
      },
      rethrow);
  poll(io);
  CHECK(order == std::vector<std::string>{"got a", "posted"});
}

TEST_CASE_FIXTURE(Fixture, "shell: a waiting consumer is resumed by a post, on its executor") {
  asio::io_context other;  // the consumer's own context
  std::vector<std::string> got;
  asio::co_spawn(
      other,
      [&]() -> asio::awaitable<void> {
        auto item = co_await q.get();
        got.push_back(*item);
        q.done(*item);
      },
      rethrow);
  poll(other);  // suspended in get()
  q.add("a");
  CHECK(got.empty());  // not resumed inside add()
  poll(io);
  CHECK(got.empty());  // not on the queue's executor either
  poll(other);
  CHECK(got == std::vector<std::string>{"a"});
}

TEST_CASE_FIXTURE(Fixture, "shell: waiting consumers are served first come, first served") {
  std::vector<std::string> a, b;
  consume(a, 1);
  consume(b, 1);
  poll(io);
  q.add("x");
  q.add("y");
  poll(io);
  CHECK(a == std::vector<std::string>{"x"});
  CHECK(b == std::vector<std::string>{"y"});
}

TEST_CASE_FIXTURE(Fixture, "shell: shutdown wakes waiting consumers with nullopt") {
  std::vector<std::string> got;
  bool ended = false;
  consume(got, 10, &ended);
  poll(io);
  CHECK_FALSE(ended);
  q.shutdown();
  q.add("after shutdown");
  poll(io);
  CHECK(ended);
  CHECK(got.empty());
  CHECK(q.len() == 0);
}

TEST_CASE_FIXTURE(Fixture, "shell: get() hands out what was queued before shutdown, then nullopt") {
  q.add("a");
  q.add("b");
  q.shutdown();
  std::vector<std::string> got;
  bool ended = false;
  consume(got, 10, &ended);
  poll(io);
  CHECK(got == std::vector<std::string>{"a", "b"});
  CHECK(ended);
}

TEST_CASE_FIXTURE(Fixture, "shell: destroying the queue wakes waiting consumers") {
  bool ended = false;
  std::optional<std::optional<std::string>> result;
  {
    Queue local(io.get_executor());
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          result = co_await local.get();
          ended = true;
        },
        rethrow);
    poll(io);
  }
  poll(io);
  CHECK(ended);
  REQUIRE(result.has_value());
  CHECK_FALSE(result->has_value());
}

// client-go TestQueueDrainageUsingShutDownWithDrain and TestQueueDrainageUsing...WithDirtyItem.
TEST_CASE_FIXTURE(Fixture, "shell: shutdown_with_drain waits for the items in hand") {
  std::vector<std::string> steps;
  std::vector<std::string> held;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        q.add("foo");
        q.add("bar");
        held.push_back(*co_await q.get());
        held.push_back(*co_await q.get());
        q.add("foo");  // dirty while processing
      },
      rethrow);
  poll(io);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await q.shutdown_with_drain();
        steps.push_back("drained");
      },
      rethrow);
  poll(io);
  CHECK(steps.empty());
  CHECK(q.shutting_down());
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto none = co_await q.get();  // queue empty: shutting down
        steps.push_back(none ? "item" : "nullopt");
        q.done("bar");
        q.done("foo");  // foo is requeued: get() yields it again
        auto again = co_await q.get();
        steps.push_back(again ? *again : "nullopt");
        q.done(*again);
        auto end = co_await q.get();
        steps.push_back(end ? *end : "nullopt");
      },
      rethrow);
  poll(io);
  // The drain ends at the done() that leaves no item in hand (foo is requeued, as in client-go);
  // its completion is posted, so the running coroutine finishes first.
  CHECK(steps == std::vector<std::string>{"nullopt", "foo", "nullopt", "drained"});
}

// client-go TestForceQueueShutdownUsingShutDown and TestNoQueueDrainageUsingShutDown.
TEST_CASE_FIXTURE(Fixture, "shell: shutdown() ends a drain wait at once") {
  q.add("foo");
  bool drained = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto item = co_await q.get();
        CHECK(item == "foo");
        co_await q.shutdown_with_drain();
        drained = true;
      },
      rethrow);
  poll(io);
  CHECK_FALSE(drained);
  q.shutdown();
  poll(io);
  CHECK(drained);
  CHECK(q.processing_len() == 1);  // foo was never done
}

TEST_CASE_FIXTURE(Fixture, "shell: delayed items come out when virtual time reaches them") {
  std::vector<std::string> got;
  consume(got, 3);
  poll(io);
  q.add_after("late", 100ms);
  q.add_after("early", 50ms);
  q.add_after("early", 70ms);  // the earlier time stays
  CHECK(q.delayed_len() == 2);
  CHECK(clock->armed_alarms() == 1);
  clock->advance(49ms);
  poll(io);
  CHECK(got.empty());
  clock->advance(1ms);
  poll(io);
  CHECK(got == std::vector<std::string>{"early"});
  clock->advance(50ms);
  poll(io);
  CHECK(got == std::vector<std::string>{"early", "late"});
  q.add_after("now", 0ms);
  poll(io);
  CHECK(got == std::vector<std::string>{"early", "late", "now"});
  CHECK(clock->armed_alarms() == 0);
}

TEST_CASE_FIXTURE(Fixture, "shell: an earlier delay re-arms the alarm; shutdown drops delays") {
  q.add_after("a", 1s);
  q.add_after("b", 10ms);
  clock->advance(10ms);
  CHECK(q.len() == 1);
  clock->advance(990ms);
  CHECK(q.len() == 2);
  q.add_after("c", 1s);
  q.shutdown();
  CHECK(q.delayed_len() == 0);
  CHECK(clock->armed_alarms() == 0);
  clock->advance(1s);
  CHECK(q.len() == 2);
}

// client-go TestRateLimitingQueue, with an exponential limiter of 1 ms doubling to 1 s.
TEST_CASE_FIXTURE(Fixture, "shell: add_rate_limited, forget and num_requeues") {
  q.add_rate_limited("one");  // 1 ms
  q.add_rate_limited("one");  // 2 ms: the 1 ms retry stays
  CHECK(q.num_requeues("one") == 2);
  q.add_rate_limited("two");
  q.add_rate_limited("two");
  CHECK(q.delayed_len() == 2);
  clock->advance(1ms);
  CHECK(q.len() == 2);
  q.forget("one");
  CHECK(q.num_requeues("one") == 0);
  CHECK(q.num_requeues("two") == 2);
  CHECK(metrics->count("workqueue_retries_total") == 4);
}

TEST_CASE_FIXTURE(Fixture, "shell: a failing item with events arriving is retried at its backoff") {
  // The scenario of kubernetes #132805: an item fails every time, and events for it keep coming.
  // Each run is a failure, so runs must be spaced by the backoff (1, 2, 4, 8... ms), never sooner.
  std::vector<Queue::time_point> runs;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        while (auto item = co_await q.get()) {
          runs.push_back(clock->now());
          q.add(*item);  // an event during the attempt
          q.add_rate_limited(*item);
          q.done(*item);
        }
      },
      rethrow);
  q.add("x");
  poll(io);
  for (int ms = 0; ms < 40; ++ms) {
    q.add("x");  // an event every millisecond
    clock->advance(1ms);
    poll(io);
  }
  q.shutdown();
  poll(io);
  REQUIRE(runs.size() == 6);  // at 0, 1, 3, 7, 15, 31 ms
  for (std::size_t i = 1; i < runs.size(); ++i) {
    CHECK(runs[i] - runs[i - 1] == std::chrono::milliseconds(1 << (i - 1)));
  }
  CHECK(q.num_requeues("x") == 6);
}

TEST_CASE_FIXTURE(Fixture, "shell: a cancelled get() completes with operation_aborted") {
  asio::cancellation_signal sig;
  std::string outcome;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          auto item = co_await q.get();
          outcome = item ? *item : "nullopt";
        } catch (const boost::system::system_error& e) {
          outcome = e.code() == asio::error::operation_aborted ? "aborted" : "other";
        }
      },
      asio::bind_cancellation_slot(sig.slot(), rethrow));
  poll(io);
  sig.emit(asio::cancellation_type::terminal);
  poll(io);
  CHECK(outcome == "aborted");
  // Nothing lost: the next add goes to the next consumer.
  q.add("x");
  std::vector<std::string> got;
  consume(got, 1);
  poll(io);
  CHECK(got == std::vector<std::string>{"x"});
  sig.emit(asio::cancellation_type::terminal);  // late: nothing installed any more
  poll(io);
}

TEST_CASE_FIXTURE(Fixture, "shell: cancelling after the item was handed over delivers the item") {
  asio::cancellation_signal sig;
  std::string outcome;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          auto item = co_await q.get();
          outcome = item ? *item : "nullopt";
        } catch (const boost::system::system_error&) {
          outcome = "aborted";
        }
      },
      asio::bind_cancellation_slot(sig.slot(), rethrow));
  poll(io);
  q.add("x");                                   // handed to the consumer, completion posted
  sig.emit(asio::cancellation_type::terminal);  // too late: a no-op
  poll(io);
  CHECK(outcome == "x");
  CHECK(q.processing_len() == 1);
}

TEST_CASE_FIXTURE(Fixture, "shell: a cancelled drain wait completes with operation_aborted") {
  q.add("x");
  asio::cancellation_signal sig;
  std::string outcome;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await q.get();
        try {
          co_await q.shutdown_with_drain();
          outcome = "drained";
        } catch (const boost::system::system_error&) {
          outcome = "aborted";
        }
      },
      asio::bind_cancellation_slot(sig.slot(), rethrow));
  poll(io);
  sig.emit(asio::cancellation_type::terminal);
  poll(io);
  CHECK(outcome == "aborted");
}

TEST_CASE_FIXTURE(Fixture, "shell: unfinished-work gauges follow virtual time") {
  q.add("a");
  std::optional<std::string> got;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { got = co_await q.get(); }, rethrow);
  poll(io);
  clock->advance(2s);
  q.update_unfinished_work();
  CHECK(metrics->last["workqueue_unfinished_work_seconds"] == doctest::Approx(2.0));
  CHECK(metrics->last["workqueue_longest_running_processor_seconds"] == doctest::Approx(2.0));
  clock->advance(1s);
  q.done("a");
  CHECK(metrics->last["workqueue_work_duration_seconds"] == doctest::Approx(3.0));
}
