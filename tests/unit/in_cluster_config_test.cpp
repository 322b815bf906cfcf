// In-cluster configuration, --master, and the error when nothing is configured.
#include "support/kubeconfig_files.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace kcoro::test::kubeconfig;  // NOLINT: the helpers are these tests' vocabulary

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
