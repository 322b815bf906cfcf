// libFuzzer target: the fake API server's request handling (routing, query parsing, bodies,
// patches) on arbitrary requests: method, target, content type and body, one per line.
#include "fuzz_input.hpp"
#include "kcoro/testing/fake_cluster.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  static kcoro::testing::FakeCluster cluster;
  static const bool seeded = [] {
    cluster.apply_object(
        R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"default"},)"
        R"("data":{"k":"v"}})");
    return true;
  }();
  (void)seeded;
  kcoro::fuzz::Input in(data, size);
  static const char* methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  kcoro::testing::FakeRequest req;
  req.method = methods[in.byte() % 5];
  req.target = std::string(in.until('\n'));
  req.content_type = std::string(in.until('\n'));
  req.body = std::string(in.rest());
  try {
    (void)cluster.handle(req);
  } catch (const std::exception&) {
    // A malformed request may throw only where the server shell turns it into a 400.
  }
  return 0;
}
