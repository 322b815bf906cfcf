// kcoro/testing/fake_apiserver.hpp — an in-process Kubernetes API server on 127.0.0.1 for tests,
// examples and benchmarks (library kcoro_testing).
//
// Contract
// - FakeApiServer puts HTTP/1.1 (plain or TLS) around a FakeCluster, which owns the API semantics.
//   Every request that is not a watch goes to FakeCluster::handle; a watch goes to
//   FakeCluster::watch and is answered `200` with `Transfer-Encoding: chunked`, one chunk per
//   event line, until the watch ends (timeoutSeconds, an ERROR event), the client disconnects, or
//   the server stops or restarts. Ordinary requests keep the connection alive; so does a watch
//   that ended by itself.
// - Threads: the constructor starts listening and runs its own io_context on
//   `options.threads` thread(s) (one by default). Every member function may be called from any
//   other thread while the server runs, including `cluster()` and its writers. Do not call
//   stop() or the destructor from a callback running on the server's own threads.
// - Lifetime: stop() (and the destructor) closes the listener and every connection, ends every
//   watch, and joins the threads. It is idempotent. The FakeCluster outlives stop() and stays
//   readable until the FakeApiServer is destroyed.
// - TLS: at start a throwaway CA (EC P-256) and a server certificate for IP 127.0.0.1 and DNS
//   localhost are generated; `ca_pem()` verifies it. Client certificates issued by
//   `issue_client_cert` are signed by the same CA; a verified client certificate authenticates
//   its CN as the user. A client certificate that does not verify is answered 401, as the real
//   server does, not refused at the handshake.
// - Authentication: a request with a bearer token must carry one of `options.tokens` (else 401
//   with the real server's Status body). A request without credentials is anonymous (user "")
//   unless `options.require_auth` is set or `options.tokens` is non-empty, then it gets 401.
//   Authorization (403) is the cluster's job: FakeCluster::forbid.
// - Faults are matched in the order they were added, each against method, path prefix and
//   watch-ness, and consumed once per matching request. See `Fault`.
// - Beast and OpenSSL stay out of this header.
#pragma once

#include "kcoro/testing/fake_cluster.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace kcoro::testing {

/// What a matching request gets instead of (or before) its normal answer.
enum class FaultKind {
  /// Send the response head whole, then only the first `Fault::bytes` bytes of its body, then
  /// close the connection. Bytes count body payload: for a chunked watch the event bytes, without
  /// the chunk framing (a chunk is cut inside its data, so the client sees a broken event).
  cut,
  /// Wait `Fault::delay`, then serve the request normally (a write is applied after the delay).
  delay,
  /// Answer `Fault::status`: 429 (with `Retry-After: retry_after` and a TooManyRequests Status
  /// whose details.retryAfterSeconds says the same), 500 InternalError or 503 ServiceUnavailable.
  /// The request is not applied. The connection stays open.
  status,
  /// Send `Fault::garbage` instead of a response, then close the connection.
  garbage,
  /// A watch: send the 200 head, then nothing, keeping the connection open until the client
  /// leaves or the server stops or restarts. Another request: never answer it.
  stall,
};

struct Fault {
  std::string method;       ///< "GET", "POST", ...; empty matches any method
  std::string path_prefix;  ///< matched against the path (the target without its query)
  bool watch_only = false;  ///< match watch requests only
  int times = 1;            ///< how many matching requests; kAlways for every one
  static constexpr int kAlways = -1;

  FaultKind kind = FaultKind::status;
  std::size_t bytes = 0;                        ///< cut: body bytes sent before the cut
  std::chrono::milliseconds delay{0};           ///< delay
  int status = 500;                             ///< status: 429, 500 or 503
  std::chrono::seconds retry_after{1};          ///< status 429
  std::string garbage = "\x16\x03garbage\r\n";  ///< garbage
};

/// Throughput mode for benchmarks: pre-renders `events` MODIFIED events of the seeded pods
/// (FakeApiServerOptions::seed_pods, in turn; increasing resourceVersions after the seeded ones),
/// chunk-framed once at start, one event per chunk. A pods watch then streams those bytes,
/// `write_size` at a time, as fast as the socket takes them, and ends the stream with the last
/// chunk (whatever its resourceVersion or timeoutSeconds). Lists are served normally from the
/// seeded objects.
struct ThroughputOptions {
  std::size_t events = 0;  ///< 0: throughput mode off
  std::size_t write_size = 256 * 1024;
};

/// What the throughput mode pushed, summed over the pods watches it served.
struct ThroughputReport {
  uint64_t prerendered_bytes = 0;  ///< the pre-rendered body of one stream (framing included)
  uint64_t streams = 0;            ///< pods watches served whole
  uint64_t bytes = 0;              ///< body bytes pushed by those streams
  double seconds = 0;              ///< time from first to last body byte, summed
  double bytes_per_second() const { return seconds > 0 ? static_cast<double>(bytes) / seconds : 0; }
};

struct FakeApiServerOptions {
  uint16_t port = 0;  ///< 0: an ephemeral port
  bool tls = false;
  /// With `tls`: serve a certificate that expired yesterday (tests of the client's refusal).
  bool expired_server_certificate = false;
  /// Accepted bearer tokens and the user each authenticates.
  std::map<std::string, std::string> tokens;
  /// 401 for a request without credentials even when `tokens` is empty (client-cert only).
  bool require_auth = false;
  unsigned threads = 1;  ///< io_context threads; each connection runs on its own strand
  FakeClusterOptions cluster;
  /// Seeds `seed_pods` pods named pod-0, pod-1, ... over `seed_namespaces` namespaces ns-0, ...
  /// (pod-i in ns-(i % seed_namespaces)) at start, made by PodGenerator (seed 42); the
  /// Namespace objects are created too.
  std::size_t seed_pods = 0;
  std::size_t seed_namespaces = 1;
  /// Pod creates/updates/deletes per second on the server's io_context, keeping the pod count
  /// at `seed_pods`, give or take one. 0: no churn.
  double churn_per_second = 0;
  ThroughputOptions throughput;
};

struct FakeApiServerStats {
  uint64_t requests = 0;          ///< requests read (a watch is one), faulted ones included
  uint64_t bytes_sent = 0;        ///< every byte written to clients, heads included
  uint64_t connections_open = 0;  ///< accepted and not yet closed
  uint64_t connections = 0;       ///< accepted since start
  uint64_t watches_open = 0;      ///< watch streams in progress
  uint64_t watches = 0;           ///< watch streams started since start
  uint64_t faults = 0;            ///< faults injected
  uint64_t churn_ops = 0;         ///< writes made by churn
};

/// How write_kubeconfig authenticates.
struct KubeconfigOptions {
  std::string token;           ///< empty: the first of options.tokens, if any
  std::string client_cert_cn;  ///< non-empty (TLS only): embed a client certificate for this user
  std::string namespace_name = "default";
};

class FakeApiServer {
 public:
  explicit FakeApiServer(FakeApiServerOptions options = {});
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  /// Closes the listener and every connection and joins the server's threads. Idempotent.
  void stop();
  /// Drops every connection and in-flight watch; keeps the cluster's state and keeps listening
  /// on the same port. Returns once every connection open at the call is closed.
  void restart();

  FakeCluster& cluster();
  uint16_t port() const;
  /// "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".
  std::string url() const;
  bool tls() const;

  /// The CA that signed the server and client certificates (PEM); empty without TLS.
  const std::string& ca_pem() const;
  /// A client certificate for user `cn`, signed by the CA: {cert PEM, key PEM}. TLS only.
  std::pair<std::string, std::string> issue_client_cert(const std::string& cn) const;

  /// A kubeconfig (YAML) with one cluster, user and context ("kcoro-fake") pointing here.
  std::string kubeconfig(const KubeconfigOptions& options = {}) const;
  void write_kubeconfig(const std::string& path, const KubeconfigOptions& options = {}) const;

  /// Adds a fault rule; returns its id.
  int add_fault(Fault fault);
  void remove_fault(int id);
  void clear_faults();

  FakeApiServerStats stats() const;
  ThroughputReport throughput() const;
  /// Waits until `pred(stats())` holds or `timeout` passes; returns the last result of `pred`.
  /// Woken on every change of the stats, so tests wait for conditions without sleeping.
  bool wait_for(const std::function<bool(const FakeApiServerStats&)>& pred,
                std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kcoro::testing
