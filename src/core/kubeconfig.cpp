#include "kcoro/kubeconfig.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

namespace kcoro {
namespace fs = std::filesystem;

ConfigError::ConfigError(errc code, std::string file, std::string field, const std::string& what)
    : std::runtime_error(what),
      code_(make_error_code(code)),
      file_(std::move(file)),
      field_(std::move(field)) {}

std::optional<std::string> process_env(const std::string& name) {
  const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read at start-up
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

// ---- base64 -------------------------------------------------------------------------------

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::optional<std::string> base64_decode(std::string_view in) {
  std::string s;
  s.reserve(in.size());
  for (char c : in) {
    if (c != '\r' && c != '\n') s += c;
  }
  if (s.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(s.size() / 4 * 3);
  for (size_t i = 0; i < s.size(); i += 4) {
    const bool last = i + 4 == s.size();
    const size_t pad = !last ? 0 : (s[i + 3] == '=' ? (s[i + 2] == '=' ? 2 : 1) : 0);
    uint32_t acc = 0;
    for (size_t j = 0; j < 4 - pad; ++j) {
      int v = b64_value(s[i + j]);
      if (v < 0) return std::nullopt;
      acc |= static_cast<uint32_t>(v) << (18 - 6 * j);
    }
    out += static_cast<char>(acc >> 16);
    if (pad < 2) out += static_cast<char>((acc >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(acc & 0xFF);
    // Strict: the bits the padding leaves over must be zero.
    if ((pad == 2 && (acc & 0xFFFF) != 0) || (pad == 1 && (acc & 0xFF) != 0)) return std::nullopt;
  }
  return out;
}

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    const size_t n = std::min<size_t>(3, in.size() - i);
    uint32_t acc = 0;
    for (size_t j = 0; j < n; ++j) {
      acc |= static_cast<uint32_t>(static_cast<unsigned char>(in[i + j])) << (16 - 8 * j);
    }
    for (size_t j = 0; j < 4; ++j)
      out += j <= n ? kB64[(acc >> (18 - 6 * j)) & 0x3F] : '=';
  }
  return out;
}

// ---- helpers --------------------------------------------------------------------------------

namespace {

// Throws a ConfigError whose message reads "ORIGIN FILE: FIELD: MESSAGE", parts omitted if empty.
[[noreturn]] void fail(errc code, std::string_view origin, const std::string& file,
                       const std::string& field, const std::string& msg) {
  std::string what(origin);
  if (!file.empty()) what += (what.empty() ? "" : " ") + file;
  if (!what.empty()) what += ": ";
  if (!field.empty()) what += field + ": ";
  what += msg;
  throw ConfigError(code, file, field, what);
}

[[noreturn]] void bad(const std::string& file, const std::string& field, const std::string& msg) {
  fail(errc::invalid_config, "kubeconfig", file, field, msg);
}

std::optional<std::string> read_file(const fs::path& p, std::string& why) {
  errno = 0;
  std::FILE* f = std::fopen(p.c_str(), "rb");
  if (f == nullptr) {
    why = std::error_code(errno, std::generic_category()).message();
    return std::nullopt;
  }
  std::string out;
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    out.append(buf, n);
  }
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) {
    why = std::error_code(err, std::generic_category()).message();
    return std::nullopt;
  }
  return out;
}

std::string trim(std::string s) {
  const auto ws = " \t\r\n";
  s.erase(s.find_last_not_of(ws) + 1);
  s.erase(0, s.find_first_not_of(ws));  // npos (all blank) erases everything
  return s;
}

// Parses an http(s) server URL into `cfg`; returns an error message on failure. A URL without
// a scheme is taken as https, as client-go does.
std::optional<std::string> set_server(ClusterConfig& cfg, std::string_view url) {
  const std::string quoted = fmt::format("server URL \"{}\"", url);
  if (url.empty()) return "server URL is empty";
  std::string scheme = "https";
  std::string_view rest = url;
  if (auto p = url.find("://"); p != std::string_view::npos) {
    scheme = std::string(url.substr(0, p));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (scheme != "http" && scheme != "https") return quoted + " must use http or https";
    rest = url.substr(p + 3);
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string path(slash == std::string_view::npos ? std::string_view() : rest.substr(slash));
  if (authority.find_first_of("?#") != std::string_view::npos ||
      path.find_first_of("?#") != std::string::npos) {
    return quoted + " must not have a query or fragment";
  }
  if (authority.find('@') != std::string_view::npos) return quoted + " must not hold credentials";
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return quoted + " has an unclosed '['";
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return quoted + " has a malformed host";
    if (!after.empty()) port = after.substr(1);
    if (host.find(':') == std::string_view::npos) return quoted + " has a malformed IPv6 address";
  } else if (auto colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.find(':') != std::string_view::npos) {
      return quoted + " has an IPv6 address without brackets";
    }
    if (port.empty()) return quoted + " has an empty port";
  }
  if (host.empty()) return quoted + " has no host";
  uint32_t port_value = scheme == "https" ? 443 : 80;
  if (!port.empty()) {
    port_value = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || port_value > 65535) return quoted + " has an invalid port";
      port_value = port_value * 10 + static_cast<uint32_t>(c - '0');
    }
    if (port_value == 0 || port_value > 65535) return quoted + " has an invalid port";
  }
  while (!path.empty() && path.back() == '/')
    path.pop_back();
  cfg.scheme = scheme;
  cfg.host = std::string(host);
  cfg.port = static_cast<uint16_t>(port_value);
  cfg.base_path = path;
  cfg.server = scheme + "://" + std::string(authority) + path;
  return std::nullopt;
}

// ---- YAML access ----------------------------------------------------------------------------

// Node lookups go through const nodes only: yaml-cpp's non-const operator[] inserts keys.
struct Section {
  YAML::Node node;     // The cluster/user/context mapping (may be null).
  std::string file;    // The file that defined it.
  std::string prefix;  // "clusters[NAME]" etc., for messages.

  std::string field(std::string_view key) const { return prefix + "." + std::string(key); }
  YAML::Node get(const char* key) const {
    const YAML::Node& n = node;
    return n && n.IsMap() ? n[key] : YAML::Node();
  }
  std::string str(const char* key) const {
    const YAML::Node v = get(key);
    if (!v || v.IsNull()) return {};
    if (!v.IsScalar()) bad(file, field(key), "must be a string");
    return v.Scalar();
  }
  bool boolean(const char* key) const {
    const YAML::Node v = get(key);
    if (!v || v.IsNull()) return false;
    bool b = false;
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, b)) {
      bad(file, field(key), "must be true or false");
    }
    return b;
  }
  bool has(const char* key) const {
    const YAML::Node v = get(key);
    return v && !v.IsNull();
  }
  // A base64 field, decoded.
  std::string data(const char* key) const {
    std::string raw = str(key);
    if (raw.empty()) return raw;
    auto decoded = base64_decode(raw);
    if (!decoded) bad(file, field(key), "invalid base64 data");
    return *decoded;
  }
  // A file path, resolved against the kubeconfig's folder and checked to be readable.
  std::string path(const char* key) const {
    std::string p = str(key);
    if (p.empty()) return p;
    fs::path resolved = fs::path(p).is_absolute()
                            ? fs::path(p)
                            : (fs::path(file).parent_path() / p).lexically_normal();
    std::string why;
    if (!read_file(resolved, why)) {
      bad(file, field(key), fmt::format("cannot read {}: {}", resolved.string(), why));
    }
    return resolved.string();
  }
};

struct Merged {
  std::map<std::string, Section, std::less<>> clusters, users, contexts;
  std::string current_context;
  std::string current_context_file;
  std::string files;  // All files, ':'-separated, for messages about the merged whole.
};

void merge_list(const YAML::Node& root, const char* list, const char* item, const std::string& file,
                std::map<std::string, Section, std::less<>>& out) {
  const YAML::Node seq = root[list];
  if (!seq || seq.IsNull()) return;
  if (!seq.IsSequence()) bad(file, list, "must be a list");
  std::set<std::string> seen;
  for (size_t i = 0; i < seq.size(); ++i) {
    const YAML::Node entry = seq[i];
    const std::string at = fmt::format("{}[{}]", list, i);
    if (!entry.IsMap()) bad(file, at, "must be a mapping with name and " + std::string(item));
    const YAML::Node name_node = entry["name"];
    if (!name_node || !name_node.IsScalar() || name_node.Scalar().empty()) {
      bad(file, at + ".name", "missing or not a string");
    }
    const std::string& name = name_node.Scalar();
    const std::string named = fmt::format("{}[{}]", list, name);
    if (!seen.insert(name).second) bad(file, named, "duplicate name");
    const YAML::Node body = entry[item];
    if (body && !body.IsNull() && !body.IsMap()) bad(file, named + "." + item, "must be a mapping");
    // A missing body is kept as null (a zombie node would throw on use).
    out.try_emplace(name, Section{body ? body : YAML::Node(), file,
                                  named});  // The first file to define a name wins.
  }
}

void merge_file(const fs::path& path, Merged& m) {
  const std::string file = fs::absolute(path).lexically_normal().string();
  m.files += (m.files.empty() ? "" : ":") + file;
  std::string why;
  auto text = read_file(file, why);
  if (!text) bad(file, "", "cannot read: " + why);
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    bad(file, "",
        fmt::format("invalid YAML at line {}, column {}: {}", e.mark.line + 1, e.mark.column + 1,
                    e.msg));
  }
  if (root.IsNull()) return;  // An empty file is an empty config.
  if (!root.IsMap()) bad(file, "", "the document is not a mapping");
  const YAML::Node& croot = root;
  merge_list(croot, "clusters", "cluster", file, m.clusters);
  merge_list(croot, "users", "user", file, m.users);
  merge_list(croot, "contexts", "context", file, m.contexts);
  const std::string current = Section{croot, file, ""}.str("current-context");
  if (m.current_context.empty() && !current.empty()) {
    m.current_context = current;
    m.current_context_file = file;
  }
}

// ---- sections -------------------------------------------------------------------------------

void apply_cluster(const Section& c, ClusterConfig& cfg) {
  const std::string server = c.str("server");
  if (server.empty()) bad(c.file, c.field("server"), "not set");
  if (auto err = set_server(cfg, server)) bad(c.file, c.field("server"), *err);
  cfg.ca_file = c.path("certificate-authority");
  cfg.ca_data = c.data("certificate-authority-data");
  cfg.insecure_skip_tls_verify = c.boolean("insecure-skip-tls-verify");
  cfg.tls_server_name = c.str("tls-server-name");
  if (cfg.insecure_skip_tls_verify && (!cfg.ca_file.empty() || !cfg.ca_data.empty())) {
    bad(c.file, c.field("insecure-skip-tls-verify"),
        "cannot be combined with certificate-authority or certificate-authority-data");
  }
  if (std::string proxy = c.str("proxy-url"); !proxy.empty()) {
    fail(errc::unsupported, "kubeconfig", c.file, c.field("proxy-url"),
         fmt::format("proxy \"{}\": kcoro does not support HTTP proxies; remove proxy-url and "
                     "reach the server directly",
                     proxy));
  }
}

ExecConfig parse_exec(const Section& user) {
  const YAML::Node node = user.get("exec");
  if (!node.IsMap()) bad(user.file, user.field("exec"), "must be a mapping");
  const Section s{node, user.file, user.field("exec")};
  ExecConfig e;
  e.command = s.str("command");
  if (e.command.empty()) bad(s.file, s.field("command"), "not set");
  if (e.command.find('/') != std::string::npos && !fs::path(e.command).is_absolute()) {
    e.command = (fs::path(s.file).parent_path() / e.command).lexically_normal().string();
  }
  if (const YAML::Node args = s.get("args"); args && !args.IsNull()) {
    if (!args.IsSequence()) bad(s.file, s.field("args"), "must be a list of strings");
    for (size_t i = 0; i < args.size(); ++i) {
      if (!args[i].IsScalar())
        bad(s.file, fmt::format("{}[{}]", s.field("args"), i), "not a string");
      e.args.push_back(args[i].Scalar());
    }
  }
  if (const YAML::Node env = s.get("env"); env && !env.IsNull()) {
    if (!env.IsSequence()) bad(s.file, s.field("env"), "must be a list of name/value pairs");
    for (size_t i = 0; i < env.size(); ++i) {
      const Section var{env[i], s.file, fmt::format("{}[{}]", s.field("env"), i)};
      if (!var.node.IsMap()) bad(s.file, var.prefix, "must be a mapping with name and value");
      ExecEnvVar v{var.str("name"), var.str("value")};
      if (v.name.empty()) bad(s.file, var.field("name"), "not set");
      e.env.push_back(std::move(v));
    }
  }
  e.api_version = s.str("apiVersion");
  if (e.api_version.empty()) {
    bad(s.file, s.field("apiVersion"),
        "not set (client.authentication.k8s.io/v1 or client.authentication.k8s.io/v1beta1)");
  }
  if (e.api_version != "client.authentication.k8s.io/v1" &&
      e.api_version != "client.authentication.k8s.io/v1beta1") {
    bad(s.file, s.field("apiVersion"),
        fmt::format("\"{}\" is not client.authentication.k8s.io/v1 or v1beta1", e.api_version));
  }
  e.interactive_mode = s.str("interactiveMode");
  if (e.interactive_mode.empty()) {
    if (e.api_version == "client.authentication.k8s.io/v1") {
      bad(s.file, s.field("interactiveMode"), "must be set for client.authentication.k8s.io/v1");
    }
    e.interactive_mode = "IfAvailable";
  } else if (e.interactive_mode != "Never" && e.interactive_mode != "IfAvailable" &&
             e.interactive_mode != "Always") {
    bad(s.file, s.field("interactiveMode"),
        fmt::format("\"{}\" is not Never, IfAvailable or Always", e.interactive_mode));
  }
  e.install_hint = s.str("installHint");
  e.provide_cluster_info = s.boolean("provideClusterInfo");
  return e;
}

void apply_user(const Section& u, ClusterConfig& cfg) {
  for (const char* key : {"as", "as-uid", "as-groups", "as-user-extra"}) {
    if (u.has(key)) {
      fail(errc::unsupported, "kubeconfig", u.file, u.field(key),
           "impersonation is not supported by kcoro");
    }
  }
  if (u.has("auth-provider")) {
    const Section ap{u.get("auth-provider"), u.file, u.field("auth-provider")};
    fail(errc::unsupported, "kubeconfig", u.file, u.field("auth-provider"),
         fmt::format("auth provider \"{}\" is not supported; use an exec credential plugin",
                     ap.node.IsMap() ? ap.str("name") : std::string()));
  }
  if (u.has("client-certificate") && u.has("client-certificate-data")) {
    bad(u.file, u.field("client-certificate"), "set together with client-certificate-data");
  }
  if (u.has("client-key") && u.has("client-key-data")) {
    bad(u.file, u.field("client-key"), "set together with client-key-data");
  }
  cfg.client_cert_file = u.path("client-certificate");
  cfg.client_cert_data = u.data("client-certificate-data");
  cfg.client_key_file = u.path("client-key");
  cfg.client_key_data = u.data("client-key-data");
  const bool has_cert = !cfg.client_cert_file.empty() || !cfg.client_cert_data.empty();
  const bool has_key = !cfg.client_key_file.empty() || !cfg.client_key_data.empty();
  if (has_cert != has_key) {
    bad(u.file, u.field(has_cert ? "client-key" : "client-certificate"),
        has_cert ? "not set, but client-certificate is" : "not set, but client-key is");
  }
  cfg.token = u.str("token");
  cfg.token_file = u.path("tokenFile");
  cfg.username = u.str("username");
  cfg.password = u.str("password");
  if ((!cfg.token.empty() || !cfg.token_file.empty()) &&
      (!cfg.username.empty() || !cfg.password.empty())) {
    bad(u.file, u.field("username"), "basic auth cannot be combined with token or tokenFile");
  }
  if (u.has("exec")) cfg.exec = parse_exec(u);
}

// A config with only a server (--master without a kubeconfig).
ClusterConfig master_only(const std::string& master) {
  ClusterConfig cfg;
  if (auto err = set_server(cfg, master)) fail(errc::invalid_config, "", "", "--master", *err);
  return cfg;
}

}  // namespace

// ---- public entry points ----------------------------------------------------------------------

ClusterConfig ClusterConfig::from_url(std::string_view server) {
  ClusterConfig cfg;
  if (auto err = set_server(cfg, server)) fail(errc::invalid_config, "", "", "server", *err);
  return cfg;
}

ClusterConfig load_kubeconfig(const std::vector<fs::path>& files, const LoadOptions& opts) {
  Merged m;
  for (const auto& f : files)
    merge_file(f, m);

  std::string name = opts.context;
  std::string where_file = m.files;
  std::string where_field = "--context";
  if (name.empty()) {
    name = m.current_context;
    where_file = m.current_context_file;
    where_field = "current-context";
    if (name.empty()) {
      if (!opts.master.empty()) return master_only(opts.master);
      bad(m.files, "current-context",
          "not set; pass --context NAME or run `kubectl config use-context NAME`");
    }
  }
  auto ctx_it = m.contexts.find(name);
  if (ctx_it == m.contexts.end()) {
    bad(where_file, where_field, fmt::format("context \"{}\" not found", name));
  }
  const Section& ctx = ctx_it->second;

  ClusterConfig cfg;
  cfg.context = name;
  cfg.source_file = ctx.file;
  const std::string cluster_name = ctx.str("cluster");
  if (cluster_name.empty()) bad(ctx.file, ctx.field("cluster"), "not set");
  auto cluster_it = m.clusters.find(cluster_name);
  if (cluster_it == m.clusters.end()) {
    bad(ctx.file, ctx.field("cluster"), fmt::format("cluster \"{}\" not found", cluster_name));
  }
  apply_cluster(cluster_it->second, cfg);
  if (!opts.master.empty()) {
    if (auto err = set_server(cfg, opts.master)) {
      fail(errc::invalid_config, "", "", "--master", *err);
    }
  }
  if (const std::string user_name = ctx.str("user"); !user_name.empty()) {
    auto user_it = m.users.find(user_name);
    if (user_it == m.users.end()) {
      bad(ctx.file, ctx.field("user"), fmt::format("user \"{}\" not found", user_name));
    }
    apply_user(user_it->second, cfg);
  }
  if (std::string ns = ctx.str("namespace"); !ns.empty()) cfg.default_namespace = std::move(ns);
  return cfg;
}

ClusterConfig in_cluster_config(const LoadOptions& opts) {
  constexpr std::string_view kOrigin = "in-cluster config";
  const auto host = opts.env("KUBERNETES_SERVICE_HOST");
  const auto port = opts.env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    fail(errc::invalid_config, kOrigin, "", "KUBERNETES_SERVICE_HOST",
         "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (not running in a pod)");
  }
  ClusterConfig cfg;
  const bool ipv6 = host->find(':') != std::string::npos && host->front() != '[';
  const std::string url = "https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port;
  if (auto err = set_server(cfg, url)) {
    fail(errc::invalid_config, kOrigin, "", "KUBERNETES_SERVICE_HOST/PORT", *err);
  }
  const fs::path dir = opts.service_account_dir;
  std::string why;
  const fs::path token_path = dir / "token";
  auto token = read_file(token_path, why);
  if (!token)
    fail(errc::invalid_config, kOrigin, token_path.string(), "token", "cannot read: " + why);
  cfg.token = trim(*token);
  if (cfg.token.empty()) fail(errc::invalid_config, kOrigin, token_path.string(), "token", "empty");
  cfg.token_file = token_path.string();
  if (const fs::path ca = dir / "ca.crt"; read_file(ca, why)) cfg.ca_file = ca.string();
  if (auto ns = opts.env("POD_NAMESPACE"); ns && !ns->empty()) {
    cfg.default_namespace = *ns;
  } else if (auto text = read_file(dir / "namespace", why); text && !trim(*text).empty()) {
    cfg.default_namespace = trim(*text);
  }
  cfg.source_file = dir.string();
  cfg.in_cluster = true;
  return cfg;
}

ClusterConfig load_cluster_config(const LoadOptions& opts) {
  if (!opts.kubeconfig.empty()) return load_kubeconfig({opts.kubeconfig}, opts);

  if (auto list = opts.env("KUBECONFIG"); list && !list->empty()) {
    std::vector<fs::path> files;
    std::set<std::string> seen;
    for (size_t start = 0; start <= list->size();) {
      size_t end = list->find(':', start);
      if (end == std::string::npos) end = list->size();
      std::string item = list->substr(start, end - start);
      std::error_code ec;
      if (!item.empty() && seen.insert(item).second && fs::exists(item, ec))
        files.emplace_back(item);
      start = end + 1;
    }
    if (files.empty()) bad(*list, "$KUBECONFIG", "none of the listed files exists");
    return load_kubeconfig(files, opts);
  }

  std::optional<ConfigError> in_cluster_error;
  if (opts.master.empty() && opts.env("KUBERNETES_SERVICE_HOST")) {
    try {
      return in_cluster_config(opts);
    } catch (const ConfigError& e) {
      in_cluster_error = e;
    }
  }
  if (auto home = opts.env("HOME"); home && !home->empty()) {
    const fs::path path = fs::path(*home) / ".kube" / "config";
    std::error_code ec;
    if (fs::exists(path, ec)) return load_kubeconfig({path}, opts);
  }
  if (!opts.master.empty()) return master_only(opts.master);
  if (in_cluster_error) throw *in_cluster_error;
  fail(errc::invalid_config, "cluster config", "", "",
       "no configuration found: pass --kubeconfig PATH (or --master URL), set $KUBECONFIG, "
       "create ~/.kube/config, or run in a pod");
}

}  // namespace kcoro
