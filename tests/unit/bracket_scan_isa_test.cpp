// The bracket scanner's SIMD variants against its byte-at-a-time reference. The scanner picks its
// block classifier at compile time (AVX-512BW, AVX2, SSE2 or portable C++); the unit tier runs
// whichever the build's -march selects, and this file is built once more per narrower x86 level
// (tests/meson.build), so every variant that can run here is checked. Each build is its own
// executable: the scanner's inline code must not mix within one program.
#include "bracket_scan_reference.hpp"

#include <doctest/doctest.h>

TEST_CASE("bracket scan (" KCORO_SCAN_VARIANT "): agrees with the reference in random pieces") {
  kcoro::test::check_bracket_scan_against_reference(2000, 11);
}
