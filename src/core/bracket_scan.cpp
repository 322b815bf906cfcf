#include "core/bracket_scan.hpp"

#include <atomic>

namespace kcoro::detail {

namespace {

ScanIsa detect() noexcept {
#if KCORO_SCAN_X86
  __builtin_cpu_init();
  // libgcc's checks include the operating system's support for the wider registers (XCR0).
  if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") &&
      __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("popcnt"))
    return ScanIsa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") &&
      __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("popcnt"))
    return ScanIsa::avx2;
  return ScanIsa::sse2;
#else
  return ScanIsa::portable;
#endif
}

// Read when a decoder or a BracketScan is made: relaxed, as it only ever names a variant this
// CPU runs.
std::atomic<ScanIsa>& active() noexcept {
  static std::atomic<ScanIsa> isa{best_scan_isa()};
  return isa;
}

}  // namespace

ScanIsa best_scan_isa() noexcept {
  static const ScanIsa best = detect();
  return best;
}

ScanIsa scan_isa() noexcept {
  return active().load(std::memory_order_relaxed);
}

void force_scan_isa(ScanIsa isa) noexcept {
  const ScanIsa best = best_scan_isa();
  if (isa > best) isa = best;
#if KCORO_SCAN_X86
  if (isa == ScanIsa::portable) isa = ScanIsa::sse2;  // x86-64 builds have no portable variant
#endif
  active().store(isa, std::memory_order_relaxed);
}

const char* scan_isa_name(ScanIsa isa) noexcept {
  switch (isa) {
    case ScanIsa::avx512:
      return "avx512";
    case ScanIsa::avx2:
      return "avx2";
    case ScanIsa::sse2:
      return "sse2";
    case ScanIsa::portable:
      break;
  }
  return "portable";
}

}  // namespace kcoro::detail
