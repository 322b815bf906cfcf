// Test support: a decoder that reuses a padded buffer must decode the same bytes the same way,
// whatever an earlier, longer document left in that buffer past the end of this one.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

namespace kcoro::test {

/// Every proper prefix of `doc` is malformed JSON. After `prime(text)` has decoded a long text
/// of one repeated character (several characters in turn), each prefix must still fail, and with
/// the same message: `error_of(text)` returns the message, or "no error".
template <class Prime, class ErrorOf>
void check_prefixes_fail_alike(std::string_view doc, Prime prime, ErrorOf error_of) {
  std::vector<std::string> first;
  for (char filler : {' ', '}', ']', '"', '1', 'e', '\\'}) {
    CAPTURE(filler);
    const std::string before(doc.size() + 256, filler);
    for (std::size_t n = 0; n < doc.size(); ++n) {
      prime(before);
      const std::string got = error_of(doc.substr(0, n));
      if (filler == ' ') {
        CHECK(got != "no error");
        first.push_back(got);
      } else if (got != first[n]) {
        CAPTURE(n);
        CHECK(got == first[n]);
      }
    }
  }
  CHECK(error_of(doc) == "no error");
}

}  // namespace kcoro::test
