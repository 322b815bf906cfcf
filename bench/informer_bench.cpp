// kcoro-bench informer: the whole pipeline on one thread — socket → decoder → channel →
// informer → store → a counting handler. Without --server/--kubeconfig it starts
// kcoro-fake-apiserver's throughput mode in a child process (so its memory is not counted).
#include "bench.hpp"
#include "fake_process.hpp"

#include "kcoro/informer.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <optional>

namespace net = boost::asio;

int kcoro_bench_informer(int argc, char** argv) {
  using namespace kcoro;
  using Clock = std::chrono::steady_clock;
  bench::Args args(argc, argv);
  const std::size_t pods = args.get_size("--pods", 10000);
  const std::size_t events = args.get_size("--events", 100000);
  const bool json = args.flag("--json");
  std::optional<bench::FakeProcess> fake;
  ClusterConfig cfg;
  if (!bench::throughput_config(args, fake, pods, events, argv[0], "informer", cfg)) return 2;

  const long rss_before = bench::current_rss_bytes();
  net::io_context io(1);
  std::size_t adds = 0, updates = 0;
  double sync_s = 0, watch_s = 0;
  long peak_during_list = 0, steady_rss = 0;
  double per_object = 0, json_per_object = 0;
  std::size_t cached = 0;
  std::exception_ptr failure;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        Client client(io.get_executor(), cfg);
        InformerOptions opts;
        opts.resource = resources::pods;
        opts.channel_capacity = 4096;
        Informer inf(client, opts, io.get_executor());
        // Ends the wait below when the last expected event is handled (one thread: no race).
        net::steady_timer done(io.get_executor());
        bool watching = false;
        auto check_done = [&] {
          if (watching && updates + (adds > pods ? adds - pods : 0) >= events) done.cancel();
        };
        inf.add_handler({[&](const ObjectPtr&) {
                           ++adds;
                           check_done();
                         },
                         [&](const ObjectPtr&, const ObjectPtr&) {
                           ++updates;
                           check_done();
                         },
                         {}});
        const auto t0 = Clock::now();
        inf.start();
        co_await inf.wait_for_sync();
        sync_s = std::chrono::duration<double>(Clock::now() - t0).count();
        peak_during_list = bench::peak_rss_bytes();
        steady_rss = bench::current_rss_bytes();
        const auto t1 = Clock::now();
        watching = true;
        if (updates + (adds > pods ? adds - pods : 0) < events) {
          done.expires_after(std::chrono::seconds(120));  // a bound, should events go missing
          boost::system::error_code ec;
          co_await done.async_wait(net::redirect_error(net::use_awaitable, ec));
        }
        watch_s = std::chrono::duration<double>(Clock::now() - t1).count();
        auto all = inf.store()->list();
        cached = all.size();
        for (auto& o : all) {
          per_object += static_cast<double>(o->retained_bytes());
          json_per_object += static_cast<double>(o->json().size());
        }
        if (cached) {
          per_object /= static_cast<double>(cached);
          json_per_object /= static_cast<double>(cached);
        }
        inf.stop();
      },
      [&](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "kcoro-bench informer: %s\n", e.what());
      return 1;
    }
  }
  const std::size_t watched = updates + (adds > pods ? adds - pods : 0);
  double ceiling = 0;
  uint64_t raw_bytes = 0;
  if (fake)
    ceiling = bench::raw_read_mb_per_s(cfg, "/api/v1/pods?watch=true&resourceVersion=1", raw_bytes);
  const double ev_s = static_cast<double>(watched) / watch_s;
  const double mb_s = raw_bytes ? static_cast<double>(raw_bytes) / 1e6 / watch_s : 0;
  const long peak = bench::peak_rss_bytes();
  const double list_items_s = static_cast<double>(pods) / sync_s;
  if (json) {
    std::printf(
        "{\"bench\":\"informer\",\"pods\":%zu,\"events\":%zu,\"sync_seconds\":%.3f,"
        "\"list_items_per_s\":%.0f,\"watch_events_per_s\":%.0f,\"watch_mb_per_s\":%.1f,"
        "\"raw_socket_mb_per_s\":%.1f,\"peak_rss_bytes\":%ld,\"peak_rss_during_list_bytes\":%ld,"
        "\"steady_rss_after_list_bytes\":%ld,\"rss_before_bytes\":%ld,\"bytes_per_object\":%.0f,"
        "\"json_bytes_per_object\":%.0f,\"bytes_per_object_ratio\":%.3f,\"ok\":%s}\n",
        cached, watched, sync_s, list_items_s, ev_s, mb_s, ceiling, peak, peak_during_list,
        steady_rss, rss_before, per_object, json_per_object,
        json_per_object > 0 ? per_object / json_per_object : 0,
        watched >= events && cached > 0 ? "true" : "false");
  } else {
    std::printf("kcoro-bench informer: %zu pods cached, %zu watch events, one thread\n", cached,
                watched);
    std::printf("  %-34s %10.3f s (%.0f items/s)\n", "time to sync", sync_s, list_items_s);
    std::printf("  %-34s %10.0f events/s %8.1f MB/s\n", "watch, end to end", ev_s, mb_s);
    if (fake) std::printf("  %-34s %19.1f MB/s\n", "ceiling: raw socket read", ceiling);
    std::printf("  %-34s %10.1f MiB (during list %.1f, after it %.1f)\n", "peak RSS",
                static_cast<double>(peak) / 1048576,
                static_cast<double>(peak_during_list) / 1048576,
                static_cast<double>(steady_rss) / 1048576);
    std::printf("  %-34s %10.0f bytes (%.2fx its JSON without managedFields)\n",
                "retained per cached pod", per_object,
                json_per_object > 0 ? per_object / json_per_object : 0);
  }
  return watched >= events ? 0 : 1;
}
