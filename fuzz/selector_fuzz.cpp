// libFuzzer target: label selector parsing and matching (core), and the fake API server's field
// selector parsing. Whatever parses must match without failing.
#include "fuzz_input.hpp"
#include "kcoro/label_selector.hpp"
#include "testing/fake_internal.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  kcoro::fuzz::Input in(data, size);
  const std::string_view text = in.until('\n');
  std::string error;
  if (auto sel = kcoro::parse_label_selector(text, error)) {
    static const kcoro::ObjectPtr obj = kcoro::Object::parse(
        R"({"metadata":{"name":"n","labels":{"app":"web","tier":"1","example.com/x":""}}})");
    (void)sel->matches(obj->meta().labels);
  }
  if (auto fs = kcoro::testing::fake::parse_field_selector(in.rest(), error)) {
    static const auto doc =
        boost::json::parse(R"({"metadata":{"name":"n","namespace":"d"},"spec":{"x":"y"}})");
    (void)fs->matches(doc.as_object());
  }
  return 0;
}
