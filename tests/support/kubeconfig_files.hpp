// Test support for the kubeconfig tests: a temporary folder to write kubeconfig files into, an
// injected environment, and the files and credentials the cases share.
#pragma once

#include "kcoro/kubeconfig.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace kcoro::test::kubeconfig {

namespace fs = std::filesystem;
using kcoro::ClusterConfig;
using kcoro::ConfigError;
using kcoro::LoadOptions;

using kcoro::test::TempDir;

// An injected environment: only the variables given are set.
inline kcoro::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

inline LoadOptions opts_with(std::map<std::string, std::string> vars,
                             const std::string& sa_dir = "") {
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

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

inline constexpr const char* kCaPem =
    "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
inline constexpr const char* kCaB64 =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";
inline constexpr const char* kCertB64 =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNMSUVOVAotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==";
inline constexpr const char* kKeyB64 =
    "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCktFWQotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg==";

// A kubeconfig with two clusters, two users and two contexts; "dev" is current.
inline constexpr const char* kTwoContexts = R"(apiVersion: v1
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
inline std::string one_context(const std::string& cluster_body, const std::string& user_body) {
  return "current-context: c\nclusters:\n- name: k\n  cluster:\n" + cluster_body +
         "users:\n- name: u\n  user:\n" + user_body +
         "contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n";
}

}  // namespace kcoro::test::kubeconfig
