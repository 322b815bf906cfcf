// Test support: the recorded kube-apiserver responses in tests/fixtures/kube-apiserver-1.32 and
// small helpers.
#pragma once

#include <boost/json.hpp>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kcoro::test {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string fixture(const std::string& name) {
  return read_file(std::string(KCORO_FIXTURES_DIR) + "/" + name);
}

/// The body of a recorded HTTP response, with chunked framing removed when the recording kept
/// it (hex size lines); a recording whose body was already de-chunked is returned as it is.
inline std::string http_body(const std::string& name) {
  const std::string all = fixture(name);
  const auto head_end = all.find("\r\n\r\n");
  if (head_end == std::string::npos) throw std::runtime_error(name + ": no header end");
  const std::string head = all.substr(0, head_end);
  std::string body = all.substr(head_end + 4);
  if (head.find("Transfer-Encoding: chunked") == std::string::npos) return body;
  // Chunked only if the body starts with a hex size line.
  const auto eol = body.find("\r\n");
  if (eol == std::string::npos || eol == 0 ||
      body.find_first_not_of("0123456789abcdefABCDEF") != eol) {
    return body;
  }
  std::string out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    const auto line_end = body.find("\r\n", pos);
    if (line_end == std::string::npos) break;
    const std::size_t size = std::stoul(body.substr(pos, line_end - pos), nullptr, 16);
    if (size == 0) break;
    out.append(body, line_end + 2, size);
    pos = line_end + 2 + size + 2;
  }
  return out;
}

/// `json` parsed, with metadata.managedFields removed (what the default transform keeps).
inline boost::json::value without_managed_fields(std::string_view json) {
  boost::json::value v = boost::json::parse(json);
  if (auto* md = v.as_object().if_contains("metadata"); md && md->is_object()) {
    md->as_object().erase("managedFields");
  }
  return v;
}

}  // namespace kcoro::test
