// Internal (tests, benches, the fake API server's seeding): deterministic, realistic Pod JSON.
//
// Pods are shaped like the fixtures' pods as a real cluster fills them in: a ReplicaSet owner,
// labels and annotations, kubectl- and kubelet-style managedFields, one to three containers with
// env, ports, resources and volume mounts, tolerations, and a running status. Sizes spread over
// roughly 3-8 KB. The same seed gives the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kcoro::testing {

class PodGenerator {
 public:
  explicit PodGenerator(uint64_t seed = 42) : state_(seed ? seed : 42) {}

  /// One compact Pod document (kind and apiVersion included unless `list_item`).
  std::string pod(std::string_view ns, std::string_view name, uint64_t resource_version,
                  bool list_item = false);

  /// `{"type":TYPE,"object":OBJECT}` and a newline: one line of a watch stream.
  static std::string watch_line(std::string_view type, std::string_view object_json);

  /// A PodList document around items made with list_item=true.
  static std::string list(const std::vector<std::string>& items, std::string_view resource_version,
                          std::string_view continue_token = {});

  uint64_t next();  // xorshift64*

 private:
  uint64_t below(uint64_t n) { return next() % n; }
  std::string uid();
  uint64_t state_;
};

}  // namespace kcoro::testing
