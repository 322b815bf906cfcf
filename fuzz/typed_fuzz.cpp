// libFuzzer target: the typed decoders on arbitrary text — a custom resource
// (kcoro/custom_resource.hpp) whose members are every type it supports, so the generated scalar,
// special-type and meta/v1 readers are reached too. Decoding either succeeds or throws
// api::DecodeError (nothing else); what decodes re-encodes to JSON that decodes again and encodes
// to the same text.
#include "../tests/support/widget.hpp"

#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  kcoro::test::Widget w;
  try {
    w = kcoro::api::decode<kcoro::test::Widget>(text);
  } catch (const kcoro::api::DecodeError& e) {
    if (std::string_view(e.what()).empty()) std::abort();
    return 0;
  }
  const std::string once = kcoro::api::encode(w);
  kcoro::test::Widget again;
  try {
    again = kcoro::api::decode<kcoro::test::Widget>(once);
  } catch (const kcoro::api::DecodeError&) {
    std::abort();  // what kcoro writes, kcoro reads
  }
  if (kcoro::api::encode(again) != once) std::abort();
  return 0;
}
