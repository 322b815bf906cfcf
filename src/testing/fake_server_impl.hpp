// Internal (the fake API server): the state shared by the server's shell pieces —
// fake_apiserver.cpp (lifecycle, public API), fake_server_session.cpp (one coroutine per
// connection) and fake_server_seed.cpp (seeding, throughput pre-rendering, churn).
//
// Threads: the io_context runs on `threads`. Each connection lives on its own strand; the
// acceptor and the churn timer on `control` (a strand). Counters are atomics; `changed()` wakes
// FakeApiServer::wait_for. The connection registry is guarded by `mutex`.
#pragma once

#include "kcoro/testing/fake_apiserver.hpp"
#include "testing/fake_server_faults.hpp"
#include "testing/pod_generator.hpp"
#include "testing/tls_certs.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace kcoro::testing {

namespace asio = boost::asio;

/// A connection as the server's registry sees it.
class ConnectionHandle {
 public:
  virtual ~ConnectionHandle() = default;
  /// Closes the socket and wakes the connection's coroutine; callable from any thread.
  virtual void close() = 0;
};

struct FakeApiServer::Impl {
  explicit Impl(FakeApiServerOptions options);

  FakeApiServerOptions opts;
  std::unique_ptr<FakeCluster> cluster;  // made once the port is known (server_address)
  std::unique_ptr<CertificateAuthority> ca;
  std::string ca_pem;
  std::optional<asio::ssl::context> ssl_ctx;

  asio::io_context ioc;
  asio::strand<asio::io_context::executor_type> control;
  asio::ip::tcp::acceptor acceptor;
  asio::steady_timer churn_timer;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  FaultTable faults;

  // Counters (FakeApiServerStats).
  std::atomic<uint64_t> requests{0}, bytes_sent{0}, connections_open{0}, connections{0},
      watches_open{0}, watches{0}, fault_count{0}, churn_ops{0};
  mutable std::mutex stats_mutex;
  mutable std::condition_variable stats_cv;
  void changed() const;
  void count(std::atomic<uint64_t>& counter, int64_t delta = 1);

  // Connections by id; `stopping` refuses new ones.
  std::mutex mutex;
  std::map<uint64_t, std::weak_ptr<ConnectionHandle>> conns;
  uint64_t next_conn_id = 1;
  bool stopping = false;
  std::atomic<bool> stopped{false};
  /// Registers a new connection (closed at once if the server is stopping); returns its id.
  uint64_t add_connection(const std::shared_ptr<ConnectionHandle>& conn);
  void remove_connection(uint64_t id);
  /// Closes every connection; returns their ids.
  std::vector<uint64_t> close_connections();

  // Seeded pods (fake_server_seed.cpp), used by churn and throughput.
  struct SeededPod {
    std::string ns, name;
  };
  std::vector<SeededPod> pods;
  std::vector<std::string> pod_templates;  // per seeded pod: its JSON with kRvSentinel
  PodGenerator churn_gen{7};
  uint64_t churn_serial = 0;
  void seed();
  void prerender();
  void start_churn();
  void churn_once();

  // Throughput mode.
  std::string prerendered;  // chunk-framed events and the last chunk; immutable once started
  std::mutex throughput_mutex;
  ThroughputReport throughput;
  bool is_throughput_watch(const std::string& path) const;
  void record_throughput(uint64_t bytes, double seconds);

  void accept(asio::ip::tcp::socket socket);  // fake_server_session.cpp
};

}  // namespace kcoro::testing
