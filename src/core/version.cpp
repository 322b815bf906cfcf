#include "kcoro/version.hpp"

namespace kcoro {

const char* version() noexcept {
  return KCORO_VERSION_STRING;
}

}  // namespace kcoro
