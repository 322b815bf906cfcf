// The event recorder's caches (control/event_cache.hpp): the per-object spam filter and the
// correlator that turns repeats into patches of the written Event.
#include "control/event_cache.hpp"

#include <doctest/doctest.h>

#include <chrono>

using namespace std::chrono_literals;

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
