// libFuzzer target: Object::parse on arbitrary text, then Object::get with JSON pointers taken
// from the input, on that object and on a fixed pod.
#include "fuzz_input.hpp"
#include "kcoro/object.hpp"

#include <cstdlib>
#include <string>
#include <system_error>

namespace {

const kcoro::ObjectPtr& pod() {
  static const kcoro::ObjectPtr p = kcoro::Object::parse(
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns",)"
      R"("labels":{"a/b":"c","~x":"y"}},"spec":{"containers":[{"name":"c","ports":[)"
      R"({"containerPort":80}]}]},"status":{"phase":"Running","ok":true,"n":-1.5e3}})");
  return p;
}

// The error_code overloads never throw; the throwing ones throw std::system_error only.
template <class T>
void read(const kcoro::Object& o, std::string_view pointer) {
  std::error_code ec;
  const auto v = o.get<T>(pointer, ec);
  if (ec && v) std::abort();  // an error comes without a value
  try {
    (void)o.get<T>(pointer);
    if (ec) std::abort();  // the same error must throw
  } catch (const std::system_error& e) {
    if (e.code() != ec) std::abort();
  }
}

void probe(const kcoro::Object& o, std::string_view pointer) {
  read<std::string_view>(o, pointer);
  read<std::string>(o, pointer);
  read<int64_t>(o, pointer);
  read<double>(o, pointer);
  read<bool>(o, pointer);
  read<kcoro::RawJson>(o, pointer);
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
