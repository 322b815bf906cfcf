// Test support: a server played from a script, reached through ClientOptions::connect, that
// fails at a chosen step. Every connect, every write and every read is one step; the step
// `fail_at` fails, in the way `fault` says. Tests run a request once to count its steps, then
// once per step with that step failing (Boost.MySQL's "netfun" tests do the same).
#pragma once

#include "kcoro/error.hpp"
#include "kcoro/transport.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace kcoro::test {

enum class Fault {
  reset,  ///< the step throws: connect refused, connection reset
  cut,    ///< the server closes: a read returns the end of the stream from then on (a connect
          ///< or a write throws, as a closed peer makes them)
};

struct ScriptedServer {
  /// The response bytes for one whole request (its request line, headers and body).
  std::function<std::string(std::string_view request)> respond;
  std::size_t piece = 23;  ///< at most this many bytes per read: many reads, many steps
  long fail_at = -1;       ///< the step that fails; -1: none
  Fault fault = Fault::reset;

  long steps = 0;                     ///< steps taken so far
  long header_step = -1;              ///< the step that sent the last response's last header byte
  int connects = 0;                   ///< connections opened
  std::vector<std::string> requests;  ///< every request the server received whole

  /// True when the step now being taken is the one to fail.
  bool step() { return steps++ == fail_at; }

  ConnectFunction connector();
};

class ScriptedStream final : public ByteStream {
 public:
  ScriptedStream(boost::asio::any_io_executor ex, ScriptedServer* server)
      : server_(server), wait_(std::move(ex)) {}

  boost::asio::awaitable<void> write(std::string_view bytes, std::chrono::milliseconds) override {
    if (!open_) throw std::system_error(make_error_code(errc::cancelled), "scripted: closed");
    if (server_->step() || closed_by_server_) {
      closed_by_server_ = true;
      throw std::system_error(make_error_code(errc::connection_closed),
                              "scripted: connection reset while sending");
    }
    server_->requests.emplace_back(bytes);
    const std::string response = server_->respond(bytes);
    closes_after_ = response.find("\r\nConnection: close\r\n") != std::string::npos;
    const std::size_t header_end = response.find("\r\n\r\n");
    header_left_ = header_end == std::string::npos ? response.size() : header_end + 4;
    pending_ += response;
    co_return;
  }

  boost::asio::awaitable<std::size_t> read_some(std::span<char> into,
                                                std::chrono::milliseconds timeout) override {
    if (!open_) throw std::system_error(make_error_code(errc::cancelled), "scripted: closed");
    if (server_->step()) {
      if (server_->fault == Fault::reset) {
        throw std::system_error(make_error_code(errc::connection_closed),
                                "scripted: connection reset by peer");
      }
      closed_by_server_ = true;
    }
    if (closed_by_server_) co_return 0;
    if (pending_.empty()) {
      if (closes_after_) co_return 0;
      // Nothing more is coming: a read waits for its timeout, or for close().
      wait_.expires_after(timeout);
      boost::system::error_code ec;
      co_await wait_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (!open_ || ec == boost::asio::error::operation_aborted) {
        throw std::system_error(make_error_code(errc::cancelled), "scripted: closed");
      }
      throw std::system_error(make_error_code(errc::timeout), "scripted: read timed out");
    }
    const std::size_t n = std::min({into.size(), server_->piece, pending_.size()});
    std::memcpy(into.data(), pending_.data(), n);
    pending_.erase(0, n);
    if (header_left_ > 0) {
      header_left_ -= std::min(header_left_, n);
      if (header_left_ == 0) server_->header_step = server_->steps - 1;
    }
    co_return n;
  }

  void close() noexcept override {
    open_ = false;
    wait_.cancel();
  }
  bool is_open() const noexcept override { return open_ && !closed_by_server_; }

 private:
  ScriptedServer* server_;  // outlives the Client, and so every stream
  boost::asio::steady_timer wait_;
  std::string pending_;  // response bytes not read yet
  bool open_ = true;
  bool closed_by_server_ = false;
  bool closes_after_ = false;
  std::size_t header_left_ = 0;  // header bytes of the current response not read yet
};

inline ConnectFunction ScriptedServer::connector() {
  // The server must outlive the Client that uses this (its pool holds streams).
  return [this](boost::asio::any_io_executor ex, const TransportEndpoint&,
                std::chrono::milliseconds) -> boost::asio::awaitable<std::unique_ptr<ByteStream>> {
    if (step()) {
      throw std::system_error(make_error_code(errc::connection_failed),
                              "scripted: connection refused");
    }
    ++connects;
    co_return std::make_unique<ScriptedStream>(std::move(ex), this);
  };
}

/// An HTTP/1.1 response with a Content-Length body.
inline std::string http_response(int status, std::string_view body,
                                 std::string_view reason = "OK") {
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + std::string(body);
}

/// An HTTP/1.1 response whose body is sent chunked, one chunk per element of `chunks`, and ended
/// with the last chunk unless `open` (a watch the server keeps going).
inline std::string chunked_response(const std::vector<std::string>& chunks, bool open = false) {
  std::string out =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  char size[32];
  for (const std::string& c : chunks) {
    std::snprintf(size, sizeof size, "%zx\r\n", c.size());
    out += size;
    out += c;
    out += "\r\n";
  }
  if (!open) out += "0\r\n\r\n";
  return out;
}

}  // namespace kcoro::test
