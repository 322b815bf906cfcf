// The Client's verbs, and Client::Impl's round trip (transport/client_impl.hpp).
#include "transport/client_impl.hpp"

#include <boost/json.hpp>

namespace kcoro {

namespace net = boost::asio;
namespace http = boost::beast::http;
using detail::Connection;
using Parser = http::response_parser<http::buffer_body>;

JsonBody::JsonBody(const boost::json::value& v) : text_(boost::json::serialize(v)) {}

namespace {

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

}  // namespace

awaitable<Client::Impl::Opened> Client::Impl::open(std::string_view method, std::string_view target,
                                                   std::string_view body,
                                                   std::string_view content_type, bool idempotent,
                                                   std::string_view accept) {
  RequestPolicy policy(opts.retry, idempotent);
  for (;;) {
    co_await rate_limit();
    auto req = co_await make_request(method, target, body, content_type, accept);
    std::unique_ptr<Connection> conn;
    bool wrote = false;
    bool recorded = false;
    std::chrono::milliseconds delay{0};
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
      const RequestPolicy::Decision d = policy.on_response(o.status, o.retry_after);
      if (d.action == RequestPolicy::Action::retry) {
        co_await drain(o);
        co_await sleep(d.wait(d.jittered ? jitter_draw() : 0.0));
        continue;
      }
      if (d.action == RequestPolicy::Action::reauthenticate && credentials.invalidate()) {
        co_await drain(o);
        continue;
      }
      co_return o;
    } catch (const std::system_error& e) {
      if (!recorded) record(method, "<error>", start);
      if (detail::is_cancelled(e)) throw;
      const RequestPolicy::Decision d = policy.on_connection_failure(conn && conn->reused, wrote);
      if (d.action != RequestPolicy::Action::retry) throw;
      delay = d.wait(d.jittered ? jitter_draw() : 0.0);
    }
    if (delay.count() > 0) co_await sleep(delay);
  }
}

awaitable<void> Client::Impl::check(Opened& o) {
  if (o.status >= 200 && o.status <= 299) co_return;
  std::string body;
  co_await o.conn->read_body(*o.parser, body, opts.request_timeout);
  release(std::move(o.conn));
  throw ApiError(o.status, body, o.retry_after);
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
  auto o =
      co_await impl_->open("GET", r.list_url(ns, opts), {}, {}, true, detail::accept_for(opts));
  co_await impl_->check(o);
  ListDecoder decoder(impl_->decode_options(opts));
  ListPage page;
  for (;;) {
    const std::string_view piece =
        co_await detail::read_body_piece(o.conn, *o.parser, impl_->opts.stream_idle_timeout);
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
