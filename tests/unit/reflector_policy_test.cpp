#include "kcoro/reflector_policy.hpp"

#include <doctest/doctest.h>

using kcoro::ReflectorPolicy;
using Step = ReflectorPolicy::Step;
using Failure = ReflectorPolicy::Failure;
using namespace std::chrono_literals;

namespace {
const ReflectorPolicy::Clock::time_point t0{std::chrono::hours(1)};
}

TEST_CASE("reflector: first list at \"0\", paginated, then watch from the list's version") {
  kcoro::ReflectorPolicyOptions o;
  o.label_selector = "app=web";
  o.field_selector = "spec.nodeName=n1";
  ReflectorPolicy p(o, 1);
  auto a = p.start();
  CHECK(a.step == Step::list);
  CHECK(a.options.resource_version == "0");
  CHECK(a.options.limit == 500);
  CHECK(a.options.label_selector == "app=web");
  CHECK(a.options.field_selector == "spec.nodeName=n1");
  CHECK(a.delay == 0ms);

  auto w = p.on_list_done("100", t0);
  CHECK(w.step == Step::watch);
  CHECK(w.options.watch);
  CHECK(w.options.resource_version == "100");
  CHECK(w.options.allow_watch_bookmarks);
  CHECK(w.options.label_selector == "app=web");
  REQUIRE(w.options.timeout_seconds);
  CHECK(*w.options.timeout_seconds >= 300);
  CHECK(*w.options.timeout_seconds < 600);
  CHECK_FALSE(a.options.metadata_only);
  CHECK_FALSE(w.options.metadata_only);
}

TEST_CASE("reflector: a metadata-only reflector asks for metadata in every request") {
  kcoro::ReflectorPolicyOptions o;
  o.metadata_only = true;
  o.streaming_initial_list = true;
  ReflectorPolicy p(o, 1);
  auto s = p.start();
  CHECK(s.step == Step::streaming_list);
  CHECK(s.options.metadata_only);
  auto l = p.on_watch_failed(Failure::refused, t0);
  CHECK(l.step == Step::list);
  CHECK(l.options.metadata_only);
  auto w = p.on_list_done("7", t0);
  CHECK(w.step == Step::watch);
  CHECK(w.options.metadata_only);
  auto r = p.on_watch_failed(Failure::gone, t0);
  CHECK(r.step == Step::list);
  CHECK(r.options.metadata_only);
}

TEST_CASE("reflector: watch timeouts are spread over [300, 600)") {
  ReflectorPolicy p({}, 7);
  p.start();
  int64_t lo = 1000, hi = 0;
  for (int i = 0; i < 500; ++i) {
    auto w = p.on_list_done("1", t0);
    lo = std::min(lo, *w.options.timeout_seconds);
    hi = std::max(hi, *w.options.timeout_seconds);
  }
  CHECK(lo >= 300);
  CHECK(hi <= 599);
  CHECK(hi - lo > 200);
}

TEST_CASE(
    "reflector: a watch that ends re-watches from the last version seen, bookmarks included") {
  ReflectorPolicy p({}, 1);
  p.start();
  auto w = p.on_list_done("100", t0);
  p.on_event("105");
  p.on_event("110");  // a bookmark
  auto again = p.on_watch_ended(t0, 2, t0 + 300s);
  CHECK(again.step == Step::watch);
  CHECK(again.options.resource_version == "110");
  CHECK(again.delay == 0ms);
  CHECK(p.failures() == 0);
}

TEST_CASE("reflector: 410 relists by client-go's rules") {
  ReflectorPolicy p({}, 1);
  p.start();
  p.on_list_done("100", t0);
  p.on_event("120");
  // A 410 on the watch relists at the last version seen...
  auto l = p.on_watch_failed(Failure::gone, t0 + 1s);
  CHECK(l.step == Step::list);
  CHECK(l.options.resource_version == "120");
  CHECK(l.delay == 0ms);
  // ...and if that list is 410 too, a consistent list (""), at once.
  auto l2 = p.on_list_failed(Failure::gone, t0 + 2s);
  CHECK(l2.step == Step::list);
  CHECK(l2.options.resource_version == "");
  CHECK(l2.delay == 0ms);
  CHECK(p.failures() == 0);
  CHECK(p.relist_resource_version() == "");
  // A successful list clears that.
  auto w = p.on_list_done("300", t0 + 3s);
  CHECK(w.options.resource_version == "300");
  CHECK(p.relist_resource_version() == "300");
}

TEST_CASE("reflector: only failures the policy cannot handle reach on_error") {
  // A 410 relists and a refused streaming list falls back to list+watch: reporting either would
  // make an informer's wait_for_sync throw a 4xx the reflector has already dealt with.
  CHECK_FALSE(ReflectorPolicy::reported(Failure::gone));
  CHECK_FALSE(ReflectorPolicy::reported(Failure::refused));
  CHECK(ReflectorPolicy::reported(Failure::other));
}

TEST_CASE("reflector: a 410 on a relist retries at once, even after failures grew the backoff") {
  ReflectorPolicy p({}, 11);
  p.start();
  p.on_list_done("100", t0);
  // Six failed watches grow the backoff towards its 30 s cap.
  for (int i = 0; i < 6; ++i)
    p.on_watch_failed(Failure::other, t0 + std::chrono::seconds(i));
  CHECK(p.failures() == 6);
  // The watch then gets 410 (etcd compacted): relist at the last version, at once...
  auto l = p.on_watch_failed(Failure::gone, t0 + 10s);
  CHECK(l.step == Step::list);
  CHECK(l.options.resource_version == "100");
  CHECK(l.delay == 0ms);
  // ...which is 410 too: a consistent list at once, not after a backoff of up to 30 s.
  auto c = p.on_list_failed(Failure::gone, t0 + 11s);
  CHECK(c.options.resource_version == "");
  CHECK(c.delay == 0ms);
  // A 410 on the consistent list itself (an expired continue token) backs off like any failure.
  auto b = p.on_list_failed(Failure::gone, t0 + 12s);
  CHECK(b.options.resource_version == "");
  CHECK(p.failures() == 7);
  // Other list failures back off too.
  p.on_list_failed(Failure::other, t0 + 13s);
  CHECK(p.failures() == 8);
}

TEST_CASE("reflector: backoff is 800 ms doubling to 30 s with full jitter, reset after 2 minutes") {
  kcoro::ReflectorPolicyOptions o;
  ReflectorPolicy p(o, 3);
  p.start();
  p.on_list_done("1", t0);
  // Caps of successive failures: 800, 1600, 3200, ..., 30000.
  const int64_t caps[] = {800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000};
  auto now = t0;
  for (int64_t cap : caps) {
    now += 1s;
    auto a = p.on_watch_failed(Failure::other, now);
    CHECK(a.step == Step::watch);  // a failed watch is retried as a watch, not a relist
    CHECK(a.options.resource_version == "1");
    CHECK(a.delay.count() >= 0);
    CHECK(a.delay.count() <= cap);
  }
  CHECK(p.failures() == 9);
  // Healthy for two minutes: the next failure starts over at 800 ms.
  auto a = p.on_watch_failed(Failure::other, now + 121s);
  CHECK(a.delay.count() <= 800);
  CHECK(p.failures() == 1);

  // Full jitter: over many draws the delays spread over [0, cap].
  ReflectorPolicy q(o, 11);
  q.start();
  q.on_list_done("1", t0);
  int64_t lo = 1 << 30, hi = 0;
  for (int i = 0; i < 200; ++i) {
    // 3 minutes apart: each failure is the first after a reset, so the cap is 800 ms.
    auto d =
        q.on_watch_failed(Failure::other, t0 + std::chrono::minutes(3 * (i + 1))).delay.count();
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  CHECK(lo < 100);
  CHECK(hi > 700);
  CHECK(hi <= 800);
}

TEST_CASE("reflector: a watch shorter than a second with no events counts as a failure") {
  ReflectorPolicy p({}, 1);
  p.start();
  p.on_list_done("5", t0);
  auto a = p.on_watch_ended(t0, 0, t0 + 200ms);
  CHECK(a.step == Step::watch);
  CHECK(p.failures() == 1);
  auto b = p.on_watch_ended(t0, 1, t0 + 200ms);  // an event: not a failure
  CHECK(b.delay == 0ms);
  auto c = p.on_watch_ended(t0, 0, t0 + 2s);  // long enough
  CHECK(c.delay == 0ms);
}

TEST_CASE("reflector: list failures back off and list again") {
  ReflectorPolicy p({}, 1);
  p.start();
  auto a = p.on_list_failed(Failure::other, t0);
  CHECK(a.step == Step::list);
  CHECK(a.options.resource_version == "0");
  CHECK(a.delay.count() <= 800);
  auto b = p.on_list_failed(Failure::other, t0 + 1s);
  CHECK(b.delay.count() <= 1600);
  // A watch failure before any successful list is a list again.
  auto c = p.on_watch_failed(Failure::other, t0 + 2s);
  CHECK(c.step == Step::list);
}

TEST_CASE("reflector: streaming initial list, and the fallback when the server refuses it") {
  kcoro::ReflectorPolicyOptions o;
  o.streaming_initial_list = true;
  SUBCASE("served") {
    ReflectorPolicy p(o, 1);
    auto a = p.start();
    CHECK(a.step == Step::streaming_list);
    CHECK(a.options.send_initial_events == true);
    CHECK(a.options.resource_version_match == "NotOlderThan");
    CHECK(a.options.allow_watch_bookmarks);
    CHECK(a.options.resource_version == "");
    p.on_event("10");
    p.on_initial_events_end("12");
    auto w = p.on_watch_ended(t0, 5, t0 + 300s);
    CHECK(w.step == Step::watch);  // only the initial watch streams
    CHECK_FALSE(w.options.send_initial_events);
    CHECK(w.options.resource_version == "12");
  }
  SUBCASE("refused") {
    ReflectorPolicy p(o, 1);
    p.start();
    auto a = p.on_watch_failed(Failure::refused, t0);
    CHECK(a.step == Step::list);
    CHECK(a.options.resource_version == "0");
    CHECK_FALSE(p.streaming_supported());
    p.on_list_done("50", t0);
    // Later 410s relist with a plain list, never a streaming list again.
    auto l = p.on_watch_failed(Failure::gone, t0 + 1s);
    CHECK(l.step == Step::list);
  }
  SUBCASE("cut before the initial-events-end bookmark: start over") {
    ReflectorPolicy p(o, 1);
    p.start();
    p.on_event("10");
    auto a = p.on_watch_ended(t0, 3, t0 + 5s);
    CHECK(a.step == Step::streaming_list);
    CHECK(p.failures() == 1);
  }
}

TEST_CASE("reflector: a consistent paginated initial list when asked") {
  kcoro::ReflectorPolicyOptions o;
  o.initial_list_from_cache = false;
  ReflectorPolicy p(o, 1);
  auto a = p.start();
  CHECK(a.step == Step::list);
  CHECK(a.options.resource_version == "");
  CHECK(a.options.limit == 500);
}
