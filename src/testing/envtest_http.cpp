#include "testing/envtest_http.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace kcoro::testing {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;

template <class Stream>
net::awaitable<void> exchange(Stream& s, http::request<http::string_body>& req, HttpAnswer& out) {
  co_await http::async_write(s, req, net::use_awaitable);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  co_await http::async_read(s, buf, parser, net::use_awaitable);
  out.status = static_cast<int>(parser.get().result_int());
  out.body = std::move(parser.get().body());
}

}  // namespace

HttpAnswer HttpEndpoint::request(http::verb verb, const std::string& target,
                                 const std::string& body, const std::string& content_type,
                                 std::chrono::milliseconds timeout) const {
  net::io_context io;
  HttpAnswer out;
  std::exception_ptr error;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        beast::tcp_stream tcp(co_await net::this_coro::executor);
        tcp.expires_after(timeout);
        co_await tcp.async_connect(net::ip::tcp::endpoint(net::ip::address_v4::loopback(), port),
                                   net::use_awaitable);
        http::request<http::string_body> req{verb, target, 11};
        req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
        req.set(http::field::user_agent, "kcoro-envtest");
        req.set(http::field::accept, "application/json");
        req.set(http::field::connection, "close");
        if (!body.empty() || verb == http::verb::post || verb == http::verb::put) {
          req.set(http::field::content_type, content_type);
          req.body() = body;
          req.prepare_payload();
        }
        if (tls) {
          beast::ssl_stream<beast::tcp_stream> s(std::move(tcp), *tls);
          co_await s.async_handshake(ssl::stream_base::client, net::use_awaitable);
          co_await exchange(s, req, out);
        } else {
          co_await exchange(tcp, req, out);
        }
      },
      [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
  return out;
}

}  // namespace kcoro::testing
