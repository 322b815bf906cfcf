// kcoro-bench: what the client, informer and controller benchmarks share — the server they
// read (a given one, or kcoro-fake-apiserver in a child process), the raw-socket ceiling, and
// the process's memory.
#include "bench.hpp"
#include "fake_process.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <sys/resource.h>

#include <chrono>
#include <fstream>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace net = boost::asio;

namespace kcoro::bench {

long peak_rss_bytes() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss * 1024L;
}

long current_rss_bytes() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

long heap_in_use_bytes() {
#if defined(__GLIBC__)
  const struct mallinfo2 mi = ::mallinfo2();  // every arena
  return static_cast<long>(mi.uordblks + mi.hblkhd);
#else
  return -1;
#endif
}

ClusterConfig bench_config(Args& args, std::optional<FakeProcess>& fake,
                           const std::vector<std::string>& fake_args, const char* argv0) {
  const std::string kubeconfig = args.get("--kubeconfig", "");
  const std::string server = args.get("--server", "");
  if (!kubeconfig.empty()) {
    LoadOptions lo;
    lo.kubeconfig = kubeconfig;
    return load_cluster_config(lo);
  }
  if (!server.empty()) return ClusterConfig::from_url(server);
  fake.emplace(fake_apiserver_path(argv0), fake_args);
  return ClusterConfig::from_url(fake->url());
}

bool throughput_config(Args& args, std::optional<FakeProcess>& fake, std::size_t pods,
                       std::size_t events, const char* argv0, const char* bench, ClusterConfig& cfg,
                       unsigned server_threads) {
  try {
    cfg = bench_config(
        args, fake,
        {"--port", "0", "--pods", std::to_string(pods), "--namespaces", "10", "--throughput-events",
         std::to_string(events), "--threads", std::to_string(server_threads)},
        argv0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kcoro-bench %s: %s\n", bench, e.what());
    return false;
  }
  return args.ok();
}

/// Reads a whole watch response with a plain socket: the ceiling for the same bytes.
double raw_read_mb_per_s(const ClusterConfig& cfg, const std::string& target, uint64_t& bytes) {
  net::io_context io;
  net::ip::tcp::resolver resolver(io);
  net::ip::tcp::socket sock(io);
  net::connect(sock, resolver.resolve(cfg.host, std::to_string(cfg.port)));
  const std::string req = "GET " + target + " HTTP/1.1\r\nHost: " + cfg.host +
                          "\r\nAccept: application/json\r\nConnection: close\r\n\r\n";
  net::write(sock, net::buffer(req));
  std::vector<char> buf(256 * 1024);
  bytes = 0;
  const auto t0 = std::chrono::steady_clock::now();
  boost::system::error_code ec;
  for (;;) {
    const std::size_t n = sock.read_some(net::buffer(buf), ec);
    bytes += n;
    if (ec) break;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(bytes) / 1e6 / s;
}

}  // namespace kcoro::bench
