// kcoro/testing/envtest.hpp — a real etcd and kube-apiserver for tests (controller-runtime's
// envtest).
//
// Contract
// - Assets: the folder holding the `kube-apiserver` and `etcd` executables is, first match wins,
//   EnvTestOptions::assets_dir, $KCORO_TEST_ASSETS, $KUBEBUILDER_ASSETS (the layout
//   `setup-envtest use -p path` prints). find_envtest_assets() answers without starting anything;
//   start() throws EnvTestError naming the variables when nothing is found.
// - start() runs etcd and kube-apiserver on free 127.0.0.1 ports, in a fresh temporary folder
//   that holds etcd's data, the logs and what the API server reads: a CA, a serving certificate
//   for 127.0.0.1 and localhost, the service-account signing key pair, and a token file with two
//   users: an administrator (group system:masters) and "kcoro-nobody", who has no group and so no
//   rights under RBAC (every request answers 403). RBAC is on; ServiceAccount admission is off (no
//   controller-manager creates service accounts). EnvTestOptions::apiserver_flags are appended
//   (a flag given there replaces the default of the same name). start() returns once etcd
//   answers /health and the API server /readyz, and the CRDs of EnvTestOptions::crd_paths are
//   served.
// - Failures: a process that exits early, a bad flag, a port taken or a start-up slower than
//   start_timeout throws EnvTestError quoting the last lines of the failing process's log; both
//   processes are stopped and the folder removed before it propagates.
// - stop() (and the destructor) sends SIGTERM to the API server then to etcd, SIGKILL after
//   stop_timeout, reaps both (no zombies) and removes the folder. Idempotent.
// - The children are started with PR_SET_PDEATHSIG=SIGKILL: if the thread that called start()
//   (or restart_apiserver()) ends, or the test process dies, they are killed by the kernel. Call
//   start() from a thread that lives as long as the environment (the main thread in tests).
// - Credentials: admin_config() authenticates with a client certificate (CN=kcoro-admin,
//   O=system:masters), token_config(token) with a bearer token; both trust the generated CA.
// - Blocking calls, no coroutine: the environment's own HTTP (readiness, CRDs, discovery,
//   compaction) is Beast over OpenSSL on a private io_context, independent of kcoro::Client so
//   that it can judge it. Not thread-safe: one thread drives an EnvTest.
#pragma once

#include "kcoro/kubeconfig.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace kcoro::testing {

/// The environment could not start or do what was asked; the message says why.
class EnvTestError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct EnvTestOptions {
  // Not an aggregate on purpose: GCC 12 destroys aggregate temporaries inside co_await
  // expressions twice (GCC bug 100611).
  EnvTestOptions() {}
  /// The folder of kube-apiserver and etcd; empty: $KCORO_TEST_ASSETS, then $KUBEBUILDER_ASSETS.
  std::string assets_dir;
  /// Extra kube-apiserver flags, e.g. "--feature-gates=WatchList=false". A flag named here
  /// replaces the default flag of the same name.
  std::vector<std::string> apiserver_flags;
  /// CRD files (YAML, several documents allowed, or JSON) or folders of them, installed by start().
  std::vector<std::filesystem::path> crd_paths;
  std::chrono::milliseconds start_timeout{60000};  ///< per process, until it is ready
  std::chrono::milliseconds stop_timeout{10000};   ///< SIGTERM to SIGKILL
  /// Where the temporary folder is created; empty: std::filesystem::temp_directory_path().
  std::filesystem::path temp_root;
  /// Reads KCORO_TEST_ASSETS and KUBEBUILDER_ASSETS; tests inject their own.
  EnvLookup env = process_env;
};

/// The assets folder as start() would find it (see the contract); nullopt when none is set or
/// the folder lacks kube-apiserver or etcd.
std::optional<std::filesystem::path> find_envtest_assets(const EnvTestOptions& opts = {});

class EnvTest {
 public:
  /// The administrator's bearer token and the token of the user with no rights.
  static constexpr const char* admin_token = "kcoro-admin-token";
  static constexpr const char* nobody_token = "kcoro-nobody-token";

  explicit EnvTest(EnvTestOptions opts = {});
  ~EnvTest();
  EnvTest(const EnvTest&) = delete;
  EnvTest& operator=(const EnvTest&) = delete;

  /// Starts etcd and kube-apiserver and installs the CRDs; see the contract. Throws EnvTestError.
  void start();
  /// Stops both processes and removes the folder; see the contract.
  void stop();
  bool running() const noexcept;

  /// "https://127.0.0.1:PORT".
  std::string url() const;
  /// The administrator (client certificate, O=system:masters).
  ClusterConfig admin_config() const;
  /// A bearer-token user: admin_token, nobody_token, or any token the server does not know (401).
  ClusterConfig token_config(const std::string& token) const;
  /// Writes a kubeconfig (context "envtest") for the administrator, with embedded credentials.
  void write_kubeconfig(const std::filesystem::path& file) const;

  /// Installs CRDs from files or folders (YAML or JSON; a CRD that exists is replaced) and
  /// waits until discovery serves each one's plural in every served version. Returns the CRD
  /// names.
  std::vector<std::string> install_crds(
      const std::vector<std::filesystem::path>& paths,
      std::chrono::milliseconds timeout = std::chrono::seconds(30));
  /// The same for CRD documents given as text.
  std::vector<std::string> install_crd_text(
      const std::string& yaml_or_json,
      std::chrono::milliseconds timeout = std::chrono::seconds(30));

  /// etcd's current revision (a resourceVersion the API server has handed out or will).
  int64_t etcd_revision() const;
  /// Compacts etcd at its current revision: lists and watches at older resourceVersions then
  /// answer 410 Expired (once the API server's watch cache no longer holds them). Returns it.
  int64_t compact_etcd();

  /// Kills the API server (SIGKILL) and starts it again on the same port with the same flags,
  /// returning once it is ready: clients see their connections cut, then the same server.
  void restart_apiserver();

  /// The temporary folder (certificates, tokens.csv, etcd data, logs).
  const std::filesystem::path& dir() const noexcept;
  /// The last `lines` lines of the API server's log (stderr and stdout).
  std::string apiserver_log_tail(std::size_t lines = 20) const;
  /// How long the last start() took, both processes ready and the CRDs served.
  std::chrono::milliseconds startup_time() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kcoro::testing
