#include "transport/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <openssl/ssl.h>

#include <variant>

namespace kcoro::detail {

namespace {
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

bool is_ip_address(const std::string& host) {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}
}  // namespace

void throw_transport(const Endpoint& ep, std::string_view what, boost::system::error_code ec) {
  errc code = errc::connection_failed;
  if (ec == net::error::operation_aborted) {
    code = errc::cancelled;
  } else if (ec == beast::error::timeout) {
    code = errc::timeout;
  } else if (ec.category() == net::error::get_ssl_category() ||
             ec == net::ssl::error::stream_truncated) {
    code = ec == net::ssl::error::stream_truncated ? errc::connection_closed : errc::tls_failed;
  } else if (ec == http::error::end_of_stream || ec == net::error::eof ||
             ec == net::error::connection_reset || ec == http::error::partial_message ||
             ec == net::error::broken_pipe) {
    code = errc::connection_closed;
  } else if (ec.category() == make_error_code(http::error::bad_chunk).category()) {
    code = errc::http_protocol;
  }
  std::string msg = std::string(what) + " " + ep.display + ": " + ec.message();
  if (code == errc::tls_failed) {
    // OpenSSL's reason says why verification failed ("certificate verify failed").
    msg += " (TLS)";
  }
  throw std::system_error(make_error_code(code), msg);
}

std::shared_ptr<ssl::context> make_tls_context(const ClusterConfig& cfg, std::string_view cert_pem,
                                               std::string_view key_pem) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  auto fail = [&](const std::string& what) {
    throw std::system_error(make_error_code(errc::invalid_config),
                            what + ": " + ec.message() + " (" + cfg.source_file + ")");
  };
  if (cfg.insecure_skip_tls_verify) {
    ctx->set_verify_mode(ssl::verify_none);
  } else {
    ctx->set_verify_mode(ssl::verify_peer);
    if (!cfg.ca_data.empty()) {
      ctx->add_certificate_authority(net::buffer(cfg.ca_data), ec);
      if (ec) fail("certificate-authority-data");
    } else if (!cfg.ca_file.empty()) {
      ctx->load_verify_file(cfg.ca_file, ec);
      if (ec) fail("certificate-authority " + cfg.ca_file);
    } else {
      ctx->set_default_verify_paths(ec);
      if (ec) fail("system certificate store");
    }
  }
  if (!cert_pem.empty()) {
    ctx->use_certificate_chain(net::buffer(cert_pem.data(), cert_pem.size()), ec);
    if (ec) fail("client certificate from the exec plugin");
  } else if (!cfg.client_cert_data.empty()) {
    ctx->use_certificate_chain(net::buffer(cfg.client_cert_data), ec);
    if (ec) fail("client-certificate-data");
  } else if (!cfg.client_cert_file.empty()) {
    ctx->use_certificate_chain_file(cfg.client_cert_file, ec);
    if (ec) fail("client-certificate " + cfg.client_cert_file);
  }
  if (!key_pem.empty()) {
    ctx->use_private_key(net::buffer(key_pem.data(), key_pem.size()), ssl::context::pem, ec);
    if (ec) fail("client key from the exec plugin");
  } else if (!cfg.client_key_data.empty()) {
    ctx->use_private_key(net::buffer(cfg.client_key_data), ssl::context::pem, ec);
    if (ec) fail("client-key-data");
  } else if (!cfg.client_key_file.empty()) {
    ctx->use_private_key_file(cfg.client_key_file, ssl::context::pem, ec);
    if (ec) fail("client-key " + cfg.client_key_file);
  }
  return ctx;
}

namespace {

// TCP, then TLS for https: the default ByteStream.
class AsioByteStream final : public ByteStream {
 public:
  AsioByteStream(net::any_io_executor ex, const Endpoint& ep, std::shared_ptr<ssl::context> tls)
      : endpoint_(ep), tls_(std::move(tls)), stream_(std::in_place_index<0>, ex) {
    if (endpoint_.tls) stream_.emplace<1>(beast::tcp_stream(ex), *tls_);
  }

  awaitable<void> connect(std::chrono::milliseconds timeout);

  awaitable<void> write(std::string_view bytes, std::chrono::milliseconds timeout) override {
    tcp().expires_after(timeout);
    auto [ec, n] = co_await std::visit(
        [&](auto& s) { return net::async_write(s, net::buffer(bytes), use_tuple); }, stream_);
    if (ec) throw_transport(endpoint_, "send request to", ec);
  }

  awaitable<std::size_t> read_some(std::span<char> into,
                                   std::chrono::milliseconds timeout) override {
    // Every operation sets its own deadline: an expiry left from an earlier one would fail the
    // next operation at once (Beast's tcp_stream).
    tcp().expires_after(timeout);
    auto [ec, n] = co_await std::visit(
        [&](auto& s) {
          return s.async_read_some(net::buffer(into.data(), into.size()), use_tuple);
        },
        stream_);
    if (n > 0) co_return n;  // an error that came with bytes shows again on the next read
    // The server closed: the end of a body delimited by the connection, or a cut.
    if (ec == net::error::eof || ec == net::ssl::error::stream_truncated) co_return 0;
    throw_transport(endpoint_, "read from", ec ? ec : make_error_code(net::error::eof));
  }

  void close() noexcept override {
    boost::system::error_code ec;
    tcp().socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
    tcp().socket().close(ec);
  }

  bool is_open() const noexcept override {
    return const_cast<AsioByteStream*>(this)->tcp().socket().is_open();
  }

 private:
  beast::tcp_stream& tcp() noexcept {
    if (auto* s = std::get_if<1>(&stream_)) return beast::get_lowest_layer(*s);
    return std::get<0>(stream_);
  }

  Endpoint endpoint_;
  std::shared_ptr<ssl::context> tls_;
  std::variant<beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>> stream_;
};

awaitable<void> AsioByteStream::connect(std::chrono::milliseconds timeout) {
  net::ip::tcp::resolver resolver(tcp().get_executor());
  auto [rec, results] =
      co_await resolver.async_resolve(endpoint_.host, std::to_string(endpoint_.port), use_tuple);
  if (rec) throw_transport(endpoint_, "resolve", rec);
  tcp().expires_after(timeout);
  auto [cec, ep] = co_await tcp().async_connect(results, use_tuple);
  if (cec) throw_transport(endpoint_, "connect to", cec);
  tcp().socket().set_option(net::ip::tcp::no_delay(true));
  if (auto* s = std::get_if<1>(&stream_)) {
    if (endpoint_.verify) {
      s->set_verify_callback(ssl::host_name_verification(endpoint_.verify_name));
    }
    if (!is_ip_address(endpoint_.verify_name) &&
        !SSL_set_tlsext_host_name(s->native_handle(), endpoint_.verify_name.c_str())) {
      throw_transport(endpoint_, "TLS SNI for",
                      boost::system::error_code(static_cast<int>(::ERR_get_error()),
                                                net::error::get_ssl_category()));
    }
    auto [hec] = co_await s->async_handshake(ssl::stream_base::client, use_tuple);
    if (hec) throw_transport(endpoint_, "TLS handshake with", hec);
  }
  tcp().expires_never();
}

}  // namespace

awaitable<std::unique_ptr<ByteStream>> connect_asio(net::any_io_executor ex, const Endpoint& ep,
                                                    std::shared_ptr<ssl::context> tls,
                                                    std::chrono::milliseconds timeout) {
  auto s = std::make_unique<AsioByteStream>(std::move(ex), ep, std::move(tls));
  co_await s->connect(timeout);
  co_return s;
}

Connection::Connection(net::any_io_executor ex, const Endpoint& ep,
                       std::unique_ptr<ByteStream> stream)
    : executor_(std::move(ex)),
      endpoint_(ep),
      stream_(std::move(stream)),
      body_buf_(new char[body_read_size]) {
  // Each read is sized by the buffer's free capacity: without room reserved up front a watch is
  // read a few hundred bytes per system call.
  buffer_.reserve(read_buffer_size);
}

awaitable<bool> Connection::fill(std::chrono::milliseconds timeout) {
  const std::size_t room = std::max<std::size_t>(buffer_.capacity() - buffer_.size(), 16384);
  const net::mutable_buffer b = buffer_.prepare(room);
  const std::size_t n =
      co_await stream_->read_some(std::span<char>(static_cast<char*>(b.data()), b.size()), timeout);
  buffer_.commit(n);
  co_return n > 0;
}

awaitable<void> Connection::write(http::request<http::string_body>& req,
                                  std::chrono::milliseconds timeout) {
  // Serialised whole, then written whole: the stream sees one write per request.
  request_bytes_.clear();
  http::serializer<true, http::string_body> sr{req};
  boost::system::error_code ec;
  do {
    sr.next(ec, [&](boost::system::error_code& next_ec, const auto& buffers) {
      next_ec = {};
      std::size_t n = 0;
      for (const auto b : beast::buffers_range_ref(buffers)) {
        request_bytes_.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      sr.consume(n);
    });
  } while (!ec && !sr.is_done());
  if (ec) throw_transport(endpoint_, "serialise request to", ec);
  co_await stream_->write(request_bytes_, timeout);
}

awaitable<void> Connection::read_header(http::response_parser<http::buffer_body>& parser,
                                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (buffer_.size() > 0) {
      // Not eager yet: put() stops at the end of the header.
      boost::system::error_code ec;
      const std::size_t used = parser.put(buffer_.data(), ec);
      buffer_.consume(used);
      if (parser.is_header_done()) break;
      if (ec && ec != http::error::need_more) throw_transport(endpoint_, "read response from", ec);
    }
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      throw_transport(endpoint_, "read response from", make_error_code(beast::error::timeout));
    }
    const bool more = co_await fill(left);
    if (!more) {
      // Closed before the header ended: nothing at all is a stale keep-alive connection's sign.
      boost::system::error_code ec = http::error::end_of_stream;
      if (parser.got_some()) {
        parser.put_eof(ec);
        if (!ec) ec = http::error::partial_message;
      }
      throw_transport(endpoint_, "read response from", ec);
    }
  }
  // Eager: one put() parses every chunk already received (see read_some).
  parser.eager(true);
}

// The body is parsed here rather than with http::async_read_some, which ends after one parse
// step (one chunk of a watch: one completion, a post and a trip through the reactor per event)
// and, with eager parsing, waits for more bytes even when it already has body data to return.
// Here every chunk already received goes into the body buffer at once, and the stream is read
// only when nothing parsed is left to return.
awaitable<std::string_view> Connection::read_some(http::response_parser<http::buffer_body>& parser,
                                                  std::chrono::milliseconds idle) {
  while (!parser.is_done()) {
    auto& body = parser.get().body();
    body.data = body_buf_.get();
    body.size = body_read_size;
    bool need_more = buffer_.size() == 0;
    if (!need_more) {
      boost::system::error_code ec;
      const std::size_t used = parser.put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_buffer) ec = {};
      need_more = ec == http::error::need_more || (!ec && used == 0);
      if (ec && ec != http::error::need_more) {
        throw_transport(endpoint_, "read response body from", ec);
      }
      const std::size_t got = body_read_size - body.size;
      if (got > 0) co_return std::string_view(body_buf_.get(), got);
    }
    if (!need_more) continue;  // progress without body bytes (a chunk header): parse on
    const bool more = co_await fill(idle);
    if (!more) {
      // The server closed: the end of a body delimited by the connection, or a cut.
      boost::system::error_code eof_ec;
      parser.put_eof(eof_ec);
      if (eof_ec) throw_transport(endpoint_, "read response body from", eof_ec);
    }
  }
  co_return std::string_view{};
}

awaitable<void> Connection::read_body(http::response_parser<http::buffer_body>& parser,
                                      std::string& out, std::chrono::milliseconds idle) {
  for (;;) {
    std::string_view piece = co_await read_some(parser, idle);
    if (piece.empty()) break;
    out.append(piece);
  }
}

}  // namespace kcoro::detail
