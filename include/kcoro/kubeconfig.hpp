// kcoro/kubeconfig.hpp — where the API server is and how to authenticate to it.
//
// Contract
// - `load_cluster_config(opts)` finds the configuration as client-go and controller-runtime do,
//   first match wins:
//     1. `opts.kubeconfig` (--kubeconfig PATH): that file, which must exist;
//     2. $KUBECONFIG: a ':'-separated list of files, merged by kubectl's rules — clusters, users
//        and contexts by name with the FIRST file defining a name winning, current-context from
//        the first file that sets it; files in the list that do not exist are skipped;
//     3. in-cluster, when `opts.master` is empty and KUBERNETES_SERVICE_HOST/PORT are set
//        (the service-account token, CA and namespace under `opts.service_account_dir`);
//     4. ~/.kube/config ($HOME), when it exists;
//     5. `opts.master` alone: a config with that server and no credentials.
//   Otherwise it throws a ConfigError telling the user to pass --kubeconfig.
// - The context is `opts.context` or the current-context; its namespace is the config's
//   namespace ("default" when unset). `opts.master` (--master) replaces the cluster's server.
// - Only the selected context, its cluster and its user are validated (as kubectl does); a file
//   that is not YAML, or whose lists are malformed, fails whatever is selected.
// - Relative paths (certificate-authority, client-certificate, client-key, tokenFile, and an
//   exec command containing '/') resolve against the folder of the file that defined them.
//   Certificate, key and token files are checked to be readable at load time; their contents are
//   read by the transport (so they can rotate). `*-data` fields are base64-decoded here.
// - Every failure throws `ConfigError` whose message names the file and the field, e.g.
//   `kubeconfig /x/config: contexts[dev].cluster: cluster "nope" not found`. Features kcoro does
//   not implement (proxy-url, auth-provider, impersonation) fail with errc::unsupported rather
//   than being silently ignored.
// - The process environment is read only through `LoadOptions::env`, so tests inject it.
// - Blocking file I/O, no Asio: call it once at start-up. This header belongs to the core layer.
#pragma once

#include "kcoro/error.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kcoro {

/// A kubeconfig or in-cluster configuration that cannot be used.
class ConfigError : public std::runtime_error {
 public:
  /// `what` is the whole message; `file` and `field` locate the problem (either may be empty).
  ConfigError(errc code, std::string file, std::string field, const std::string& what);

  /// errc::invalid_config, or errc::unsupported for a feature kcoro does not implement.
  std::error_code code() const noexcept { return code_; }
  /// The kubeconfig file (or in-cluster file) at fault; empty when no file is involved.
  const std::string& file() const noexcept { return file_; }
  /// The field at fault, e.g. "clusters[prod].cluster.server" or "--master".
  const std::string& field() const noexcept { return field_; }

 private:
  std::error_code code_;
  std::string file_;
  std::string field_;
};

/// A name/value pair of an exec plugin's environment.
struct ExecEnvVar {
  std::string name;
  std::string value;
  bool operator==(const ExecEnvVar&) const = default;
};

/// A client-go credential plugin (users[].user.exec), run by the transport to obtain a token or
/// a client certificate (an ExecCredential on its stdout).
struct ExecConfig {
  std::string command;  ///< Resolved against the kubeconfig's folder when it contains '/'.
  std::vector<std::string> args;
  std::vector<ExecEnvVar> env;
  std::string api_version;       ///< client.authentication.k8s.io/v1 or /v1beta1.
  std::string interactive_mode;  ///< Never, IfAvailable or Always (v1beta1 default IfAvailable).
  std::string install_hint;      ///< Shown to the user when the command is not found.
  bool provide_cluster_info = false;  ///< Pass the cluster in KUBERNETES_EXEC_INFO.
};

/// Everything a client needs to reach one API server as one user.
struct ClusterConfig {
  // Server, as written (without a trailing '/') and parsed.
  std::string server;     ///< e.g. "https://10.0.0.1:6443".
  std::string scheme;     ///< "https" or "http".
  std::string host;       ///< Host name or IP, IPv6 without brackets.
  uint16_t port = 443;    ///< Explicit port, else 443 for https and 80 for http.
  std::string base_path;  ///< Path prefix before /api (e.g. a proxy's "/k8s/clusters/c-1").

  // Server trust.
  std::string ca_file;  ///< PEM file of CAs to trust; empty = system roots.
  std::string ca_data;  ///< PEM bytes; takes precedence over ca_file.
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;  ///< Name to verify and send as SNI instead of `host`.

  // Client credentials. token takes precedence over token_file, which is re-read when it changes.
  std::string client_cert_file;
  std::string client_cert_data;  ///< PEM bytes.
  std::string client_key_file;
  std::string client_key_data;  ///< PEM bytes.
  std::string token;
  std::string token_file;
  std::string username;
  std::string password;
  std::optional<ExecConfig> exec;

  std::string default_namespace = "default";  ///< The context's namespace.

  // Provenance, for logs and messages.
  std::string source_file;  ///< Kubeconfig file of the context, or the service-account folder.
  std::string context;      ///< Context name; empty in-cluster or for --master alone.
  bool in_cluster = false;

  /// A config for `server` with no credentials (tests, the fake API server, --master alone).
  /// Throws ConfigError (field "server") if it is not an http(s) URL.
  static ClusterConfig from_url(std::string_view server);
};

/// Reads an environment variable; nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// The process environment, through std::getenv.
std::optional<std::string> process_env(const std::string& name);

/// Where to look; every field has the default kubectl uses.
struct LoadOptions {
  std::string kubeconfig;  ///< --kubeconfig: an explicit file.
  std::string context;     ///< --context: a context other than current-context.
  std::string master;      ///< --master: replaces the server of the selected cluster.
  /// KUBECONFIG, HOME, KUBERNETES_SERVICE_HOST/PORT and POD_NAMESPACE are read through this.
  EnvLookup env = process_env;
  std::filesystem::path service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
};

/// The configuration found as described at the top of this header.
ClusterConfig load_cluster_config(const LoadOptions& opts = {});

/// Merges `files` (each must exist; first wins) and selects `opts.context` or the current
/// context; applies `opts.master`. Uses only opts.context and opts.master.
ClusterConfig load_kubeconfig(const std::vector<std::filesystem::path>& files,
                              const LoadOptions& opts = {});

/// The in-cluster configuration: https://KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT, the
/// token in `service_account_dir`/token (required), its ca.crt (when present) and namespace
/// ($POD_NAMESPACE, else the namespace file, else "default").
ClusterConfig in_cluster_config(const LoadOptions& opts = {});

/// Strict standard base64 (RFC 4648 §4): padding required, non-zero pad bits rejected; CR and LF
/// are skipped as Go's decoder does. nullopt on any other invalid input.
std::optional<std::string> base64_decode(std::string_view in);

/// Standard base64 with padding (for basic auth headers).
std::string base64_encode(std::string_view in);

}  // namespace kcoro
