// The bracket scanner's variants against its byte-at-a-time reference. Every build holds one
// variant per x86-64 instruction set (AVX-512BW, AVX2, SSE2; plain C++ elsewhere) and runs the
// widest the CPU has; each that can run here is forced in turn and checked.
#include "bracket_scan_reference.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using kcoro::detail::best_scan_isa;
using kcoro::detail::force_scan_isa;
using kcoro::detail::scan_isa;
using kcoro::detail::scan_isa_name;
using kcoro::detail::ScanIsa;

namespace {

// Forces a variant for one scope; the widest again after.
struct ForcedIsa {
  explicit ForcedIsa(ScanIsa isa) { force_scan_isa(isa); }
  ~ForcedIsa() { force_scan_isa(best_scan_isa()); }
  ForcedIsa(const ForcedIsa&) = delete;
  ForcedIsa& operator=(const ForcedIsa&) = delete;
};

// The variants this CPU runs, widest first.
std::vector<ScanIsa> runnable() {
  std::vector<ScanIsa> out;
  for (ScanIsa isa : {ScanIsa::avx512, ScanIsa::avx2, ScanIsa::sse2, ScanIsa::portable}) {
    if (isa > best_scan_isa()) continue;
#if defined(__x86_64__)
    if (isa == ScanIsa::portable) continue;
#else
    if (isa != ScanIsa::portable) continue;
#endif
    out.push_back(isa);
  }
  return out;
}

}  // namespace

TEST_CASE("bracket scan: every variant the CPU runs agrees with the reference in random pieces") {
  const std::vector<ScanIsa> isas = runnable();
  REQUIRE(!isas.empty());
  CHECK(scan_isa() == best_scan_isa());  // the widest, unless forced
  for (ScanIsa isa : isas) {
    CAPTURE(std::string(scan_isa_name(isa)));
    ForcedIsa forced(isa);
    REQUIRE(scan_isa() == isa);
    kcoro::test::check_bracket_scan_against_reference(2000, 11);
    kcoro::test::check_bracket_scan_stops_against_reference(2000, 13);
  }
  CHECK(scan_isa() == best_scan_isa());
}

TEST_CASE("bracket scan: a variant wider than the CPU runs is never chosen") {
  {
    ForcedIsa forced(ScanIsa::avx512);
    CHECK(scan_isa() == best_scan_isa());
  }
  {
    ForcedIsa forced(ScanIsa::portable);
#if defined(__x86_64__)
    CHECK(scan_isa() == ScanIsa::sse2);  // x86-64's baseline has SSE2
#else
    CHECK(scan_isa() == ScanIsa::portable);
#endif
  }
  CHECK(std::string(scan_isa_name(ScanIsa::avx2)) == "avx2");
}
