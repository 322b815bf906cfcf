// Integration test support: a small HTTP/1.1 client (Beast, plain or TLS) that knows nothing of
// kcoro's own client, so the fake API server is checked by an independent party. Tests run it
// with kcoro::test::co_run (support/co_test.hpp): a coroutine on its own io_context, with a
// deadline.
//
// Every call is a coroutine on the client's executor; failures throw boost::system::system_error.
#pragma once

#include "support/co_test.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kcoro::itest {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::awaitable;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
/// The executor kcoro::test::co_run hands to a test coroutine.
using Executor = asio::io_context::executor_type;

struct ClientOptions {
  bool tls = false;
  std::string ca_pem;                     ///< verify the server with this CA
  std::string verify_host = "127.0.0.1";  ///< the name or IP the certificate must carry
  std::string sni;                        ///< server name indication, if any
  std::string token;                      ///< Authorization: Bearer
  std::string cert_pem, key_pem;          ///< a client certificate
};

struct Response {
  int status = 0;
  http::fields headers;
  std::string body;
  std::string header(const std::string& name) const { return std::string(headers[name]); }
};

class HttpClient {
  template <class F>
  auto visit(F&& f) {
    return tls_ ? f(*tls_) : f(*sock_);
  }

 public:
  HttpClient(asio::any_io_executor ex, uint16_t port, ClientOptions opts = {})
      : ex_(ex), port_(port), opts_(std::move(opts)), ssl_ctx_(ssl::context::tls_client) {
    if (opts_.tls) {
      if (!opts_.ca_pem.empty()) ssl_ctx_.add_certificate_authority(asio::buffer(opts_.ca_pem));
      ssl_ctx_.set_verify_mode(ssl::verify_peer);
      if (!opts_.cert_pem.empty()) {
        ssl_ctx_.use_certificate_chain(asio::buffer(opts_.cert_pem));
        ssl_ctx_.use_private_key(asio::buffer(opts_.key_pem), ssl::context::pem);
      }
    }
  }

  awaitable<void> connect() {
    tls_.reset();
    sock_.emplace(ex_);
    co_await sock_->async_connect({asio::ip::address_v4::loopback(), port_}, asio::use_awaitable);
    if (opts_.tls) {
      tls_ = std::make_unique<ssl::stream<tcp::socket&>>(*sock_, ssl_ctx_);
      tls_->set_verify_callback(ssl::host_name_verification(opts_.verify_host));
      if (!opts_.sni.empty()) SSL_set_tlsext_host_name(tls_->native_handle(), opts_.sni.c_str());
      co_await tls_->async_handshake(ssl::stream_base::client, asio::use_awaitable);
    }
    buffer_.clear();
  }

  bool connected() const { return sock_ && sock_->is_open(); }
  void close() {
    if (sock_) {
      boost::system::error_code ec;
      sock_->close(ec);
    }
  }

  /// One request and its whole response (connecting first if needed).
  awaitable<Response> request(http::verb method, const std::string& target,
                              const std::string& body = {},
                              const std::string& content_type = "application/json") {
    co_await send(method, target, body, content_type);
    http::response_parser<http::string_body> parser;
    parser.body_limit(uint64_t{1} << 30);
    co_await read(parser);
    Response r;
    r.status = static_cast<int>(parser.get().result_int());
    r.headers = parser.get().base();
    r.body = std::move(parser.get().body());
    co_return r;
  }

  /// A HEAD request: the status and headers of an answer that has no body.
  awaitable<Response> head(const std::string& target) {
    co_await send(http::verb::head, target, {}, {});
    http::response_parser<http::empty_body> parser;
    parser.skip(true);
    co_await read(parser);
    Response r;
    r.status = static_cast<int>(parser.get().result_int());
    r.headers = parser.get().base();
    co_return r;
  }

  /// Sends a request whose response is streamed (a watch); returns the status and headers.
  awaitable<Response> start_stream(const std::string& target) {
    co_await send(http::verb::get, target, {}, {});
    stream_ = std::make_unique<http::response_parser<http::string_body>>();
    stream_->body_limit(boost::none);
    pending_.clear();
    chunk_sizes.clear();
    payload_bytes = 0;
    stream_->on_chunk_header(on_chunk_header_);
    stream_->on_chunk_body(on_chunk_body_);
    co_await visit([&](auto& s) {
      return http::async_read_header(s, buffer_, *stream_, asio::use_awaitable);
    });
    Response r;
    r.status = static_cast<int>(stream_->get().result_int());
    r.headers = stream_->get().base();
    co_return r;
  }

  /// The next '\n'-terminated line of the streamed body; nullopt once the response ended.
  awaitable<std::optional<std::string>> next_line() {
    for (;;) {
      if (const auto eol = pending_.find('\n'); eol != std::string::npos) {
        std::string line = pending_.substr(0, eol + 1);
        pending_.erase(0, eol + 1);
        co_return line;
      }
      if (stream_->is_done()) co_return std::nullopt;
      co_await visit([&](auto& s) {
        return http::async_read_some(s, buffer_, *stream_, asio::use_awaitable);
      });
    }
  }

  /// A streamed response's body when it was not chunked (an error answered to a watch).
  std::string stream_body() const { return stream_->get().body(); }

  /// Payload bytes of the streamed body received so far, and the sizes of its chunks.
  std::size_t payload_bytes = 0;
  std::vector<std::uint64_t> chunk_sizes;

 private:
  awaitable<void> send(http::verb method, const std::string& target, const std::string& body,
                       const std::string& content_type) {
    if (!connected()) co_await connect();
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
    req.set(http::field::user_agent, "kcoro-integration-tests");
    req.set(http::field::accept, "application/json");
    if (!opts_.token.empty()) req.set(http::field::authorization, "Bearer " + opts_.token);
    if (!body.empty() || method == http::verb::post || method == http::verb::put ||
        method == http::verb::patch) {
      req.set(http::field::content_type, content_type);
      req.body() = body;
      req.prepare_payload();
    }
    co_await visit([&](auto& s) { return http::async_write(s, req, asio::use_awaitable); });
  }

  template <class Parser>
  awaitable<void> read(Parser& parser) {
    co_await visit(
        [&](auto& s) { return http::async_read(s, buffer_, parser, asio::use_awaitable); });
  }

  asio::any_io_executor ex_;
  uint16_t port_;
  ClientOptions opts_;
  ssl::context ssl_ctx_;
  std::optional<tcp::socket> sock_;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls_;
  beast::flat_buffer buffer_;
  std::unique_ptr<http::response_parser<http::string_body>> stream_;
  std::string pending_;
  // The parser keeps references to its callbacks.
  std::function<void(std::uint64_t, beast::string_view, beast::error_code&)> on_chunk_header_ =
      [this](std::uint64_t size, beast::string_view, beast::error_code&) {
        if (size) chunk_sizes.push_back(size);
      };
  std::function<std::size_t(std::uint64_t, beast::string_view, beast::error_code&)> on_chunk_body_ =
      [this](std::uint64_t, beast::string_view data, beast::error_code&) {
        pending_.append(data.data(), data.size());
        payload_bytes += data.size();
        return data.size();
      };
};

/// Runs `f` after `delay` unless destroyed first: closes a client that waits for bytes that must
/// not come, so a test observes silence for a bounded time.
class Deadline {
 public:
  Deadline(asio::any_io_executor ex, std::chrono::milliseconds delay, std::function<void()> f)
      : state_(std::make_shared<State>()), timer_(ex, delay) {
    timer_.async_wait([state = state_, f = std::move(f)](boost::system::error_code ec) {
      if (!ec && !state->cancelled) {
        state->fired = true;
        f();
      }
    });
  }
  ~Deadline() {
    state_->cancelled = true;
    timer_.cancel();
  }
  bool fired() const { return state_->fired; }

 private:
  struct State {
    bool fired = false;
    bool cancelled = false;
  };
  std::shared_ptr<State> state_;
  asio::steady_timer timer_;
};

}  // namespace kcoro::itest
