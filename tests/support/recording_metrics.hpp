// Test support: a QueueMetrics that records every call, for the work queue's tests (the pure
// core's in the unit tier, the Asio shell's in the thread tier).
#pragma once

#include "kcoro/detail/queue_core.hpp"

#include <map>
#include <string>
#include <vector>

namespace kcoro::test {

// Records every metrics call as "name value" lines.
struct RecordingMetrics : kcoro::QueueMetrics {
  std::vector<std::string> calls;
  std::map<std::string, double> last;
  void set(Gauge g, double v) override { note(std::string(name(g)), v); }
  void inc(Counter c) override { note(std::string(name(c)), 1); }
  void observe(Histogram h, double v) override { note(std::string(name(h)), v); }
  void note(const std::string& n, double v) {
    calls.push_back(n + " " + std::to_string(v));
    last[n] = v;
  }
  int count(const std::string& n) const {
    int c = 0;
    for (auto& s : calls)
      c += s.rfind(n + " ", 0) == 0 ? 1 : 0;
    return c;
  }
};

}  // namespace kcoro::test
