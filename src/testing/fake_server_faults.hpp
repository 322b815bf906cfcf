// Internal (the fake API server): the table of injected faults. Thread-safe: tests add rules
// from their thread while connections consume them on the server's.
#pragma once

#include "kcoro/testing/fake_apiserver.hpp"

#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

namespace kcoro::testing {

class FaultTable {
 public:
  int add(Fault fault);
  void remove(int id);
  void clear();
  /// The first rule matching the request, with one use consumed (a rule used up is removed).
  std::optional<Fault> take(std::string_view method, std::string_view path, bool watch);

 private:
  std::mutex mutex_;
  std::vector<std::pair<int, Fault>> rules_;
  int next_id_ = 1;
};

}  // namespace kcoro::testing
