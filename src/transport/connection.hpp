// Internal: one HTTP/1.1 connection to the API server over a ByteStream (kcoro/transport.hpp),
// and the reading of a response whose body is handed on in pieces as it arrives (Beast's parser
// undoes the chunked framing). connect_asio() opens the default stream: TCP, then TLS.
#pragma once

#include "kcoro/client.hpp"
#include "kcoro/transport.hpp"

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <functional>
#include <memory>
#include <string>

namespace kcoro::detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;

using Endpoint = TransportEndpoint;

/// The TLS context for a cluster configuration: CA (data, file or the system store), client
/// certificate and key (data or file, PEM, RSA or EC). Throws ConfigError-style system_error.
std::shared_ptr<ssl::context> make_tls_context(const ClusterConfig& cfg,
                                               std::string_view cert_pem = {},
                                               std::string_view key_pem = {});

/// Throws std::system_error with a kcoro code whose message names the server.
[[noreturn]] void throw_transport(const Endpoint& ep, std::string_view what,
                                  boost::system::error_code ec);

inline constexpr std::size_t body_read_size = 64 * 1024;
inline constexpr std::size_t read_buffer_size = 256 * 1024;

/// The default transport: resolves, connects and (for TLS) handshakes, within `timeout`.
awaitable<std::unique_ptr<ByteStream>> connect_asio(net::any_io_executor ex, const Endpoint& ep,
                                                    std::shared_ptr<ssl::context> tls,
                                                    std::chrono::milliseconds timeout);

class Connection {
 public:
  Connection(net::any_io_executor ex, const Endpoint& ep, std::unique_ptr<ByteStream> stream);

  /// Writes a request within `timeout`.
  awaitable<void> write(http::request<http::string_body>& req, std::chrono::milliseconds timeout);

  /// Reads the status line and headers within `timeout`.
  awaitable<void> read_header(http::response_parser<http::buffer_body>& parser,
                              std::chrono::milliseconds timeout);

  /// Reads the next piece of the body (at most the internal buffer's size), waiting at most
  /// `idle` for a byte. Returns the bytes; empty when the body is complete.
  awaitable<std::string_view> read_some(http::response_parser<http::buffer_body>& parser,
                                        std::chrono::milliseconds idle);

  /// Reads the whole body into `out`, each read within `idle`.
  awaitable<void> read_body(http::response_parser<http::buffer_body>& parser, std::string& out,
                            std::chrono::milliseconds idle);

  void close() noexcept { stream_->close(); }
  bool is_open() const noexcept { return stream_->is_open(); }
  const net::any_io_executor& executor() const noexcept { return executor_; }
  const Endpoint& endpoint() const noexcept { return endpoint_; }

  bool reused = false;     ///< Served a request before: a failure may be a stale keep-alive.
  bool keep_alive = true;  ///< The last response allowed reuse.

 private:
  /// Reads more bytes into buffer_ within `timeout`; false when the server closed the stream.
  awaitable<bool> fill(std::chrono::milliseconds timeout);

  net::any_io_executor executor_;
  Endpoint endpoint_;
  std::unique_ptr<ByteStream> stream_;
  beast::flat_buffer buffer_;
  std::string request_bytes_;  // the serialised request, reused
  std::unique_ptr<char[]> body_buf_;
};

}  // namespace kcoro::detail
