// libFuzzer target: the kubeconfig loader on arbitrary YAML. A bad file must throw (any
// std::exception is a clear error); nothing else may happen.
#include "kcoro/kubeconfig.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/kcoro-kubeconfig-fuzz-" + std::to_string(getpid());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  kcoro::LoadOptions lo;
  lo.env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  try {
    (void)kcoro::load_kubeconfig({path}, lo);
  } catch (const std::exception&) {
  }
  return 0;
}
