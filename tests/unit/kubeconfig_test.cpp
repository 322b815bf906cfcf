#include "kcoro/kubeconfig.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

namespace fs = std::filesystem;
using kcoro::ClusterConfig;
using kcoro::ConfigError;
using kcoro::LoadOptions;

namespace {

// A fresh folder under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ = fs::temp_directory_path() /
            ("kcoro-kubeconfig-test-" + std::to_string(stamp) + "-" + std::to_string(++counter));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `content` to `rel` (creating folders) and returns the absolute path.
  std::string write(const std::string& rel, const std::string& content) const {
    fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  std::string path(const std::string& rel = "") const {
    return rel.empty() ? path_.string() : (path_ / rel).string();
  }

 private:
  fs::path path_;
};

// An injected environment: only the variables given are set.
kcoro::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

LoadOptions opts_with(std::map<std::string, std::string> vars, const std::string& sa_dir = "") {
  LoadOptions o;
  o.env = env_of(std::move(vars));
  o.service_account_dir = sa_dir.empty() ? "/nonexistent-kcoro-sa" : sa_dir;
  return o;
}

template <class F>
std::optional<ConfigError> error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e;
  }
  return std::nullopt;
}

// Asserts that `f` throws a ConfigError naming `file` and `field` in its message.
template <class F>
ConfigError expect_error(F&& f, const std::string& file, const std::string& field,
                         kcoro::errc code = kcoro::errc::invalid_config) {
  auto err = error_of(std::forward<F>(f));
  REQUIRE_MESSAGE(err, "expected a ConfigError");
  const std::string what = err->what();
  INFO("what(): " << what);
  CHECK(err->code() == code);
  CHECK(err->file() == file);
  CHECK(err->field() == field);
  CHECK(what.find(file) != std::string::npos);
  CHECK(what.find(field) != std::string::npos);
  return *err;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

const char* const kCaPem = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
const char* const kCaB64 =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";
const char* const kCertB64 =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNMSUVOVAotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==";
const char* const kKeyB64 =
    "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCktFWQotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg==";

// A kubeconfig with two clusters, two users and two contexts; "dev" is current.
const char* const kTwoContexts = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://dev.example.com:6443
- name: prod-cluster
  cluster:
    server: https://prod.example.com
users:
- name: dev-user
  user:
    token: dev-token
- name: prod-user
  user:
    token: prod-token
contexts:
- name: dev
  context:
    cluster: dev-cluster
    user: dev-user
- name: prod
  context:
    cluster: prod-cluster
    user: prod-user
    namespace: payments
)";

// A single-context kubeconfig whose cluster and user bodies are given.
std::string one_context(const std::string& cluster_body, const std::string& user_body) {
  return "current-context: c\nclusters:\n- name: k\n  cluster:\n" + cluster_body +
         "users:\n- name: u\n  user:\n" + user_body +
         "contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n";
}

}  // namespace

TEST_CASE("base64_decode is strict") {
  CHECK(kcoro::base64_decode("") == std::string());
  CHECK(kcoro::base64_decode("Zg==") == std::string("f"));
  CHECK(kcoro::base64_decode("Zm8=") == std::string("fo"));
  CHECK(kcoro::base64_decode("Zm9v") == std::string("foo"));
  CHECK(kcoro::base64_decode("Zm9vYmFy") == std::string("foobar"));
  CHECK(kcoro::base64_decode("+/+/") == std::string("\xFB\xFF\xBF"));
  CHECK(kcoro::base64_decode("AA==") == std::string(1, '\0'));
  CHECK(kcoro::base64_decode(kCaB64) == std::string(kCaPem));
  CHECK(kcoro::base64_decode("Zm9v\nYmFy\r\n") == std::string("foobar"));  // Go skips CR/LF
  CHECK_FALSE(kcoro::base64_decode("Zg"));                                 // missing padding
  CHECK_FALSE(kcoro::base64_decode("Zg="));                                // short padding
  CHECK_FALSE(kcoro::base64_decode("Zh=="));                               // non-zero pad bits
  CHECK_FALSE(kcoro::base64_decode("Zm9="));                               // non-zero pad bits
  CHECK_FALSE(kcoro::base64_decode("Zg==Zg=="));                           // padding inside
  CHECK_FALSE(kcoro::base64_decode("===="));
  CHECK_FALSE(kcoro::base64_decode("Z==="));
  CHECK_FALSE(kcoro::base64_decode("Z=g="));
  CHECK_FALSE(kcoro::base64_decode("Zm9v YmFy"));  // space
  CHECK_FALSE(kcoro::base64_decode("Zm9-"));       // URL alphabet
  CHECK_FALSE(kcoro::base64_decode("Zm9_"));
  CHECK_FALSE(kcoro::base64_decode("not base64!"));
}

TEST_CASE("base64_encode round-trips every length and byte") {
  CHECK(kcoro::base64_encode("") == "");
  CHECK(kcoro::base64_encode("f") == "Zg==");
  CHECK(kcoro::base64_encode("fo") == "Zm8=");
  CHECK(kcoro::base64_encode("foo") == "Zm9v");
  CHECK(kcoro::base64_encode("admin:secret") == "YWRtaW46c2VjcmV0");
  std::string all;
  for (int b = 0; b < 256; ++b)
    all += static_cast<char>(b);
  for (size_t n = 0; n <= all.size(); n += 7) {
    CAPTURE(n);
    CHECK(kcoro::base64_decode(kcoro::base64_encode(all.substr(0, n))) == all.substr(0, n));
  }
}

TEST_CASE("ClusterConfig::from_url parses the server") {
  auto c = ClusterConfig::from_url("https://10.0.0.1:6443");
  CHECK(c.server == "https://10.0.0.1:6443");
  CHECK(c.scheme == "https");
  CHECK(c.host == "10.0.0.1");
  CHECK(c.port == 6443);
  CHECK(c.base_path == "");
  CHECK(c.default_namespace == "default");

  c = ClusterConfig::from_url("http://127.0.0.1:8080/");
  CHECK(c.scheme == "http");
  CHECK(c.port == 8080);
  CHECK(c.server == "http://127.0.0.1:8080");

  c = ClusterConfig::from_url("https://rancher.example.com/k8s/clusters/c-1/");
  CHECK(c.host == "rancher.example.com");
  CHECK(c.port == 443);
  CHECK(c.base_path == "/k8s/clusters/c-1");
  CHECK(c.server == "https://rancher.example.com/k8s/clusters/c-1");

  c = ClusterConfig::from_url("http://localhost");
  CHECK(c.port == 80);

  c = ClusterConfig::from_url("https://[fd00::1]:6443");
  CHECK(c.host == "fd00::1");
  CHECK(c.port == 6443);
  CHECK(c.server == "https://[fd00::1]:6443");

  c = ClusterConfig::from_url("HTTPS://Example.com");
  CHECK(c.scheme == "https");

  c = ClusterConfig::from_url("10.0.0.1:6443");  // no scheme: https, as client-go
  CHECK(c.scheme == "https");
  CHECK(c.server == "https://10.0.0.1:6443");

  for (const char* bad :
       {"", "ftp://example.com", "unix:///var/run/k.sock", "https://", "https://:6443",
        "https://host:", "https://host:0", "https://host:65536", "https://host:12ab",
        "https://[::1", "https://fd00::1:6443", "https://user:pw@host", "https://host/?x=1",
        "https://host#frag", "https://[::1]x"}) {
    CAPTURE(bad);
    expect_error([&] { ClusterConfig::from_url(bad); }, "", "server");
  }
}

TEST_CASE("a single kubeconfig: current context, named context, namespace") {
  TempDir dir;
  const auto file = dir.write("config", kTwoContexts);

  SUBCASE("current context") {
    auto c = kcoro::load_kubeconfig({file});
    CHECK(c.server == "https://dev.example.com:6443");
    CHECK(c.host == "dev.example.com");
    CHECK(c.port == 6443);
    CHECK(c.token == "dev-token");
    CHECK(c.default_namespace == "default");  // the context sets none
    CHECK(c.context == "dev");
    CHECK(c.source_file == file);
    CHECK_FALSE(c.in_cluster);
    CHECK_FALSE(c.exec);
  }
  SUBCASE("named context with a namespace") {
    LoadOptions o = opts_with({});
    o.context = "prod";
    auto c = kcoro::load_kubeconfig({file}, o);
    CHECK(c.server == "https://prod.example.com");
    CHECK(c.port == 443);
    CHECK(c.token == "prod-token");
    CHECK(c.default_namespace == "payments");
    CHECK(c.context == "prod");
  }
  SUBCASE("--kubeconfig through load_cluster_config, ignoring $KUBECONFIG") {
    LoadOptions o = opts_with({{"KUBECONFIG", "/nonexistent/a"}, {"HOME", "/nonexistent"}});
    o.kubeconfig = file;
    CHECK(kcoro::load_cluster_config(o).context == "dev");
  }
  SUBCASE("a context without a user has no credentials") {
    const auto f = dir.write("nouser", R"(current-context: c
clusters: [{name: k, cluster: {server: "https://k:1"}}]
contexts: [{name: c, context: {cluster: k, namespace: ns1}}]
)");
    auto c = kcoro::load_kubeconfig({f});
    CHECK(c.token.empty());
    CHECK(c.username.empty());
    CHECK(c.client_cert_file.empty());
    CHECK(c.default_namespace == "ns1");
  }
}

TEST_CASE("$KUBECONFIG merges files: first file wins for names and current-context") {
  TempDir dir;
  const auto a = dir.write("a/config", R"(clusters:
- name: shared
  cluster: {server: "https://from-a:1"}
users:
- name: shared-user
  user: {token: token-a}
contexts:
- name: ctx-a
  context: {cluster: shared, user: shared-user, namespace: from-a}
)");
  const auto b = dir.write("b/config", R"(current-context: ctx-b
clusters:
- name: shared
  cluster: {server: "https://from-b:2"}
- name: only-b
  cluster: {server: "https://only-b:3"}
users:
- name: shared-user
  user: {token: token-b}
contexts:
- name: ctx-a
  context: {cluster: only-b, user: shared-user, namespace: from-b}
- name: ctx-b
  context: {cluster: only-b, user: shared-user}
)");
  const auto c = dir.write("c/config", R"(current-context: ctx-a
contexts:
- name: ctx-c
  context: {cluster: shared, user: shared-user}
)");

  SUBCASE("current-context from the first file that sets it") {
    auto cfg = kcoro::load_cluster_config(opts_with({{"KUBECONFIG", a + ":" + b + ":" + c}}));
    CHECK(cfg.context == "ctx-b");
    CHECK(cfg.server == "https://only-b:3");
    CHECK(cfg.token == "token-a");  // users[shared-user] from a, the first to define it
    CHECK(cfg.source_file == b);
  }
  SUBCASE("contexts and clusters: first definition wins") {
    LoadOptions o = opts_with({{"KUBECONFIG", a + ":" + b}});
    o.context = "ctx-a";
    auto cfg = kcoro::load_cluster_config(o);
    CHECK(cfg.server == "https://from-a:1");
    CHECK(cfg.default_namespace == "from-a");
    CHECK(cfg.source_file == a);
  }
  SUBCASE("a context from a later file uses clusters of an earlier one") {
    LoadOptions o = opts_with({{"KUBECONFIG", a + ":" + b + ":" + c}});
    o.context = "ctx-c";
    auto cfg = kcoro::load_cluster_config(o);
    CHECK(cfg.server == "https://from-a:1");
    CHECK(cfg.source_file == c);
  }
  SUBCASE("order matters: c first makes ctx-a current") {
    auto cfg = kcoro::load_cluster_config(opts_with({{"KUBECONFIG", c + ":" + b + ":" + a}}));
    CHECK(cfg.context == "ctx-a");
    CHECK(cfg.server == "https://only-b:3");  // contexts[ctx-a] from b, before a
    CHECK(cfg.token == "token-b");
  }
  SUBCASE("missing files, empty entries and duplicates in the list are skipped") {
    auto list = ":" + dir.path("missing") + ":" + b + "::" + b + ":" + a;
    auto cfg = kcoro::load_cluster_config(opts_with({{"KUBECONFIG", list}}));
    CHECK(cfg.context == "ctx-b");
    CHECK(cfg.token == "token-b");
  }
  SUBCASE("$KUBECONFIG wins over ~/.kube/config") {
    dir.write("home/.kube/config", kTwoContexts);
    auto cfg =
        kcoro::load_cluster_config(opts_with({{"KUBECONFIG", b}, {"HOME", dir.path("home")}}));
    CHECK(cfg.context == "ctx-b");
  }
  SUBCASE("none of the files exists") {
    auto list = dir.path("x") + ":" + dir.path("y");
    expect_error(
        [&] {
          kcoro::load_cluster_config(opts_with({{"KUBECONFIG", list}}));
        },
        list, "$KUBECONFIG");
  }
}

TEST_CASE("~/.kube/config from $HOME") {
  TempDir dir;
  const auto file = dir.write(".kube/config", kTwoContexts);
  auto cfg = kcoro::load_cluster_config(opts_with({{"HOME", dir.path()}}));
  CHECK(cfg.context == "dev");
  CHECK(cfg.source_file == file);
}

TEST_CASE("relative paths resolve against the defining file's folder") {
  TempDir dir;
  dir.write("conf/pki/ca.crt", kCaPem);
  dir.write("conf/pki/client.crt", "cert");
  dir.write("conf/pki/client.key", "key");
  dir.write("conf/token", "file-token\n");
  dir.write("other/pki/ca.crt", kCaPem);
  const auto file =
      dir.write("conf/config", one_context("    server: https://k:6443\n"
                                           "    certificate-authority: pki/ca.crt\n",
                                           "    client-certificate: ./pki/client.crt\n"
                                           "    client-key: pki/../pki/client.key\n"
                                           "    tokenFile: token\n"));
  auto cfg = kcoro::load_kubeconfig({file});
  CHECK(cfg.ca_file == dir.path("conf/pki/ca.crt"));
  CHECK(cfg.client_cert_file == dir.path("conf/pki/client.crt"));
  CHECK(cfg.client_key_file == dir.path("conf/pki/client.key"));
  CHECK(cfg.token_file == dir.path("conf/token"));
  CHECK(cfg.token.empty());  // the transport reads the file

  SUBCASE("each path relative to its own file when merged") {
    const auto other = dir.write("other/config", R"(clusters:
- name: k
  cluster: {server: "https://other:1", certificate-authority: pki/ca.crt}
)");
    auto merged = kcoro::load_cluster_config(opts_with({{"KUBECONFIG", other + ":" + file}}));
    CHECK(merged.server == "https://other:1");
    CHECK(merged.ca_file == dir.path("other/pki/ca.crt"));
    CHECK(merged.client_cert_file == dir.path("conf/pki/client.crt"));
  }
  SUBCASE("absolute paths are kept") {
    const auto abs = dir.write("abs/config", one_context("    server: https://k\n"
                                                         "    certificate-authority: " +
                                                             dir.path("other/pki/ca.crt") + "\n",
                                                         "    token: t\n"));
    CHECK(kcoro::load_kubeconfig({abs}).ca_file == dir.path("other/pki/ca.crt"));
  }
}

TEST_CASE("certificate and key data are base64-decoded") {
  TempDir dir;
  const auto file =
      dir.write("config", one_context(std::string("    server: https://k\n") +
                                          "    certificate-authority-data: " + kCaB64 + "\n",
                                      std::string("    client-certificate-data: ") + kCertB64 +
                                          "\n    client-key-data: " + kKeyB64 + "\n"));
  auto cfg = kcoro::load_kubeconfig({file});
  CHECK(cfg.ca_data == kCaPem);
  CHECK(cfg.ca_file.empty());
  CHECK(cfg.client_cert_data == "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n");
  CHECK(cfg.client_key_data == "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n");
}

TEST_CASE("token, basic auth, insecure and tls-server-name") {
  TempDir dir;
  SUBCASE("token and tokenFile together: both kept, token takes precedence") {
    dir.write("tok", "x");
    auto cfg = kcoro::load_kubeconfig({dir.write(
        "config", one_context("    server: https://k\n", "    token: abc\n    tokenFile: tok\n"))});
    CHECK(cfg.token == "abc");
    CHECK(cfg.token_file == dir.path("tok"));
  }
  SUBCASE("username and password") {
    auto cfg = kcoro::load_kubeconfig(
        {dir.write("config", one_context("    server: https://k\n",
                                         "    username: admin\n    password: \"s3cr:t\"\n"))});
    CHECK(cfg.username == "admin");
    CHECK(cfg.password == "s3cr:t");
    CHECK(cfg.token.empty());
  }
  SUBCASE("insecure-skip-tls-verify and tls-server-name") {
    auto cfg = kcoro::load_kubeconfig(
        {dir.write("config", one_context("    server: https://10.0.0.1:6443\n"
                                         "    insecure-skip-tls-verify: true\n"
                                         "    tls-server-name: kubernetes.default.svc\n",
                                         "    token: t\n"))});
    CHECK(cfg.insecure_skip_tls_verify);
    CHECK(cfg.tls_server_name == "kubernetes.default.svc");
    CHECK(cfg.host == "10.0.0.1");
  }
  SUBCASE("insecure defaults to false") {
    auto cfg = kcoro::load_kubeconfig(
        {dir.write("config", one_context("    server: https://k\n", "    token: t\n"))});
    CHECK_FALSE(cfg.insecure_skip_tls_verify);
    CHECK(cfg.tls_server_name.empty());
  }
}

TEST_CASE("exec credential plugin fields") {
  TempDir dir;
  const auto file = dir.write("kube/config", one_context("    server: https://k\n", R"(    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: bin/get-token
      args: [--cluster, prod, "--region=eu"]
      env:
      - name: AWS_PROFILE
        value: prod
      - name: EMPTY
        value: ""
      interactiveMode: Never
      installHint: install get-token from https://example.com
      provideClusterInfo: true
)"));
  auto cfg = kcoro::load_kubeconfig({file});
  REQUIRE(cfg.exec);
  const auto& e = *cfg.exec;
  CHECK(e.command == dir.path("kube/bin/get-token"));
  CHECK(e.args == std::vector<std::string>{"--cluster", "prod", "--region=eu"});
  REQUIRE(e.env.size() == 2);
  CHECK(e.env[0] == kcoro::ExecEnvVar{"AWS_PROFILE", "prod"});
  CHECK(e.env[1] == kcoro::ExecEnvVar{"EMPTY", ""});
  CHECK(e.api_version == "client.authentication.k8s.io/v1");
  CHECK(e.interactive_mode == "Never");
  CHECK(e.install_hint == "install get-token from https://example.com");
  CHECK(e.provide_cluster_info);

  SUBCASE("a bare command is looked up in PATH; v1beta1 defaults interactiveMode") {
    auto cfg2 = kcoro::load_kubeconfig(
        {dir.write("config2", one_context("    server: https://k\n", R"(    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
)"))});
    REQUIRE(cfg2.exec);
    CHECK(cfg2.exec->command == "aws");
    CHECK(cfg2.exec->args.empty());
    CHECK(cfg2.exec->env.empty());
    CHECK(cfg2.exec->interactive_mode == "IfAvailable");
    CHECK_FALSE(cfg2.exec->provide_cluster_info);
  }
}

TEST_CASE("features kcoro does not implement are rejected with errc::unsupported") {
  TempDir dir;
  SUBCASE("proxy-url") {
    const auto f = dir.write("config", one_context("    server: https://k\n"
                                                   "    proxy-url: http://proxy:3128\n",
                                                   "    token: t\n"));
    auto err = expect_error([&] { kcoro::load_kubeconfig({f}); }, f, "clusters[k].proxy-url",
                            kcoro::errc::unsupported);
    CHECK(contains(err.what(), "http://proxy:3128"));
    CHECK(contains(err.what(), "kubeconfig " + f + ": clusters[k].proxy-url: "));
  }
  SUBCASE("auth-provider") {
    const auto f = dir.write(
        "config", one_context("    server: https://k\n", "    auth-provider:\n      name: oidc\n"));
    auto err = expect_error([&] { kcoro::load_kubeconfig({f}); }, f, "users[u].auth-provider",
                            kcoro::errc::unsupported);
    CHECK(contains(err.what(), "\"oidc\""));
  }
  SUBCASE("impersonation") {
    const auto f = dir.write(
        "config", one_context("    server: https://k\n", "    token: t\n    as: admin\n"));
    expect_error([&] { kcoro::load_kubeconfig({f}); }, f, "users[u].as", kcoro::errc::unsupported);
  }
  SUBCASE("an unsupported field in an unused cluster is fine") {
    const auto f = dir.write("config", R"(current-context: c
clusters:
- {name: k, cluster: {server: "https://k"}}
- {name: behind-proxy, cluster: {server: "https://p", proxy-url: "http://proxy:3128"}}
users:
- {name: u, user: {token: t}}
- {name: oidc, user: {auth-provider: {name: oidc}}}
contexts:
- {name: c, context: {cluster: k, user: u}}
- {name: other, context: {cluster: behind-proxy, user: oidc}}
)");
    CHECK(kcoro::load_kubeconfig({f}).server == "https://k");
  }
}

TEST_CASE("bad kubeconfigs name the file and the field") {
  TempDir dir;
  auto load = [](const std::string& f, const std::string& context = "") {
    LoadOptions o;
    o.context = context;
    return [f, o] { kcoro::load_kubeconfig({f}, o); };
  };

  SUBCASE("missing explicit file") {
    const auto f = dir.path("nope/config");
    LoadOptions o = opts_with({});
    o.kubeconfig = f;
    auto err = expect_error([&] { kcoro::load_cluster_config(o); }, f, "");
    CHECK(contains(err.what(), "No such file"));
  }
  SUBCASE("a folder instead of a file") {
    const auto d = dir.path();
    auto err = expect_error(load(d), d, "");
    CHECK(contains(err.what(), "cannot read"));
  }
  SUBCASE("bad YAML") {
    const auto f = dir.write("config", "clusters:\n- name: [unclosed\n");
    auto err = expect_error(load(f), f, "");
    CHECK(contains(err.what(), "invalid YAML at line"));
  }
  SUBCASE("not a mapping") {
    const auto f = dir.write("config", "- a\n- b\n");
    expect_error(load(f), f, "");
  }
  SUBCASE("clusters is not a list") {
    const auto f = dir.write("config", "clusters: {a: b}\n");
    expect_error(load(f), f, "clusters");
  }
  SUBCASE("entry without a name") {
    const auto f = dir.write("config", "users:\n- user: {token: t}\n");
    expect_error(load(f), f, "users[0].name");
  }
  SUBCASE("duplicate names in one file") {
    const auto f =
        dir.write("config", "contexts:\n- name: a\n  context: {}\n- name: a\n  context: {}\n");
    expect_error(load(f), f, "contexts[a]");
  }
  SUBCASE("empty file: no current context") {
    const auto f = dir.write("config", "");
    expect_error(load(f), f, "current-context");
  }
  SUBCASE("unknown current context") {
    const auto f = dir.write("config", "current-context: ghost\n");
    auto err = expect_error(load(f), f, "current-context");
    CHECK(contains(err.what(), "context \"ghost\" not found"));
  }
  SUBCASE("unknown --context") {
    const auto f = dir.write("config", kTwoContexts);
    auto err = expect_error(load(f, "staging"), f, "--context");
    CHECK(contains(err.what(), "context \"staging\" not found"));
  }
  SUBCASE("context names a missing cluster") {
    const auto f = dir.write("config",
                             "current-context: dev\n"
                             "contexts: [{name: dev, context: {cluster: nope}}]\n");
    auto err = expect_error(load(f), f, "contexts[dev].cluster");
    CHECK(std::string(err.what()) ==
          "kubeconfig " + f + ": contexts[dev].cluster: cluster \"nope\" not found");
  }
  SUBCASE("context without a cluster") {
    const auto f = dir.write("config",
                             "current-context: dev\n"
                             "contexts: [{name: dev, context: {user: u}}]\n");
    expect_error(load(f), f, "contexts[dev].cluster");
  }
  SUBCASE("entries without a body") {
    const auto f = dir.write("config", "current-context: dev\ncontexts: [{name: dev}]\n");
    expect_error(load(f), f, "contexts[dev].cluster");
    const auto g = dir.write("config2",
                             "current-context: dev\n"
                             "clusters: [{name: k}]\n"
                             "users: [{name: u, user: ~}]\n"
                             "contexts: [{name: dev, context: {cluster: k}}]\n");
    expect_error(load(g), g, "clusters[k].server");
  }
  SUBCASE("context names a missing user") {
    const auto f = dir.write("config",
                             "current-context: dev\n"
                             "clusters: [{name: k, cluster: {server: 'https://k'}}]\n"
                             "contexts: [{name: dev, context: {cluster: k, user: x}}]\n");
    auto err = expect_error(load(f), f, "contexts[dev].user");
    CHECK(contains(err.what(), "user \"x\" not found"));
  }
  SUBCASE("the error names the file that defined the context") {
    const auto a = dir.write("a", "current-context: dev\n");
    const auto b = dir.write("b", "contexts: [{name: dev, context: {cluster: nope}}]\n");
    expect_error([&] { kcoro::load_kubeconfig({a, b}); }, b, "contexts[dev].cluster");
  }
  SUBCASE("cluster without server") {
    const auto f = dir.write("config", one_context("    insecure-skip-tls-verify: true\n", ""));
    expect_error(load(f), f, "clusters[k].server");
  }
  SUBCASE("server that is not http(s)") {
    const auto f = dir.write("config", one_context("    server: ftp://k\n", ""));
    auto err = expect_error(load(f), f, "clusters[k].server");
    CHECK(contains(err.what(), "must use http or https"));
  }
  SUBCASE("unreadable certificate-authority") {
    const auto f = dir.write("config", one_context("    server: https://k\n"
                                                   "    certificate-authority: missing-ca.crt\n",
                                                   ""));
    auto err = expect_error(load(f), f, "clusters[k].certificate-authority");
    CHECK(contains(err.what(), dir.path("missing-ca.crt")));
  }
  SUBCASE("unreadable client-certificate, client-key, tokenFile") {
    dir.write("ok.crt", "c");
    dir.write("ok.key", "k");
    for (auto [user, field] :
         {std::pair{"    client-certificate: gone.crt\n    client-key: ok.key\n",
                    "users[u].client-certificate"},
          std::pair{"    client-certificate: ok.crt\n    client-key: gone.key\n",
                    "users[u].client-key"},
          std::pair{"    tokenFile: gone-token\n", "users[u].tokenFile"}}) {
      const auto f = dir.write("config", one_context("    server: https://k\n", user));
      expect_error(load(f), f, field);
    }
  }
  SUBCASE("invalid base64 data") {
    const auto f = dir.write("config", one_context("    server: https://k\n"
                                                   "    certificate-authority-data: '%%%'\n",
                                                   ""));
    auto err = expect_error(load(f), f, "clusters[k].certificate-authority-data");
    CHECK(contains(err.what(), "invalid base64"));
    const auto g = dir.write("config2", one_context("    server: https://k\n",
                                                    "    client-certificate-data: Zg\n"
                                                    "    client-key-data: Zg==\n"));
    expect_error(load(g), g, "users[u].client-certificate-data");
  }
  SUBCASE("insecure together with a CA") {
    const auto f = dir.write("config", one_context(std::string("    server: https://k\n"
                                                               "    insecure-skip-tls-verify: "
                                                               "true\n"
                                                               "    certificate-authority-data: ") +
                                                       kCaB64 + "\n",
                                                   ""));
    expect_error(load(f), f, "clusters[k].insecure-skip-tls-verify");
  }
  SUBCASE("a boolean that is not one") {
    const auto f = dir.write("config", one_context("    server: https://k\n"
                                                   "    insecure-skip-tls-verify: maybe\n",
                                                   ""));
    expect_error(load(f), f, "clusters[k].insecure-skip-tls-verify");
  }
  SUBCASE("a string that is a list") {
    const auto f = dir.write("config", one_context("    server: [a, b]\n", ""));
    expect_error(load(f), f, "clusters[k].server");
  }
  SUBCASE("certificate file and data both set") {
    const auto f = dir.write("config", one_context("    server: https://k\n",
                                                   "    client-certificate: a\n"
                                                   "    client-certificate-data: Zg==\n"));
    expect_error(load(f), f, "users[u].client-certificate");
  }
  SUBCASE("certificate without key") {
    const auto f = dir.write(
        "config", one_context("    server: https://k\n", "    client-certificate-data: Zg==\n"));
    expect_error(load(f), f, "users[u].client-key");
  }
  SUBCASE("token with basic auth") {
    const auto f = dir.write(
        "config", one_context("    server: https://k\n", "    token: t\n    username: u\n"));
    expect_error(load(f), f, "users[u].username");
  }
  SUBCASE("exec without command, with a bad apiVersion, interactiveMode or env") {
    struct Case {
      const char* exec;
      const char* field;
    };
    for (const auto& c : {
             Case{"      apiVersion: client.authentication.k8s.io/v1beta1\n",
                  "users[u].exec.command"},
             Case{"      command: x\n      apiVersion: client.authentication.k8s.io/v1alpha1\n",
                  "users[u].exec.apiVersion"},
             Case{"      command: x\n", "users[u].exec.apiVersion"},
             Case{"      command: x\n      apiVersion: client.authentication.k8s.io/v1\n",
                  "users[u].exec.interactiveMode"},
             Case{"      command: x\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
                  "      interactiveMode: Sometimes\n",
                  "users[u].exec.interactiveMode"},
             Case{"      command: x\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
                  "      env: [{value: v}]\n",
                  "users[u].exec.env[0].name"},
             Case{"      command: x\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
                  "      args: x\n",
                  "users[u].exec.args"},
         }) {
      CAPTURE(c.field);
      const auto f = dir.write(
          "config", one_context("    server: https://k\n", std::string("    exec:\n") + c.exec));
      expect_error(load(f), f, c.field);
    }
  }
}

TEST_CASE("in-cluster configuration from an injected folder and environment") {
  TempDir dir;
  const auto sa = dir.path("sa");
  dir.write("sa/token", "sa-token\n");
  dir.write("sa/ca.crt", kCaPem);
  dir.write("sa/namespace", "kube-system");
  std::map<std::string, std::string> env{{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                         {"KUBERNETES_SERVICE_PORT", "443"}};

  SUBCASE("token, CA, namespace") {
    auto cfg = kcoro::in_cluster_config(opts_with(env, sa));
    CHECK(cfg.in_cluster);
    CHECK(cfg.server == "https://10.96.0.1:443");
    CHECK(cfg.host == "10.96.0.1");
    CHECK(cfg.port == 443);
    CHECK(cfg.token == "sa-token");
    CHECK(cfg.token_file == dir.path("sa/token"));
    CHECK(cfg.ca_file == dir.path("sa/ca.crt"));
    CHECK(cfg.default_namespace == "kube-system");
    CHECK(cfg.source_file == sa);
    CHECK(cfg.context.empty());
  }
  SUBCASE("IPv6 service host gets brackets") {
    env["KUBERNETES_SERVICE_HOST"] = "fd00:10:96::1";
    env["KUBERNETES_SERVICE_PORT"] = "6443";
    auto cfg = kcoro::in_cluster_config(opts_with(env, sa));
    CHECK(cfg.server == "https://[fd00:10:96::1]:6443");
    CHECK(cfg.host == "fd00:10:96::1");
    CHECK(cfg.port == 6443);
  }
  SUBCASE("POD_NAMESPACE wins over the namespace file; no file means default") {
    env["POD_NAMESPACE"] = "from-env";
    CHECK(kcoro::in_cluster_config(opts_with(env, sa)).default_namespace == "from-env");
    env.erase("POD_NAMESPACE");
    fs::remove(dir.path("sa/namespace"));
    CHECK(kcoro::in_cluster_config(opts_with(env, sa)).default_namespace == "default");
  }
  SUBCASE("no ca.crt: system roots") {
    fs::remove(dir.path("sa/ca.crt"));
    CHECK(kcoro::in_cluster_config(opts_with(env, sa)).ca_file.empty());
  }
  SUBCASE("load_cluster_config prefers in-cluster to ~/.kube/config") {
    dir.write("home/.kube/config", kTwoContexts);
    env["HOME"] = dir.path("home");
    CHECK(kcoro::load_cluster_config(opts_with(env, sa)).in_cluster);
  }
  SUBCASE("a missing token names the file") {
    fs::remove(dir.path("sa/token"));
    auto err = expect_error([&] { kcoro::in_cluster_config(opts_with(env, sa)); },
                            dir.path("sa/token"), "token");
    CHECK(contains(err.what(), "in-cluster config"));
  }
  SUBCASE("an empty token") {
    dir.write("sa/token", "\n");
    expect_error([&] { kcoro::in_cluster_config(opts_with(env, sa)); }, dir.path("sa/token"),
                 "token");
  }
  SUBCASE("not in a pod") {
    expect_error([&] { kcoro::in_cluster_config(opts_with({}, sa)); }, "",
                 "KUBERNETES_SERVICE_HOST");
    expect_error(
        [&] {
          kcoro::in_cluster_config(opts_with({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}}, sa));
        },
        "", "KUBERNETES_SERVICE_HOST");
  }
  SUBCASE("a bad port") {
    env["KUBERNETES_SERVICE_PORT"] = "https";
    expect_error([&] { kcoro::in_cluster_config(opts_with(env, sa)); }, "",
                 "KUBERNETES_SERVICE_HOST/PORT");
  }
  SUBCASE("in-cluster failure falls back to ~/.kube/config, else is reported") {
    fs::remove(dir.path("sa/token"));
    dir.write("home/.kube/config", kTwoContexts);
    auto with_home = env;
    with_home["HOME"] = dir.path("home");
    CHECK(kcoro::load_cluster_config(opts_with(with_home, sa)).context == "dev");
    expect_error([&] { kcoro::load_cluster_config(opts_with(env, sa)); }, dir.path("sa/token"),
                 "token");
  }
}

TEST_CASE("--master overrides the server, as BuildConfigFromFlags") {
  TempDir dir;
  dir.write("ca.crt", kCaPem);
  const auto file = dir.write(
      "config",
      one_context("    server: https://k\n    certificate-authority: ca.crt\n", "    token: t\n"));

  SUBCASE("master replaces the kubeconfig's server, credentials stay") {
    LoadOptions o = opts_with({});
    o.kubeconfig = file;
    o.master = "https://master.example.com:8443";
    auto cfg = kcoro::load_cluster_config(o);
    CHECK(cfg.server == "https://master.example.com:8443");
    CHECK(cfg.host == "master.example.com");
    CHECK(cfg.port == 8443);
    CHECK(cfg.token == "t");
    CHECK(cfg.ca_file == dir.path("ca.crt"));
  }
  SUBCASE("master alone: no credentials, and in-cluster is not tried") {
    LoadOptions o =
        opts_with({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}});
    o.master = "http://127.0.0.1:8080";
    auto cfg = kcoro::load_cluster_config(o);
    CHECK_FALSE(cfg.in_cluster);
    CHECK(cfg.server == "http://127.0.0.1:8080");
    CHECK(cfg.token.empty());
    CHECK(cfg.default_namespace == "default");
  }
  SUBCASE("master with ~/.kube/config") {
    dir.write("home/.kube/config", kTwoContexts);
    LoadOptions o = opts_with({{"HOME", dir.path("home")}});
    o.master = "https://m:1";
    auto cfg = kcoro::load_cluster_config(o);
    CHECK(cfg.server == "https://m:1");
    CHECK(cfg.token == "dev-token");
  }
  SUBCASE("a bad master URL names --master") {
    LoadOptions o = opts_with({});
    o.kubeconfig = file;
    o.master = "gopher://m";
    expect_error([&] { kcoro::load_cluster_config(o); }, "", "--master");
    o.kubeconfig.clear();
    expect_error([&] { kcoro::load_cluster_config(o); }, "", "--master");
  }
}

TEST_CASE("nothing configured: a clear error telling the user to pass --kubeconfig") {
  TempDir dir;
  auto err = error_of([&] { kcoro::load_cluster_config(opts_with({{"HOME", dir.path()}})); });
  REQUIRE(err);
  CHECK(err->code() == kcoro::errc::invalid_config);
  CHECK(contains(err->what(), "--kubeconfig"));
  CHECK(contains(err->what(), "KUBECONFIG"));
  CHECK(kcoro::make_error_code(kcoro::errc::invalid_config) == err->code());
  // No HOME at all is the same.
  CHECK(error_of([] { kcoro::load_cluster_config(opts_with({})); }));
}
