// One coroutine per connection: TLS handshake, HTTP/1.1 requests in a keep-alive loop,
// authentication, faults, and chunked watch streams fed by FakeCluster watchers.
//
// Every handler of a connection runs on its strand (the executor its socket was accepted with).
// Waiting is always on `wake_`: a watcher's notify, the end of the background read, and close()
// cancel it, and every loop re-checks its conditions after waking, so a wake-up is never lost.
#include "testing/fake_server_http.hpp"
#include "testing/fake_server_impl.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <cstdio>

namespace kcoro::testing {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::awaitable;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

template <class Stream>
class Session : public ConnectionHandle, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

 public:
  template <class... Args>
  Session(FakeApiServer::Impl& server, asio::any_io_executor ex, Args&&... args)
      : server_(server), ex_(ex), stream_(std::forward<Args>(args)...), wake_(ex) {}

  void close() override {
    asio::post(ex_, [self = this->shared_from_this()] { self->close_now(); });
  }

  asio::any_io_executor executor() const { return ex_; }
  void set_id(uint64_t id) { id_ = id; }

  awaitable<void> run(std::shared_ptr<Session> self) {
    try {
      if (co_await handshake()) {
        // Not `while (!closed_ && co_await serve_one())`: GCC 12 would serve one more request
        // after the close.
        while (!closed_) {
          const bool more = co_await serve_one();
          if (!more) break;
        }
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "kcoro-fake-apiserver: connection %llu: %s\n",
                   static_cast<unsigned long long>(id_), e.what());
    }
    close_now();
    server_.remove_connection(id_);
    (void)self;
  }

 private:
  void close_now() {
    closed_ = true;
    beast::error_code ec;
    auto& sock = beast::get_lowest_layer(stream_);
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
    wake_.cancel();
  }

  // A notify is posted to the strand, so it runs while the coroutine is suspended: either in
  // `wait` (it wakes it) or in a write (the loop polls again after any write anyway).
  void on_notify() { wake_.cancel(); }

  // --- I/O steps ---------------------------------------------------------------------------

  awaitable<bool> handshake() {
    if constexpr (kTls) {
      stream_.set_verify_callback([this](bool preverified, ssl::verify_context&) {
        if (!preverified) bad_cert_ = true;
        return true;  // a bad client certificate is a 401 later, as on the real server
      });
      auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, nothrow);
      if (ec) co_return false;
      SSL* ssl = stream_.native_handle();
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
      X509* peer = SSL_get1_peer_certificate(ssl);
#else
      X509* peer = SSL_get_peer_certificate(ssl);
#endif
      if (peer) {
        has_cert_ = true;
        char cn[256];
        const int n =
            X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
        if (!bad_cert_ && SSL_get_verify_result(ssl) == X509_V_OK && n > 0) {
          cert_user_.assign(cn, static_cast<std::size_t>(n));
        }
        X509_free(peer);
      }
    }
    co_return true;
  }

  template <class Buffers>
  awaitable<bool> write(const Buffers& buffers) {
    auto [ec, n] = co_await asio::async_write(stream_, buffers, nothrow);
    server_.count(server_.bytes_sent, static_cast<int64_t>(n));
    co_return !ec && !closed_;
  }
  awaitable<bool> write_str(std::string_view s) {
    co_return co_await write(asio::buffer(s));
  }

  /// Waits until `until`, or until woken; false once the connection is closed.
  awaitable<bool> wait(Clock::time_point until) {
    wake_.expires_at(until);
    co_await wake_.async_wait(nothrow);
    co_return !closed_;
  }

  awaitable<bool> sleep(std::chrono::milliseconds d) {
    const auto until = Clock::now() + d;
    while (!closed_ && Clock::now() < until)
      co_await wait(until);
    co_return !closed_;
  }

  /// Reads in the background while a watch streams, to notice the client leaving. What it reads
  /// (the next request once the watch has ended) stays in `buffer_` for the keep-alive loop.
  void start_reader() {
    reader_done_ = false;
    reader_ec_ = {};
    asio::co_spawn(ex_, read_some(this->shared_from_this()), asio::detached);
  }
  awaitable<void> read_some(std::shared_ptr<Session> self) {
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(4096), nothrow);
    buffer_.commit(n);
    reader_ec_ = ec;
    reader_done_ = true;
    wake_.cancel();
    (void)self;
  }
  awaitable<void> wait_reader() {
    while (!reader_done_ && !closed_)
      co_await wait(Clock::time_point::max());
  }
  bool client_gone() const {
    return closed_ || (reader_done_ && reader_ec_);
  }

  // --- requests ----------------------------------------------------------------------------

  /// Serves one request; false when the connection must close.
  awaitable<bool> serve_one() {
    http::request_parser<http::string_body> parser;
    parser.header_limit(1 << 20);
    parser.body_limit(uint64_t{1} << 30);
    {
      auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, nothrow);
      if (ec) co_return false;
    }
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      if (!co_await write_str(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"))) co_return false;
    }
    if (!parser.is_done()) {
      auto [ec, n] = co_await http::async_read(stream_, buffer_, parser, nothrow);
      if (ec) co_return false;
    }
    auto req = parser.release();
    server_.count(server_.requests);

    FakeRequest fr;
    fr.method = std::string(req.method_string());
    fr.target = std::string(req.target());
    fr.content_type = std::string(req[http::field::content_type]);
    fr.accept = std::string(req[http::field::accept]);
    fr.user_agent = std::string(req[http::field::user_agent]);
    fr.body = std::move(req.body());
    const bool keep = req.keep_alive();
    if (!authenticate(req[http::field::authorization], fr.user)) {
      co_return co_await respond(http_render::unauthorized(), keep, std::nullopt);
    }
    const bool watch = FakeCluster::is_watch(fr);
    const std::string path = fr.target.substr(0, fr.target.find('?'));

    std::optional<std::size_t> cut;
    if (auto fault = server_.faults.take(fr.method, path, watch)) {
      server_.count(server_.fault_count);
      switch (fault->kind) {
        case FaultKind::delay:
          if (!co_await sleep(fault->delay)) co_return false;
          break;
        case FaultKind::status:
          co_return co_await respond(
              http_render::injected_status(fault->status, fault->retry_after), keep, std::nullopt);
        case FaultKind::garbage:
          co_await write_str(std::string_view(fault->garbage));
          co_return false;
        case FaultKind::stall:
          co_await stall(watch);
          co_return false;
        case FaultKind::cut:
          cut = fault->bytes;
          break;
      }
    }
    if (watch) co_return co_await serve_watch(fr, path, keep, cut);
    co_return co_await respond(server_.cluster->handle(fr), keep, cut);
  }

  bool authenticate(std::string_view authorization, std::string& user) const {
    if (!cert_user_.empty()) {  // x509 first, as kube-apiserver's union authenticator
      user = cert_user_;
      return true;
    }
    if (!authorization.empty()) {
      if (authorization.size() < 7 || !beast::iequals(authorization.substr(0, 7), "Bearer ")) {
        return false;
      }
      const auto it = server_.opts.tokens.find(std::string(authorization.substr(7)));
      if (it == server_.opts.tokens.end()) return false;
      user = it->second;
      return true;
    }
    if (has_cert_) return false;  // a certificate that did not verify
    return !server_.opts.require_auth && server_.opts.tokens.empty();
  }

  awaitable<bool> respond(const FakeResponse& r, bool keep, std::optional<std::size_t> cut) {
    const std::string head =
        http_render::head(r.status, r.content_type, r.body.size(), r.headers, !keep);
    if (cut && *cut < r.body.size()) {
      co_await write_str(head + r.body.substr(0, *cut));
      co_return false;
    }
    const std::array buffers{asio::buffer(head), asio::buffer(r.body)};
    co_return co_await write(buffers) && keep;
  }

  void watch_begins() {
    server_.count(server_.watches);
    server_.count(server_.watches_open);
  }
  void watch_ends() {
    server_.count(server_.watches_open, -1);
  }

  awaitable<void> stall(bool watch) {
    if (watch) {
      watch_begins();
      co_await write_str(http_render::head(200, "application/json", std::nullopt));
    }
    start_reader();
    co_await wait_reader();
    if (watch) watch_ends();
  }

  /// Appends one chunk per event line; with a cut, stops inside the line that crosses it.
  /// Returns true when the cut was reached.
  static bool frame(std::string_view lines, std::string& out, std::size_t& sent,
                    std::optional<std::size_t> cut) {
    while (!lines.empty()) {
      const auto eol = lines.find('\n');
      const std::size_t n = eol == std::string_view::npos ? lines.size() : eol + 1;
      if (cut && sent + n > *cut) {
        out += http_render::chunk_size_line(n);
        out.append(lines.substr(0, *cut - sent));
        sent = *cut;
        return true;
      }
      http_render::append_chunk(out, lines.substr(0, n));
      sent += n;
      lines.remove_prefix(n);
    }
    return false;
  }

  awaitable<bool> serve_watch(const FakeRequest& fr, const std::string& path, bool keep,
                              std::optional<std::size_t> cut) {
    if (server_.is_throughput_watch(path)) co_return co_await serve_throughput(keep);
    auto start = server_.cluster->watch(fr);
    if (start.error) co_return co_await respond(*start.error, keep, cut);
    const std::shared_ptr<Watcher> watcher = std::move(start.watcher);
    std::weak_ptr<Session> weak = this->shared_from_this();
    watcher->set_notify([weak, ex = ex_] {
      asio::post(ex, [weak] {
        if (auto s = weak.lock()) s->on_notify();
      });
    });

    watch_begins();
    bool ok =
        co_await write_str(http_render::head(200, "application/json", std::nullopt, {}, !keep));
    if (ok && cut && *cut == 0) ok = false;  // cut right after the head
    if (ok) start_reader();
    // Wake at the next bookmark or the deadline (in the cluster's clock, which tests may
    // virtualise), on notify, and at least every bookmark interval.
    const auto& clock = server_.opts.cluster.clock;
    const auto poll_interval = std::max<Clock::duration>(server_.opts.cluster.bookmark_interval,
                                                         std::chrono::milliseconds(10));
    std::size_t sent = 0;
    std::string lines, out;
    bool ended = false;
    while (ok) {
      if (client_gone()) {
        ok = false;
        break;
      }
      lines.clear();
      const bool alive = watcher->poll(lines);
      if (!lines.empty()) {
        out.clear();
        const bool cut_now = frame(lines, out, sent, cut);
        ok = co_await write_str(std::string_view(out)) && !cut_now;
        continue;
      }
      const auto now = clock ? clock() : Clock::now();
      const auto deadline = watcher->deadline();
      if (!alive || (deadline && now >= *deadline)) {
        ok = co_await write_str(http_render::kLastChunk);
        ended = true;
        break;
      }
      auto wait_for = poll_interval;
      for (const auto& t : {watcher->next_bookmark(), deadline}) {
        if (t) wait_for = std::min<Clock::duration>(wait_for, *t - now);
      }
      co_await wait(Clock::now() + std::max<Clock::duration>(wait_for, Clock::duration::zero()));
    }
    watcher->close();
    watch_ends();
    if (!ok || !ended || !keep) co_return false;
    co_await wait_reader();  // the client's next request, or its leaving
    co_return !reader_ec_ && !closed_;
  }

  awaitable<bool> serve_throughput(bool keep) {
    watch_begins();
    bool ok =
        co_await write_str(http_render::head(200, "application/json", std::nullopt, {}, !keep));
    const std::string& body = server_.prerendered;
    const std::size_t step = std::max<std::size_t>(server_.opts.throughput.write_size, 1);
    const auto t0 = Clock::now();
    std::size_t off = 0;
    while (ok && off < body.size()) {
      const std::size_t n = std::min(step, body.size() - off);
      ok = co_await write(asio::buffer(body.data() + off, n));
      if (ok) off += n;
    }
    if (ok) {
      server_.record_throughput(off, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    watch_ends();
    co_return ok&& keep;
  }

  FakeApiServer::Impl& server_;
  asio::any_io_executor ex_;
  Stream stream_;
  asio::steady_timer wake_;
  beast::flat_buffer buffer_;
  uint64_t id_ = 0;
  bool closed_ = false;
  bool reader_done_ = true;
  beast::error_code reader_ec_;
  bool has_cert_ = false;
  bool bad_cert_ = false;
  std::string cert_user_;
};

template <class S>
void launch(FakeApiServer::Impl& server, std::shared_ptr<S> session) {
  session->set_id(server.add_connection(session));
  auto ex = session->executor();
  auto* raw = session.get();
  asio::co_spawn(ex, raw->run(std::move(session)), asio::detached);
}

}  // namespace

void FakeApiServer::Impl::accept(tcp::socket socket) {
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  auto ex = socket.get_executor();
  if (ssl_ctx) {
    launch(*this, std::make_shared<Session<ssl::stream<tcp::socket>>>(*this, ex, std::move(socket),
                                                                      *ssl_ctx));
  } else {
    launch(*this, std::make_shared<Session<tcp::socket>>(*this, ex, std::move(socket)));
  }
}

}  // namespace kcoro::testing
