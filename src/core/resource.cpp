#include "kcoro/resource.hpp"

namespace kcoro {
namespace {

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_param(std::string& out, std::string_view key, std::string_view value) {
  if (!out.empty()) out += '&';
  out += key;
  out += '=';
  out += percent_encode(value);
}

}  // namespace

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c)) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (s.size() - i < 3) return std::nullopt;
    int hi = hex_value(s[i + 1]);
    int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>((hi << 4) | lo);
    i += 2;
  }
  return out;
}

std::string query_string(const ListOptions& o) {
  // Alphabetical by key, as Go's url.Values.Encode writes them.
  std::string q;
  if (o.allow_watch_bookmarks) append_param(q, "allowWatchBookmarks", "true");
  if (!o.continue_token.empty()) append_param(q, "continue", o.continue_token);
  if (!o.field_selector.empty()) append_param(q, "fieldSelector", o.field_selector);
  if (!o.label_selector.empty()) append_param(q, "labelSelector", o.label_selector);
  if (o.limit) append_param(q, "limit", std::to_string(*o.limit));
  if (o.resource_version) append_param(q, "resourceVersion", *o.resource_version);
  if (!o.resource_version_match.empty()) {
    append_param(q, "resourceVersionMatch", o.resource_version_match);
  }
  if (o.send_initial_events) {
    append_param(q, "sendInitialEvents", *o.send_initial_events ? "true" : "false");
  }
  if (o.timeout_seconds) append_param(q, "timeoutSeconds", std::to_string(*o.timeout_seconds));
  if (o.watch) append_param(q, "watch", "true");
  return q;
}

std::string Resource::api_version() const {
  return group.empty() ? version : group + "/" + version;
}

std::string Resource::base_path() const {
  return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
}

std::string Resource::collection_path(std::string_view ns) const {
  std::string p = base_path();
  if (namespaced && !ns.empty()) {
    p += "/namespaces/";
    p += percent_encode(ns);
  }
  p += '/';
  p += plural;
  return p;
}

std::string Resource::object_path(std::string_view ns, std::string_view name) const {
  return collection_path(ns) + "/" + percent_encode(name);
}

std::string Resource::subresource_path(std::string_view ns, std::string_view name,
                                       std::string_view subresource) const {
  std::string p = object_path(ns, name);
  p += '/';
  p += subresource;
  return p;
}

std::string Resource::status_path(std::string_view ns, std::string_view name) const {
  return subresource_path(ns, name, "status");
}

std::string Resource::list_url(std::string_view ns, const ListOptions& opts) const {
  std::string url = collection_path(ns);
  std::string q = query_string(opts);
  if (!q.empty()) {
    url += '?';
    url += q;
  }
  return url;
}

}  // namespace kcoro
