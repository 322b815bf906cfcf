// The decoders' fast path: the bracket scanner against a byte-at-a-time reference, and the watch
// decoder's framed decode against the general one (Object::parse) on every shape of object.
#include "bracket_scan_reference.hpp"
#include "core/bracket_scan.hpp"
#include "core/json_frame.hpp"
#include "core/object_builder.hpp"
#include "kcoro/list_decoder.hpp"
#include "kcoro/object.hpp"
#include "kcoro/watch_decoder.hpp"
#include "support/fixtures.hpp"
#include "testing/pod_generator.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <tuple>
#include <vector>

TEST_CASE("bracket scan: marks, depth and string state agree with a byte-at-a-time reference") {
  kcoro::test::check_bracket_scan_against_reference(3000, 7);
}

TEST_CASE("bracket scan: a stop in the middle resumes where it stopped") {
  const std::string s = R"({"a":"x\\\"}",[1,2],"b":{"c":[{}]}} ,{"d":1})";
  kcoro::detail::BracketScan scan;
  std::vector<std::size_t> commas;
  // Stop at the first top-level comma after the object closes.
  std::size_t used = scan.scan(s.data(), s.size(), 0, [&](std::size_t at, char c, int64_t) {
    if (c == ',') {
      commas.push_back(at);
      return false;
    }
    return true;
  });
  REQUIRE(commas.size() == 1);
  CHECK(s[commas[0]] == ',');
  CHECK(used == commas[0] + 1);
  CHECK(scan.depth == 0);
  CHECK_FALSE(scan.in_string());
  std::vector<char> rest;
  scan.scan(s.data() + used, s.size() - used, 0, [&](std::size_t, char c, int64_t) {
    rest.push_back(c);
    return true;
  });
  CHECK(rest == std::vector<char>{'{', '}'});
  CHECK(scan.depth == 0);
}

TEST_CASE("bracket scan: escapes across a block boundary") {
  // A run of backslashes ending exactly at the 64-byte boundary decides whether the quote that
  // starts the next block closes the string.
  for (int run = 1; run <= 6; ++run) {
    std::string s = "[\"";
    s.append(static_cast<std::size_t>(64 - 2 - run), 'x');
    s.append(static_cast<std::size_t>(run), '\\');
    s += "\",1]";
    kcoro::detail::BracketScan scan;
    std::vector<char> marks;
    scan.scan(s.data(), s.size(), 1, [&](std::size_t, char c, int64_t) {
      marks.push_back(c);
      return true;
    });
    INFO("run of ", run, " backslashes");
    if (run % 2 == 0) {  // the quote closes the string: ",1]" is outside it
      CHECK(marks == std::vector<char>{'[', ',', ']'});
      CHECK(scan.depth == 0);
      CHECK_FALSE(scan.in_string());
    } else {  // escaped: still inside the string
      CHECK(marks == std::vector<char>{'['});
      CHECK(scan.in_string());
    }
  }
}

namespace {

// What the decoders expose of an object, for comparing the two paths.
auto observable(const kcoro::Object& o) {
  const auto& m = o.meta();
  std::vector<std::string> labels, annotations, owners, finalizers;
  for (const auto& [k, v] : m.labels)
    labels.push_back(std::string(k) + "=" + std::string(v));
  for (const auto& [k, v] : m.annotations)
    annotations.push_back(std::string(k) + "=" + std::string(v));
  for (const auto& r : m.owner_references) {
    owners.push_back(std::string(r.api_version) + "|" + std::string(r.kind) + "|" +
                     std::string(r.name) + "|" + std::string(r.uid) + "|" +
                     (r.controller ? "c" : "-") + (r.block_owner_deletion ? "b" : "-"));
  }
  for (auto f : m.finalizers)
    finalizers.push_back(std::string(f));
  return std::make_tuple(std::string(o.json()), std::string(m.kind), std::string(m.api_version),
                         std::string(m.ns), std::string(m.name), std::string(m.generate_name),
                         std::string(m.uid), std::string(m.resource_version), m.generation,
                         std::string(m.creation_timestamp), std::string(m.deletion_timestamp),
                         m.deletion_grace_period_seconds, labels, annotations, owners, finalizers);
}

// Decodes `object` as a watch event (the fast path where it applies) and with Object::parse
// (always the general path); both must see the same object, or fail alike.
void same_both_ways(const std::string& object, const kcoro::DecodeOptions& opts = {}) {
  kcoro::Error perr;
  auto parsed = kcoro::Object::parse(object, perr, opts);
  kcoro::WatchDecoder dec(opts);
  std::vector<kcoro::WatchEvent> out;
  const std::string line = R"({"type":"MODIFIED","object":)" + object + "}\n";
  auto err = dec.feed(line, out);
  INFO("object: ", object);
  // The same line with the fast path off: the same outcome, event for event.
  kcoro::detail::set_decoder_fast_path(false);
  kcoro::WatchDecoder general(opts);
  std::vector<kcoro::WatchEvent> general_out;
  auto general_err = general.feed(line, general_out);
  kcoro::detail::set_decoder_fast_path(true);
  CHECK(general_err.code == err.code);
  CHECK(general_err.offset == err.offset);
  REQUIRE(general_out.size() == out.size());
  if (!out.empty()) CHECK(observable(*general_out[0].object) == observable(*out[0].object));
  // With bytes after the line, as in a stream: the bracket scan frames the line itself, without
  // a search for its newline (WatchDecoder::Impl::frame). The same outcome again.
  kcoro::WatchDecoder framed(opts);
  std::vector<kcoro::WatchEvent> framed_out;
  auto framed_err = framed.feed(line + std::string(80, ' ') + "\n", framed_out);
  CHECK(framed_err.code == err.code);
  CHECK(framed_err.offset == err.offset);
  REQUIRE(framed_out.size() == out.size());
  if (!out.empty()) CHECK(observable(*framed_out[0].object) == observable(*out[0].object));
  if (!parsed) {
    CHECK(err);
    CHECK(out.empty());
    CHECK(err.code == perr.code);
    return;
  }
  REQUIRE_FALSE(err);
  REQUIRE(out.size() == 1);
  CHECK(observable(*out[0].object) == observable(*parsed));
}

}  // namespace

TEST_CASE("watch fast path: generated pods decode exactly as the general path decodes them") {
  kcoro::testing::PodGenerator gen(11);
  for (int i = 0; i < 300; ++i) {
    const std::string pod =
        gen.pod("ns-" + std::to_string(i % 7), "pod-" + std::to_string(i), 100 + i);
    same_both_ways(pod);
    kcoro::DecodeOptions keep;
    keep.strip_managed_fields = false;
    same_both_ways(pod, keep);
  }
}

TEST_CASE("watch fast path: every recorded object decodes exactly as the general path decodes it") {
  int objects = 0;
  for (const auto& entry : std::filesystem::directory_iterator(KCORO_FIXTURES_DIR)) {
    if (entry.path().extension() != ".json") continue;
    const std::string text = kcoro::test::read_file(entry.path().string());
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    if (ec || !v.is_object()) continue;
    auto& o = v.as_object();
    std::vector<std::string> docs;
    if (auto* items = o.if_contains("items"); items && items->is_array()) {
      for (const auto& item : items->as_array())
        docs.push_back(boost::json::serialize(item));
    } else if (o.contains("metadata")) {
      docs.push_back(boost::json::serialize(v));
    }
    for (const auto& d : docs) {
      same_both_ways(d);
      ++objects;
    }
  }
  CHECK(objects > 20);
}

TEST_CASE("watch fast path: unusual shapes decode as the general path decodes them") {
  const std::vector<std::string> objects = {
      // Order, spacing, escapes, nulls, numbers, unicode, duplicates, nesting.
      R"({"metadata":{"name":"a","namespace":"n"},"kind":"Pod","apiVersion":"v1"})",
      R"({ "kind" : "Pod" , "metadata" : { "name" : "a" , "labels" : { "x" : "y" } } , "spec" : { } })",
      R"({"kind":"Pod","metadata":{"name":"a\"b","namespace":"n\\m","uid":"\u0041"}})",
      R"({"kind":"Pod","metadata":{"name":"a","labels":null,"annotations":{"k":"v\n"}}})",
      R"({"kind":"Pod","metadata":{"name":"a","generation":7,"deletionGracePeriodSeconds":30}})",
      R"({"kind":"Pod","metadata":{"name":"a","generation":1.5}})",
      R"({"kind":"Pod","metadata":{"name":"a","generation":"7"}})",
      R"({"kind":"Pod","metadata":{"name":"a","generation":07}})",
      R"({"kind":"Pod","metadata":{"name":"é","labels":{"ü":"ß"}}})",
      R"({"kind":"Pod","metadata":{"name":"a"},"metadata":{"name":"b"}})",
      R"({"kind":"Pod","kind":"Node","metadata":{"name":"a"}})",
      R"({"kind":5,"metadata":{"name":"a"}})",
      R"({"kind":null,"apiVersion":"v1","metadata":{"name":"a"}})",
      R"({"kind":"Pod","metadata":{"namespace":"n"}})",
      R"({"kind":"Pod","metadata":{}})",
      R"({"kind":"Pod","metadata":null})",
      R"({"kind":"Pod","metadata":[1]})",
      R"({"kind":"Pod","metadata":{"name":5}})",
      R"({"kind":"Pod","metadata":{"name":"a","labels":["x"]}})",
      R"({"kind":"Pod","metadata":{"name":"a","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"r","uid":"u","controller":true,"blockOwnerDeletion":true}],"finalizers":["f/1","f\/2"]}})",
      R"({"kind":"Pod","metadata":{"name":"a","managedFields":[{"manager":"m","fieldsV1":{"f:spec":{}}}]}})",
      R"({"kind":"Pod","metadata":{"managedFields":[{"manager":"m"}],"name":"a"}})",
      R"({"kind":"Pod","metadata":{"managedFields":[],"name":"a","managedFields":[{}]}})",
      R"({"kind":"Pod","metadata":{"name":"a","managedFields":[{"manager":"m"}] }})",
      R"({"kind":"Pod","metadata":{"name":"a"},"spec":{"x":"}]{[\"","y":[[[{}]]]},"status":{}})",
      R"({"kind":"Pod","metadata":{"name":"a"},"spec":{"x":[}})",
      R"({"kind":"Pod","metadata":{"name":"a"},"spec":{"x":"unterminated}})",
      R"({"kind":"Pod","metadata":{"name":"a","creationTimestamp":"2024-01-01T00:00:00Z","deletionTimestamp":null}})",
      // Framing that only looks right: a missing comma, two values in one field, a misspelt null.
      R"({"kind":"Pod","metadata":{"name":"a"} "spec":{}})",
      R"({"kind":"Pod","metadata":{"name":"a"},"spec":{} {}})",
      R"({"kind":"Pod","metadata":{"name":"a","labels":{"x":"y"} 5}})",
      R"({"kind":"Pod","metadata":{"name":"a","labels":{"x":"y"} {}}})",
      R"({"kind":"Pod","metadata":{"name":"a","selfLink":nul}})",
      R"({"kind":"Pod","metadata":{"name":"a","x":1 2}})",
      R"({"kind":"Pod","metadata":{"name":"a" "b"}})",
      R"({"kind":"Pod","metadata":{"name":"a"},"spec":[}})",
      R"({"kind":"Pod","metadata":{"name":"a"},"spec":{]})",
      R"({"kind":"Pod","metadata":{"name":"a"},"x":"a" "b"})",
      R"({"kind":"Pod","metadata":{"name":"a",}})",
      R"({"kind":"Pod",,"metadata":{"name":"a"}})",
      R"({"kind":"Pod","metadata":{"name":"a"}:1})",
      // Found by watch_decoder_fuzz: a field that frames wrongly must not reach simdjson alone
      // (which took the metadata as a whole document and let it pass).
      R"({"kind":"Foo","metadata":{"name":"a","managedFields":[{"m":"x"},{"y","s":"t"}],"x":"y":1}})",
      R"({"kind":"Pod","metadata":{"name":"a","x":"y":1}})",
      R"({"kind":"Pod","metadata":{"name":"a"}])",
      R"({"kind":"Pod","metadata":{"name":"a"]})",
      // Found by watch_decoder_fuzz: managedFields whose elements are not whole values, which
      // simdjson's array::raw_json() overran (the general path's cut, once). Both paths frame the
      // cut as a skip does: brackets counted outside strings.
      R"({"kind":"Pod","metadata":{"name":"a","managedFields":["{m":"c",{"x":1}],"p":0},"status":{}})",
      R"({"kind":"Pod","metadata":{"managedFields":["a":"b"],"name":"a"}})",
      R"({"kind":"Pod","metadata":{"name":"a","managedFields":[1 2]}})",
      R"({"kind":"Pod","metadata":{"name":"a","managedFields":[1,]}})",
      R"({"kind":"Pod","metadata":{"name":"a","managedFields":[,1]}})",
      R"({"kind":"Pod","metadata":{"name":"a","managedFields":[{}{}]}})",
      R"({"kind":"Pod","metadata":{"name":"a","managedFields":{"m":1}}})",
      R"({"kind":"Pod","metadata":{"name":"a","managedFields":"x"}})",
      R"({"kind":"Pod","metadata":{"name":"a","managedFields":[ {"m":[1,{"a":"b"}]} , "s" , 3 ]}})",
  };
  for (const auto& o : objects)
    same_both_ways(o);
  kcoro::DecodeOptions keep;
  keep.strip_managed_fields = false;
  for (const auto& o : objects)
    same_both_ways(o, keep);
}

TEST_CASE("watch fast path: event shapes it does not take still decode") {
  const std::string pod =
      R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","resourceVersion":"5"}})";
  const std::vector<std::string> lines = {
      R"({"object":)" + pod + R"(,"type":"ADDED"})",
      R"({"type":"ADDED","object":)" + pod + R"(,"extra":{"a":[1]}})",
      R"({ "type" : "ADDED" , "object" : )" + pod + " }",
      R"({"type":"\u0041DDED","object":)" + pod + "}",
  };
  for (const auto& l : lines) {
    kcoro::WatchDecoder dec;
    std::vector<kcoro::WatchEvent> out;
    INFO("line: ", l);
    REQUIRE_FALSE(dec.feed(l + "\n", out));
    REQUIRE(out.size() == 1);
    CHECK(out[0].type == kcoro::WatchEventType::added);
    CHECK(out[0].object->meta().name == "p");
    CHECK(out[0].object->meta().resource_version == "5");
  }
  // Malformed: what the fast path rejects, the general path reports with its offset.
  const std::vector<std::string> bad = {
      R"({"type":"ADDED","object":)" + pod + "}}",
      R"({"type":"ADDED","object":)" + pod + "]",  // found by watch_decoder_fuzz
      R"({"type":"ADDED","object":)" + pod.substr(0, pod.size() - 1) + "}",
      R"({"type":"ADDED","type":"DELETED","object":)" + pod + "}",
      R"({"type":"SOMETHING","object":)" + pod + "}",
  };
  for (const auto& [l, tail] : [&] {
         // Each line alone, and with a stream's bytes after it (the bracket scan frames it).
         std::vector<std::pair<std::string, std::string>> v;
         for (const auto& b : bad) {
           v.emplace_back(b, "");
           v.emplace_back(b, std::string(80, ' ') + "\n");
         }
         return v;
       }()) {
    kcoro::WatchDecoder dec;
    std::vector<kcoro::WatchEvent> out;
    const std::string stream = "\n" + l + "\n" + tail;
    auto err = dec.feed(stream, out);
    INFO("line: ", l, " followed by ", tail.size(), " bytes");
    if (l.find("DELETED") != std::string::npos) {  // a duplicate key: the last one wins
      CHECK_FALSE(err);
      REQUIRE(out.size() == 1);
      CHECK(out[0].type == kcoro::WatchEventType::deleted);
      continue;
    }
    CHECK(err);
    CHECK(err.offset == std::optional<uint64_t>(1));
    CHECK(out.empty());
  }
}

TEST_CASE("list fast path: items decode exactly as the general path decodes them, in any pieces") {
  // Lists: generated pods (with and without an unusual item mixed in) and every recorded list.
  std::vector<std::string> lists;
  kcoro::testing::PodGenerator gen(5);
  std::vector<std::string> items;
  for (int i = 0; i < 60; ++i)
    items.push_back(gen.pod("ns", "pod-" + std::to_string(i), 10 + i, true));
  items.push_back(R"({"metadata":{"name":"esc\"aped","labels":{"é":"1"}},"spec":{"a":"]"}})");
  items.push_back(R"({"metadata":{"name":"plain","generation":3},"spec":{"a":"\\"}})");
  lists.push_back(kcoro::testing::PodGenerator::list(items, "77", "tok"));
  for (const auto& entry : std::filesystem::directory_iterator(KCORO_FIXTURES_DIR)) {
    if (entry.path().extension() != ".json") continue;
    const std::string text = kcoro::test::read_file(entry.path().string());
    if (text.find("\"items\"") == std::string::npos) continue;
    lists.push_back(boost::json::serialize(boost::json::parse(text)));  // items as the reference
    lists.push_back(text);  // as recorded: whitespace, so the texts differ, not the meta
  }
  REQUIRE(lists.size() > 3);

  std::mt19937_64 rng(3);
  for (const auto& list : lists) {
    const auto v = boost::json::parse(list);
    const auto& o = v.as_object();
    const std::string kind(o.at("kind").as_string());
    const std::string api(o.at("apiVersion").as_string());
    // The reference: each item through the general path, with the list's implied kind.
    std::vector<kcoro::ObjectPtr> want;
    for (const auto& item : o.at("items").as_array()) {
      std::string text = boost::json::serialize(item);
      const std::size_t len = text.size();
      text.resize(len + kcoro::json_padding, '\0');
      kcoro::detail::ObjectBuilder b;
      b.default_kind = std::string_view(kind).substr(0, kind.size() - 4);
      b.default_api_version = api;
      simdjson::ondemand::parser parser;
      kcoro::Error err;
      want.push_back(b.parse_document(parser, text.data(), len, {}, err));
      REQUIRE(want.back());
    }
    for (int round = 0; round < 4; ++round) {
      kcoro::ListDecoder dec;
      std::vector<kcoro::ObjectPtr> got;
      std::size_t pos = 0;
      while (pos < list.size()) {
        const std::size_t len =
            round == 0 ? list.size()
                       : std::min<std::size_t>(list.size() - pos,
                                               std::uniform_int_distribution<std::size_t>(
                                                   1, round == 1 ? 7 : 700)(rng));
        REQUIRE_FALSE(dec.feed(std::string_view(list).substr(pos, len), got));
        pos += len;
      }
      REQUIRE_FALSE(dec.finish());
      REQUIRE(got.size() == want.size());
      const bool compact = list.find('\n') == std::string::npos;
      for (std::size_t k = 0; k < got.size(); ++k) {
        INFO("item ", k, ": ", want[k]->json());
        auto g = observable(*got[k]);
        auto w = observable(*want[k]);
        if (!compact) std::get<0>(g) = std::get<0>(w) = "";
        CHECK(g == w);
      }
    }
  }
}
