// Reads one series' value from a MetricsRegistry's text rendering, for tests.
#pragma once

#include "kcoro/metrics.hpp"

#include <string>

namespace kcoro::test {

/// The value of the series whose line starts with `series` (name and labels, as rendered:
/// label names sorted); 0 when there is no such line.
inline double metric_value(const MetricsRegistry& registry, const std::string& series) {
  const std::string text = registry.render();
  const std::string needle = series + " ";
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + needle.size()));
  }
  return 0;
}

}  // namespace kcoro::test
