#include "kcoro/list_decoder.hpp"

#include "support/fixtures.hpp"
#include "support/split_feed.hpp"
#include "testing/pod_generator.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

using kcoro::Error;
using kcoro::ListDecoder;
using kcoro::ObjectPtr;
using kcoro::test::fixture;

namespace {

struct Decoded {
  std::vector<std::string> items;  // each item's stored JSON
  std::vector<std::string> errors;
  std::string rv, cont;
  std::optional<int64_t> remaining;
  bool done = false;
  bool operator==(const Decoded&) const = default;
};

Decoded decode_split(std::string_view body, const std::vector<std::size_t>& cuts,
                     kcoro::DecodeOptions opts = {}) {
  ListDecoder dec(opts);
  Decoded d;
  std::vector<ObjectPtr> out;
  auto record = [&](const Error& err) {
    if (err) d.errors.push_back(kcoro::test::describe_error(err));
  };
  kcoro::test::feed_split(body, cuts,
                          [&](std::string_view piece) { record(dec.feed(piece, out)); });
  record(dec.finish());
  for (const auto& o : out)
    d.items.emplace_back(o->json());
  d.rv = dec.meta().resource_version;
  d.cont = dec.meta().continue_token;
  d.remaining = dec.meta().remaining_item_count;
  d.done = dec.done();
  return d;
}

Decoded decode_bytewise(std::string_view body) {
  return decode_split(body, kcoro::test::every_byte(body.size()));
}

}  // namespace

TEST_CASE("a recorded paginated list decodes with its metadata") {
  const std::string body = fixture("list-pods-page1.json");
  ListDecoder dec;
  std::vector<ObjectPtr> items;
  CHECK_FALSE(dec.feed(body, items));
  CHECK_FALSE(dec.finish());
  CHECK(dec.done());
  CHECK(dec.kind() == "PodList");
  CHECK(dec.api_version() == "v1");
  CHECK(dec.meta().resource_version == "220");
  CHECK_FALSE(dec.meta().continue_token.empty());
  REQUIRE(dec.meta().remaining_item_count);
  CHECK(*dec.meta().remaining_item_count == 1);

  const auto want = boost::json::parse(body).at("items").as_array();
  REQUIRE(items.size() == want.size());
  REQUIRE(items.size() == 2);
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& m = items[i]->meta();
    CHECK(m.kind == "Pod");  // derived from the list's kind
    CHECK(m.api_version == "v1");
    CHECK(m.name == want[i].at("metadata").at("name").as_string());
    // The stored text is the item, minus managedFields, plus the implied kind and apiVersion.
    auto expect = kcoro::test::without_managed_fields(boost::json::serialize(want[i]));
    expect.as_object()["kind"] = "Pod";
    expect.as_object()["apiVersion"] = "v1";
    CHECK(boost::json::parse(items[i]->json()) == expect);
  }

  const std::string last = fixture("list-pods-page2.json");
  ListDecoder dec2;
  std::vector<ObjectPtr> items2;
  CHECK_FALSE(dec2.feed(last, items2));
  CHECK_FALSE(dec2.finish());
  CHECK(items2.size() == 1);
  CHECK(dec2.meta().continue_token.empty());
  CHECK_FALSE(dec2.meta().remaining_item_count);
}

TEST_CASE("custom resource lists derive kind and group version") {
  const std::string body = fixture("list-foos.json");
  ListDecoder dec;
  std::vector<ObjectPtr> items;
  CHECK_FALSE(dec.feed(body, items));
  CHECK_FALSE(dec.finish());
  REQUIRE_FALSE(items.empty());
  CHECK(items[0]->meta().kind == "Foo");
  CHECK(items[0]->meta().api_version == "samplecontroller.k8s.io/v1alpha1");
  CHECK(items[0]->get<std::string_view>("/spec/deploymentName"));
}

TEST_CASE("every fixture list decodes identically at every split point and byte by byte") {
  for (const char* name : {"list-pods-page1.json", "list-pods-page2.json", "list-pods-rv0.json",
                           "list-pods-selectors.json", "list-foos.json"}) {
    CAPTURE(name);
    const std::string body = fixture(name);
    const Decoded whole = decode_split(body, {});
    CHECK(whole.errors.empty());
    CHECK(whole.done);
    CHECK_FALSE(whole.items.empty());
    for (std::size_t cut = 1; cut < body.size(); ++cut) {
      if (!(decode_split(body, {cut}) == whole)) {
        FAIL("split at " << cut << " differs");
        break;
      }
    }
    CHECK(decode_bytewise(body) == whole);
  }
}

TEST_CASE("metadata after items, empty and null items") {
  const std::string after =
      R"({"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}],"kind":"PodList",)"
      R"("metadata":{"resourceVersion":"9","continue":"c1","remainingItemCount":3},"apiVersion":"v1"})";
  Decoded d = decode_bytewise(after);
  CHECK(d.errors.empty());
  REQUIRE(d.items.size() == 2);
  CHECK(d.rv == "9");
  CHECK(d.cont == "c1");
  CHECK(d.remaining == 3);
  // Kind came after the items, so nothing could be derived.
  CHECK(d.items[0] == R"({"metadata":{"name":"a"}})");

  Decoded empty = decode_bytewise(
      R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"5"},"items":[]})");
  CHECK(empty.errors.empty());
  CHECK(empty.items.empty());
  CHECK(empty.rv == "5");
  CHECK(empty.done);

  Decoded null_items =
      decode_bytewise(R"({"kind":"PodList","items":null,"metadata":{"resourceVersion":"6"}})");
  CHECK(null_items.errors.empty());
  CHECK(null_items.items.empty());
  CHECK(null_items.rv == "6");
}

TEST_CASE("malformed lists are errors with offsets") {
  struct Case {
    std::string body;
    kcoro::errc code;
  };
  const Case cases[] = {
      {R"([1,2])", kcoro::errc::invalid_list},
      {R"({"items":[{"metadata":{"name":"a"}})", kcoro::errc::truncated_input},
      {R"({"items":[{"metadata":{"name":"a"})", kcoro::errc::truncated_input},
      {R"({"items":{"a":1}})", kcoro::errc::invalid_list},
      {R"({"items":[1,2]})", kcoro::errc::invalid_list},
      {R"({"items":[{"metadata":{"name":"a"}} {"metadata":{}}]})", kcoro::errc::invalid_list},
      {R"({"items":[]} extra)", kcoro::errc::invalid_list},
      {R"({"metadata":{"resourceVersion":7},"items":[]})", kcoro::errc::type_mismatch},
      {R"({items:[]})", kcoro::errc::invalid_list},
      {"", kcoro::errc::truncated_input},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body);
    const Decoded whole = decode_split(c.body, {});
    REQUIRE_FALSE(whole.errors.empty());
    CHECK(whole.errors[0].starts_with(std::error_code(c.code).message() + "@"));
    CHECK(decode_bytewise(c.body) == whole);
  }
}

TEST_CASE("a bad item is reported and skipped; later items still come out") {
  const std::string body =
      R"({"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"name":"a"}},)"
      R"({"metadata":{"namespace":"no-name"}},{"metadata":{"name":"c"}}]})";
  const Decoded d = decode_bytewise(body);
  REQUIRE(d.items.size() == 2);
  CHECK(d.items[1].find("\"c\"") != std::string::npos);
  REQUIRE(d.errors.size() == 1);
  CHECK(d.errors[0] == std::error_code(kcoro::errc::missing_object_name).message() + "@" +
                           std::to_string(body.find(R"({"metadata":{"namespace")")));
  CHECK(d.done);
}

TEST_CASE("an item beyond the size cap fails the list") {
  kcoro::DecodeOptions opts;
  opts.max_document_bytes = 100;
  const std::string body =
      R"({"items":[{"metadata":{"name":")" + std::string(500, 'x') + R"("}}]})";
  const Decoded d = decode_split(body, {}, opts);
  REQUIRE_FALSE(d.errors.empty());
  CHECK(d.errors[0].starts_with(std::error_code(kcoro::errc::document_too_large).message()));
  CHECK(d.items.empty());
}

TEST_CASE("a synthetic list of 10,000 items streams through") {
  kcoro::testing::PodGenerator gen(11);
  std::vector<std::string> items;
  for (int i = 0; i < 10000; ++i) {
    items.push_back(
        gen.pod("ns-" + std::to_string(i % 10), "pod-" + std::to_string(i), 100 + i, true));
  }
  const std::string body = kcoro::testing::PodGenerator::list(items, "10100", "next-token");
  ListDecoder dec;
  std::vector<ObjectPtr> out;
  std::size_t pos = 0, max_held = 0, read = 7000;
  int bad = 0;
  std::size_t seen = 0;
  while (pos < body.size()) {
    const std::size_t len = std::min(read, body.size() - pos);
    if (dec.feed(std::string_view(body).substr(pos, len), out)) ++bad;
    pos += len;
    max_held = std::max(max_held, out.size());
    for (const auto& o : out) {
      if (o->meta().name != "pod-" + std::to_string(seen)) ++bad;
      if (o->meta().kind != "Pod") ++bad;
      ++seen;
    }
    out.clear();
  }
  CHECK_FALSE(dec.finish());
  CHECK(bad == 0);
  CHECK(seen == 10000);
  CHECK(max_held <= 3);  // items come out as they complete, not at the end
  CHECK(dec.meta().resource_version == "10100");
  CHECK(dec.meta().continue_token == "next-token");
}

// Regression (list_decoder_fuzz): list metadata that is not an object was iterated anyway, which
// simdjson asserts against (undefined behaviour in a release build).
TEST_CASE("list metadata that is not an object is an error, not a crash") {
  const std::string fuzzed(
      "\x7b\x22\x6d\x65\x74\x61\x64\x61\x74\x61\x22\x20\x3a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a\x0a"
      "\x0a\x0a\x0a\x40\x0a\x0a\x0a\x10\xe0\x69\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2"
      "\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2"
      "\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2\xb2");
  for (const std::string& body :
       {std::string(R"({"metadata":5,"items":[]})"), std::string(R"({"metadata":"x","items":[]})"),
        std::string(R"({"metadata":[1],"items":[]})"), fuzzed}) {
    CAPTURE(body);
    kcoro::ListDecoder d;
    std::vector<kcoro::ObjectPtr> out;
    kcoro::Error err = d.feed(body, out);
    if (!err) err = d.finish();
    CHECK(err);
    CHECK(out.empty());
  }
}
