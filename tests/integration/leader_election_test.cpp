// Leader election on the fake API server: one leader among candidates, release on stop and a
// prompt successor, takeover only after expiry, loss when renewals fail or the lease is taken.
#include "kcoro/leader_election.hpp"
#include "kcoro/queue_clock.hpp"
#include "kcoro/testing/fake_apiserver.hpp"

#include "support/co_test.hpp"
#include "support/fake.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace net = boost::asio;
using kcoro::Client;
using kcoro::LeaderElectionOptions;
using kcoro::LeaderElector;
using kcoro::LeadershipEnd;
using kcoro::test::co_run;
using kcoro::test::config_for;
using kcoro::test::eventually;
using kcoro::testing::FakeApiServer;
using kcoro::testing::Fault;
namespace res = kcoro::resources;
using namespace std::chrono_literals;

namespace {

LeaderElectionOptions candidate(const std::string& id,
                                std::shared_ptr<kcoro::MetricsRegistry> metrics = nullptr) {
  LeaderElectionOptions o;
  o.lease_namespace = "default";
  o.lease_name = "sample-controller";
  o.identity = id;
  o.lease_duration = 2s;
  o.renew_deadline = 1s;
  o.retry_period = 100ms;
  o.metrics = std::move(metrics);
  return o;
}

std::optional<kcoro::LeaderElectionRecord> stored_lease(FakeApiServer& server) {
  kcoro::testing::FakeRequest req;
  req.method = "GET";
  req.target = "/apis/coordination.k8s.io/v1/namespaces/default/leases/sample-controller";
  auto resp = server.cluster().handle(req);
  if (resp.status != 200) return std::nullopt;
  return kcoro::lease_record(*kcoro::Object::parse(resp.body));
}

std::string field(const kcoro::Object& o, std::string_view pointer) {
  return o.get<std::string>(pointer).value_or("");
}

// Runs `make()` beside the test; its result lands in `out`.
template <class T, class Make>
void spawn(net::any_io_executor ex, std::optional<T>& out, Make make) {
  net::co_spawn(ex, make(), [&out](std::exception_ptr e, T v) {
    if (e) std::rethrow_exception(e);
    out = v;
  });
}

}  // namespace

TEST_CASE("leader election: one leader of two; on stop it releases and the other takes over") {
  FakeApiServer server;
  co_run([&](auto ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    auto metrics = std::make_shared<kcoro::MetricsRegistry>();
    std::mutex mu;
    std::vector<std::string> seen_by_b;
    // Leases of a minute: b can only win within the test's deadline if a releases its lease.
    auto ao = candidate("a", metrics);
    ao.lease_duration = 60s;
    LeaderElector a(client, ao);
    auto bo = candidate("b");
    bo.lease_duration = 60s;
    bo.on_new_leader = [&](const std::string& id) {
      std::lock_guard lk(mu);
      seen_by_b.push_back(id);
    };
    LeaderElector b(client, bo);

    CHECK(co_await a.acquire());
    CHECK(a.is_leader());
    auto lease = stored_lease(server);
    REQUIRE(lease);
    CHECK(lease->holder_identity == "a");
    CHECK(lease->lease_duration_seconds == 60);
    CHECK(lease->lease_transitions == 0);
    CHECK(lease->acquire_time.size() == 27);  // MicroTime
    CHECK(metrics->render().find("leader_election_master_status{name=\"sample-controller\"} 1") !=
          std::string::npos);

    std::optional<LeadershipEnd> a_end;
    std::optional<bool> b_won;
    spawn(ex, a_end, [&] { return a.hold(); });
    spawn(ex, b_won, [&] { return b.acquire(); });
    // b sees a lead and waits; a keeps renewing.
    CHECK(co_await eventually([&] { return b.leader() == "a"; }));
    const std::string first_renew = lease->renew_time;
    CHECK(co_await eventually([&] { return stored_lease(server)->renew_time != first_renew; }));
    CHECK_FALSE(b_won);
    CHECK_FALSE(b.is_leader());
    CHECK(stored_lease(server)->acquire_time == lease->acquire_time);  // renewals keep it

    // a stops: it releases, and b takes the lease without waiting for it to expire.
    a.stop();
    CHECK(co_await eventually([&] { return a_end.has_value() && b_won.has_value(); }));
    CHECK(*a_end == LeadershipEnd::stopped);
    CHECK(*b_won);
    CHECK_FALSE(a.is_leader());
    CHECK(b.is_leader());
    lease = stored_lease(server);
    CHECK(lease->holder_identity == "b");
    CHECK(lease->lease_transitions == 1);
    CHECK(metrics->render().find("leader_election_master_status{name=\"sample-controller\"} 0") !=
          std::string::npos);
    {
      std::lock_guard lk(mu);
      CHECK(seen_by_b == std::vector<std::string>{"a", "b"});
    }
    b.stop();
    CHECK(co_await b.hold() == LeadershipEnd::stopped);
    CHECK(stored_lease(server)->holder_identity.empty());
  });
}

TEST_CASE("leader election: a lease held by another is taken only after it expires") {
  FakeApiServer server;
  server.cluster().apply_object(
      R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":)"
      R"("sample-controller","namespace":"default"},"spec":{"holderIdentity":"gone",)"
      R"("leaseDurationSeconds":1,"renewTime":"2026-01-01T00:00:00.000000Z","leaseTransitions":6}})");
  co_run([&](auto ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    LeaderElector c(client, candidate("c"));
    const auto start = std::chrono::steady_clock::now();
    CHECK(co_await c.acquire());
    // The holder's one second counts from c's first read, whatever its renewTime says.
    CHECK(std::chrono::steady_clock::now() - start >= 1s);
    auto lease = stored_lease(server);
    CHECK(lease->holder_identity == "c");
    CHECK(lease->lease_transitions == 7);
    c.stop();
    CHECK(co_await c.hold() == LeadershipEnd::stopped);
  });
}

TEST_CASE("leader election: stop ends a campaign") {
  FakeApiServer server;
  server.cluster().apply_object(
      R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":)"
      R"("sample-controller","namespace":"default"},"spec":{"holderIdentity":"other",)"
      R"("leaseDurationSeconds":3600}})");
  co_run([&](auto ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    LeaderElector c(client, candidate("c"));
    std::optional<bool> won;
    spawn(ex, won, [&] { return c.acquire(); });
    CHECK(co_await eventually([&] { return c.leader() == "other"; }));
    c.stop();
    CHECK(co_await eventually([&] { return won.has_value(); }));
    CHECK_FALSE(*won);
    CHECK(stored_lease(server)->holder_identity == "other");
  });
}

TEST_CASE("leader election: leadership is lost when renewals fail for renew_deadline") {
  FakeApiServer server;
  co_run([&](auto ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    auto metrics = std::make_shared<kcoro::MetricsRegistry>();
    LeaderElector a(client, candidate("a", metrics));
    CHECK(co_await a.acquire());
    Fault f;
    f.path_prefix = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
    f.times = Fault::kAlways;
    f.status = 500;
    server.add_fault(f);
    const auto start = std::chrono::steady_clock::now();
    CHECK(co_await a.hold() == LeadershipEnd::lost);
    CHECK(std::chrono::steady_clock::now() - start >= 1s);  // renew_deadline
    CHECK_FALSE(a.is_leader());
    CHECK(metrics->render().find("leader_election_master_status{name=\"sample-controller\"} 0") !=
          std::string::npos);
    // The lease stays as last written: a successor waits it out.
    CHECK(stored_lease(server)->holder_identity == "a");
  });
}

TEST_CASE("leader election: on virtual time, a failing round is lost exactly at renew_deadline") {
  FakeApiServer server;
  auto clock = std::make_shared<kcoro::ManualClock>();
  auto o = candidate("a");
  o.clock = clock;
  // Moves virtual time only across the elector's waits between attempts (all one retry_period
  // long here), never during its requests: those take real time, and virtual time stands still.
  // It stops and is joined when the test leaves, however it leaves.
  std::jthread driver([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      const auto at = clock->next_alarm();
      if (at && *at - clock->now() == o.retry_period) {
        clock->set_time(*at);
      } else {
        std::this_thread::sleep_for(1ms);
      }
    }
  });
  co_run([&](auto ex) -> net::awaitable<void> {
    kcoro::ClientOptions co;
    co.retry.max_retries = 0;  // one request per attempt
    Client client(ex, config_for(server), co);
    LeaderElector a(client, o);
    CHECK(co_await a.acquire());  // no lease yet: the first attempt takes it, without a wait
    Fault f;
    f.path_prefix = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
    f.times = Fault::kAlways;
    f.status = 500;
    server.add_fault(f);
    const auto start = clock->now();
    CHECK(co_await a.hold() == LeadershipEnd::lost);
    // A round begins one retry_period in (100 ms); its attempts fail and are retried every
    // 100 ms; at its deadline, 1 s later, leadership is lost: not a tick sooner or later (GCC 12
    // once made it one retry_period later, a co_await in a short-circuited && evaluated).
    CHECK(clock->now() - start == 1100ms);
    CHECK_FALSE(a.is_leader());
    CHECK(server.stats().faults >= 9);  // an attempt at each of 100, 200, ..., 1000 ms
    CHECK(stored_lease(server)->holder_identity == "a");
  });
}

TEST_CASE("leader election: a lease taken by another identity ends the hold at once") {
  FakeApiServer server;
  co_run([&](auto ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    LeaderElector a(client, candidate("a"));
    CHECK(co_await a.acquire());
    std::optional<LeadershipEnd> end;
    spawn(ex, end, [&] { return a.hold(); });
    // Someone overwrites the lease (a forced takeover, or a misconfigured twin).
    // A merge patch carries no resourceVersion: it cannot lose a race with a's renewals.
    co_await client.patch(res::leases, "default", "sample-controller", kcoro::PatchType::merge,
                          R"({"spec":{"holderIdentity":"usurper"}})");
    CHECK(co_await eventually([&] { return end.has_value(); }));
    CHECK(*end == LeadershipEnd::lost);
    CHECK(a.leader() == "usurper");
    CHECK(stored_lease(server)->holder_identity == "usurper");  // not overwritten back
  });
}

TEST_CASE("leader election: becoming leader is recorded as an event on the Lease") {
  FakeApiServer server;
  co_run([&](auto ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    kcoro::EventRecorderOptions ro;
    ro.component = "sample-controller";
    kcoro::EventRecorder rec(client, ro);
    net::co_spawn(ex, rec.run(), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    auto o = candidate("a");
    o.recorder = &rec;
    LeaderElector a(client, o);
    CHECK(co_await a.acquire());
    CHECK(co_await eventually([&] { return rec.stats().created == 1; }));
    auto events = co_await client.list(res::events, "default");
    REQUIRE(events.items.size() == 1);
    const kcoro::ObjectPtr ev = events.items[0];
    CHECK(field(*ev, "/reason") == "LeaderElection");
    CHECK(field(*ev, "/message") == "a became leader");
    CHECK(field(*ev, "/involvedObject/kind") == "Lease");
    rec.stop();
  });
}

TEST_CASE("leader election: options are checked") {
  net::io_context io;
  Client client(io.get_executor(), kcoro::ClusterConfig::from_url("http://127.0.0.1:1"));
  auto o = candidate("a");
  o.renew_deadline = o.lease_duration;
  CHECK_THROWS_AS(LeaderElector(client, o), std::invalid_argument);
  o = candidate("a");
  o.retry_period = o.renew_deadline;
  CHECK_THROWS_AS(LeaderElector(client, o), std::invalid_argument);
  o = candidate("a");
  o.lease_name.clear();
  CHECK_THROWS_AS(LeaderElector(client, o), std::invalid_argument);
  o = candidate("");
  LeaderElector defaulted(client, o);
  CHECK(defaulted.identity().find('_') != std::string::npos);  // <hostname>_<random>
  CHECK(LeaderElector(client, o).identity() != defaulted.identity());
}

TEST_CASE("leader election: stop during a renewal in flight still releases the lease") {
  FakeApiServer server;
  co_run([&](auto ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    auto o = candidate("a");
    o.lease_duration = 60s;
    LeaderElector a(client, o);
    CHECK(co_await a.acquire());
    Fault slow;  // the next renewal takes 300 ms to be answered
    slow.method = "PUT";
    slow.path_prefix = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
    slow.kind = kcoro::testing::FaultKind::delay;
    slow.delay = 300ms;
    server.add_fault(slow);
    std::optional<LeadershipEnd> end;
    spawn(ex, end, [&] { return a.hold(); });
    CHECK(co_await eventually([&] { return server.stats().faults == 1; }));
    a.stop();  // while that renewal is being answered
    CHECK(co_await eventually([&] { return end.has_value(); }));
    CHECK(*end == LeadershipEnd::stopped);
    CHECK(stored_lease(server)->holder_identity.empty());
  });
}

TEST_CASE("leader election: a failed attempt is retried after retry_period, not its deadline") {
  FakeApiServer server;
  Fault f;  // the first two creates of the lease fail
  f.method = "POST";
  f.path_prefix = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
  f.times = 2;
  f.status = 500;
  server.add_fault(f);
  // A deadline of 20 s per attempt: waiting it out twice would overrun the test's 30 s limit.
  co_run([&](auto ex) -> net::awaitable<void> {
    Client client(ex, config_for(server));
    auto o = candidate("a");
    o.lease_duration = 30s;
    o.renew_deadline = 20s;
    LeaderElector a(client, o);
    CHECK(co_await a.acquire());
    CHECK(server.stats().faults == 2);
    CHECK(stored_lease(server)->holder_identity == "a");
    a.stop();
    CHECK(co_await a.hold() == LeadershipEnd::stopped);
  });
}
