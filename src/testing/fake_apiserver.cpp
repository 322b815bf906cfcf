// FakeApiServer: lifecycle (listen, threads, stop, restart), the connection registry, stats,
// faults and kubeconfig. The connections themselves are in fake_server_session.cpp.
#include "kcoro/testing/fake_apiserver.hpp"

#include "testing/fake_server_impl.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <openssl/evp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace kcoro::testing {
namespace {

using tcp = asio::ip::tcp;

asio::awaitable<void> accept_loop(FakeApiServer::Impl& s) {
  for (;;) {
    auto [ec, socket] = co_await s.acceptor.async_accept(asio::make_strand(s.ioc),
                                                         asio::as_tuple(asio::use_awaitable));
    if (s.stopped || !s.acceptor.is_open()) co_return;
    if (!ec) s.accept(std::move(socket));
  }
}

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string yaml_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s)
    out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

}  // namespace

// --- Impl ------------------------------------------------------------------------------------

FakeApiServer::Impl::Impl(FakeApiServerOptions options)
    : opts(std::move(options)),
      ioc(static_cast<int>(std::max(1u, opts.threads))),
      control(asio::make_strand(ioc)),
      acceptor(control),
      churn_timer(control) {}

void FakeApiServer::Impl::changed() const {
  { std::lock_guard lock(stats_mutex); }
  stats_cv.notify_all();
}

void FakeApiServer::Impl::count(std::atomic<uint64_t>& counter, int64_t delta) {
  counter.fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed);
  changed();
}

uint64_t FakeApiServer::Impl::add_connection(const std::shared_ptr<ConnectionHandle>& conn) {
  uint64_t id;
  bool refuse;
  {
    std::lock_guard lock(mutex);
    id = next_conn_id++;
    conns.emplace(id, conn);
    refuse = stopping;
  }
  count(connections);
  count(connections_open);
  if (refuse) conn->close();
  return id;
}

void FakeApiServer::Impl::remove_connection(uint64_t id) {
  {
    std::lock_guard lock(mutex);
    conns.erase(id);
  }
  count(connections_open, -1);
}

std::vector<uint64_t> FakeApiServer::Impl::close_connections() {
  std::vector<std::shared_ptr<ConnectionHandle>> live;
  std::vector<uint64_t> ids;
  {
    std::lock_guard lock(mutex);
    for (const auto& [id, weak] : conns) {
      ids.push_back(id);
      if (auto c = weak.lock()) live.push_back(std::move(c));
    }
  }
  for (const auto& c : live)
    c->close();
  return ids;
}

// --- FakeApiServer ---------------------------------------------------------------------------

FakeApiServer::FakeApiServer(FakeApiServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
  Impl& s = *impl_;
  if (s.opts.tls) {
    s.ca = std::make_unique<CertificateAuthority>();
    s.ca_pem = s.ca->cert_pem();
    const CertAndKey server =
        s.ca->issue_server({"localhost"}, {"127.0.0.1"}, s.opts.expired_server_certificate);
    namespace ssl = asio::ssl;
    auto& ctx = s.ssl_ctx.emplace(ssl::context::tls_server);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain(asio::buffer(server.cert_pem));
    ctx.use_private_key(asio::buffer(server.key_pem), ssl::context::pem);
    ctx.add_certificate_authority(asio::buffer(s.ca_pem));
    ctx.set_verify_mode(ssl::verify_peer);  // ask for a client certificate; do not require one
  }

  const tcp::endpoint endpoint(asio::ip::address_v4::loopback(), s.opts.port);
  s.acceptor.open(endpoint.protocol());
  s.acceptor.set_option(tcp::acceptor::reuse_address(true));
  s.acceptor.bind(endpoint);
  s.acceptor.listen();
  s.port = s.acceptor.local_endpoint().port();

  FakeClusterOptions cluster_opts = s.opts.cluster;
  cluster_opts.server_address = "127.0.0.1:" + std::to_string(s.port);
  s.cluster = std::make_unique<FakeCluster>(std::move(cluster_opts));
  s.seed();
  s.prerender();

  asio::co_spawn(s.control, accept_loop(s), asio::detached);
  s.start_churn();
  for (unsigned i = 0; i < std::max(1u, s.opts.threads); ++i) {
    s.threads.emplace_back([&s] { s.ioc.run(); });
  }
}

FakeApiServer::~FakeApiServer() {
  stop();
}

void FakeApiServer::stop() {
  Impl& s = *impl_;
  if (s.stopped.exchange(true)) return;
  {
    std::lock_guard lock(s.mutex);
    s.stopping = true;
  }
  asio::post(s.control, [&s] {
    boost::system::error_code ec;
    s.acceptor.close(ec);
    s.churn_timer.cancel();
  });
  s.close_connections();
  for (auto& t : s.threads)
    t.join();
  s.threads.clear();
}

void FakeApiServer::restart() {
  Impl& s = *impl_;
  const std::vector<uint64_t> ids = s.close_connections();
  std::unique_lock lock(s.stats_mutex);
  const bool done = s.stats_cv.wait_for(lock, std::chrono::seconds(30), [&] {
    std::lock_guard conns_lock(s.mutex);
    for (const uint64_t id : ids) {
      if (s.conns.count(id)) return false;
    }
    return true;
  });
  if (!done) throw std::runtime_error("FakeApiServer::restart: connections did not close");
}

FakeCluster& FakeApiServer::cluster() {
  return *impl_->cluster;
}
uint16_t FakeApiServer::port() const {
  return impl_->port;
}
bool FakeApiServer::tls() const {
  return impl_->opts.tls;
}
std::string FakeApiServer::url() const {
  return std::string(tls() ? "https" : "http") + "://127.0.0.1:" + std::to_string(port());
}
const std::string& FakeApiServer::ca_pem() const {
  return impl_->ca_pem;
}

std::pair<std::string, std::string> FakeApiServer::issue_client_cert(const std::string& cn) const {
  if (!impl_->ca) throw std::logic_error("FakeApiServer::issue_client_cert: TLS is off");
  CertAndKey c = impl_->ca->issue_client(cn);
  return {std::move(c.cert_pem), std::move(c.key_pem)};
}

std::string FakeApiServer::kubeconfig(const KubeconfigOptions& options) const {
  std::string token = options.token;
  if (token.empty() && !impl_->opts.tokens.empty()) token = impl_->opts.tokens.begin()->first;
  std::string y = "apiVersion: v1\nkind: Config\nclusters:\n- name: kcoro-fake\n  cluster:\n";
  y += "    server: " + url() + "\n";
  if (tls()) y += "    certificate-authority-data: " + base64(ca_pem()) + "\n";
  std::string user;
  if (!token.empty()) user += "    token: " + yaml_quote(token) + "\n";
  if (!options.client_cert_cn.empty()) {
    const auto [cert, key] = issue_client_cert(options.client_cert_cn);
    user += "    client-certificate-data: " + base64(cert) + "\n";
    user += "    client-key-data: " + base64(key) + "\n";
  }
  y += "users:\n- name: kcoro-fake\n  user:" + (user.empty() ? std::string(" {}\n") : "\n" + user);
  y += "contexts:\n- name: kcoro-fake\n  context:\n    cluster: kcoro-fake\n    user: kcoro-fake\n";
  y += "    namespace: " + yaml_quote(options.namespace_name) + "\n";
  y += "current-context: kcoro-fake\n";
  return y;
}

void FakeApiServer::write_kubeconfig(const std::string& path,
                                     const KubeconfigOptions& options) const {
  // Written aside and renamed, so a script waiting for the file never reads half of it.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << kubeconfig(options);
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

int FakeApiServer::add_fault(Fault fault) {
  return impl_->faults.add(std::move(fault));
}
void FakeApiServer::remove_fault(int id) {
  impl_->faults.remove(id);
}
void FakeApiServer::clear_faults() {
  impl_->faults.clear();
}

FakeApiServerStats FakeApiServer::stats() const {
  const Impl& s = *impl_;
  FakeApiServerStats r;
  r.requests = s.requests.load();
  r.bytes_sent = s.bytes_sent.load();
  r.connections_open = s.connections_open.load();
  r.connections = s.connections.load();
  r.watches_open = s.watches_open.load();
  r.watches = s.watches.load();
  r.faults = s.fault_count.load();
  r.churn_ops = s.churn_ops.load();
  return r;
}

ThroughputReport FakeApiServer::throughput() const {
  std::lock_guard lock(impl_->throughput_mutex);
  return impl_->throughput;
}

bool FakeApiServer::wait_for(const std::function<bool(const FakeApiServerStats&)>& pred,
                             std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->stats_mutex);
  return impl_->stats_cv.wait_for(lock, timeout, [&] { return pred(stats()); });
}

}  // namespace kcoro::testing
