// Leader election and the event recorder against a real kube-apiserver.
#include "kcoro/event_recorder.hpp"
#include "kcoro/leader_election.hpp"
#include "kcoro/testing/envtest.hpp"

#include "envtest/env.hpp"
#include "support/co_test.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>

#include <optional>

namespace net = boost::asio;
using kcoro::Client;
using kcoro::LeaderElectionOptions;
using kcoro::LeaderElector;
using kcoro::LeadershipEnd;
using kcoro::test::co_run;
using kcoro::test::configmap_json;
using kcoro::test::env;
using kcoro::test::eventually;
using kcoro::test::fresh_namespace;
namespace res = kcoro::resources;
using namespace std::chrono_literals;

namespace {

LeaderElectionOptions candidate(const std::string& ns, const std::string& id) {
  LeaderElectionOptions o;
  o.lease_namespace = ns;
  o.lease_name = "envtest-controller";
  o.identity = id;
  o.lease_duration = 3s;
  o.renew_deadline = 2s;
  o.retry_period = 200ms;
  o.metrics = nullptr;
  return o;
}

template <class T, class Make>
void spawn(net::any_io_executor ex, std::optional<T>& out, Make make) {
  net::co_spawn(ex, make(), [&out](std::exception_ptr e, T v) {
    if (e) std::rethrow_exception(e);
    out = v;
  });
}

}  // namespace

TEST_CASE("envtest leader election: one leader of two; the other takes over when it stops") {
  auto& e = env();
  co_run(
      [&](net::any_io_executor ex) -> net::awaitable<void> {
        Client c(ex, e.admin_config());
        const auto ns = co_await fresh_namespace(c, "leader");
        LeaderElector a(c, candidate(ns, "a"));
        auto bo = candidate(ns, "b");
        bo.lease_duration = 60s;  // b can win in time only if a releases the lease
        bo.renew_deadline = 10s;
        LeaderElector b(c, bo);
        CHECK(co_await a.acquire());
        auto lease = co_await c.get(res::leases, ns, "envtest-controller");
        CHECK(lease->get<std::string>("/spec/holderIdentity") == "a");
        CHECK(lease->get<int64_t>("/spec/leaseDurationSeconds") == 3);
        const auto acquired = lease->get<std::string>("/spec/acquireTime").value_or("");
        CHECK(acquired.size() == 27);  // MicroTime, as the server stores it

        std::optional<LeadershipEnd> a_end;
        std::optional<bool> b_won;
        spawn(ex, a_end, [&] { return a.hold(); });
        spawn(ex, b_won, [&] { return b.acquire(); });
        CHECK(co_await eventually([&] { return b.leader() == "a"; }));
        // a renews: renewTime moves while b waits.
        const auto renewed = lease->get<std::string>("/spec/renewTime").value_or("");
        CHECK(co_await eventually([&]() -> net::awaitable<bool> {
          auto l = co_await c.get(res::leases, ns, "envtest-controller");
          co_return l->get<std::string>("/spec/renewTime").value_or("") != renewed;
        }));
        CHECK_FALSE(b_won);
        CHECK(a.is_leader());

        a.stop();
        CHECK(co_await eventually([&] { return a_end.has_value() && b_won.has_value(); }));
        CHECK(*a_end == LeadershipEnd::stopped);
        CHECK(*b_won);
        CHECK(b.is_leader());
        lease = co_await c.get(res::leases, ns, "envtest-controller");
        CHECK(lease->get<std::string>("/spec/holderIdentity") == "b");
        CHECK(lease->get<int64_t>("/spec/leaseTransitions") == 1);
        b.stop();
      },
      60s);
}

TEST_CASE("envtest event recorder: repeats are aggregated into one Event with a count") {
  auto& e = env();
  co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    Client c(ex, e.admin_config());
    const auto ns = co_await fresh_namespace(c, "events");
    auto obj = co_await c.create(res::configmaps, ns, configmap_json("subject", ns));
    kcoro::EventRecorderOptions o;
    o.component = "envtest-controller";
    o.reporting_instance = "envtest-controller-1";
    kcoro::EventRecorder rec(c, o);
    net::co_spawn(ex, rec.run(), [](std::exception_ptr ep) {
      if (ep) std::rethrow_exception(ep);
    });
    for (int i = 0; i < 3; ++i) {
      rec.record(*obj, kcoro::EventType::normal, "Synced", "synced successfully");
      CHECK(
          co_await eventually([&] { return rec.stats().created + rec.stats().patched == i + 1u; }));
    }
    rec.record(*obj, kcoro::EventType::warning, "Failed", "it broke");
    CHECK(co_await eventually([&] { return rec.stats().created == 2; }));
    CHECK(rec.stats().patched == 2);
    CHECK(rec.stats().failed == 0);

    auto events = co_await c.list(res::events, ns);
    REQUIRE(events.items.size() == 2);
    int synced = 0;
    for (auto& ev : events.items) {
      CHECK(ev->get<std::string>("/involvedObject/uid") == std::string(obj->meta().uid));
      CHECK(ev->get<std::string>("/involvedObject/kind") == "ConfigMap");
      CHECK(ev->get<std::string>("/source/component") == "envtest-controller");
      if (ev->get<std::string>("/reason") == "Synced") {
        ++synced;
        CHECK(ev->get<int64_t>("/count") == 3);
        CHECK(ev->get<std::string>("/type") == "Normal");
        CHECK(ev->get<std::string>("/firstTimestamp") != std::nullopt);
      } else {
        CHECK(ev->get<int64_t>("/count") == 1);
        CHECK(ev->get<std::string>("/type") == "Warning");
      }
    }
    CHECK(synced == 1);
    rec.stop();
  });
}
