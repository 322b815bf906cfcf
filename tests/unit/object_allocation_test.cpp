// One allocation per Object: the decoders build each Object, its meta tables and its text in one
// block. Counted with a replaced global operator new that counts only while a test asks it to.
#include "kcoro/list_decoder.hpp"
#include "kcoro/object.hpp"
#include "kcoro/watch_decoder.hpp"

#include "testing/pod_generator.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

namespace {
thread_local bool counting = false;
thread_local long allocations = 0;

void* counted_alloc(std::size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}

// Counts the allocations `f` makes on this thread.
template <class F>
long allocations_of(F&& f) {
  allocations = 0;
  counting = true;
  f();
  counting = false;
  return allocations;
}
}  // namespace

// Every non-aligned form is replaced, so that each pair allocates and frees alike (a sanitizer's
// own operator new[] (nothrow) freed by the free() below is a mismatch it reports). The aligned
// forms stay the library's, in pairs too.
void* operator new(std::size_t n) {
  return counted_alloc(n);
}
void* operator new[](std::size_t n) {
  return counted_alloc(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (counting) ++allocations;
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  if (counting) ++allocations;
  return std::malloc(n == 0 ? 1 : n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

TEST_CASE("object: a decoded watch event is one allocation, tables and text included") {
  kcoro::testing::PodGenerator gen(7);
  constexpr int kEvents = 50;
  std::string stream;
  for (int i = 0; i < kEvents; ++i) {
    stream += kcoro::testing::PodGenerator::watch_line(
        "MODIFIED", gen.pod("default", "pod-" + std::to_string(i % 5), 100 + i));
  }
  kcoro::WatchDecoder dec;
  std::vector<kcoro::WatchEvent> out;
  out.reserve(2 * kEvents);
  REQUIRE(!dec.feed(stream, out));  // warms the decoder's reusable scratch
  REQUIRE(out.size() == kEvents);
  out.clear();
  const long n = allocations_of([&] { REQUIRE(!dec.feed(stream, out)); });
  REQUIRE(out.size() == kEvents);
  // The pods carry labels, annotations, an owner and the text: all in the one block.
  CHECK(!out.back().object->meta().labels.empty());
  CHECK(!out.back().object->meta().annotations.empty());
  CHECK(out.back().object->meta().owner_references.size() == 1);
  CHECK(n == kEvents);
}

TEST_CASE("object: an Object's tables and text live as long as it does, and no longer leak") {
  const std::string json =
      R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"ns","uid":"u",)"
      R"("labels":{"a":"1","b":"2"},"annotations":{"x":"y"},"finalizers":["f1","f2"],)"
      R"("ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"r",)"
      R"("controller":true}]},"spec":{}})";
  kcoro::ObjectPtr obj = kcoro::Object::parse(json);
  const kcoro::ObjectMeta meta = obj->meta();  // views into the Object
  CHECK(meta.labels.get("b") == "2");
  CHECK(meta.annotations.get("x") == "y");
  REQUIRE(meta.finalizers.size() == 2);
  CHECK(meta.finalizers[1] == "f2");
  REQUIRE(meta.controller_ref() != nullptr);
  CHECK(meta.controller_ref()->name == "rs");
  CHECK(obj->json() == json);
  // What the cache pays: the block past the control block and the Object, the text's padding
  // included, and no more.
  CHECK(obj->retained_bytes() >= sizeof(kcoro::Object) + json.size() + 64);
  CHECK(obj->retained_bytes() <= sizeof(kcoro::Object) + json.size() + 64 + 16 + 5 * 32 + 72);
}
