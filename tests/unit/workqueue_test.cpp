// WorkQueue rules in virtual time, on the pure core (QueueCore: no io_context, no clock of its
// own); tests/thread/workqueue_shell_test.cpp drives the Asio shell. Nothing here sleeps or reads
// wall time.
// The scenarios of client-go's queue_test.go, delaying_queue_test.go and
// rate_limiting_queue_test.go are marked "client-go".
#include "kcoro/detail/queue_core.hpp"
#include "support/recording_metrics.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using Core = kcoro::detail::QueueCore<std::string>;
using kcoro::detail::DelayKind;
using kcoro::test::RecordingMetrics;

namespace {

const Core::time_point t0 = Core::time_point{} + 1h;

std::vector<std::string> drain_core(Core& q, Core::time_point now = t0) {
  std::vector<std::string> out;
  while (const auto* n = q.pop(now))
    out.push_back(n->first);
  return out;
}

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
