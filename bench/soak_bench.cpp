// kcoro-bench soak: an informer and a controller, on a kcoro::Manager as users write one, against
// a kcoro-fake-apiserver child that churns pods (creates, updates, deletes) for --minutes
// minutes, its watches ending and resuming every one to two --watch-timeout seconds (default
// 60). Every --sample-seconds it prints this process's RSS, the allocator's bytes in use, the
// cached pods, the events seen and the reconciles done; at the end, RSS growth between the end of
// the warm-up (2 minutes, or a third of a shorter run) and the end. The server runs in its own
// process, so its history does not count in the RSS measured here. Goal: after warm-up, RSS flat
// (at most 1% growth over 10 minutes).
#include "bench.hpp"
#include "fake_process.hpp"

#include "kcoro/manager.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <thread>

namespace net = boost::asio;

int kcoro_bench_soak(int argc, char** argv) {
  using namespace kcoro;
  using Clock = std::chrono::steady_clock;
  bench::Args args(argc, argv);
  const double minutes = std::stod(args.get("--minutes", "1"));
  const std::size_t pods = args.get_size("--pods", 2000);
  const std::size_t churn = args.get_size("--churn", 500);
  const std::size_t sample_s = args.get_size("--sample-seconds", 10);
  const std::size_t watch_timeout_s = args.get_size("--watch-timeout", 60);
  const bool json = args.flag("--json");
  if (!args.ok()) return 2;
  if (minutes <= 0 || sample_s == 0 || watch_timeout_s == 0) {
    std::fprintf(stderr,
                 "kcoro-bench soak: --minutes, --sample-seconds and --watch-timeout must be > 0\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::err);

  std::optional<bench::FakeProcess> fake;
  try {
    fake.emplace(bench::fake_apiserver_path(argv[0]),
                 std::vector<std::string>{"--pods", std::to_string(pods), "--namespaces", "10",
                                          "--churn", std::to_string(churn)});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kcoro-bench soak: %s\n", e.what());
    return 2;
  }

  std::atomic<uint64_t> events{0}, reconciles{0}, missing{0};
  ManagerOptions mo;
  mo.config = ClusterConfig::from_url(fake->url());
  mo.runtime.handle_signals = false;
  mo.metrics = std::make_shared<MetricsRegistry>();
  mo.logger = std::make_shared<spdlog::logger>("soak");  // no sinks
  // Watches end and resume every one to two --watch-timeout (a real server: every 5 to 10
  // minutes), so the warm-up sees the resumption path and the rest of the run sees it often.
  mo.cache.min_watch_timeout = std::chrono::seconds(watch_timeout_s);
  mo.cache.max_watch_timeout = std::chrono::seconds(2 * watch_timeout_s);
  Manager mgr(mo);
  Predicate count;
  count.create = [&](const Object&) { return ++events, true; };
  count.update = [&](const Object&, const Object&) { return ++events, true; };
  count.remove = [&](const Object&, bool) { return ++events, true; };
  mgr.controller("soak")
      .for_(resources::pods, count)
      .workers(2)
      .complete([&](const Request& req, Context& ctx) -> net::awaitable<Result> {
        // What a reconciler does most: read the cache.
        if (!ctx.get(resources::pods, req.ns, req.name)) ++missing;
        ++reconciles;
        co_return Result::done();
      });
  std::future<int> run = std::async(std::launch::async, [&] { return mgr.run(); });

  const auto start = Clock::now();
  const auto total = std::chrono::duration<double, std::ratio<60>>(minutes);
  const auto warmup = std::min<Clock::duration>(
      std::chrono::minutes(2), std::chrono::duration_cast<Clock::duration>(total / 3));
  long rss_after_warmup = 0, rss_end = 0, rss_max = 0;
  long heap_after_warmup = 0, heap_end = 0, heap_peak_max = 0;
  if (!json)
    std::printf("kcoro-bench soak: %zu pods, %zu changes/s, %.1f min\n", pods, churn, minutes);
  for (std::size_t k = 1;; ++k) {
    const auto due = start + std::chrono::seconds(k * sample_s);
    const bool last = due - start >= total;
    const auto until = last ? start + std::chrono::duration_cast<Clock::duration>(total) : due;
    // The heap's peak between samples, read every 100 ms: a burst of objects in flight (a full
    // delta channel) comes and goes between samples but leaves the RSS at its height.
    long heap_peak = 0;
    for (auto t = Clock::now(); t < until; t = Clock::now()) {
      std::this_thread::sleep_until(std::min(until, t + std::chrono::milliseconds(100)));
      heap_peak = std::max(heap_peak, bench::heap_in_use_bytes());
    }
    heap_peak_max = std::max(heap_peak_max, heap_peak);
    if (run.wait_for(std::chrono::seconds(0)) == std::future_status::ready) break;
    const long rss = bench::current_rss_bytes();
    const long heap = bench::heap_in_use_bytes();
    std::size_t cached = 0;
    for (const auto& inf : mgr.informers(resources::pods))
      cached += inf->store()->size();
    const double t = std::chrono::duration<double>(Clock::now() - start).count();
    if (rss_after_warmup == 0 && Clock::now() - start >= warmup) {
      rss_after_warmup = rss;
      heap_after_warmup = heap;
    }
    rss_max = std::max(rss_max, rss);
    rss_end = rss;
    heap_end = heap;
    if (!json) {
      std::printf(
          "  t=%6.0f s  rss %6.1f MiB  heap %6.1f MiB (peak %6.1f)  cached %6zu  events %9llu  "
          "reconciles %9llu\n",
          t, static_cast<double>(rss) / (1 << 20), static_cast<double>(heap) / (1 << 20),
          static_cast<double>(heap_peak) / (1 << 20), cached,
          static_cast<unsigned long long>(events), static_cast<unsigned long long>(reconciles));
      std::fflush(stdout);
    }
    if (last) break;
  }
  mgr.stop();
  const int code = run.get();
  const double growth = rss_after_warmup > 0
                            ? 100.0 * static_cast<double>(rss_end - rss_after_warmup) /
                                  static_cast<double>(rss_after_warmup)
                            : 0;
  const bool ok = code == 0 && events > 0 && reconciles > 0;
  if (json) {
    std::printf(
        "{\"bench\":\"soak\",\"minutes\":%.2f,\"pods\":%zu,\"churn_per_s\":%zu,\"events\":%llu,"
        "\"reconciles\":%llu,\"rss_after_warmup_mib\":%.1f,\"rss_end_mib\":%.1f,"
        "\"rss_max_mib\":%.1f,\"rss_growth_pct\":%.2f,\"heap_after_warmup_mib\":%.1f,"
        "\"heap_end_mib\":%.1f,\"heap_peak_mib\":%.1f,\"target_growth_pct\":1,\"ok\":%s}\n",
        minutes, pods, churn, static_cast<unsigned long long>(events),
        static_cast<unsigned long long>(reconciles),
        static_cast<double>(rss_after_warmup) / (1 << 20), static_cast<double>(rss_end) / (1 << 20),
        static_cast<double>(rss_max) / (1 << 20), growth,
        static_cast<double>(heap_after_warmup) / (1 << 20),
        static_cast<double>(heap_end) / (1 << 20), static_cast<double>(heap_peak_max) / (1 << 20),
        ok ? "true" : "false");
  } else {
    std::printf(
        "  RSS after warm-up %.1f MiB, at the end %.1f MiB: %+.2f%% (goal: at most 1%%);"
        " heap in use %.1f MiB, then %.1f MiB\n",
        static_cast<double>(rss_after_warmup) / (1 << 20), static_cast<double>(rss_end) / (1 << 20),
        growth, static_cast<double>(heap_after_warmup) / (1 << 20),
        static_cast<double>(heap_end) / (1 << 20));
  }
  return ok ? 0 : 1;
}
