// Loading kubeconfig files: contexts, merging, paths, credentials, unsupported features.
#include "support/kubeconfig_files.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace kcoro::test::kubeconfig;  // NOLINT: the helpers are these tests' vocabulary

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
