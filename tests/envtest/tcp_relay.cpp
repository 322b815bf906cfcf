#include "envtest/tcp_relay.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <random>
#include <vector>

namespace kcoro::test {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

struct Conn {
  Conn(tcp::socket c, net::any_io_executor ex) : client(std::move(c)), server(ex) {}
  tcp::socket client;
  tcp::socket server;
  uint64_t index = 0;
  uint64_t budget = 0;  // server-to-client bytes until the cut
  bool closed = false;

  void close(bool reset) {
    if (closed) return;
    closed = true;
    boost::system::error_code ec;
    if (reset) client.set_option(net::socket_base::linger(true, 0), ec);
    client.close(ec);
    server.close(ec);
  }
};

}  // namespace

struct TcpRelay::State {
  State(net::any_io_executor e, TcpRelayOptions o)
      : ex(e),
        acceptor(e, tcp::endpoint(net::ip::address_v4::loopback(), 0)),
        opts(o),
        rng(o.seed) {}

  net::any_io_executor ex;
  tcp::acceptor acceptor;
  TcpRelayOptions opts;
  std::mt19937_64 rng;
  std::vector<std::weak_ptr<Conn>> conns;  // touched on `ex` only
  std::atomic<bool> cutting{false};
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> cuts{0};
  std::atomic<uint64_t> bytes_down{0};
};

namespace {

using StatePtr = std::shared_ptr<TcpRelay::State>;

net::awaitable<void> pump(StatePtr s, std::shared_ptr<Conn> c, bool down) {
  std::array<char, 16384> buf;
  tcp::socket& from = down ? c->server : c->client;
  tcp::socket& to = down ? c->client : c->server;
  for (;;) {
    auto read_buf = net::buffer(buf);
    auto [ec, n] = co_await from.async_read_some(read_buf, use_tuple);
    if (ec) break;
    std::size_t send = n;
    bool cut = false;
    if (down && s->cutting.load(std::memory_order_relaxed)) {
      if (c->budget <= n) {
        send = c->budget;
        cut = true;
      } else {
        c->budget -= n;
      }
    }
    if (send > 0) {
      auto write_buf = net::buffer(buf.data(), send);
      auto [wec, m] = co_await net::async_write(to, write_buf, use_tuple);
      if (wec) break;
      if (down) s->bytes_down += m;
    }
    if (cut) {
      if (!c->closed) ++s->cuts;
      c->close(c->index % 2 == 0);
      co_return;
    }
  }
  c->close(false);
}

net::awaitable<void> serve(StatePtr s, std::shared_ptr<Conn> c) {
  const tcp::endpoint upstream(net::ip::address_v4::loopback(), s->opts.upstream_port);
  auto [ec] = co_await c->server.async_connect(upstream, use_tuple);
  if (ec) {
    c->close(true);
    co_return;
  }
  s->conns.push_back(c);
  net::co_spawn(s->ex, pump(s, c, false), net::detached);
  co_await pump(s, c, true);
}

net::awaitable<void> accept_loop(StatePtr s) {
  std::uniform_int_distribution<uint64_t> budget(s->opts.min_cut_bytes, s->opts.max_cut_bytes);
  for (;;) {
    auto [ec, sock] = co_await s->acceptor.async_accept(use_tuple);
    if (ec) co_return;  // stopped
    auto c = std::make_shared<Conn>(std::move(sock), s->ex);
    c->index = s->connections++;
    c->budget = budget(s->rng);
    // Forget connections that ended.
    std::erase_if(s->conns, [](const std::weak_ptr<Conn>& w) { return w.expired(); });
    net::co_spawn(s->ex, serve(s, c), net::detached);
  }
}

void close_all(const StatePtr& s) {
  for (auto& w : s->conns) {
    if (auto c = w.lock(); c && !c->closed) {
      ++s->cuts;
      c->close(true);
    }
  }
  s->conns.clear();
}

}  // namespace

TcpRelay::TcpRelay(net::any_io_executor ex, TcpRelayOptions opts)
    : state_(std::make_shared<State>(ex, opts)) {
  net::co_spawn(ex, accept_loop(state_), net::detached);
}

TcpRelay::~TcpRelay() {
  stop();
}

uint16_t TcpRelay::port() const noexcept {
  return state_->acceptor.local_endpoint().port();
}

void TcpRelay::set_cutting(bool on) noexcept {
  state_->cutting = on;
}

void TcpRelay::cut_all() {
  net::post(state_->ex, [s = state_] { close_all(s); });
}

TcpRelayStats TcpRelay::stats() const noexcept {
  return {state_->connections.load(), state_->cuts.load(), state_->bytes_down.load()};
}

void TcpRelay::stop() {
  net::post(state_->ex, [s = state_] {
    boost::system::error_code ec;
    s->acceptor.close(ec);
    const uint64_t cuts = s->cuts;
    close_all(s);
    s->cuts = cuts;  // closing at stop is not a cut
  });
}

}  // namespace kcoro::test
