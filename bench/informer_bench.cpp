// kcoro-bench informer: the whole pipeline on one thread — socket → decoder → channel →
// informer → store → a counting handler. Without --server/--kubeconfig it starts
// kcoro-fake-apiserver's throughput mode in a child process (so its memory is not counted).
//
// Beside the informer it reads the same bytes raw, for the ratios #17 sets targets on: the
// initial list's pages through the client without decoding, and the watch stream through a
// plain socket. With --informers N it then runs N informers on N threads at once, each with its
// own io_context and connection, and reports their summed rate against the single one's.
#include "bench.hpp"
#include "fake_process.hpp"

#include "kcoro/informer.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

namespace net = boost::asio;

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kPageSize = 500;

struct Run {
  Clock::time_point started, synced, finished;
  std::size_t adds = 0, updates = 0, cached = 0;
  long peak_during_list = 0, steady_rss = 0;
  double per_object = 0, json_per_object = 0;
  std::string error;

  double sync_s() const { return std::chrono::duration<double>(synced - started).count(); }
  double watch_s() const { return std::chrono::duration<double>(finished - synced).count(); }
  std::size_t watched(std::size_t pods) const { return updates + (adds > pods ? adds - pods : 0); }
};

/// One informer over pods on the calling thread, until `events` watch events were handled.
/// `from_cache`: the first list at resourceVersion=0 (one page from the watch cache) instead of
/// a consistent list in pages of 500. `measure`: read the memory figures too.
Run run_informer(const kcoro::ClusterConfig& cfg, std::size_t pods, std::size_t events,
                 bool from_cache, bool measure) {
  using namespace kcoro;
  Run run;
  net::io_context io(1);
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        Client client(io.get_executor(), cfg);
        InformerOptions opts;
        opts.resource = resources::pods;
        opts.channel_capacity = 4096;
        opts.policy.page_size = kPageSize;
        opts.policy.initial_list_from_cache = from_cache;
        Informer inf(client, opts, io.get_executor());
        // Ends the wait below when the last expected event is handled (one thread: no race).
        net::steady_timer done(io.get_executor());
        bool watching = false;
        auto check_done = [&] {
          if (watching && run.watched(pods) >= events) done.cancel();
        };
        inf.add_handler({[&](const ObjectPtr&) {
                           ++run.adds;
                           check_done();
                         },
                         [&](const ObjectPtr&, const ObjectPtr&) {
                           ++run.updates;
                           check_done();
                         },
                         {}});
        run.started = Clock::now();
        inf.start();
        co_await inf.wait_for_sync();
        run.synced = Clock::now();
        if (measure) {
          run.peak_during_list = kcoro::bench::peak_rss_bytes();
          run.steady_rss = kcoro::bench::current_rss_bytes();
        }
        watching = true;
        if (run.watched(pods) < events) {
          done.expires_after(std::chrono::seconds(120));  // a bound, should events go missing
          boost::system::error_code ec;
          co_await done.async_wait(net::redirect_error(net::use_awaitable, ec));
        }
        run.finished = Clock::now();
        if (measure) {
          auto all = inf.store()->list();
          run.cached = all.size();
          for (auto& o : all) {
            run.per_object += static_cast<double>(o->retained_bytes());
            run.json_per_object += static_cast<double>(o->json().size());
          }
          if (run.cached) {
            run.per_object /= static_cast<double>(run.cached);
            run.json_per_object /= static_cast<double>(run.cached);
          }
        } else {
          run.cached = inf.store()->size();
        }
        inf.stop();
      },
      [&](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          run.error = ex.what();
        }
      });
  io.run();
  return run;
}

/// Reads every page of the pods list (limit 500, continue tokens) through kcoro's client
/// without decoding a byte: the transfer the informer's initial sync cannot beat.
double raw_list_seconds(const kcoro::ClusterConfig& cfg, std::size_t& pages, uint64_t& bytes,
                        std::string& error) {
  net::io_context io(1);
  double seconds = 0;
  pages = 0;
  bytes = 0;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        kcoro::Client client(io.get_executor(), cfg);
        std::string token;
        const auto t0 = Clock::now();
        do {
          std::string target = "/api/v1/pods?limit=" + std::to_string(kPageSize);
          if (!token.empty()) target += "&continue=" + token;
          kcoro::RawResponse page = co_await client.request("GET", target);
          if (page.status != 200)
            throw std::runtime_error("list page: HTTP " + std::to_string(page.status));
          ++pages;
          bytes += page.body.size();
          // The list's metadata comes before its items; a continue token is base64url.
          const std::string_view body = page.body;
          const std::string_view head = body.substr(0, body.find("\"items\""));
          constexpr std::string_view key = "\"continue\":\"";
          const auto at = head.find(key);
          token.clear();
          if (at != std::string_view::npos) {
            const auto from = at + key.size();
            token = std::string(head.substr(from, head.find('"', from) - from));
          }
        } while (!token.empty());
        seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      },
      [&](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          error = ex.what();
        }
      });
  io.run();
  return seconds;
}

}  // namespace

int kcoro_bench_informer(int argc, char** argv) {
  using namespace kcoro;
  bench::Args args(argc, argv);
  const std::size_t pods = args.get_size("--pods", 10000);
  const std::size_t events = args.get_size("--events", 100000);
  const std::size_t informers = std::max<std::size_t>(1, args.get_size("--informers", 1));
  const bool from_cache = args.flag("--list-from-cache");
  const bool json = args.flag("--json");
  std::optional<bench::FakeProcess> fake;
  ClusterConfig cfg;
  if (!bench::throughput_config(args, fake, pods, events, argv[0], "informer", cfg,
                                static_cast<unsigned>(informers)))
    return 2;

  const long rss_before = bench::current_rss_bytes();
  const Run one = run_informer(cfg, pods, events, from_cache, true);
  if (!one.error.empty()) {
    std::fprintf(stderr, "kcoro-bench informer: %s\n", one.error.c_str());
    return 1;
  }
  const long peak = bench::peak_rss_bytes();
  const std::size_t watched = one.watched(pods);

  // The same bytes, raw: the list's pages (unless the list came from the cache in one page) and,
  // from the fake only (a real server's watch would not end), the watch stream.
  std::size_t raw_pages = 0;
  uint64_t raw_list_bytes = 0;
  double raw_list_s = 0;
  if (!from_cache) {
    std::string error;
    raw_list_s = raw_list_seconds(cfg, raw_pages, raw_list_bytes, error);
    if (!error.empty()) {
      std::fprintf(stderr, "kcoro-bench informer: raw list: %s\n", error.c_str());
      return 1;
    }
  }
  double ceiling = 0;
  uint64_t raw_bytes = 0;
  if (fake)
    ceiling = bench::raw_read_mb_per_s(cfg, "/api/v1/pods?watch=true&resourceVersion=1", raw_bytes);

  // N informers on N threads; their summed rate over the span from the first one's sync to the
  // last one's final event.
  double parallel_ev_s = 0;
  std::size_t parallel_watched = 0;
  if (informers > 1) {
    std::vector<Run> runs(informers);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < informers; ++i)
      threads.emplace_back(
          [&, i] { runs[i] = run_informer(cfg, pods, events, from_cache, false); });
    for (auto& t : threads)
      t.join();
    Clock::time_point first = Clock::time_point::max(), last = Clock::time_point::min();
    for (const auto& r : runs) {
      if (!r.error.empty()) {
        std::fprintf(stderr, "kcoro-bench informer: parallel run: %s\n", r.error.c_str());
        return 1;
      }
      first = std::min(first, r.synced);
      last = std::max(last, r.finished);
      parallel_watched += r.watched(pods);
    }
    parallel_ev_s =
        static_cast<double>(parallel_watched) / std::chrono::duration<double>(last - first).count();
  }

  const double sync_s = one.sync_s(), watch_s = one.watch_s();
  const double ev_s = static_cast<double>(watched) / watch_s;
  const double mb_s = raw_bytes ? static_cast<double>(raw_bytes) / 1e6 / watch_s : 0;
  const double list_items_s = static_cast<double>(pods) / sync_s;
  const double vs_raw_socket = ceiling > 0 ? mb_s / ceiling : 0;
  const double sync_vs_raw = raw_list_s > 0 ? sync_s / raw_list_s : 0;
  const double scaling = informers > 1 ? parallel_ev_s / ev_s : 1;
  const double ratio = one.json_per_object > 0 ? one.per_object / one.json_per_object : 0;
  const bool ok = watched >= events && one.cached > 0 &&
                  (informers == 1 || parallel_watched >= informers * events);
  if (json) {
    std::printf(
        "{\"bench\":\"informer\",\"pods\":%zu,\"events\":%zu,\"list_from_cache\":%s,"
        "\"sync_seconds\":%.3f,\"list_items_per_s\":%.0f,\"raw_list_pages\":%zu,"
        "\"raw_list_seconds\":%.3f,\"sync_vs_raw_list\":%.2f,\"watch_events_per_s\":%.0f,"
        "\"watch_mb_per_s\":%.1f,\"raw_socket_mb_per_s\":%.1f,\"watch_vs_raw_socket\":%.3f,"
        "\"informers\":%zu,\"parallel_watch_events_per_s\":%.0f,\"parallel_scaling\":%.2f,"
        "\"peak_rss_bytes\":%ld,\"peak_rss_during_list_bytes\":%ld,"
        "\"steady_rss_after_list_bytes\":%ld,\"rss_before_bytes\":%ld,\"bytes_per_object\":%.0f,"
        "\"json_bytes_per_object\":%.0f,\"bytes_per_object_ratio\":%.3f,\"ok\":%s}\n",
        one.cached, watched, from_cache ? "true" : "false", sync_s, list_items_s, raw_pages,
        raw_list_s, sync_vs_raw, ev_s, mb_s, ceiling, vs_raw_socket, informers, parallel_ev_s,
        scaling, peak, one.peak_during_list, one.steady_rss, rss_before, one.per_object,
        one.json_per_object, ratio, ok ? "true" : "false");
  } else {
    std::printf("kcoro-bench informer: %zu pods cached, %zu watch events, one thread\n", one.cached,
                watched);
    std::printf("  %-34s %10.3f s (%.0f items/s)\n", "time to sync", sync_s, list_items_s);
    if (raw_list_s > 0)
      std::printf("  %-34s %10.3f s (%zu pages; the sync takes %.2fx)\n", "the same pages read raw",
                  raw_list_s, raw_pages, sync_vs_raw);
    std::printf("  %-34s %10.0f events/s %8.1f MB/s\n", "watch, end to end", ev_s, mb_s);
    if (fake)
      std::printf("  %-34s %19.1f MB/s (end to end is %.0f%% of it)\n", "ceiling: raw socket read",
                  ceiling, 100 * vs_raw_socket);
    if (informers > 1)
      std::printf("  %-34s %10.0f events/s (%.2fx one)\n",
                  (std::to_string(informers) + " informers on as many threads").c_str(),
                  parallel_ev_s, scaling);
    std::printf("  %-34s %10.1f MiB (during list %.1f, after it %.1f)\n", "peak RSS",
                static_cast<double>(peak) / 1048576,
                static_cast<double>(one.peak_during_list) / 1048576,
                static_cast<double>(one.steady_rss) / 1048576);
    std::printf("  %-34s %10.0f bytes (%.2fx its JSON without managedFields)\n",
                "retained per cached pod", one.per_object, ratio);
  }
  return ok ? 0 : 1;
}
