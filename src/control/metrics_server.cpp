// The metrics and health endpoint: an acceptor and one coroutine per connection, all on a strand.
#include "kcoro/metrics_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <fmt/format.h>

#include <mutex>
#include <set>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

namespace kcoro {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto nothrow = net::as_tuple(net::use_awaitable);

tcp::endpoint parse_bind_address(const std::string& text) {
  std::string host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw std::invalid_argument("bind address \"" + text + "\": expected [v6 address]:port");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos)
      throw std::invalid_argument("bind address \"" + text + "\": expected host:port or :port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned long p = 0;
  try {
    std::size_t used = 0;
    p = std::stoul(port, &used);
    if (used != port.size() || p > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    throw std::invalid_argument("bind address \"" + text + "\": bad port");
  }
  boost::system::error_code ec;
  const net::ip::address addr =
      host.empty() ? net::ip::address(net::ip::address_v4::any()) : net::ip::make_address(host, ec);
  if (ec) throw std::invalid_argument("bind address \"" + text + "\": bad IP address");
  return {addr, static_cast<unsigned short>(p)};
}

using Response = http::response<http::string_body>;

Response text(unsigned status, std::string body) {
  Response r{static_cast<http::status>(status), 11};
  r.set(http::field::content_type, "text/plain; charset=utf-8");
  r.set("X-Content-Type-Options", "nosniff");
  r.body() = std::move(body);
  return r;
}

using Checks = std::vector<std::pair<std::string, HealthCheck>>;

// nullopt: passed; else the reason it failed.
std::optional<std::string> run_check(const HealthCheck& check) {
  try {
    return check();
  } catch (const std::exception& e) {
    return std::string(e.what());
  } catch (...) {
    return std::string("unknown exception");
  }
}

}  // namespace

struct MetricsServer::State {
  State(net::any_io_executor ex, MetricsServerOptions o)
      : opts(std::move(o)),
        logger(opts.logger ? opts.logger : spdlog::default_logger()),
        strand(net::make_strand(ex)),
        acceptor(strand) {
    const tcp::endpoint ep = parse_bind_address(opts.bind_address);
    boost::system::error_code ec;
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) throw std::system_error(ec, "metrics server cannot listen on " + opts.bind_address);
    port = acceptor.local_endpoint().port();
  }

  MetricsServerOptions opts;
  std::shared_ptr<spdlog::logger> logger;
  net::strand<net::any_io_executor> strand;
  tcp::acceptor acceptor;
  uint16_t port = 0;

  std::mutex mu;  // the checks
  Checks health, ready;

  // On the strand only.
  bool stopped = false;
  std::set<beast::tcp_stream*> open;

  Checks checks_for(std::string_view probe) {
    std::lock_guard lk(mu);
    return probe == "/readyz" ? ready : health;
  }

  Response probe(std::string_view probe, std::string_view rest, bool verbose) {
    const Checks checks = checks_for(probe);
    if (!rest.empty()) {  // "/<name>"
      const std::string_view name = rest.substr(1);
      for (const auto& [n, check] : checks) {
        if (n != name) continue;
        if (auto why = run_check(check)) return text(500, "internal server error: " + *why + "\n");
        return text(200, "ok");
      }
      return text(404, "404 page not found\n");
    }
    std::string lines;
    bool failed = false;
    for (const auto& [name, check] : checks) {
      if (auto why = run_check(check)) {
        failed = true;
        lines += fmt::format("[-]{} failed: reason withheld\n", name);
        logger->info("{} check failed: {}: {}", probe.substr(1), name, *why);
      } else {
        lines += fmt::format("[+]{} ok\n", name);
      }
    }
    if (failed) return text(500, lines + fmt::format("{} check failed\n", probe.substr(1)));
    if (verbose) return text(200, lines + fmt::format("{} check passed\n", probe.substr(1)));
    return text(200, "ok");
  }

  Response answer(const http::request<http::string_body>& req) {
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      Response r = text(405, "405 method not allowed\n");
      r.set(http::field::allow, "GET, HEAD");
      return r;
    }
    const std::string_view target(req.target().data(), req.target().size());
    const auto q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
    const bool verbose = query == "verbose" || query.rfind("verbose=", 0) == 0 ||
                         query.find("&verbose") != std::string_view::npos;
    if (path == "/metrics") {
      if (!opts.registry) return text(404, "404 page not found\n");
      Response r = text(200, opts.registry->render());
      r.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      return r;
    }
    for (std::string_view p : {"/healthz", "/livez", "/readyz"}) {
      if (path.rfind(p, 0) != 0) continue;
      const std::string_view rest = path.substr(p.size());
      if (rest.empty() || rest.front() == '/') return probe(p, rest, verbose);
    }
    return text(404, "404 page not found\n");
  }

  net::awaitable<void> session(std::shared_ptr<State> self, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    if (stopped) co_return;
    open.insert(&stream);
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(16 * 1024);
      parser.body_limit(64 * 1024);
      stream.expires_after(60s);
      auto [rec, rn] = co_await http::async_read(stream, buffer, parser, nothrow);
      if (rec == http::error::end_of_stream || rec == net::error::eof) break;
      if (rec.category() == beast::error_code(http::error::bad_method).category()) {
        // Not HTTP, or too large: say so, then hang up (as Go's net/http does).
        Response bad = text(400, "400 Bad Request: " + rec.message() + "\n");
        bad.keep_alive(false);
        bad.prepare_payload();
        stream.expires_after(10s);
        co_await http::async_write(stream, bad, nothrow);
        break;
      }
      if (rec) break;
      const auto& req = parser.get();
      Response res = answer(req);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      if (req.method() == http::verb::head) {
        const auto length = res.body().size();
        res.body().clear();
        res.content_length(length);
      }
      stream.expires_after(10s);
      auto [wec, wn] = co_await http::async_write(stream, res, nothrow);
      if (wec || !res.keep_alive()) break;
    }
    open.erase(&stream);
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    (void)self;
  }

  net::awaitable<void> accept_loop(std::shared_ptr<State> self) {
    boost::system::error_code ec;
    const tcp::endpoint ep = acceptor.local_endpoint(ec);
    logger->info("serving /metrics, /healthz, /livez and /readyz on {}:{}",
                 ep.address().to_string(), ep.port());
    net::steady_timer pause(strand);
    while (!stopped) {
      auto [ec, socket] = co_await acceptor.async_accept(nothrow);
      if (stopped) break;
      if (ec) {  // out of descriptors, say: wait a little rather than spin
        logger->warn("metrics server: accept failed: {}", ec.message());
        pause.expires_after(100ms);
        co_await pause.async_wait(nothrow);
        continue;
      }
      net::co_spawn(strand, session(self, std::move(socket)), net::detached);
    }
  }

  void close_all() {
    stopped = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    for (beast::tcp_stream* s : open)
      s->socket().close(ignored);
  }
};

MetricsServer::MetricsServer(net::any_io_executor executor, MetricsServerOptions options)
    : st_(std::make_shared<State>(std::move(executor), std::move(options))) {}

MetricsServer::~MetricsServer() {
  stop();
}

void MetricsServer::add_health_check(std::string name, HealthCheck check) {
  std::lock_guard lk(st_->mu);
  st_->health.emplace_back(std::move(name), std::move(check));
}

void MetricsServer::add_ready_check(std::string name, HealthCheck check) {
  std::lock_guard lk(st_->mu);
  st_->ready.emplace_back(std::move(name), std::move(check));
}

uint16_t MetricsServer::port() const noexcept {
  return st_->port;
}

net::awaitable<void> MetricsServer::run() {
  std::shared_ptr<State> st = st_;
  co_await net::co_spawn(st->strand, st->accept_loop(st), net::use_awaitable);
}

void MetricsServer::stop() {
  net::post(st_->strand, [st = st_] { st->close_all(); });
}

}  // namespace kcoro
