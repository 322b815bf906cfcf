// libFuzzer target: Object::parse on arbitrary text, then Object::get with JSON pointers taken
// from the input, on that object and on a fixed pod.
#include "fuzz_input.hpp"
#include "kcoro/object.hpp"

#include <string>

namespace {

const kcoro::ObjectPtr& pod() {
  static const kcoro::ObjectPtr p = kcoro::Object::parse(
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns",)"
      R"("labels":{"a/b":"c","~x":"y"}},"spec":{"containers":[{"name":"c","ports":[)"
      R"({"containerPort":80}]}]},"status":{"phase":"Running","ok":true,"n":-1.5e3}})");
  return p;
}

void probe(const kcoro::Object& o, std::string_view pointer) {
  (void)o.get<std::string_view>(pointer);
  (void)o.get<std::string>(pointer);
  (void)o.get<int64_t>(pointer);
  (void)o.get<double>(pointer);
  (void)o.get<bool>(pointer);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  kcoro::fuzz::Input in(data, size);
  const std::string pointer(in.until('\n'));
  probe(*pod(), pointer);
  kcoro::Error err;
  if (auto obj = kcoro::Object::parse(in.rest(), err)) {
    probe(*obj, pointer);
    (void)obj->key();
  }
  return 0;
}
