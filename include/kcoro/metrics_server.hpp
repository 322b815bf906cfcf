// kcoro/metrics_server.hpp — a small HTTP endpoint for a controller process: /metrics in the
// Prometheus text format, /healthz, /livez and /readyz with named checks.
//
// Contract
// - The constructor binds and listens at once, so a taken port is an error at startup
//   (std::system_error naming the address), not a log line later. Port 0 picks a free port:
//   port() tells which.
// - run() accepts and serves HTTP/1.1 (keep-alive) until stop(). Each connection is a coroutine
//   on the server's strand; a connection that sends no complete request for 60 s, or whose
//   answer cannot be written within 10 s, is closed. stop() (any thread, idempotent) closes the
//   listener and every connection; run() returns when the listener is closed.
// - GET (and HEAD) only; other methods get 405, other paths 404. A request that is not HTTP,
//   or whose header passes 16 KiB, gets 400 and the connection is closed.
//   * /metrics: MetricsRegistry::render(), `text/plain; version=0.0.4`: every family in its
//     prometheus::Registry, kcoro's and those the program added, collected at each request.
//     404 without a registry.
//   * /healthz and /livez: every health check; /readyz: every ready check. As kube-apiserver
//     answers them: 200 "ok" when all pass (no checks pass too); otherwise 500 with one line per
//     check, "[+]<name> ok" or "[-]<name> failed: <reason>", then "<path> check failed".
//     `?verbose` lists the checks on success too. `/<path>/<name>` runs one check: 200 "ok",
//     500 "internal server error: <reason>", or 404 for an unknown name.
// - Checks run on the server's strand, one request at a time; they must be quick and must not
//   block (read an atomic, ask an informer has_synced()). add_*_check() from any thread.
// - Lifetimes: the server must outlive run(). The registry is shared.
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include "kcoro/metrics.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <spdlog/spdlog.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace kcoro {

/// A named check: nullopt when healthy, else why not.
using HealthCheck = std::function<std::optional<std::string>()>;

struct MetricsServerOptions {
  /// "host:port", ":port" (every interface) or "[v6]:port"; port 0 picks a free one.
  std::string bind_address = "127.0.0.1:8080";
  std::shared_ptr<MetricsRegistry> registry = MetricsRegistry::global();  ///< nullptr: no /metrics
  std::shared_ptr<spdlog::logger> logger{};  ///< default: spdlog's default logger
};

class MetricsServer {
 public:
  /// Binds `options.bind_address`; throws std::invalid_argument on a malformed address and
  /// std::system_error when it cannot listen there.
  MetricsServer(boost::asio::any_io_executor executor, MetricsServerOptions options = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  /// A check for /healthz and /livez.
  void add_health_check(std::string name, HealthCheck check);
  /// A check for /readyz.
  void add_ready_check(std::string name, HealthCheck check);

  /// The port listened on.
  uint16_t port() const noexcept;

  /// Serves until stop(); see the contract.
  boost::asio::awaitable<void> run();
  void stop();

  struct State;

 private:
  std::shared_ptr<State> st_;
};

}  // namespace kcoro
