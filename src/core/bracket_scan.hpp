// Internal: a string-aware bracket scanner over JSON bytes, 64 bytes at a time.
//
// It classifies each 64-byte block with SIMD compares into bit masks (quotes, backslashes,
// brackets, commas), works out which quotes are escaped and which bytes lie inside strings with
// carry-less bit arithmetic, and then keeps only the depth: a block whose brackets cannot bring
// the depth down to the caller's `shallow` level is accounted for with two popcounts. Only
// brackets and commas at depth <= shallow are reported one by one, in order.
//
// The decoders use it to frame what simdjson would otherwise have to index in full: the end of a
// list item, and the top-level fields of a watch event's object. What it checks is what an
// On-Demand skip checks: strings are closed and brackets balance (a '}' may close a '['; atoms
// are not checked). It also flags any byte outside printable ASCII (controls and UTF-8), so that
// a caller that relies on it instead of simdjson's UTF-8 validation can fall back.
//
// The state carries across calls: bytes may arrive in any pieces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace kcoro::detail {

struct BracketScan {
  uint64_t escaped_carry = 0;    // 1: the next block's first byte is escaped
  uint64_t in_string_carry = 0;  // all ones: the next block starts inside a string
  int64_t depth = 0;
  bool non_ascii = false;  // a byte < 0x20 or >= 0x80 was seen (in or out of strings)

  bool in_string() const noexcept { return in_string_carry != 0; }

  /// Scans [p, p + n). For each '{', '[', '}', ']' and ',' outside strings at which the depth is
  /// at most `shallow` (for an opening bracket the depth before it, for a closing one the depth
  /// after it, for a comma the depth it sits at), calls `mark(offset, c, depth)`; a false return
  /// stops the scan. Returns the offset just past the byte that stopped it, or n. A depth that
  /// goes below zero stops the scan at that byte and returns the negative depth in `depth`.
  template <class Mark>
  std::size_t scan(const char* p, std::size_t n, int64_t shallow, Mark&& mark) {
    // The state lives in registers for the loop; every exit stores it back.
    State st{escaped_carry, in_string_carry, depth, non_ascii};
    const std::size_t r = scan_blocks(p, n, shallow, mark, st);
    escaped_carry = st.escaped;
    in_string_carry = st.in_string;
    depth = st.depth;
    non_ascii = st.non_ascii;
    return r;
  }

 private:
  struct State {
    uint64_t escaped;
    uint64_t in_string;
    int64_t depth;
    bool non_ascii;
  };

  template <class Mark>
  static std::size_t scan_blocks(const char* p, std::size_t n, int64_t shallow, Mark& mark,
                                 State& st) {
    uint64_t escaped_carry = st.escaped;
    uint64_t in_string_carry = st.in_string;
    int64_t depth = st.depth;
    uint64_t bad = 0;
    auto stop_at = [&](std::size_t offset) {
      // Just after a bracket or comma outside a string: not in a string, not escaped.
      st = State{0, 0, depth, st.non_ascii || bad != 0};
      return offset + 1;
    };
    std::size_t i = 0;
    while (i < n) {
      const std::size_t len = n - i < 64 ? n - i : 64;
      Masks m;
      if (len == 64) {
        m = classify(p + i);
      } else {
        alignas(64) char tail[64];
        std::memset(tail, ' ', sizeof tail);
        std::memcpy(tail, p + i, len);
        m = classify(tail);
      }
      bad |= m.bad;
      const uint64_t escaped = find_escaped(m.backslash, escaped_carry);
      // In a short last block the byte after the text is padding: whether it is escaped is the
      // carry for the next call.
      if (len < 64) escaped_carry = (escaped >> len) & 1;
      const uint64_t quotes = m.quote & ~escaped;
      const uint64_t inside = prefix_xor(quotes) ^ in_string_carry;
      in_string_carry = static_cast<uint64_t>(static_cast<int64_t>(inside) >> 63);
      const uint64_t open = m.open & ~inside;
      const uint64_t close = m.close & ~inside;
      const int64_t closes = __builtin_popcountll(close);
      if (depth - closes > shallow) {
        depth += __builtin_popcountll(open) - closes;  // nothing reaches the shallow levels
      } else {
        // Walk the brackets in order, without a branch on which kind each is: inside deep values
        // the only branches, "is this shallow?", are predictable. Between two brackets the depth
        // is constant; the commas there are reported when it is shallow.
        const uint64_t commas = m.comma & ~inside;
        uint64_t bits = open | close;
        unsigned from = 0;  // the first byte after the previous bracket
        // Reports the commas in [from, to); returns the one the caller stopped at, or 64.
        auto report_commas = [&](unsigned to) -> unsigned {
          uint64_t here = commas & (to == 64 ? ~uint64_t{0} : (uint64_t{1} << to) - 1) &
                          ~((uint64_t{1} << from) - 1);
          while (here) {
            const unsigned c_at = static_cast<unsigned>(__builtin_ctzll(here));
            here &= here - 1;
            if (!mark(i + c_at, ',', depth)) return c_at;
          }
          return 64;
        };
        while (bits) {
          const unsigned at = static_cast<unsigned>(__builtin_ctzll(bits));
          bits &= bits - 1;
          if (depth <= shallow && commas) [[unlikely]] {
            if (const unsigned c_at = report_commas(at); c_at < 64) return stop_at(i + c_at);
          }
          const int64_t is_open = static_cast<int64_t>((open >> at) & 1);
          const int64_t level =
              depth - 1 + is_open;  // an opening's depth before, a closing's after
          depth += 2 * is_open - 1;
          if (level <= shallow) [[unlikely]] {
            if (level < 0) return stop_at(i + at);
            if (!mark(i + at, p[i + at], level)) return stop_at(i + at);
          }
          from = at + 1;
        }
        if (depth <= shallow && commas && from < 64) {
          if (const unsigned c_at = report_commas(64); c_at < 64) return stop_at(i + c_at);
        }
      }
      i += len;
    }
    st = State{escaped_carry, in_string_carry, depth, st.non_ascii || bad != 0};
    return n;
  }

  struct Masks {
    uint64_t quote = 0, backslash = 0, open = 0, close = 0, comma = 0, bad = 0;
  };

  static uint64_t prefix_xor(uint64_t x) noexcept {
#if defined(__PCLMUL__)
    const __m128i all = _mm_set1_epi8(static_cast<char>(0xFF));
    const __m128i r = _mm_clmulepi64_si128(_mm_set_epi64x(0, static_cast<int64_t>(x)), all, 0);
    return static_cast<uint64_t>(_mm_cvtsi128_si64(r));
#else
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
#endif
  }

  // The bytes escaped by a backslash: those that follow an odd-length run of backslashes.
  static uint64_t find_escaped(uint64_t backslash, uint64_t& escaped_carry) noexcept {
    // Most blocks have no backslash: then only the first byte can be escaped, and the carry
    // does not wait on the arithmetic below (it is the loop's critical path otherwise).
    if (!backslash) [[likely]] {
      const uint64_t first = escaped_carry;
      escaped_carry = 0;
      return first;
    }
    backslash &= ~escaped_carry;  // a backslash that is itself escaped escapes nothing
    const uint64_t follows_escape = (backslash << 1) | escaped_carry;
    constexpr uint64_t even_bits = 0x5555555555555555ULL;
    const uint64_t odd_starts = backslash & ~even_bits & ~follows_escape;
    uint64_t even_starts = 0;
    escaped_carry = __builtin_add_overflow(odd_starts, backslash, &even_starts) ? 1 : 0;
    const uint64_t invert = even_starts << 1;
    return (even_bits ^ invert) & follows_escape;
  }

  static Masks classify(const char* p) noexcept {
    Masks m;
#if defined(__AVX512BW__)
    const __m512i v = _mm512_loadu_si512(p);
    m.quote = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('"'));
    m.backslash = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\\'));
    m.open = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('{')) |
             _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('['));
    m.close = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('}')) |
              _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(']'));
    m.comma = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(','));
    m.bad = _mm512_cmplt_epi8_mask(v, _mm512_set1_epi8(0x20));
#elif defined(__AVX2__)
    const __m256i k_quote = _mm256_set1_epi8('"'), k_bs = _mm256_set1_epi8('\\');
    const __m256i k_lb = _mm256_set1_epi8('{'), k_ls = _mm256_set1_epi8('[');
    const __m256i k_rb = _mm256_set1_epi8('}'), k_rs = _mm256_set1_epi8(']');
    const __m256i k_comma = _mm256_set1_epi8(','), k_space = _mm256_set1_epi8(0x20);
    const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
    auto mask = [](__m256i a, __m256i b) {
      return static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_epi8(a))) |
             static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_epi8(b))) << 32;
    };
    m.quote = mask(_mm256_cmpeq_epi8(lo, k_quote), _mm256_cmpeq_epi8(hi, k_quote));
    m.backslash = mask(_mm256_cmpeq_epi8(lo, k_bs), _mm256_cmpeq_epi8(hi, k_bs));
    m.open = mask(_mm256_or_si256(_mm256_cmpeq_epi8(lo, k_lb), _mm256_cmpeq_epi8(lo, k_ls)),
                  _mm256_or_si256(_mm256_cmpeq_epi8(hi, k_lb), _mm256_cmpeq_epi8(hi, k_ls)));
    m.close = mask(_mm256_or_si256(_mm256_cmpeq_epi8(lo, k_rb), _mm256_cmpeq_epi8(lo, k_rs)),
                   _mm256_or_si256(_mm256_cmpeq_epi8(hi, k_rb), _mm256_cmpeq_epi8(hi, k_rs)));
    m.comma = mask(_mm256_cmpeq_epi8(lo, k_comma), _mm256_cmpeq_epi8(hi, k_comma));
    m.bad = mask(_mm256_cmpgt_epi8(k_space, lo), _mm256_cmpgt_epi8(k_space, hi));
#elif defined(__SSE2__)
    for (int q = 0; q < 4; ++q) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * q));
      auto bits = [&](char c) {
        return static_cast<uint64_t>(
                   static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c)))))
               << (16 * q);
      };
      m.quote |= bits('"');
      m.backslash |= bits('\\');
      m.open |= bits('{') | bits('[');
      m.close |= bits('}') | bits(']');
      m.comma |= bits(',');
      m.bad |= static_cast<uint64_t>(
                   static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)))))
               << (16 * q);
    }
#else
    for (int k = 0; k < 64; ++k) {
      const unsigned char c = static_cast<unsigned char>(p[k]);
      const uint64_t bit = uint64_t{1} << k;
      if (c == '"') m.quote |= bit;
      if (c == '\\') m.backslash |= bit;
      if (c == '{' || c == '[') m.open |= bit;
      if (c == '}' || c == ']') m.close |= bit;
      if (c == ',') m.comma |= bit;
      if (c < 0x20 || c >= 0x80) m.bad |= bit;
    }
#endif
    return m;
  }
};

}  // namespace kcoro::detail
