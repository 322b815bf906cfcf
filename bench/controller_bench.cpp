// kcoro-bench controller: the latency from an event's arrival in the controller (its informer
// handler call) to the start of the reconcile of that key, through the whole pipeline — fake API
// server → chunked watch → informer → handler → work queue → worker.
//
// The fake API server runs in this process on its own thread (FakeApiServer): the bench thread
// updates `--objects` ConfigMaps in turn with FakeCluster::apply_object, paced at `--rate` events
// per second (default 10,000) for `--seconds` (default 2), then as fast as it can for
// `--saturation-events` (default 50,000; bounded to 2 s). The client, informer and workers share
// one more thread (a valid configuration; `--workers N`, default 1): a kcoro::Manager with one
// I/O thread and no other, and the controller built with its builder, as users write one.
// kcoro-fake-apiserver's own
// --churn mode writes whole pods and cannot sustain 10,000 writes per second, hence the paced
// in-process writer.
//
// An event's time is taken when the controller's handler maps it to a key; a key with a pending
// event keeps its earliest time (later events for it are coalesced into the same reconcile, as
// the queue does).
#include "bench.hpp"

#include "kcoro/manager.hpp"
#include "kcoro/testing/fake_apiserver.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <thread>
#include <unordered_map>

namespace net = boost::asio;

namespace {

using Clock = std::chrono::steady_clock;

std::string configmap(std::size_t i, uint64_t version) {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-)" + std::to_string(i) +
         R"(","namespace":"bench"},"data":{"v":")" + std::to_string(version) + R"("}})";
}

struct PhaseResult {
  std::vector<double> latency_us;  // sorted
  uint64_t written = 0;            // writes made on the server
  uint64_t events = 0;             // events the controller's handler saw
  uint64_t reconciles = 0;         // reconciles of measured events
  double seconds = 0;              // first to last event seen
  std::string error;

  double percentile(double p) const {
    if (latency_us.empty()) return 0;
    const auto i = static_cast<std::size_t>(p * static_cast<double>(latency_us.size() - 1) + 0.5);
    return latency_us[std::min(i, latency_us.size() - 1)];
  }
  double events_per_s() const { return seconds > 0 ? static_cast<double>(events) / seconds : 0; }
};

// One phase: a controller on its own thread, the writer on this one. `rate` 0: as fast as possible.
PhaseResult run_phase(kcoro::testing::FakeApiServer& server, std::size_t objects, int workers,
                      double rate, std::chrono::milliseconds window, uint64_t max_writes,
                      uint64_t& version) {
  using namespace kcoro;
  PhaseResult out;
  // Controller thread only:
  std::unordered_map<std::string, Clock::time_point> pending;  // key -> first unreconciled event
  Clock::time_point first_event{}, last_event{};
  uint64_t reconciles = 0;
  std::vector<double> latencies;
  latencies.reserve(1 << 20);
  // Shared with the writer:
  std::atomic<bool> ready{false};
  std::atomic<uint64_t> events{0};

  ManagerOptions mo;
  mo.config = ClusterConfig::from_url(server.url());
  mo.runtime.informer_threads = 0;  // the client, the informer and the workers: one thread
  mo.runtime.worker_threads = 0;
  mo.runtime.handle_signals = false;
  mo.cache.namespaces = {"bench"};
  mo.metrics = std::make_shared<MetricsRegistry>();
  mo.logger = std::make_shared<spdlog::logger>("bench");  // no sinks
  Manager mgr(mo);
  // Only updates are measured (the initial list's adds are not). An update's time is taken when
  // the controller's handler sees it; a key keeps the time of its first unreconciled event.
  Predicate updates_only;
  updates_only.create = [](const Object&) { return false; };
  updates_only.remove = [](const Object&, bool) { return false; };
  updates_only.update = [&](const Object&, const Object& o) {
    last_event = Clock::now();
    if (events.fetch_add(1, std::memory_order_relaxed) == 0) first_event = last_event;
    pending.try_emplace(o.key(), last_event);
    return true;
  };
  mgr.controller("bench")
      .for_(resources::configmaps, updates_only)
      .workers(workers)
      .complete([&](const Request& req, Context&) -> net::awaitable<Result> {
        const auto now = Clock::now();
        auto it = pending.find(req.str());
        if (it != pending.end()) {
          latencies.push_back(std::chrono::duration<double, std::micro>(now - it->second).count());
          pending.erase(it);
          ++reconciles;
        }
        co_return Result::done();
      });
  auto informer = mgr.informers(resources::configmaps).front();
  mgr.add(
      [&]() -> net::awaitable<void> {
        co_await informer->wait_for_sync();
        ready = true;
      },
      false);
  std::future<int> run = std::async(std::launch::async, [&] { return mgr.run(); });

  // Write, paced, once the controller is ready.
  const auto ready_deadline = Clock::now() + std::chrono::seconds(10);
  while (!ready && Clock::now() < ready_deadline &&
         run.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) {
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the initial adds pass
  const auto t0 = Clock::now();
  for (uint64_t k = 0; ready; ++k) {
    const auto now = Clock::now();
    if (now - t0 >= window || (max_writes && k >= max_writes)) break;
    if (rate > 0) {
      const auto due = t0 + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(static_cast<double>(k) / rate));
      if (due > now) std::this_thread::sleep_until(due);
    }
    server.cluster().apply_object(configmap(k % objects, ++version));
    ++out.written;
  }
  // Let the controller catch up (bounded), then stop it.
  const auto drain_deadline = Clock::now() + std::chrono::seconds(3);
  while (events.load() < out.written && Clock::now() < drain_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  mgr.stop();
  if (run.get() != 0) out.error = "the manager failed (see its log)";

  out.events = events.load();
  out.reconciles = reconciles;
  out.seconds = std::chrono::duration<double>(last_event - first_event).count();
  out.latency_us = std::move(latencies);
  if (!ready && out.error.empty()) out.error = "the informer did not sync";
  std::sort(out.latency_us.begin(), out.latency_us.end());
  return out;
}

void print_phase(const char* name, const PhaseResult& r) {
  std::printf(
      "  %-11s %7llu writes %8.0f events/s %7llu reconciles   p50 %7.1f us  p99 %7.1f us  max "
      "%8.1f us\n",
      name, static_cast<unsigned long long>(r.written), r.events_per_s(),
      static_cast<unsigned long long>(r.reconciles), r.percentile(0.5), r.percentile(0.99),
      r.percentile(1.0));
  if (!r.error.empty()) std::printf("  %s phase failed: %s\n", name, r.error.c_str());
}

}  // namespace

int kcoro_bench_controller(int argc, char** argv) {
  using namespace kcoro;
  bench::Args args(argc, argv);
  const std::size_t objects = args.get_size("--objects", 1000);
  const std::size_t rate = args.get_size("--rate", 10000);
  const std::size_t seconds = args.get_size("--seconds", 2);
  const std::size_t sat_events = args.get_size("--saturation-events", 50000);
  const int workers = static_cast<int>(args.get_size("--workers", 1));
  const bool json = args.flag("--json");
  if (!args.ok()) return 2;
  if (objects == 0 || workers < 1) {
    std::fprintf(stderr, "kcoro-bench controller: --objects and --workers must be >= 1\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::err);  // the reflector's info lines would mix with the output

  PhaseResult fixed, sat;
  try {
    testing::FakeApiServer server;
    uint64_t version = 0;
    for (std::size_t i = 0; i < objects; ++i)
      server.cluster().apply_object(configmap(i, ++version));
    fixed = run_phase(server, objects, workers, static_cast<double>(rate),
                      std::chrono::seconds(seconds), 0, version);
    sat = run_phase(server, objects, workers, 0, std::chrono::seconds(2), sat_events, version);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kcoro-bench controller: %s\n", e.what());
    return 2;
  }
  const bool ok = fixed.error.empty() && sat.error.empty() && fixed.events == fixed.written &&
                  sat.events == sat.written && fixed.reconciles > 0 && sat.reconciles > 0;
  if (json) {
    std::printf(
        "{\"bench\":\"controller\",\"objects\":%zu,\"workers\":%d,\"rate\":%zu,"
        "\"writes\":%llu,\"events\":%llu,\"events_per_s\":%.0f,\"reconciles\":%llu,"
        "\"latency_p50_us\":%.1f,\"latency_p99_us\":%.1f,\"latency_max_us\":%.1f,"
        "\"saturation_writes\":%llu,\"saturation_events\":%llu,\"saturation_events_per_s\":%.0f,"
        "\"saturation_reconciles\":%llu,\"saturation_latency_p50_us\":%.1f,"
        "\"saturation_latency_p99_us\":%.1f,\"saturation_latency_max_us\":%.1f,"
        "\"target_p99_us\":1000,\"p99_within_target\":%s,\"ok\":%s}\n",
        objects, workers, rate, static_cast<unsigned long long>(fixed.written),
        static_cast<unsigned long long>(fixed.events), fixed.events_per_s(),
        static_cast<unsigned long long>(fixed.reconciles), fixed.percentile(0.5),
        fixed.percentile(0.99), fixed.percentile(1.0), static_cast<unsigned long long>(sat.written),
        static_cast<unsigned long long>(sat.events), sat.events_per_s(),
        static_cast<unsigned long long>(sat.reconciles), sat.percentile(0.5), sat.percentile(0.99),
        sat.percentile(1.0), fixed.percentile(0.99) <= 1000 ? "true" : "false",
        ok ? "true" : "false");
  } else {
    std::printf(
        "kcoro-bench controller: %zu ConfigMaps, %d worker(s) on the informer's thread; "
        "latency from the handler call to the reconcile's start\n",
        objects, workers);
    print_phase("fixed rate", fixed);
    print_phase("saturation", sat);
  }
  return ok ? 0 : 1;
}
