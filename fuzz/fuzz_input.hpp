// Fuzz support: carving one libFuzzer input into the pieces a target needs.
#pragma once

#include "kcoro/object.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kcoro::fuzz {

/// Reads the input front to back: small integers first (split points), the rest as bytes.
class Input {
 public:
  Input(const uint8_t* data, std::size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}
  /// One byte as a number (0 when the input is used up).
  uint8_t byte() {
    if (rest_.empty()) return 0;
    const auto b = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  /// Up to the next `sep` (consumed), or everything left.
  std::string_view until(char sep) {
    const auto at = rest_.find(sep);
    std::string_view out = rest_.substr(0, at);
    rest_.remove_prefix(at == std::string_view::npos ? rest_.size() : at + 1);
    return out;
  }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

/// Feeds `text` to `feed` in pieces whose sizes come from `sizes` (each 1..256 bytes), so that
/// every byte boundary is a possible split point.
template <class Feed>
void feed_in_pieces(std::string_view text, Input& sizes, Feed&& feed) {
  while (!text.empty()) {
    const std::size_t n = std::min<std::size_t>(text.size(), std::size_t{sizes.byte()} + 1);
    feed(text.substr(0, n));
    text.remove_prefix(n);
  }
}

/// Whether two decoded objects are the same to a reader: text and every field of meta().
inline bool same_object(const Object& a, const Object& b) {
  const ObjectMeta& x = a.meta();
  const ObjectMeta& y = b.meta();
  auto same_map = [](const StringMap& m, const StringMap& n) {
    if (m.size() != n.size()) return false;
    auto j = n.begin();
    for (auto i = m.begin(); i != m.end(); ++i, ++j)
      if (*i != *j) return false;
    return true;
  };
  if (x.owner_references.size() != y.owner_references.size()) return false;
  for (std::size_t i = 0; i < x.owner_references.size(); ++i) {
    const auto& r = x.owner_references[i];
    const auto& s = y.owner_references[i];
    if (r.api_version != s.api_version || r.kind != s.kind || r.name != s.name || r.uid != s.uid ||
        r.controller != s.controller || r.block_owner_deletion != s.block_owner_deletion) {
      return false;
    }
  }
  return a.json() == b.json() && x.kind == y.kind && x.api_version == y.api_version &&
         x.ns == y.ns && x.name == y.name && x.generate_name == y.generate_name && x.uid == y.uid &&
         x.resource_version == y.resource_version && x.generation == y.generation &&
         x.creation_timestamp == y.creation_timestamp &&
         x.deletion_timestamp == y.deletion_timestamp &&
         x.deletion_grace_period_seconds == y.deletion_grace_period_seconds &&
         same_map(x.labels, y.labels) && same_map(x.annotations, y.annotations) &&
         std::ranges::equal(x.finalizers, y.finalizers);
}

}  // namespace kcoro::fuzz
