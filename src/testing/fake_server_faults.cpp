#include "testing/fake_server_faults.hpp"

#include <algorithm>

namespace kcoro::testing {

int FaultTable::add(Fault fault) {
  std::lock_guard lock(mutex_);
  const int id = next_id_++;
  if (fault.times != 0) rules_.emplace_back(id, std::move(fault));
  return id;
}

void FaultTable::remove(int id) {
  std::lock_guard lock(mutex_);
  std::erase_if(rules_, [id](const auto& r) { return r.first == id; });
}

void FaultTable::clear() {
  std::lock_guard lock(mutex_);
  rules_.clear();
}

std::optional<Fault> FaultTable::take(std::string_view method, std::string_view path, bool watch) {
  std::lock_guard lock(mutex_);
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    Fault& f = it->second;
    if (!f.method.empty() && f.method != method) continue;
    if (!path.starts_with(f.path_prefix)) continue;
    if (f.watch_only && !watch) continue;
    Fault out = f;
    if (f.times > 0 && --f.times == 0) rules_.erase(it);
    return out;
  }
  return std::nullopt;
}

}  // namespace kcoro::testing
