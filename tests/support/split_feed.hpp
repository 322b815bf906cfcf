// Test support for incremental decoders: feed a body in pieces cut at chosen offsets, each piece
// a copy of its own so that a decoder never sees bytes past the piece it was given.
#pragma once

#include "kcoro/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kcoro::test {

/// Calls `feed(piece)` for `body` cut at `cuts` (ascending offsets), then for the rest.
template <class Feed>
void feed_split(std::string_view body, const std::vector<std::size_t>& cuts, Feed&& feed) {
  std::size_t pos = 0;
  auto piece_to = [&](std::size_t end) {
    std::string piece(body.substr(pos, end - pos));
    feed(std::string_view(piece));
    pos = end;
  };
  for (std::size_t c : cuts)
    piece_to(c);
  piece_to(body.size());
}

/// A cut between every two bytes: the body fed one byte at a time.
inline std::vector<std::size_t> every_byte(std::size_t size) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < size; ++i)
    cuts.push_back(i);
  return cuts;
}

/// "message@offset" for a failure, to compare failures across splits.
inline std::string describe_error(const Error& err) {
  return err.code.message() + "@" + std::to_string(err.offset.value_or(0));
}

}  // namespace kcoro::test
