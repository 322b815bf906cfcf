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
//
// The block loop is compiled once per instruction set (AVX-512BW, AVX2, SSE2 on x86-64; plain
// C++ elsewhere) in target regions, whatever -march the build uses, and scan() runs the widest
// this CPU has: a portable build still scans with AVX-512 where the CPU has it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#define KCORO_SCAN_X86 1
#include <immintrin.h>
// A region of functions compiled for the instruction set `isa`, whatever -march says.
#if defined(__clang__)
#define KCORO_SCAN_TARGET_REGION(isa) \
  _Pragma(KCORO_SCAN_STR(clang attribute push(__attribute__((target(isa))), apply_to = function)))
#define KCORO_SCAN_TARGET_END _Pragma("clang attribute pop")
#else
#define KCORO_SCAN_TARGET_REGION(isa) \
  _Pragma("GCC push_options") _Pragma(KCORO_SCAN_STR(GCC target(isa)))
#define KCORO_SCAN_TARGET_END _Pragma("GCC pop_options")
#endif
#define KCORO_SCAN_STR(x) #x
#else
#define KCORO_SCAN_X86 0
#endif

namespace kcoro::detail {

/// The scanner's variants, narrowest first. On x86-64 every build has all but `portable`.
enum class ScanIsa : uint8_t { portable, sse2, avx2, avx512 };

/// The widest variant this CPU runs.
ScanIsa best_scan_isa() noexcept;
/// The variant scan() runs: best_scan_isa(), unless force_scan_isa() chose another.
ScanIsa scan_isa() noexcept;
/// Tests and benchmarks: run `isa` from now on, process-wide (a wider one than the CPU has, or
/// one this build lacks, gives the widest that can run).
void force_scan_isa(ScanIsa isa) noexcept;
/// "avx512", "avx2", "sse2" or "portable".
const char* scan_isa_name(ScanIsa isa) noexcept;

namespace bracket {

struct State {
  uint64_t escaped;
  uint64_t in_string;
  int64_t depth;
  bool non_ascii;
};

struct Masks {
  uint64_t quote = 0, backslash = 0, open = 0, close = 0, comma = 0, bad = 0;
};

// The bytes escaped by a backslash: those that follow an odd-length run of backslashes.
inline uint64_t find_escaped(uint64_t backslash, uint64_t& escaped_carry) noexcept {
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

// Bit i of the result: the xor of bits 0..i of x (which bytes lie between an odd and an even
// quote), by shifts anywhere, or by one carry-less multiplication.
inline uint64_t prefix_xor_shifts(uint64_t x) noexcept {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

#if KCORO_SCAN_X86
KCORO_SCAN_TARGET_REGION("pclmul")
inline uint64_t prefix_xor_clmul(uint64_t x) noexcept {
  const __m128i all = _mm_set1_epi8(static_cast<char>(0xFF));
  const __m128i r = _mm_clmulepi64_si128(_mm_set_epi64x(0, static_cast<int64_t>(x)), all, 0);
  return static_cast<uint64_t>(_mm_cvtsi128_si64(r));
}
KCORO_SCAN_TARGET_END
#endif

#if KCORO_SCAN_X86
namespace avx512 {
KCORO_SCAN_TARGET_REGION("avx512f,avx512bw,avx2,bmi,bmi2,pclmul,popcnt,lzcnt")
inline Masks classify(const char* p) noexcept {
  Masks m;
  const __m512i v = _mm512_loadu_si512(p);
  m.quote = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('"'));
  m.backslash = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\\'));
  m.open = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('{')) |
           _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('['));
  m.close = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('}')) |
            _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(']'));
  m.comma = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(','));
  m.bad = _mm512_cmplt_epi8_mask(v, _mm512_set1_epi8(0x20));
  return m;
}
inline uint64_t prefix_xor(uint64_t x) noexcept {
  return prefix_xor_clmul(x);
}
#include "core/bracket_scan_blocks.inc"
KCORO_SCAN_TARGET_END
}  // namespace avx512

namespace avx2 {
KCORO_SCAN_TARGET_REGION("avx2,bmi,bmi2,pclmul,popcnt,lzcnt")
inline Masks classify(const char* p) noexcept {
  Masks m;
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
  return m;
}
inline uint64_t prefix_xor(uint64_t x) noexcept {
  return prefix_xor_clmul(x);
}
#include "core/bracket_scan_blocks.inc"
KCORO_SCAN_TARGET_END
}  // namespace avx2

namespace sse2 {  // x86-64's baseline: no target region needed
inline Masks classify(const char* p) noexcept {
  Masks m;
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
  return m;
}
inline uint64_t prefix_xor(uint64_t x) noexcept {
  return prefix_xor_shifts(x);
}
#include "core/bracket_scan_blocks.inc"
}  // namespace sse2
#else
namespace portable {
inline Masks classify(const char* p) noexcept {
  Masks m;
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
  return m;
}
inline uint64_t prefix_xor(uint64_t x) noexcept {
  return prefix_xor_shifts(x);
}
#include "core/bracket_scan_blocks.inc"
}  // namespace portable
#endif

}  // namespace bracket

struct BracketScan {
  uint64_t escaped_carry = 0;    // 1: the next block's first byte is escaped
  uint64_t in_string_carry = 0;  // all ones: the next block starts inside a string
  int64_t depth = 0;
  bool non_ascii = false;  // a byte < 0x20 or >= 0x80 was seen (in or out of strings)
  ScanIsa isa;             // the variant scan() runs, chosen once: decoders pass theirs in

  BracketScan() noexcept : isa(scan_isa()) {}
  explicit BracketScan(ScanIsa variant) noexcept : isa(variant) {}

  bool in_string() const noexcept { return in_string_carry != 0; }
  /// Back to the start of a value, with the same variant.
  void reset() noexcept {
    escaped_carry = 0;
    in_string_carry = 0;
    depth = 0;
    non_ascii = false;
  }

  /// Scans [p, p + n). For each '{', '[', '}', ']' and ',' outside strings at which the depth is
  /// at most `shallow` (for an opening bracket the depth before it, for a closing one the depth
  /// after it, for a comma the depth it sits at), calls `mark(offset, c, depth)`; a false return
  /// stops the scan. Returns the offset just past the byte that stopped it, or n. A depth that
  /// goes below zero stops the scan at that byte and returns the negative depth in `depth`.
  template <class Mark>
  std::size_t scan(const char* p, std::size_t n, int64_t shallow, Mark&& mark) {
    // The state lives in registers for the loop; every exit stores it back.
    bracket::State st{escaped_carry, in_string_carry, depth, non_ascii};
    std::size_t r;
#if KCORO_SCAN_X86
    switch (isa) {
      case ScanIsa::avx512:
        r = bracket::avx512::scan_blocks(p, n, shallow, mark, st);
        break;
      case ScanIsa::avx2:
        r = bracket::avx2::scan_blocks(p, n, shallow, mark, st);
        break;
      default:
        r = bracket::sse2::scan_blocks(p, n, shallow, mark, st);
        break;
    }
#else
    r = bracket::portable::scan_blocks(p, n, shallow, mark, st);
#endif
    escaped_carry = st.escaped;
    in_string_carry = st.in_string;
    depth = st.depth;
    non_ascii = st.non_ascii;
    return r;
  }
};

}  // namespace kcoro::detail
