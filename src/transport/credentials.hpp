// Internal: the Authorization header for a request, from a kubeconfig's user: a bearer token, a
// token file re-read when it rotates, basic auth, or an exec credential plugin.
#pragma once

#include "kcoro/client.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

namespace kcoro::detail {

/// What an exec plugin returned (client.authentication.k8s.io ExecCredential status).
struct ExecCredential {
  std::string token;
  std::string client_certificate_data;
  std::string client_key_data;
  std::optional<std::chrono::system_clock::time_point> expiration;
};

/// Runs the plugin as a child process without a shell, its stdout read asynchronously on `ex`,
/// its stderr passed through. Throws std::system_error(errc::auth_failed) with the install hint
/// when the command is missing, and with the plugin's words when it fails.
awaitable<ExecCredential> run_exec_plugin(const ExecConfig& exec, const ClusterConfig& cluster);

/// Parses an ExecCredential document; throws std::system_error(errc::auth_failed).
ExecCredential parse_exec_credential(std::string_view json, std::string_view expected_api_version);

/// RFC 3339 timestamps as the API server writes them ("2026-11-22T10:31:15Z", fractions and
/// offsets accepted).
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s);

class Credentials {
 public:
  Credentials(const ClusterConfig& cfg, const ClientOptions& opts);

  /// The Authorization header value, or empty for none (client certificates, anonymous).
  awaitable<std::string> authorization();

  /// After a 401: drop cached credentials. Returns true if asking again may help (exec plugin,
  /// token file), so the request is worth one more try.
  bool invalidate();

  /// Client certificate and key the exec plugin returned (PEM), if any.
  std::optional<std::pair<std::string, std::string>> exec_client_cert();

 private:
  std::string token_from_file();

  const ClusterConfig& cfg_;
  const ClientOptions& opts_;
  std::mutex mu_;
  // token file
  std::string file_token_;
  std::chrono::steady_clock::time_point file_checked_{};
  std::filesystem::file_time_type file_mtime_{};
  // exec plugin
  std::optional<ExecCredential> exec_;
};

}  // namespace kcoro::detail
