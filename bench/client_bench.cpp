// kcoro-bench client: lists N pods (paginated) and watches M events through kcoro::Client, on one
// thread. Without --server/--kubeconfig it starts kcoro-fake-apiserver's throughput mode (pods
// seeded, M watch events pre-rendered and pushed as fast as the socket takes them) and reads the
// same stream with a raw socket as the ceiling.
#include "bench.hpp"
#include "fake_process.hpp"

#include "kcoro/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <optional>

namespace net = boost::asio;

int kcoro_bench_client(int argc, char** argv) {
  using namespace kcoro;
  bench::Args args(argc, argv);
  const std::size_t pods = args.get_size("--pods", 10000);
  const std::size_t events = args.get_size("--events", 100000);
  const bool json = args.flag("--json");
  std::optional<bench::FakeProcess> fake;
  ClusterConfig cfg;
  if (!bench::throughput_config(args, fake, pods, events, argv[0], "client", cfg)) return 2;

  net::io_context io(1);
  std::size_t listed = 0, watched = 0;
  uint64_t list_bytes = 0, watch_bytes = 0;
  double list_s = 0, watch_s = 0;
  std::string rv;
  std::exception_ptr failure;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        Client client(io.get_executor(), cfg);
        auto t0 = std::chrono::steady_clock::now();
        ListOptions lo;
        lo.limit = 500;
        auto stream = client.list_all(resources::pods, "", lo);
        while (co_await stream.next())
          ++listed;
        list_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        list_bytes = stream.bytes_read();
        rv = stream.meta().resource_version;

        ListOptions wo;
        wo.resource_version = rv;
        t0 = std::chrono::steady_clock::now();
        while (watched < events) {
          auto w = co_await client.watch(resources::pods, "", wo);
          bool any = false;
          while (auto ev = co_await w.next()) {
            any = true;
            if (ev->type == WatchEventType::error) break;
            wo.resource_version = std::string(ev->resource_version());
            if (ev->type != WatchEventType::bookmark && ++watched >= events) break;
          }
          watch_bytes += w.bytes_read();
          if (!any) break;
        }
        watch_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      },
      [&](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "kcoro-bench client: %s\n", e.what());
      return 1;
    }
  }

  double ceiling = 0;
  uint64_t raw_bytes = 0;
  if (fake) {
    ceiling =
        bench::raw_read_mb_per_s(cfg, "/api/v1/pods?watch=true&resourceVersion=" + rv, raw_bytes);
  }
  const double list_items_s = static_cast<double>(listed) / list_s;
  const double ev_s = static_cast<double>(watched) / watch_s;
  const double mb_s = static_cast<double>(watch_bytes) / 1e6 / watch_s;
  if (json) {
    std::printf(
        "{\"bench\":\"client\",\"pods\":%zu,\"events\":%zu,\"list_items_per_s\":%.0f,"
        "\"list_mb_per_s\":%.1f,\"watch_events_per_s\":%.0f,\"watch_mb_per_s\":%.1f,"
        "\"raw_socket_mb_per_s\":%.1f,\"ok\":%s}\n",
        listed, watched, list_items_s, static_cast<double>(list_bytes) / 1e6 / list_s, ev_s, mb_s,
        ceiling, listed >= (fake ? pods : 0) && watched >= (fake ? events : 0) ? "true" : "false");
  } else {
    std::printf("kcoro-bench client: %zu pods listed, %zu watch events, one thread\n", listed,
                watched);
    std::printf("  %-30s %10.0f items/s  %8.1f MB/s\n", "list (paginated, 500)", list_items_s,
                static_cast<double>(list_bytes) / 1e6 / list_s);
    std::printf("  %-30s %10.0f events/s %8.1f MB/s\n", "watch", ev_s, mb_s);
    if (fake) std::printf("  %-30s %19.1f MB/s\n", "ceiling: raw socket read", ceiling);
  }
  return fake && (listed < pods || watched < events) ? 1 : 0;
}
