// kcoro/client.hpp — an awaitable Kubernetes API client over HTTP/1.1 and TLS.
//
// Contract
// - Every verb is a `boost::asio::awaitable` that runs on the executor of the coroutine that
//   awaits it; the Client itself only holds configuration, credentials and the connection pool,
//   and may be shared by coroutines on several threads.
// - Failures are exceptions at this boundary: a non-2xx answer is `kcoro::ApiError` (HTTP code and
//   decoded Status; branch with is_not_found, is_conflict, ...); a connection, TLS, DNS or timeout
//   failure is `std::system_error` with a kcoro::errc code and a message naming the server.
// - Idempotent requests (get, list) are retried on 408, 429 and 5xx, honouring Retry-After, with
//   a bounded backoff (ClientOptions::retry). Writes are never retried blindly: only when the
//   request provably did not reach the server (a pooled connection the server had closed). A 401
//   is retried once when the credentials can be refreshed. kcoro/request_policy.hpp has the
//   rules.
// - Ordinary requests share a bounded keep-alive pool; a watch or a streamed list holds its own
//   connection until it ends. Bodies are decoded as they arrive (WatchDecoder, ListDecoder); a
//   list or watch has no whole-body deadline, only a per-read idle timeout. The bytes travel
//   over a ByteStream that ClientOptions::connect may replace (kcoro/transport.hpp).
// - Cancellation: every awaitable honours Asio's per-operation cancellation (the cancellation slot
//   of the awaiting coroutine, e.g. through `asio::experimental::awaitable_operators` or
//   `co_spawn` with `bind_cancellation_slot`). A cancelled request closes its socket and throws
//   std::system_error(errc::cancelled); nothing leaks.
// - Objects to write are JSON text or a `boost::json::value`; results are Objects.
// - The options of the verbs (ListOptions, WriteOptions, PatchOptions, DeleteOptions) are not
//   aggregates, on purpose: they are often passed as `{}` to awaited calls, and GCC 12 destroys
//   an aggregate temporary inside a co_await expression twice (GCC bug 100611). Options that are
//   never awaited (ClientOptions, RuntimeOptions, LeaderElectionOptions, MetricsServerOptions)
//   are aggregates: write them with designated initializers.
// - Metrics (ClientOptions::metrics; nullptr records nothing), per HTTP attempt (each retry is
//   one), with client-go's names: `rest_client_requests_total{code,method,host}`, code the HTTP
//   status ("200", "404") or "<error>" when no answer came (refused, TLS, timeout, cancelled);
//   `rest_client_request_duration_seconds{verb,host}`, from sending the request to its response
//   headers (for a watch or a list that is not the whole body), client-go's buckets 5 ms to 60 s.
//   method and verb are the HTTP method; host is "HOST:PORT" of the server.
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include "kcoro/error.hpp"
#include "kcoro/kubeconfig.hpp"
#include "kcoro/list_decoder.hpp"
#include "kcoro/metrics.hpp"
#include "kcoro/object.hpp"
#include "kcoro/request_policy.hpp"
#include "kcoro/resource.hpp"
#include "kcoro/transport.hpp"
#include "kcoro/watch_decoder.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kcoro {

template <class T>
using awaitable = boost::asio::awaitable<T>;

struct ClientOptions {
  /// Deadline of an ordinary request, from connect to the end of its body.
  std::chrono::milliseconds request_timeout{30000};
  /// A list or watch body fails when no byte arrives for this long (detects half-open
  /// connections). Keep it above the watch's timeoutSeconds when bookmarks are off.
  std::chrono::milliseconds stream_idle_timeout{660000};
  std::size_t max_idle_connections = 8;  ///< Keep-alive pool size.
  double qps = 0;                        ///< Client-side rate limit; 0 = off (controller-runtime).
  int burst = 0;                         ///< Burst of the rate limit (>= 1 when qps > 0).
  RetryPolicy retry{};
  std::string user_agent{};  ///< Default "kcoro/<version>".
  /// How often a token file is checked for rotation.
  std::chrono::seconds token_file_refresh{60};
  /// Where the rest_client_* series go (see the contract); nullptr records nothing.
  std::shared_ptr<MetricsRegistry> metrics = MetricsRegistry::global();
  /// Opens each connection (kcoro/transport.hpp); unset: TCP, then TLS for https.
  ConnectFunction connect{};
};

/// A JSON document to send: text, or a boost::json::value serialised once.
class JsonBody {
 public:
  JsonBody(std::string_view text) : text_(text) {}        // NOLINT: implicit by design
  JsonBody(const char* text) : text_(text) {}             // NOLINT
  JsonBody(std::string text) : text_(std::move(text)) {}  // NOLINT
  JsonBody(const boost::json::value& v);                  // NOLINT
  const std::string& text() const noexcept { return text_; }

 private:
  std::string text_;
};

enum class PatchType {
  merge,            ///< application/merge-patch+json (RFC 7386)
  json,             ///< application/json-patch+json (RFC 6902)
  strategic_merge,  ///< application/strategic-merge-patch+json
  apply,            ///< application/apply-patch+yaml: server-side apply (needs field_manager)
};

struct WriteOptions {
  // Not an aggregate: GCC bug 100611, see client.hpp.
  WriteOptions() {}
  std::string field_manager;  ///< fieldManager
  bool dry_run = false;       ///< dryRun=All
};

struct PatchOptions {
  // Not an aggregate: GCC bug 100611, see client.hpp.
  PatchOptions() {}
  std::string field_manager;  ///< fieldManager (required for apply)
  bool force = false;         ///< force (apply only)
  bool status = false;        ///< patch the status subresource
  bool dry_run = false;
};

struct DeleteOptions {
  // Not an aggregate: GCC bug 100611, see client.hpp.
  DeleteOptions() {}
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
  std::string propagation_policy;  ///< Orphan, Background or Foreground; empty: server default.
  std::optional<int64_t> grace_period_seconds;
};

/// One page of a list.
struct ListPage {
  std::vector<ObjectPtr> items;
  ListMeta meta;
  std::string kind;  ///< e.g. "PodList"
};

/// An HTTP answer for requests outside the typed verbs (discovery, /version, ...).
struct RawResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

class Client;

/// A watch: events as the server sends them, decoded as the bytes arrive. Holds its own
/// connection; destroying or closing it closes the connection.
class WatchStream {
 public:
  WatchStream(WatchStream&&) noexcept;
  WatchStream& operator=(WatchStream&&) noexcept;
  ~WatchStream();

  /// The next event; nullopt when the server ended the watch (timeoutSeconds, a clean close).
  /// An ERROR event is returned as an event (ev.error == errc::resource_expired for 410).
  /// Throws std::system_error when the connection fails, times out (idle) or the body is
  /// malformed.
  awaitable<std::optional<WatchEvent>> next();
  void close() noexcept;
  /// Body bytes received so far (after chunk decoding).
  uint64_t bytes_read() const noexcept;

  struct Impl;

 private:
  friend class Client;
  explicit WatchStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// All pages of a list, one object at a time, fetched with limit/continue and decoded while each
/// page's body arrives.
class ListStream {
 public:
  ListStream(ListStream&&) noexcept;
  ListStream& operator=(ListStream&&) noexcept;
  ~ListStream();

  /// The next object; nullopt after the last page. Throws ApiError (a 410 for an expired
  /// continue token, say) or std::system_error.
  awaitable<ObjectPtr> next();
  /// The metadata of the last page read (its resourceVersion is the list's).
  const ListMeta& meta() const noexcept;
  /// Body bytes received so far, over all pages.
  uint64_t bytes_read() const noexcept;

  struct Impl;

 private:
  friend class Client;
  explicit ListStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Client {
 public:
  Client(boost::asio::any_io_executor executor, ClusterConfig config, ClientOptions opts = {});
  ~Client();
  /// A Client is a handle: copies share the configuration, credentials and connection pool.
  /// Informers and reflectors keep their own copy, so they never outlive the client they use.
  Client(const Client&) = default;
  Client& operator=(const Client&) = default;

  const ClusterConfig& config() const noexcept;
  const ClientOptions& options() const noexcept;

  awaitable<ObjectPtr> get(const Resource& r, std::string_view ns, std::string_view name);
  /// One page (opts.limit, opts.continue_token).
  awaitable<ListPage> list(const Resource& r, std::string_view ns, ListOptions opts = {});
  /// Every page, streamed; opts.limit is the page size (default 500).
  ListStream list_all(const Resource& r, std::string_view ns, ListOptions opts = {});
  /// Starts a watch (opts.watch is implied). The server's non-2xx answer throws ApiError.
  awaitable<WatchStream> watch(const Resource& r, std::string_view ns, ListOptions opts = {});

  awaitable<ObjectPtr> create(const Resource& r, std::string_view ns, JsonBody obj,
                              WriteOptions opts = {});
  awaitable<ObjectPtr> replace(const Resource& r, std::string_view ns, std::string_view name,
                               JsonBody obj, WriteOptions opts = {});
  awaitable<ObjectPtr> update_status(const Resource& r, std::string_view ns, std::string_view name,
                                     JsonBody obj, WriteOptions opts = {});
  awaitable<ObjectPtr> patch(const Resource& r, std::string_view ns, std::string_view name,
                             PatchType type, JsonBody patch, PatchOptions opts = {});
  /// Deletes. Returns the object when the server answers with it (graceful deletion, or
  /// finalizers pending), nullptr when it answers with a Status.
  awaitable<ObjectPtr> remove(const Resource& r, std::string_view ns, std::string_view name,
                              DeleteOptions opts = {});

  /// Any request; non-2xx answers are returned, not thrown. `target` is path and query.
  awaitable<RawResponse> request(std::string_view method, std::string_view target,
                                 std::string_view body = {},
                                 std::string_view content_type = "application/json");

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace kcoro
