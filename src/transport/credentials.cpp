#include "transport/credentials.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

extern char** environ;

namespace kcoro::detail {

namespace net = boost::asio;

namespace {
[[noreturn]] void auth_error(const std::string& msg) {
  throw std::system_error(make_error_code(errc::auth_failed), msg);
}

std::string exec_info(const ExecConfig& exec, const ClusterConfig& cluster) {
  boost::json::object spec;
  spec["interactive"] = false;
  if (exec.provide_cluster_info) {
    boost::json::object c;
    c["server"] = cluster.server;
    if (!cluster.tls_server_name.empty()) c["tls-server-name"] = cluster.tls_server_name;
    c["insecure-skip-tls-verify"] = cluster.insecure_skip_tls_verify;
    if (!cluster.ca_data.empty()) c["certificate-authority-data"] = base64_encode(cluster.ca_data);
    spec["cluster"] = std::move(c);
  }
  boost::json::object info;
  info["apiVersion"] =
      exec.api_version.empty() ? "client.authentication.k8s.io/v1" : exec.api_version;
  info["kind"] = "ExecCredential";
  info["spec"] = std::move(spec);
  return boost::json::serialize(info);
}
}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view s) {
  std::tm tm{};
  int frac_skip = 0;
  if (s.size() < 20) return std::nullopt;
  std::string str(s);
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::size_t pos = 19;
  if (pos < str.size() && str[pos] == '.') {
    ++pos;
    while (pos < str.size() && std::isdigit(static_cast<unsigned char>(str[pos])))
      ++pos, ++frac_skip;
  }
  long offset = 0;
  if (pos < str.size() && (str[pos] == '+' || str[pos] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(str.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset = (oh * 3600L + om * 60L) * (str[pos] == '+' ? 1 : -1);
  } else if (pos >= str.size() || (str[pos] != 'Z' && str[pos] != 'z')) {
    return std::nullopt;
  }
  const int64_t t = static_cast<int64_t>(timegm(&tm)) - offset;
  // system_clock counts nanoseconds in 64 bits: it ends in 2262. Later times are "never".
  using namespace std::chrono;
  const int64_t limit =
      duration_cast<seconds>(system_clock::time_point::max().time_since_epoch()).count();
  if (t >= limit) return system_clock::time_point::max();
  return system_clock::time_point(seconds(t));
}

ExecCredential parse_exec_credential(std::string_view json, std::string_view expected_api_version) {
  boost::system::error_code ec;
  auto v = boost::json::parse(json, ec);
  if (ec || !v.is_object()) auth_error("exec plugin output is not an ExecCredential JSON object");
  const auto& o = v.as_object();
  if (auto* kind = o.if_contains("kind");
      !kind || !kind->is_string() || kind->as_string() != "ExecCredential") {
    auth_error("exec plugin output has kind other than ExecCredential");
  }
  if (auto* av = o.if_contains("apiVersion");
      !expected_api_version.empty() &&
      (!av || !av->is_string() || av->as_string() != expected_api_version)) {
    auth_error("exec plugin returned apiVersion other than " + std::string(expected_api_version));
  }
  const auto* status = o.if_contains("status");
  if (!status || !status->is_object()) auth_error("exec plugin output has no status");
  ExecCredential cred;
  const auto& s = status->as_object();
  auto str = [&](const char* k) -> std::string {
    auto* x = s.if_contains(k);
    return x && x->is_string() ? std::string(x->as_string()) : std::string();
  };
  cred.token = str("token");
  cred.client_certificate_data = str("clientCertificateData");
  cred.client_key_data = str("clientKeyData");
  if (std::string exp = str("expirationTimestamp"); !exp.empty()) {
    cred.expiration = parse_rfc3339(exp);
    if (!cred.expiration)
      auth_error("exec plugin returned a malformed expirationTimestamp: " + exp);
  }
  if (cred.token.empty() && cred.client_certificate_data.empty()) {
    auth_error("exec plugin returned neither a token nor a client certificate");
  }
  if (cred.client_certificate_data.empty() != cred.client_key_data.empty()) {
    auth_error("exec plugin returned a client certificate without its key, or a key alone");
  }
  return cred;
}

awaitable<ExecCredential> run_exec_plugin(const ExecConfig& exec, const ClusterConfig& cluster) {
  auto ex = co_await net::this_coro::executor;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0)
    auth_error(std::string("exec plugin: pipe: ") + std::strerror(errno));

  std::vector<std::string> env_storage;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    bool overridden = kv.starts_with("KUBERNETES_EXEC_INFO=");
    for (const auto& var : exec.env)
      overridden |= kv.starts_with(var.name + "=");
    if (!overridden) env_storage.emplace_back(kv);
  }
  for (const auto& var : exec.env)
    env_storage.push_back(var.name + "=" + var.value);
  env_storage.push_back("KUBERNETES_EXEC_INFO=" + exec_info(exec, cluster));
  std::vector<char*> envp;
  for (auto& s : env_storage)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_storage{exec.command};
  arg_storage.insert(arg_storage.end(), exec.args.begin(), exec.args.end());
  std::vector<char*> argv;
  for (auto& s : arg_storage)
    argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  const int rc =
      ::posix_spawnp(&pid, exec.command.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    std::string msg = "exec plugin: cannot run \"" + exec.command + "\": " + std::strerror(rc);
    if (!exec.install_hint.empty()) msg += "\n" + exec.install_hint;
    auth_error(msg);
  }

  net::posix::stream_descriptor pipe(ex, out[0]);
  std::string output;
  char buf[4096];
  for (;;) {
    auto [ec, n] =
        co_await pipe.async_read_some(net::buffer(buf), net::as_tuple(net::use_awaitable));
    output.append(buf, n);
    if (ec) break;  // eof: the plugin closed its stdout
    if (output.size() > (1 << 20)) break;
  }
  pipe.close();
  // Reap the child without blocking the executor.
  int status = 0;
  net::steady_timer timer(ex);
  for (int i = 0;; ++i) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0) auth_error(std::string("exec plugin: waitpid: ") + std::strerror(errno));
    if (i == 2000) {  // ~10 s after closing its stdout
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      auth_error("exec plugin \"" + exec.command + "\" did not exit");
    }
    timer.expires_after(std::chrono::milliseconds(5));
    co_await timer.async_wait(net::use_awaitable);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    auth_error("exec plugin \"" + exec.command + "\" failed with exit status " +
               std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)));
  }
  co_return parse_exec_credential(output, exec.api_version);
}

Credentials::Credentials(const ClusterConfig& cfg, const ClientOptions& opts)
    : cfg_(cfg), opts_(opts) {}

std::string Credentials::token_from_file() {
  // Caller holds mu_. Re-read when the file changed, checking at most every refresh period.
  const auto now = std::chrono::steady_clock::now();
  if (!file_token_.empty() && now - file_checked_ < opts_.token_file_refresh) return file_token_;
  file_checked_ = now;
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(cfg_.token_file, ec);
  if (!ec && !file_token_.empty() && mtime == file_mtime_) return file_token_;
  std::ifstream in(cfg_.token_file, std::ios::binary);
  if (!in) {
    if (!file_token_.empty()) return file_token_;  // keep the last good token
    auth_error("cannot read token file " + cfg_.token_file);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
    token.pop_back();
  if (token.empty() && !file_token_.empty()) return file_token_;
  file_token_ = std::move(token);
  file_mtime_ = mtime;
  return file_token_;
}

awaitable<std::string> Credentials::authorization() {
  if (cfg_.exec) {
    {
      std::lock_guard lock(mu_);
      const bool fresh =
          exec_ && (!exec_->expiration || *exec_->expiration > std::chrono::system_clock::now() +
                                                                   std::chrono::seconds(10));
      if (fresh) co_return exec_->token.empty() ? std::string() : "Bearer " + exec_->token;
    }
    ExecCredential cred = co_await run_exec_plugin(*cfg_.exec, cfg_);
    std::lock_guard lock(mu_);
    exec_ = cred;
    co_return cred.token.empty() ? std::string() : "Bearer " + cred.token;
  }
  std::lock_guard lock(mu_);
  if (!cfg_.token_file.empty()) co_return "Bearer " + token_from_file();
  if (!cfg_.token.empty()) co_return "Bearer " + cfg_.token;
  if (!cfg_.username.empty() || !cfg_.password.empty()) {
    co_return "Basic " + base64_encode(cfg_.username + ":" + cfg_.password);
  }
  co_return std::string();
}

bool Credentials::invalidate() {
  std::lock_guard lock(mu_);
  if (cfg_.exec) {
    exec_.reset();
    return true;
  }
  if (!cfg_.token_file.empty()) {
    file_checked_ = {};
    file_mtime_ = {};
    return true;
  }
  return false;
}

std::optional<std::pair<std::string, std::string>> Credentials::exec_client_cert() {
  std::lock_guard lock(mu_);
  if (!exec_ || exec_->client_certificate_data.empty()) return std::nullopt;
  return std::make_pair(exec_->client_certificate_data, exec_->client_key_data);
}

}  // namespace kcoro::detail
