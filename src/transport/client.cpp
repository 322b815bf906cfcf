#include "kcoro/client.hpp"
#include "kcoro/backoff.hpp"
#include "kcoro/rate_limiter.hpp"
#include "kcoro/version.hpp"

#include "transport/connection.hpp"
#include "transport/credentials.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <deque>
#include <mutex>
#include <random>

namespace kcoro {

namespace net = boost::asio;
namespace http = boost::beast::http;
using detail::Connection;
using Parser = http::response_parser<http::buffer_body>;

JsonBody::JsonBody(const boost::json::value& v) : text_(boost::json::serialize(v)) {}

namespace {

constexpr std::string_view kAccept = "application/json";
// PartialObjectMetadata, falling back to whole objects on a server that cannot convert; a list
// names the list type, a watch the item type, as client-go's metadata client does.
constexpr std::string_view kAcceptMetadataList =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
constexpr std::string_view kAcceptMetadata =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

std::string_view accept_for(const ListOptions& opts) {
  if (!opts.metadata_only) return kAccept;
  return opts.watch ? kAcceptMetadata : kAcceptMetadataList;
}

std::string_view patch_content_type(PatchType t) {
  switch (t) {
    case PatchType::merge:
      return "application/merge-patch+json";
    case PatchType::json:
      return "application/json-patch+json";
    case PatchType::strategic_merge:
      return "application/strategic-merge-patch+json";
    case PatchType::apply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

void add_param(std::string& target, std::string_view key, std::string_view value) {
  target += target.find('?') == std::string::npos ? '?' : '&';
  target.append(key).append(1, '=').append(percent_encode(value));
}

bool is_cancelled(const std::system_error& e) {
  return e.code() == errc::cancelled;
}

// client-go's rest_client_request_duration_seconds buckets.
const std::vector<double> kDurationBuckets{0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Client::Impl: configuration, credentials, the pool, the rate limiter, one round trip.

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
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
                    {m, metrics_host}, kDurationBuckets)
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
    auto c = std::make_unique<Connection>(ex, endpoint, ctx);
    co_await c->connect(opts.request_timeout);
    co_return c;
  }

  void release(std::unique_ptr<Connection> c) {
    if (!c || !c->keep_alive || !c->is_open()) return;
    c->reused = true;
    std::lock_guard lock(mu);
    if (idle.size() < opts.max_idle_connections) idle.push_back(std::move(c));
  }

  awaitable<http::request<http::string_body>> make_request(std::string_view method,
                                                           std::string_view target,
                                                           std::string_view body,
                                                           std::string_view content_type,
                                                           std::string_view accept = kAccept) {
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

  std::chrono::milliseconds backoff(int attempt, std::optional<int64_t> retry_after) {
    if (retry_after) {
      return std::min<std::chrono::milliseconds>(std::chrono::seconds(*retry_after),
                                                 opts.retry.max_retry_after);
    }
    const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(
        exponential_delay(opts.retry.base, opts.retry.cap, attempt));
    std::lock_guard lock(mu);
    std::uniform_int_distribution<int64_t> dist(d.count() / 2, d.count());
    return std::chrono::milliseconds(dist(jitter));
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

  /// Sends a request and reads the response headers. Retries 429/5xx and connection failures
  /// of idempotent requests, stale pooled connections of any request, and a 401 once when the
  /// credentials can be refreshed. A final non-2xx is returned (body unread), not thrown.
  awaitable<Opened> open(std::string_view method, std::string_view target, std::string_view body,
                         std::string_view content_type, bool idempotent,
                         std::string_view accept = kAccept) {
    bool reauthed = false;
    for (int attempt = 0;; ++attempt) {
      co_await rate_limit();
      auto req = co_await make_request(method, target, body, content_type, accept);
      std::unique_ptr<Connection> conn;
      bool wrote = false;
      bool recorded = false;
      const auto start = std::chrono::steady_clock::now();
      try {
        conn = co_await acquire();
        co_await conn->write(req, opts.request_timeout);
        wrote = true;
        auto parser = std::make_unique<Parser>();
        parser->body_limit(boost::none);
        parser->header_limit(64 * 1024);
        co_await conn->read_header(*parser, opts.request_timeout);
        Opened o;
        o.status = static_cast<int>(parser->get().result_int());
        recorded = true;
        record(method, std::to_string(o.status), start);
        if (auto it = parser->get().find(http::field::retry_after); it != parser->get().end()) {
          try {
            o.retry_after = std::stoll(std::string(it->value()));
          } catch (...) {
          }
        }
        conn->keep_alive = parser->get().keep_alive();
        o.conn = std::move(conn);
        o.parser = std::move(parser);
        const bool retryable =
            classify_failure(o.status) == FailureClass::retry && o.status >= 400;  // 408, 429, 5xx
        if (retryable && idempotent && attempt < opts.retry.max_retries) {
          co_await drain(o);
          co_await sleep(backoff(attempt, o.retry_after));
          continue;
        }
        if (o.status == 401 && !reauthed && credentials.invalidate()) {
          reauthed = true;
          co_await drain(o);
          continue;
        }
        co_return o;
      } catch (const std::system_error& e) {
        if (!recorded) record(method, "<error>", start);
        if (is_cancelled(e)) throw;
        const bool stale = conn && conn->reused && !wrote;
        const bool retry = (idempotent || stale) && attempt < opts.retry.max_retries;
        if (!retry) throw;
      }
      if (attempt > 0 || !conn || !conn->reused) co_await sleep(backoff(attempt, std::nullopt));
    }
  }

  /// Reads and discards a body so the connection can be reused.
  awaitable<void> drain(Opened& o) {
    try {
      std::string sink;
      co_await o.conn->read_body(*o.parser, sink, opts.request_timeout);
      release(std::move(o.conn));
    } catch (const std::system_error& e) {
      if (is_cancelled(e)) throw;
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
  awaitable<void> check(Opened& o) {
    if (o.status >= 200 && o.status <= 299) co_return;
    std::string body;
    co_await o.conn->read_body(*o.parser, body, opts.request_timeout);
    release(std::move(o.conn));
    throw ApiError(o.status, body, o.retry_after);
  }

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

namespace {
/// The next piece of a list or watch body (empty at its end). A connection that fails is closed
/// and given up: it never returns to the pool.
awaitable<std::string_view> read_body_piece(std::unique_ptr<detail::Connection>& conn,
                                            Parser& parser, std::chrono::milliseconds idle) {
  try {
    co_return co_await conn->read_some(parser, idle);
  } catch (...) {
    conn->close();
    conn.reset();
    throw;
  }
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// WatchStream

struct WatchStream::Impl {
  std::shared_ptr<Client::Impl> client;
  std::unique_ptr<Connection> conn;
  std::unique_ptr<Parser> parser;
  WatchDecoder decoder;
  std::vector<WatchEvent> ready;
  std::size_t next = 0;
  bool ended = false;
  uint64_t bytes = 0;
};

WatchStream::WatchStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WatchStream::WatchStream(WatchStream&&) noexcept = default;
WatchStream& WatchStream::operator=(WatchStream&&) noexcept = default;
WatchStream::~WatchStream() {
  close();
}

void WatchStream::close() noexcept {
  if (impl_ && impl_->conn) {
    impl_->conn->close();
    impl_->conn.reset();
  }
}

awaitable<std::optional<WatchEvent>> WatchStream::next() {
  Impl& s = *impl_;
  for (;;) {
    if (s.next < s.ready.size()) co_return std::move(s.ready[s.next++]);
    s.ready.clear();
    s.next = 0;
    if (s.ended || !s.conn) co_return std::nullopt;
    const std::string_view piece =
        co_await read_body_piece(s.conn, *s.parser, s.client->opts.stream_idle_timeout);
    if (piece.empty()) {
      s.ended = true;
      s.client->release(std::move(s.conn));
      if (Error err = s.decoder.finish()) {
        throw std::system_error(
            err.code, "watch from " + s.client->endpoint.display + ": " + err.to_string());
      }
      continue;
    }
    s.bytes += piece.size();
    if (Error err = s.decoder.feed(piece, s.ready); err) {
      s.conn->close();
      s.conn.reset();
      throw std::system_error(err.code,
                              "watch from " + s.client->endpoint.display + ": " + err.to_string());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ListStream

struct ListStream::Impl {
  std::shared_ptr<Client::Impl> client;
  Resource resource;
  std::string ns;
  ListOptions opts;
  std::unique_ptr<Connection> conn;
  std::unique_ptr<Parser> parser;
  std::optional<ListDecoder> decoder;
  std::vector<ObjectPtr> ready;
  std::size_t next = 0;
  ListMeta meta;
  bool started = false;
  bool finished = false;
  uint64_t bytes = 0;
};

ListStream::ListStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ListStream::ListStream(ListStream&&) noexcept = default;
ListStream& ListStream::operator=(ListStream&&) noexcept = default;
ListStream::~ListStream() {
  if (impl_ && impl_->conn) impl_->conn->close();
}
const ListMeta& ListStream::meta() const noexcept {
  return impl_->meta;
}
uint64_t ListStream::bytes_read() const noexcept {
  return impl_->bytes;
}
uint64_t WatchStream::bytes_read() const noexcept {
  return impl_->bytes;
}

awaitable<ObjectPtr> ListStream::next() {
  Impl& s = *impl_;
  for (;;) {
    if (s.next < s.ready.size()) co_return std::move(s.ready[s.next++]);
    s.ready.clear();
    s.next = 0;
    if (s.finished) co_return nullptr;
    if (!s.conn) {
      // Open the next page.
      if (s.started && s.meta.continue_token.empty()) {
        s.finished = true;
        continue;
      }
      ListOptions page = s.opts;
      page.continue_token = s.started ? s.meta.continue_token : s.opts.continue_token;
      if (s.started) {
        page.resource_version.reset();  // a continue carries its snapshot
        page.resource_version_match.clear();
      }
      s.started = true;
      std::string target = s.resource.list_url(s.ns, page);
      auto o = co_await s.client->open("GET", target, {}, {}, true, accept_for(page));
      co_await s.client->check(o);
      s.conn = std::move(o.conn);
      s.parser = std::move(o.parser);
      s.decoder.emplace(s.client->decode_options(page));
    }
    const std::string_view piece =
        co_await read_body_piece(s.conn, *s.parser, s.client->opts.stream_idle_timeout);
    if (piece.empty()) {
      s.client->release(std::move(s.conn));
      if (Error err = s.decoder->finish()) {
        throw std::system_error(err.code,
                                "list from " + s.client->endpoint.display + ": " + err.to_string());
      }
      s.meta = s.decoder->meta();
      continue;
    }
    s.bytes += piece.size();
    if (Error err = s.decoder->feed(piece, s.ready)) {
      s.conn->close();
      s.conn.reset();
      throw std::system_error(err.code,
                              "list from " + s.client->endpoint.display + ": " + err.to_string());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Client

Client::Client(net::any_io_executor executor, ClusterConfig config, ClientOptions opts)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(config), std::move(opts))) {}
Client::~Client() = default;

const ClusterConfig& Client::config() const noexcept {
  return impl_->config;
}
const ClientOptions& Client::options() const noexcept {
  return impl_->opts;
}

awaitable<ObjectPtr> Client::get(const Resource& r, std::string_view ns, std::string_view name) {
  auto resp = co_await impl_->roundtrip("GET", r.object_path(ns, name), {}, {}, true);
  co_return impl_->decode(resp.body);
}

awaitable<ListPage> Client::list(const Resource& r, std::string_view ns, ListOptions opts) {
  opts.watch = false;
  auto o = co_await impl_->open("GET", r.list_url(ns, opts), {}, {}, true, accept_for(opts));
  co_await impl_->check(o);
  ListDecoder decoder(impl_->decode_options(opts));
  ListPage page;
  for (;;) {
    const std::string_view piece =
        co_await read_body_piece(o.conn, *o.parser, impl_->opts.stream_idle_timeout);
    if (piece.empty()) break;
    if (Error err = decoder.feed(piece, page.items)) {
      o.conn->close();
      throw std::system_error(err.code,
                              "list from " + impl_->endpoint.display + ": " + err.to_string());
    }
  }
  impl_->release(std::move(o.conn));
  if (Error err = decoder.finish()) {
    throw std::system_error(err.code,
                            "list from " + impl_->endpoint.display + ": " + err.to_string());
  }
  page.meta = decoder.meta();
  page.kind = std::string(decoder.kind());
  co_return page;
}

ListStream Client::list_all(const Resource& r, std::string_view ns, ListOptions opts) {
  auto s = std::make_unique<ListStream::Impl>();
  s->client = impl_;
  opts.watch = false;
  if (!opts.limit) opts.limit = 500;
  s->resource = r;
  s->ns = std::string(ns);
  s->opts = std::move(opts);
  return ListStream(std::move(s));
}

awaitable<WatchStream> Client::watch(const Resource& r, std::string_view ns, ListOptions opts) {
  opts.watch = true;
  auto o = co_await impl_->open("GET", r.list_url(ns, opts), {}, {}, true, accept_for(opts));
  co_await impl_->check(o);
  auto s = std::make_unique<WatchStream::Impl>();
  s->client = impl_;
  s->conn = std::move(o.conn);
  s->parser = std::move(o.parser);
  s->decoder = WatchDecoder(impl_->decode_options(opts));
  co_return WatchStream(std::move(s));
}

namespace {
std::string write_target(std::string path, const WriteOptions& opts) {
  if (!opts.field_manager.empty()) add_param(path, "fieldManager", opts.field_manager);
  if (opts.dry_run) add_param(path, "dryRun", "All");
  return path;
}
}  // namespace

awaitable<ObjectPtr> Client::create(const Resource& r, std::string_view ns, JsonBody obj,
                                    WriteOptions opts) {
  auto resp = co_await impl_->roundtrip("POST", write_target(r.collection_path(ns), opts),
                                        obj.text(), "application/json", false);
  co_return impl_->decode(resp.body);
}

awaitable<ObjectPtr> Client::replace(const Resource& r, std::string_view ns, std::string_view name,
                                     JsonBody obj, WriteOptions opts) {
  auto resp = co_await impl_->roundtrip("PUT", write_target(r.object_path(ns, name), opts),
                                        obj.text(), "application/json", false);
  co_return impl_->decode(resp.body);
}

awaitable<ObjectPtr> Client::update_status(const Resource& r, std::string_view ns,
                                           std::string_view name, JsonBody obj, WriteOptions opts) {
  auto resp = co_await impl_->roundtrip("PUT", write_target(r.status_path(ns, name), opts),
                                        obj.text(), "application/json", false);
  co_return impl_->decode(resp.body);
}

awaitable<ObjectPtr> Client::patch(const Resource& r, std::string_view ns, std::string_view name,
                                   PatchType type, JsonBody patch, PatchOptions opts) {
  if (type == PatchType::apply && opts.field_manager.empty()) {
    throw std::invalid_argument("server-side apply needs PatchOptions::field_manager");
  }
  std::string target = opts.status ? r.status_path(ns, name) : r.object_path(ns, name);
  if (!opts.field_manager.empty()) add_param(target, "fieldManager", opts.field_manager);
  if (opts.force && type == PatchType::apply) add_param(target, "force", "true");
  if (opts.dry_run) add_param(target, "dryRun", "All");
  auto resp =
      co_await impl_->roundtrip("PATCH", target, patch.text(), patch_content_type(type), false);
  co_return impl_->decode(resp.body);
}

awaitable<ObjectPtr> Client::remove(const Resource& r, std::string_view ns, std::string_view name,
                                    DeleteOptions opts) {
  boost::json::object body{{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!opts.propagation_policy.empty()) body["propagationPolicy"] = opts.propagation_policy;
  if (opts.grace_period_seconds) body["gracePeriodSeconds"] = *opts.grace_period_seconds;
  if (opts.precondition_uid || opts.precondition_resource_version) {
    boost::json::object pre;
    if (opts.precondition_uid) pre["uid"] = *opts.precondition_uid;
    if (opts.precondition_resource_version)
      pre["resourceVersion"] = *opts.precondition_resource_version;
    body["preconditions"] = std::move(pre);
  }
  auto resp = co_await impl_->roundtrip("DELETE", r.object_path(ns, name),
                                        boost::json::serialize(body), "application/json", false);
  // A Status (kind "Status") means the object is gone; otherwise the server sent the object.
  boost::system::error_code ec;
  auto v = boost::json::parse(resp.body, ec);
  if (!ec && v.is_object()) {
    if (auto* kind = v.as_object().if_contains("kind");
        kind && kind->is_string() && kind->as_string() == "Status") {
      co_return nullptr;
    }
  }
  co_return impl_->decode(resp.body);
}

awaitable<RawResponse> Client::request(std::string_view method, std::string_view target,
                                       std::string_view body, std::string_view content_type) {
  const bool idempotent = method == "GET" || method == "HEAD";
  co_return co_await impl_->roundtrip(method, target, body, content_type, idempotent, false);
}

}  // namespace kcoro
