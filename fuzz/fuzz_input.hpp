// Fuzz support: carving one libFuzzer input into the pieces a target needs.
#pragma once

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

}  // namespace kcoro::fuzz
