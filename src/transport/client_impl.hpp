// Internal: Client::Impl, what a Client handle shares — configuration, credentials, the
// keep-alive pool, the rate limiter and one round trip — used by the verbs (client.cpp) and by
// the list and watch streams (client_streams.cpp).
#pragma once

#include "kcoro/client.hpp"
#include "kcoro/rate_limiter.hpp"
#include "kcoro/request_policy.hpp"
#include "kcoro/version.hpp"

#include "transport/connection.hpp"
#include "transport/credentials.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace kcoro {

namespace net = boost::asio;
namespace http = boost::beast::http;

namespace detail {

using Parser = http::response_parser<http::buffer_body>;

inline constexpr std::string_view kAccept = "application/json";
// PartialObjectMetadata, falling back to whole objects on a server that cannot convert; a list
// names the list type, a watch the item type, as client-go's metadata client does.
inline constexpr std::string_view kAcceptMetadataList =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
inline constexpr std::string_view kAcceptMetadata =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

inline std::string_view accept_for(const ListOptions& opts) {
  if (!opts.metadata_only) return kAccept;
  return opts.watch ? kAcceptMetadata : kAcceptMetadataList;
}

inline bool is_cancelled(const std::system_error& e) {
  return e.code() == errc::cancelled;
}

// client-go's rest_client_request_duration_seconds buckets.
inline const std::vector<double> kDurationBuckets{0.005, 0.025, 0.1, 0.25, 0.5, 1,
                                                  2,     4,     8,   15,   30,  60};

/// The next piece of a list or watch body (empty at its end). A connection that fails is closed
/// and given up: it never returns to the pool.
awaitable<std::string_view> read_body_piece(std::unique_ptr<Connection>& conn, Parser& parser,
                                            std::chrono::milliseconds idle);

}  // namespace detail

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  using Connection = detail::Connection;
  using Parser = detail::Parser;
  net::any_io_executor executor;
  ClusterConfig config;
  ClientOptions opts;
  detail::Endpoint endpoint;
  std::mutex mu;  // guards tls, idle, jitter
  std::shared_ptr<detail::ssl::context> tls;
  std::vector<std::unique_ptr<Connection>> idle;
  detail::Credentials credentials;
  std::unique_ptr<TokenBucket> bucket;  // client-side rate limit (qps > 0); locks itself
  std::minstd_rand jitter{std::random_device{}()};

  Impl(net::any_io_executor ex, ClusterConfig cfg, ClientOptions o)
      : executor(std::move(ex)),
        config(std::move(cfg)),
        opts(std::move(o)),
        credentials(config, opts) {
    if (opts.user_agent.empty()) opts.user_agent = std::string("kcoro/") + KCORO_VERSION_STRING;
    if (config.scheme.empty() && !config.server.empty()) {
      ClusterConfig parsed = ClusterConfig::from_url(config.server);
      config.scheme = parsed.scheme;
      config.host = parsed.host;
      config.port = parsed.port;
      config.base_path = parsed.base_path;
    }
    endpoint.host = config.host;
    endpoint.port = config.port;
    endpoint.tls = config.scheme == "https";
    endpoint.verify = !config.insecure_skip_tls_verify;
    endpoint.verify_name = config.tls_server_name.empty() ? config.host : config.tls_server_name;
    const bool v6 = config.host.find(':') != std::string::npos;
    metrics_host = (v6 ? "[" + config.host + "]" : config.host) + ":" + std::to_string(config.port);
    endpoint.display = config.scheme + "://" + metrics_host;
    if (endpoint.tls) tls = detail::make_tls_context(config);
    if (opts.qps > 0 && opts.burst < 1) opts.burst = 1;
    if (opts.qps > 0) bucket = std::make_unique<TokenBucket>(opts.qps, opts.burst);
  }

  std::string path(std::string_view p) const { return config.base_path + std::string(p); }

  std::string metrics_host;  // the host label: "HOST:PORT"

  /// One HTTP attempt in the rest_client_* series: `code` the status, or "<error>".
  void record(std::string_view method, const std::string& code,
              std::chrono::steady_clock::time_point start) {
    if (!opts.metrics) return;
    static const std::vector<std::string> code_labels{"code", "method", "host"};
    static const std::vector<std::string> verb_labels{"verb", "host"};
    const std::string m(method);
    opts.metrics
        ->counter("rest_client_requests_total",
                  "Number of HTTP requests, partitioned by status code, method, and host.",
                  code_labels, {code, m, metrics_host})
        .Increment();
    opts.metrics
        ->histogram("rest_client_request_duration_seconds",
                    "Request latency in seconds. Broken down by verb, and host.", verb_labels,
                    {m, metrics_host}, detail::kDurationBuckets)
        .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  awaitable<void> rate_limit() {
    if (!bucket) co_return;
    const std::chrono::nanoseconds wait = bucket->reserve(LimiterClock::now());
    if (wait.count() > 0) {
      net::steady_timer t(co_await net::this_coro::executor, wait);
      co_await t.async_wait(net::use_awaitable);
    }
  }

  awaitable<std::unique_ptr<Connection>> acquire() {
    auto ex = co_await net::this_coro::executor;
    {
      std::lock_guard lock(mu);
      while (!idle.empty()) {
        std::unique_ptr<Connection> c = std::move(idle.back());
        idle.pop_back();
        if (c->executor() == ex && c->is_open()) co_return c;
      }
    }
    std::shared_ptr<detail::ssl::context> ctx;
    {
      std::lock_guard lock(mu);
      ctx = tls;
    }
    // One co_await per statement: GCC 12 mishandles one inside a conditional expression.
    std::unique_ptr<ByteStream> stream;
    if (opts.connect) {
      stream = co_await opts.connect(ex, endpoint, opts.request_timeout);
    } else {
      stream = co_await detail::connect_asio(ex, endpoint, std::move(ctx), opts.request_timeout);
    }
    if (!stream) {
      throw std::system_error(make_error_code(errc::connection_failed),
                              "connect to " + endpoint.display + ": the transport gave no stream");
    }
    co_return std::make_unique<Connection>(ex, endpoint, std::move(stream));
  }

  void release(std::unique_ptr<Connection> c) {
    if (!c || !c->keep_alive || !c->is_open()) return;
    c->reused = true;
    std::lock_guard lock(mu);
    if (idle.size() < opts.max_idle_connections) idle.push_back(std::move(c));
  }

  awaitable<http::request<http::string_body>> make_request(
      std::string_view method, std::string_view target, std::string_view body,
      std::string_view content_type, std::string_view accept = detail::kAccept) {
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(path(target));
    req.version(11);
    req.set(http::field::host, endpoint.host);
    req.set(http::field::user_agent, opts.user_agent);
    req.set(http::field::accept, accept);
    req.keep_alive(true);
    std::string auth = co_await credentials.authorization();
    if (auto cert = credentials.exec_client_cert()) refresh_tls_from_exec(*cert);
    if (!auth.empty()) req.set(http::field::authorization, auth);
    if (!body.empty()) {
      req.set(http::field::content_type, content_type);
      req.body() = std::string(body);
    }
    req.prepare_payload();
    co_return req;
  }

  void refresh_tls_from_exec(const std::pair<std::string, std::string>& cert) {
    std::lock_guard lock(mu);
    if (exec_cert_ == cert.first) return;
    exec_cert_ = cert.first;
    tls = detail::make_tls_context(config, cert.first, cert.second);
    idle.clear();
  }
  std::string exec_cert_;

  // A draw from [0, 1) for RequestPolicy's jitter.
  double jitter_draw() {
    std::lock_guard lock(mu);
    return std::uniform_real_distribution<double>(0.0, 1.0)(jitter);
  }

  awaitable<void> sleep(std::chrono::milliseconds d) {
    net::steady_timer t(co_await net::this_coro::executor, d);
    co_await t.async_wait(net::use_awaitable);
  }

  /// A response whose headers have been read; the body is still on the connection.
  struct Opened {
    std::unique_ptr<Connection> conn;
    std::unique_ptr<Parser> parser;
    int status = 0;
    std::optional<int64_t> retry_after;
  };

  /// Sends a request and reads the response headers, retrying as RequestPolicy decides
  /// (kcoro/request_policy.hpp). A final non-2xx is returned (body unread), not thrown.
  awaitable<Opened> open(std::string_view method, std::string_view target, std::string_view body,
                         std::string_view content_type, bool idempotent,
                         std::string_view accept = detail::kAccept);

  /// Reads and discards a body so the connection can be reused.
  awaitable<void> drain(Opened& o) {
    try {
      std::string sink;
      co_await o.conn->read_body(*o.parser, sink, opts.request_timeout);
      release(std::move(o.conn));
    } catch (const std::system_error& e) {
      if (detail::is_cancelled(e)) throw;
    }
  }

  /// A whole round trip: the body in memory. Throws ApiError for a non-2xx.
  awaitable<RawResponse> roundtrip(std::string_view method, std::string_view target,
                                   std::string_view body, std::string_view content_type,
                                   bool idempotent, bool throw_api_errors = true) {
    Opened o = co_await open(method, target, body, content_type, idempotent);
    RawResponse r;
    r.status = o.status;
    if (auto it = o.parser->get().find(http::field::content_type); it != o.parser->get().end()) {
      r.content_type = std::string(it->value());
    }
    co_await o.conn->read_body(*o.parser, r.body, opts.request_timeout);
    release(std::move(o.conn));
    if (throw_api_errors && (r.status < 200 || r.status > 299)) {
      throw ApiError(r.status, r.body, o.retry_after);
    }
    co_return r;
  }

  /// Throws ApiError for a non-2xx Opened response, reading its (small) body first.
  awaitable<void> check(Opened& o);

  ObjectPtr decode(const std::string& body) {
    Error err;
    ObjectPtr obj = Object::parse(body, err, opts_decode);
    if (!obj) {
      throw std::system_error(err.code,
                              "decode response from " + endpoint.display + ": " + err.to_string());
    }
    return obj;
  }
  /// The client's decode options, with a list or watch's own transform after the client's.
  DecodeOptions decode_options(const ListOptions& lo) const {
    DecodeOptions d = opts_decode;
    if (lo.transform) d.transform = compose(d.transform, lo.transform);
    return d;
  }
  DecodeOptions opts_decode;
};

}  // namespace kcoro
