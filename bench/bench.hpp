// kcoro-bench: shared argument parsing for the subcommands.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace kcoro::bench {

/// Flags of the form `--name value` and `--flag`. Unknown flags are reported by ok().
class Args {
 public:
  Args(int argc, char** argv) : args_(argv + 1, argv + argc), used_(args_.size(), false) {}

  bool flag(std::string_view name) {
    for (std::size_t i = 0; i < args_.size(); ++i) {
      if (args_[i] == name) {
        used_[i] = true;
        return true;
      }
    }
    return false;
  }
  std::string get(std::string_view name, std::string fallback) {
    for (std::size_t i = 0; i + 1 < args_.size(); ++i) {
      if (args_[i] == name) {
        used_[i] = used_[i + 1] = true;
        return args_[i + 1];
      }
    }
    return fallback;
  }
  std::size_t get_size(std::string_view name, std::size_t fallback) {
    std::string v = get(name, "");
    if (v.empty()) return fallback;
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (*end != '\0') {
      std::fprintf(stderr, "%.*s: not a number: %s\n", static_cast<int>(name.size()), name.data(),
                   v.c_str());
      bad_ = true;
      return fallback;
    }
    return static_cast<std::size_t>(n);
  }
  /// False (after printing why) if a flag was not understood.
  bool ok() const {
    bool good = !bad_;
    for (std::size_t i = 0; i < args_.size(); ++i) {
      if (!used_[i]) {
        std::fprintf(stderr, "unknown argument: %s\n", args_[i].c_str());
        good = false;
      }
    }
    return good;
  }

 private:
  std::vector<std::string> args_;
  std::vector<bool> used_;
  bool bad_ = false;
};

}  // namespace kcoro::bench
