// kcoro/transport.hpp — the byte stream a Client speaks HTTP/1.1 over, and how one is opened.
//
// Contract
// - A Client opens one ByteStream per connection with ClientOptions::connect (unset: TCP to the
//   cluster's host and port, then TLS for https, as the configuration says) and speaks HTTP/1.1
//   over it: it writes each request whole and reads the response in whatever pieces arrive. A
//   stream whose response allowed keep-alive goes back to the Client's pool for the next request.
// - Failures are exceptions: `connect`, `write` and `read_some` throw std::system_error with a
//   kcoro::errc code (connection_failed, connection_closed, timeout, tls_failed, cancelled) and a
//   message naming the server. The end of the stream (the server closed it) is not a failure:
//   read_some returns 0 and the HTTP parser decides whether the response was whole.
// - Timeouts are per operation: each call says how long it may take.
// - close() may be called while a read or write is pending, on the executor the stream runs on;
//   the pending operation then throws errc::cancelled. A closed stream is never reused.
// - Replacing the transport (ClientOptions::connect): kcoro's tests play scripted bytes that fail
//   at every step; a user may reach the server through a proxy or a local socket this way. The
//   replacement carries TLS itself when it needs it.
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace kcoro {

/// Where a Client connects, from its ClusterConfig.
struct TransportEndpoint {
  std::string host;
  uint16_t port = 443;
  bool tls = true;
  std::string verify_name;  ///< tls-server-name or host: checked against the certificate, SNI
  bool verify = true;       ///< false with insecure-skip-tls-verify
  std::string display;      ///< "https://host:port", for messages
};

/// One connection's bytes, both ways.
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  /// Writes all of `bytes` within `timeout`.
  virtual boost::asio::awaitable<void> write(std::string_view bytes,
                                             std::chrono::milliseconds timeout) = 0;
  /// Waits at most `timeout` for bytes, and copies what arrived (at least one byte, at most
  /// into.size()) into `into`. Returns how many; 0 when the server closed the stream.
  virtual boost::asio::awaitable<std::size_t> read_some(std::span<char> into,
                                                        std::chrono::milliseconds timeout) = 0;
  /// Closes the stream; a pending read or write throws errc::cancelled.
  virtual void close() noexcept = 0;
  virtual bool is_open() const noexcept = 0;
};

/// Opens a connection to `endpoint` within `timeout`, its operations running on `executor`.
using ConnectFunction = std::function<boost::asio::awaitable<std::unique_ptr<ByteStream>>(
    boost::asio::any_io_executor executor, const TransportEndpoint& endpoint,
    std::chrono::milliseconds timeout)>;

}  // namespace kcoro
