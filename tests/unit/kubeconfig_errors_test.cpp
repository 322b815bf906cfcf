// Bad kubeconfig files: each error names the file and the field.
#include "support/kubeconfig_files.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace kcoro::test::kubeconfig;  // NOLINT: the helpers are these tests' vocabulary

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
