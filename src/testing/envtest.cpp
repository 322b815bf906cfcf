// kcoro::testing::EnvTest: etcd and kube-apiserver as child processes (envtest_process), reached
// through the environment's own blocking HTTP client (envtest_http) for readiness, CRDs
// (envtest_crds) and etcd's v3 gateway.
#include "kcoro/testing/envtest.hpp"

#include "testing/envtest_crds.hpp"
#include "testing/envtest_http.hpp"
#include "testing/envtest_process.hpp"
#include "testing/tls_certs.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace kcoro::testing {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* nobody_user = "kcoro-nobody";

uint16_t free_port(std::vector<int>& held) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw EnvTestError("envtest: socket: " + std::string(std::strerror(errno)));
  held.push_back(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw EnvTestError("envtest: no free loopback port: " + std::string(std::strerror(errno)));
  }
  return ntohs(addr.sin_port);
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
  if (!f) throw EnvTestError("envtest: cannot write " + p.string());
}

// "--name=value" → "--name"; "--name" alone is its own name.
std::string flag_name(const std::string& flag) {
  return flag.substr(0, flag.find('='));
}

std::string json_string(const json::value& v, std::initializer_list<std::string_view> path) {
  const json::value* cur = &v;
  for (auto key : path) {
    if (!cur->is_object()) return {};
    auto it = cur->as_object().find(key);
    if (it == cur->as_object().end()) return {};
    cur = &it->value();
  }
  return cur->is_string() ? std::string(cur->as_string()) : std::string();
}

int64_t json_int(const json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64()) return static_cast<int64_t>(v.as_uint64());
  if (v.is_string()) return std::stoll(std::string(v.as_string()));
  throw EnvTestError("envtest: expected an integer, got " + json::serialize(v));
}

std::string tail_lines(const fs::path& file, std::size_t lines) {
  std::ifstream f(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (std::size_t n = 0; n < lines && pos != std::string::npos && pos > 0; ++n)
    pos = text.rfind('\n', pos - 1);
  return pos == std::string::npos || pos == 0 ? text : text.substr(pos + 1);
}

}  // namespace

std::optional<fs::path> find_envtest_assets(const EnvTestOptions& opts) {
  std::string dir = opts.assets_dir;
  if (dir.empty() && opts.env) dir = opts.env("KCORO_TEST_ASSETS").value_or("");
  if (dir.empty() && opts.env) dir = opts.env("KUBEBUILDER_ASSETS").value_or("");
  if (dir.empty()) return std::nullopt;
  std::error_code ec;
  if (!fs::is_regular_file(fs::path(dir) / "kube-apiserver", ec) ||
      !fs::is_regular_file(fs::path(dir) / "etcd", ec)) {
    return std::nullopt;
  }
  return fs::path(dir);
}

struct EnvTest::Impl {
  EnvTestOptions opts;
  fs::path assets;
  fs::path dir;
  uint16_t etcd_port = 0;
  uint16_t etcd_peer_port = 0;
  uint16_t apiserver_port = 0;
  std::unique_ptr<CertificateAuthority> ca;
  CertAndKey admin;
  std::vector<std::string> apiserver_args;
  ChildProcess etcd;
  ChildProcess apiserver;
  HttpEndpoint etcd_http;
  HttpEndpoint api_http;
  std::chrono::milliseconds startup{0};
  bool running = false;

  explicit Impl(EnvTestOptions o) : opts(std::move(o)) {}

  fs::path etcd_log() const { return dir / "etcd.log"; }
  fs::path apiserver_log() const { return dir / "kube-apiserver.log"; }

  void make_dir() {
    fs::path root = opts.temp_root.empty() ? fs::temp_directory_path() : opts.temp_root;
    std::string tmpl = (root / "kcoro-envtest-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      throw EnvTestError("envtest: cannot create a folder in " + root.string() + ": " +
                         std::strerror(errno));
    }
    dir = tmpl;
  }

  void write_credentials() {
    ca = std::make_unique<CertificateAuthority>("kcoro-envtest-ca");
    const CertAndKey server =
        ca->issue_server({"localhost", "kubernetes", "kubernetes.default"}, {"127.0.0.1"});
    admin = ca->issue_client("kcoro-admin", {"system:masters"});
    const KeyPair sa = generate_key_pair();
    write_file(dir / "ca.crt", ca->cert_pem());
    write_file(dir / "server.crt", server.cert_pem);
    write_file(dir / "server.key", server.key_pem);
    write_file(dir / "sa.key", sa.private_pem);
    write_file(dir / "sa.pub", sa.public_pem);
    write_file(dir / "tokens.csv", std::string(EnvTest::admin_token) +
                                       ",kcoro-admin,kcoro-admin-uid,\"system:masters\"\n" +
                                       EnvTest::nobody_token + "," + nobody_user +
                                       ",kcoro-nobody-uid\n");
    auto tls = std::make_shared<ssl::context>(ssl::context::tls_client);
    tls->add_certificate_authority(net::buffer(ca->cert_pem()));
    tls->use_certificate_chain(net::buffer(admin.cert_pem));
    tls->use_private_key(net::buffer(admin.key_pem), ssl::context::pem);
    tls->set_verify_mode(ssl::verify_peer);
    api_http.tls = std::move(tls);
  }

  void pick_ports() {
    std::vector<int> held;  // kept open until all three are chosen, so they differ
    try {
      etcd_port = free_port(held);
      etcd_peer_port = free_port(held);
      apiserver_port = free_port(held);
    } catch (...) {
      for (int fd : held)
        ::close(fd);
      throw;
    }
    for (int fd : held)
      ::close(fd);
    etcd_http.port = etcd_port;
    api_http.port = apiserver_port;
  }

  std::vector<std::string> etcd_args() const {
    const std::string client = "http://127.0.0.1:" + std::to_string(etcd_port);
    const std::string peer = "http://127.0.0.1:" + std::to_string(etcd_peer_port);
    return {(assets / "etcd").string(), "--data-dir=" + (dir / "etcd").string(),
            "--listen-client-urls=" + client, "--advertise-client-urls=" + client,
            "--listen-peer-urls=" + peer};
  }

  std::vector<std::string> make_apiserver_args() const {
    const auto d = [&](const char* f) { return (dir / f).string(); };
    std::vector<std::string> flags = {
        "--etcd-servers=http://127.0.0.1:" + std::to_string(etcd_port),
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        "--secure-port=" + std::to_string(apiserver_port),
        "--cert-dir=" + d("apiserver-certs"),
        "--tls-cert-file=" + d("server.crt"),
        "--tls-private-key-file=" + d("server.key"),
        "--client-ca-file=" + d("ca.crt"),
        "--token-auth-file=" + d("tokens.csv"),
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc",
        "--service-account-key-file=" + d("sa.pub"),
        "--service-account-signing-key-file=" + d("sa.key"),
        "--service-cluster-ip-range=10.96.0.0/16",
        "--disable-admission-plugins=ServiceAccount",
        "--allow-privileged=true",
    };
    std::set<std::string> overridden;
    for (const auto& f : opts.apiserver_flags)
      overridden.insert(flag_name(f));
    std::vector<std::string> args = {(assets / "kube-apiserver").string()};
    for (auto& f : flags)
      if (!overridden.count(flag_name(f))) args.push_back(std::move(f));
    args.insert(args.end(), opts.apiserver_flags.begin(), opts.apiserver_flags.end());
    return args;
  }

  [[noreturn]] void fail_process(const ChildProcess& p, const fs::path& log,
                                 const std::string& why) const {
    throw EnvTestError("envtest: " + p.name() + " " + why + "; last lines of " + log.string() +
                       ":\n" + tail_lines(log, 20));
  }

  // Polls `ready` every 100 ms until it holds; throws when the process exits or time runs out.
  template <class Ready>
  void wait_ready(ChildProcess& p, const fs::path& log, Ready ready) {
    const auto deadline = Clock::now() + opts.start_timeout;
    for (;;) {
      if (auto status = p.poll_exit())
        fail_process(p, log, "exited during start-up (" + *status + ")");
      try {
        if (ready()) return;
      } catch (const std::exception&) {
        // Not listening yet, or not answering yet.
      }
      if (Clock::now() > deadline) {
        fail_process(p, log,
                     "was not ready within " + std::to_string(opts.start_timeout.count()) + " ms");
      }
      std::this_thread::sleep_for(100ms);
    }
  }

  void start_apiserver() {
    apiserver.spawn("kube-apiserver", apiserver_args, apiserver_log());
    wait_ready(apiserver, apiserver_log(), [&] {
      auto a = api_http.request(http::verb::get, "/readyz", {}, {}, 2s);
      return a.status == 200 && a.body == "ok";
    });
  }

  void start_once() {
    make_dir();
    write_credentials();
    pick_ports();
    etcd.spawn("etcd", etcd_args(), etcd_log());
    wait_ready(etcd, etcd_log(), [&] {
      auto a = etcd_http.request(http::verb::get, "/health", {}, {}, 2s);
      return a.status == 200 && a.body.find("true") != std::string::npos;
    });
    apiserver_args = make_apiserver_args();
    start_apiserver();
  }

  void stop_all() {
    apiserver.stop(opts.stop_timeout);
    etcd.stop(opts.stop_timeout);
    if (!dir.empty()) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      dir.clear();
    }
    running = false;
  }

  ClusterConfig config() const {
    ClusterConfig c =
        ClusterConfig::from_url("https://127.0.0.1:" + std::to_string(apiserver_port));
    c.ca_data = ca->cert_pem();
    c.context = "envtest";
    return c;
  }

  void require_running(const char* what) const {
    if (!running) throw EnvTestError(std::string("envtest: ") + what + ": not started");
  }

  HttpAnswer api(http::verb verb, const std::string& target, const std::string& body = {}) const {
    return api_http.request(verb, target, body, "application/json", 10s);
  }

  std::vector<std::string> install(const std::vector<json::object>& crds,
                                   std::chrono::milliseconds timeout) {
    require_running("install_crds");
    const std::string collection = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    std::vector<std::string> names;
    for (auto crd : crds) {
      const std::string name = json_string(crd, {"metadata", "name"});
      auto created = api(http::verb::post, collection, json::serialize(crd));
      if (created.status == 409) {
        auto current = api(http::verb::get, collection + "/" + name);
        auto rv = json_string(json::parse(current.body), {"metadata", "resourceVersion"});
        crd["metadata"].as_object()["resourceVersion"] = rv;
        created = api(http::verb::put, collection + "/" + name, json::serialize(crd));
      }
      if (created.status / 100 != 2) {
        throw EnvTestError("envtest: installing CRD " + name + ": HTTP " +
                           std::to_string(created.status) + ": " + created.body);
      }
      names.push_back(name);
    }
    // Served when discovery of each served version lists the plural.
    const auto deadline = Clock::now() + timeout;
    for (const auto& crd : crds) {
      const json::value spec = crd.contains("spec") ? crd.at("spec") : json::value();
      const std::string group = json_string(spec, {"group"});
      const std::string plural = json_string(spec, {"names", "plural"});
      std::vector<std::string> versions;
      if (spec.is_object() && spec.as_object().contains("versions")) {
        for (const auto& v : spec.at("versions").as_array()) {
          const auto* served = v.as_object().if_contains("served");
          if (!served || (served->is_bool() && served->as_bool()))
            versions.push_back(json_string(v, {"name"}));
        }
      }
      for (const auto& version : versions) {
        for (;;) {
          auto a = api(http::verb::get, "/apis/" + group + "/" + version);
          if (a.status == 200) {
            auto doc = json::parse(a.body);
            bool found = false;
            for (const auto& r : doc.at("resources").as_array())
              found = found || json_string(r, {"name"}) == plural;
            if (found) break;
          }
          if (Clock::now() > deadline) {
            throw EnvTestError("envtest: CRD " + plural + "." + group + "/" + version +
                               " not served within " + std::to_string(timeout.count()) + " ms");
          }
          std::this_thread::sleep_for(50ms);
        }
      }
    }
    return names;
  }
};

EnvTest::EnvTest(EnvTestOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}

EnvTest::~EnvTest() {
  try {
    stop();
  } catch (...) {
    // A destructor does not throw; stop() already did its best.
  }
}

void EnvTest::start() {
  if (impl_->running) return;
  auto assets = find_envtest_assets(impl_->opts);
  if (!assets) {
    throw EnvTestError(
        "envtest: no kube-apiserver/etcd assets: set KCORO_TEST_ASSETS or KUBEBUILDER_ASSETS "
        "(or EnvTestOptions::assets_dir) to a folder holding both executables");
  }
  impl_->assets = *assets;
  const auto began = Clock::now();
  // A port chosen free may be taken before the process binds it: try again with new ports.
  for (int attempt = 1;; ++attempt) {
    try {
      impl_->start_once();
      break;
    } catch (const EnvTestError& e) {
      impl_->stop_all();
      // Retried only when the port was one this environment chose.
      const bool port_taken =
          std::string_view(e.what()).find("address already in use") != std::string_view::npos;
      const auto& flags = impl_->opts.apiserver_flags;
      const bool own_port = std::none_of(flags.begin(), flags.end(), [](const std::string& f) {
        return flag_name(f) == "--secure-port";
      });
      if (!port_taken || !own_port || attempt == 3) throw;
    } catch (...) {
      impl_->stop_all();
      throw;
    }
  }
  impl_->running = true;
  try {
    std::vector<fs::path> crds = impl_->opts.crd_paths;
    if (!crds.empty()) install_crds(crds);
  } catch (...) {
    impl_->stop_all();
    throw;
  }
  impl_->startup = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - began);
}

void EnvTest::stop() {
  impl_->stop_all();
}

bool EnvTest::running() const noexcept {
  return impl_->running;
}

std::string EnvTest::url() const {
  return "https://127.0.0.1:" + std::to_string(impl_->apiserver_port);
}

ClusterConfig EnvTest::admin_config() const {
  impl_->require_running("admin_config");
  ClusterConfig c = impl_->config();
  c.client_cert_data = impl_->admin.cert_pem;
  c.client_key_data = impl_->admin.key_pem;
  return c;
}

ClusterConfig EnvTest::token_config(const std::string& token) const {
  impl_->require_running("token_config");
  ClusterConfig c = impl_->config();
  c.token = token;
  return c;
}

void EnvTest::write_kubeconfig(const fs::path& file) const {
  impl_->require_running("write_kubeconfig");
  std::ostringstream y;
  y << "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: " << url()
    << "\n    certificate-authority-data: " << base64_encode(impl_->ca->cert_pem())
    << "\nusers:\n- name: envtest-admin\n  user:\n    client-certificate-data: "
    << base64_encode(impl_->admin.cert_pem)
    << "\n    client-key-data: " << base64_encode(impl_->admin.key_pem)
    << "\ncontexts:\n- name: envtest\n  context:\n    cluster: envtest\n    user: envtest-admin\n"
    << "current-context: envtest\n";
  write_file(file, y.str());
}

std::vector<std::string> EnvTest::install_crds(const std::vector<fs::path>& paths,
                                               std::chrono::milliseconds timeout) {
  std::vector<json::object> crds;
  for (const auto& p : paths) {
    std::vector<fs::path> files;
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (const auto& e : fs::directory_iterator(p)) {
        const auto ext = e.path().extension();
        if (ext == ".yaml" || ext == ".yml" || ext == ".json") files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(p);
    }
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      if (!in) throw EnvTestError("envtest: cannot read CRD file " + f.string());
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      auto docs = crd_documents(text, f.string());
      crds.insert(crds.end(), docs.begin(), docs.end());
    }
  }
  return impl_->install(crds, timeout);
}

std::vector<std::string> EnvTest::install_crd_text(const std::string& yaml_or_json,
                                                   std::chrono::milliseconds timeout) {
  return impl_->install(crd_documents(yaml_or_json, "CRD text"), timeout);
}

int64_t EnvTest::etcd_revision() const {
  impl_->require_running("etcd_revision");
  // A range over one key answers with the store's header, which carries the current revision.
  auto a = impl_->etcd_http.request(http::verb::post, "/v3/kv/range",
                                    R"({"key":"L2tjb3JvLWVudnRlc3Q=","count_only":true})");
  if (a.status != 200)
    throw EnvTestError("envtest: etcd /v3/kv/range: HTTP " + std::to_string(a.status) + ": " +
                       a.body);
  return json_int(json::parse(a.body).at("header").at("revision"));
}

int64_t EnvTest::compact_etcd() {
  const int64_t rev = etcd_revision();
  auto a = impl_->etcd_http.request(
      http::verb::post, "/v3/kv/compaction",
      R"({"revision":")" + std::to_string(rev) + R"(","physical":true})", "application/json", 30s);
  if (a.status != 200) {
    throw EnvTestError("envtest: etcd /v3/kv/compaction: HTTP " + std::to_string(a.status) + ": " +
                       a.body);
  }
  return rev;
}

void EnvTest::restart_apiserver() {
  impl_->require_running("restart_apiserver");
  impl_->apiserver.kill();
  try {
    impl_->start_apiserver();
  } catch (...) {
    impl_->stop_all();
    throw;
  }
}

const fs::path& EnvTest::dir() const noexcept {
  return impl_->dir;
}

std::string EnvTest::apiserver_log_tail(std::size_t lines) const {
  return tail_lines(impl_->apiserver_log(), lines);
}

std::chrono::milliseconds EnvTest::startup_time() const noexcept {
  return impl_->startup;
}

}  // namespace kcoro::testing
