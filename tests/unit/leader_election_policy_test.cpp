// LeaderElectionPolicy on virtual time: when a lease may be taken, what a renewal keeps, what a
// release writes; and the Lease record's parsing and MicroTime format.
#include "kcoro/leader_election_policy.hpp"

#include <doctest/doctest.h>

#include <chrono>

using kcoro::LeaderElectionPolicy;
using kcoro::LeaderElectionRecord;
using namespace std::chrono_literals;

namespace {

const LeaderElectionPolicy::time_point t0{};

LeaderElectionRecord held_by(const std::string& holder, int64_t secs = 15,
                             const std::string& renew = "2026-11-22T10:00:00.000000Z",
                             int64_t transitions = 3) {
  return {holder, secs, "2026-11-22T09:00:00.000000Z", renew, transitions};
}

}  // namespace

TEST_CASE("leader election: no lease yet means a first record for us") {
  LeaderElectionPolicy p("me", 15s);
  CHECK_FALSE(p.observe(std::nullopt, t0));
  auto r = p.next(t0, "W");
  REQUIRE(r);
  CHECK(*r == LeaderElectionRecord{"me", 15, "W", "W", 0});
  CHECK_FALSE(p.is_leader());
  p.wrote(*r, t0);
  CHECK(p.is_leader());
  CHECK(p.holder() == "me");
}

TEST_CASE("leader election: lease_duration rounds up to whole seconds, at least one") {
  CHECK(LeaderElectionPolicy("me", 1500ms).next(t0, "W")->lease_duration_seconds == 2);
  CHECK(LeaderElectionPolicy("me", 10ms).next(t0, "W")->lease_duration_seconds == 1);
}

TEST_CASE("leader election: another holder's lease runs its own duration from when it was seen") {
  LeaderElectionPolicy p("me", 15s);  // our duration does not matter for theirs
  CHECK(p.observe(held_by("other", 20), t0));
  CHECK(p.holder() == "other");
  CHECK_FALSE(p.next(t0, "W"));
  CHECK_FALSE(p.next(t0 + 19999ms, "W"));
  // Reading the very same record later does not restart the count.
  CHECK_FALSE(p.observe(held_by("other", 20), t0 + 19s));
  auto r = p.next(t0 + 20s, "W");
  REQUIRE(r);
  CHECK(r->holder_identity == "me");
  CHECK(r->acquire_time == "W");  // a new holder starts its own tenure
  CHECK(r->lease_transitions == 4);
}

TEST_CASE("leader election: a renewal by the holder restarts the count") {
  LeaderElectionPolicy p("me", 15s);
  p.observe(held_by("other", 15, "R1"), t0);
  CHECK_FALSE(p.observe(held_by("other", 15, "R2"), t0 + 10s));  // same holder, new renewTime
  CHECK_FALSE(p.next(t0 + 16s, "W"));
  CHECK_FALSE(p.next(t0 + 24s, "W"));
  CHECK(p.next(t0 + 25s, "W"));
}

TEST_CASE("leader election: a released lease may be taken at once") {
  LeaderElectionPolicy p("me", 15s);
  CHECK_FALSE(p.observe(LeaderElectionRecord{"", 1, "A", "R", 7}, t0));
  auto r = p.next(t0, "W");
  REQUIRE(r);
  CHECK(*r == LeaderElectionRecord{"me", 15, "W", "W", 8});
}

TEST_CASE("leader election: our renewal keeps acquireTime and the transition count") {
  LeaderElectionPolicy p("me", 15s);
  p.observe(held_by("me", 15, "R", 5), t0);
  CHECK(p.is_leader());
  auto r = p.next(t0 + 2s, "W2");
  REQUIRE(r);
  CHECK(*r == LeaderElectionRecord{"me", 15, "2026-11-22T09:00:00.000000Z", "W2", 5});
}

TEST_CASE("leader election: lease_valid is our own lease before its duration ends") {
  LeaderElectionPolicy p("me", 15s);
  CHECK_FALSE(p.lease_valid(t0));
  p.wrote(LeaderElectionRecord{"me", 15, "W", "W", 0}, t0);
  CHECK(p.lease_valid(t0 + 14999ms));
  CHECK_FALSE(p.lease_valid(t0 + 15s));
  p.observe(held_by("other"), t0 + 1s);
  CHECK_FALSE(p.lease_valid(t0 + 2s));
  CHECK_FALSE(p.is_leader());
}

TEST_CASE("leader election: release clears the holder, keeps transitions, lasts one second") {
  LeaderElectionPolicy p("me", 15s);
  CHECK_FALSE(p.release("W"));
  p.wrote(LeaderElectionRecord{"me", 15, "A", "R", 2}, t0);
  auto r = p.release("W");
  REQUIRE(r);
  CHECK(*r == LeaderElectionRecord{"", 1, "W", "W", 2});
  CHECK(p.observe(*r, t0 + 1s));  // the holder changed: from us to none
  CHECK(p.holder().empty());
  CHECK_FALSE(p.is_leader());
}

TEST_CASE("leader election: a Lease object's spec is its record") {
  auto lease = kcoro::Object::parse(
      R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l",)"
      R"("namespace":"ns","resourceVersion":"9"},"spec":{"holderIdentity":"a",)"
      R"("leaseDurationSeconds":15,"acquireTime":"2026-11-22T09:00:00.000000Z",)"
      R"("renewTime":"2026-11-22T09:00:02.500000Z","leaseTransitions":4}})");
  REQUIRE(lease);
  CHECK(kcoro::lease_record(*lease) == held_by("a", 15, "2026-11-22T09:00:02.500000Z", 4));
  auto empty = kcoro::Object::parse(
      R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},"spec":{}})");
  REQUIRE(empty);
  CHECK(kcoro::lease_record(*empty) == LeaderElectionRecord{});
}

TEST_CASE("leader election: MicroTime is UTC with six fractional digits") {
  using namespace std::chrono;
  const system_clock::time_point t = sys_days{year{2026} / 11 / 22} + 17h + 5min + 9s + 42us;
  CHECK(kcoro::micro_time(t) == "2026-11-22T17:05:09.000042Z");
  CHECK(kcoro::micro_time(sys_days{year{1970} / 1 / 1}) == "1970-01-01T00:00:00.000000Z");
}

TEST_CASE("leader election: a Lease whose spec has wrong types is an error naming the field") {
  auto bad = kcoro::Object::parse(
      R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},)"
      R"("spec":{"holderIdentity":"a","leaseDurationSeconds":"15"}})");
  REQUIRE(bad);
  try {
    kcoro::lease_record(*bad);
    FAIL("no error");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("/spec/leaseDurationSeconds") != std::string::npos);
  }
}

TEST_CASE("leader election: a renewal skips the read only while our written lease is valid") {
  LeaderElectionPolicy p("me", 15s);
  p.observe(std::nullopt, t0);
  CHECK_FALSE(p.renew_without_read(t0, true));  // nothing of ours written yet
  p.wrote(*p.next(t0, "W"), t0);
  CHECK(p.renew_without_read(t0 + 14s, true));
  CHECK_FALSE(p.renew_without_read(t0 + 14s, false));  // no write to PUT on
  CHECK_FALSE(p.renew_without_read(t0 + 15s, true));   // expired by our own count: read first
  p.observe(held_by("other"), t0 + 16s);
  CHECK_FALSE(p.renew_without_read(t0 + 16s, true));
}

TEST_CASE("leader election: a renewal round retries every retry_period until renew_deadline") {
  using Step = kcoro::RenewalRound::Step;
  const kcoro::RenewalRound round(t0, 10s, 2s);
  CHECK(round.deadline() == t0 + 10s);
  // The first attempt may take the whole deadline.
  auto d = round.before_attempt(t0);
  CHECK(d.step == Step::attempt);
  CHECK(d.time == 10s);
  // A quick failure waits a retry period; the next attempt gets what is left.
  d = round.after_failure(t0 + 100ms, true);
  CHECK(d.step == Step::wait);
  CHECK(d.time == 2s);
  d = round.before_attempt(t0 + 2100ms);
  CHECK(d.step == Step::attempt);
  CHECK(d.time == 7900ms);
  // Near the deadline the wait shrinks to what is left, and at the deadline the round is lost.
  d = round.after_failure(t0 + 9s, true);
  CHECK(d.step == Step::wait);
  CHECK(d.time == 1s);
  CHECK(round.before_attempt(t0 + 10s).step == Step::lost_deadline);
  CHECK(round.after_failure(t0 + 10s, true).step == Step::lost_deadline);
  // An attempt cut at the deadline is lost at once, without another wait.
  CHECK(round.after_failure(t0 + 12s, true).step == Step::lost_deadline);
}

TEST_CASE("leader election: a round ends at once when another identity holds the lease") {
  using Step = kcoro::RenewalRound::Step;
  const kcoro::RenewalRound round(t0, 10s, 2s);
  CHECK(round.after_failure(t0 + 1s, false).step == Step::lost_holder);
  // Even past the deadline, the holder is the reason given.
  CHECK(round.after_failure(t0 + 11s, false).step == Step::lost_holder);
}
