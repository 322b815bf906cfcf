// Test support: the bracket scanner (src/core/bracket_scan.hpp) against a byte-at-a-time
// reference, on random JSON-like bytes fed in random pieces.
#pragma once

#include "core/bracket_scan.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace kcoro::test {

using kcoro::detail::BracketScan;

struct Marked {
  std::size_t at;
  char c;
  int64_t depth;
  friend bool operator==(const Marked&, const Marked&) = default;
};

// The reference: one byte at a time. As in simdjson, a backslash escapes the next byte wherever
// it stands, and what an escape changes is only whether a quote counts (valid JSON has
// backslashes only inside strings).
struct Reference {
  int64_t depth = 0;
  bool in_string = false;
  bool escape = false;
  bool non_ascii = false;
  bool stopped = false;

  void feed(const std::string& s, std::size_t from, std::size_t to, int64_t shallow,
            std::vector<Marked>& out) {
    for (std::size_t i = from; i < to && !stopped; ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x20 || c >= 0x80) non_ascii = true;
      const bool escaped = escape;
      escape = false;
      if (c == '\\' && !escaped) {
        escape = true;
        continue;
      }
      if (in_string) {
        if (c == '"' && !escaped) in_string = false;
        continue;
      }
      if (c == '"' && !escaped) {
        in_string = true;
      } else if (c == '{' || c == '[') {
        if (depth <= shallow) out.push_back({i, static_cast<char>(c), depth});
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth < 0) {
          stopped = true;
          break;
        }
        if (depth <= shallow) out.push_back({i, static_cast<char>(c), depth});
      } else if (c == ',' && depth <= shallow) {
        out.push_back({i, ',', depth});
      }
    }
  }
};

inline std::string random_json_ish(std::mt19937_64& rng, std::size_t n) {
  // Mostly the characters that matter, with runs of backslashes and quotes.
  static const std::string alphabet = "{}[],\"\\\\\\abc:1 ";
  std::string s;
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> rare(0, 199);
  for (std::size_t i = 0; i < n; ++i) {
    const int r = rare(rng);
    if (r == 0) {
      s += '\xc3';  // UTF-8 lead byte
    } else if (r == 1) {
      s += '\t';
    } else {
      s += alphabet[pick(rng)];
    }
  }
  return s;
}

/// Scans `rounds` random inputs of up to 400 bytes, in random pieces, at random shallow levels,
/// and checks marks, depth, string state and the non-ASCII flag against the reference.
inline void check_bracket_scan_against_reference(int rounds, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int round = 0; round < rounds; ++round) {
    const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 400)(rng);
    const std::string s = random_json_ish(rng, n);
    const int64_t shallow = std::uniform_int_distribution<int64_t>(0, 4)(rng);
    // Fed in random pieces, to cross 64-byte blocks and piece ends everywhere.
    BracketScan scan;
    Reference ref;
    std::vector<Marked> got, want;
    std::size_t pos = 0;
    bool stopped = false;
    while (pos < n && !stopped) {
      const std::size_t len =
          std::min<std::size_t>(n - pos, std::uniform_int_distribution<std::size_t>(1, 150)(rng));
      const std::size_t used =
          scan.scan(s.data() + pos, len, shallow, [&](std::size_t at, char c, int64_t d) {
            got.push_back({pos + at, c, d});
            return true;
          });
      ref.feed(s, pos, pos + len, shallow, want);
      if (scan.depth < 0) {
        stopped = true;
        CHECK(ref.stopped);
        CHECK(used <= len);
      } else {
        CHECK(used == len);
      }
      pos += len;
    }
    auto show = [](const std::vector<Marked>& v) {
      std::string out;
      for (const auto& m : v)
        out += m.c + std::to_string(m.at) + "/" + std::to_string(m.depth) + " ";
      return out;
    };
    INFO("input: ", s, " shallow ", shallow);
    INFO("got:  ", show(got));
    INFO("want: ", show(want));
    REQUIRE(got == want);
    if (!stopped) {
      CHECK_FALSE(ref.stopped);
      CHECK(scan.depth == ref.depth);
      CHECK(scan.in_string() == ref.in_string);
      CHECK(scan.non_ascii == ref.non_ascii);
    }
  }
}

/// Stops the scan at a random mark of random inputs and checks that the non-ASCII flag counts
/// exactly the bytes up to the stop (what follows is the next call's), and the offset returned.
inline void check_bracket_scan_stops_against_reference(int rounds, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int round = 0; round < rounds; ++round) {
    const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 400)(rng);
    const std::string s = random_json_ish(rng, n);
    Reference ref;
    std::vector<Marked> all;
    ref.feed(s, 0, n, 8, all);
    if (all.empty()) continue;  // marks before a negative depth are stops too
    const std::size_t k = std::uniform_int_distribution<std::size_t>(0, all.size() - 1)(rng);
    BracketScan scan;
    std::size_t seen = 0;
    const std::size_t used = scan.scan(s.data(), n, 8, [&](std::size_t, char, int64_t) {
      return seen++ < k;  // false at the k-th mark: the scan stops there
    });
    bool non_ascii = false;
    for (std::size_t i = 0; i <= all[k].at; ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x20 || c >= 0x80) non_ascii = true;
    }
    INFO("input: ", s, " stop at ", all[k].at);
    CHECK(used == all[k].at + 1);
    CHECK(scan.non_ascii == non_ascii);
  }
}

}  // namespace kcoro::test
