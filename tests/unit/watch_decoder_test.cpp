#include "kcoro/watch_decoder.hpp"

#include "support/fixtures.hpp"
#include "support/split_feed.hpp"
#include "testing/pod_generator.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

using kcoro::Error;
using kcoro::WatchDecoder;
using kcoro::WatchEvent;
using kcoro::WatchEventType;
using kcoro::test::http_body;

namespace {

// A comparable record of a decoded stream: the events and the errors, in order.
struct Decoded {
  std::vector<std::string> events;  // "TYPE rv json" or "ERROR code reason"
  std::vector<std::string> errors;  // "code@offset"
  bool operator==(const Decoded&) const = default;
};

std::string describe(const WatchEvent& e) {
  std::string s(kcoro::to_string(e.type));
  if (e.type == WatchEventType::error) {
    return s + " " + std::to_string(e.status->code) + " " + e.status->reason;
  }
  return s + " " + std::string(e.resource_version()) + " " + std::string(e.object->json());
}

void record(Decoded& d, const Error& err) {
  if (err) d.errors.push_back(kcoro::test::describe_error(err));
}

// Feeds `body` cut at the given points (ascending offsets), then finishes.
Decoded decode_split(std::string_view body, const std::vector<std::size_t>& cuts,
                     kcoro::DecodeOptions opts = {}) {
  WatchDecoder dec(opts);
  Decoded d;
  std::vector<WatchEvent> out;
  kcoro::test::feed_split(body, cuts,
                          [&](std::string_view piece) { record(d, dec.feed(piece, out)); });
  record(d, dec.finish());
  for (const auto& e : out)
    d.events.push_back(describe(e));
  return d;
}

Decoded decode_whole(std::string_view body) {
  return decode_split(body, {});
}

Decoded decode_bytewise(std::string_view body) {
  return decode_split(body, kcoro::test::every_byte(body.size()));
}

}  // namespace

TEST_CASE("the recorded chunked watch decodes to its events") {
  const std::string body = http_body("watch-pods.http");
  WatchDecoder dec;
  std::vector<WatchEvent> out;
  CHECK_FALSE(dec.feed(body, out));
  CHECK_FALSE(dec.finish());

  // Oracle: every line parsed independently with Boost.JSON.
  std::vector<boost::json::value> lines;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto nl = body.find('\n', pos);
    std::string line = body.substr(pos, nl - pos);
    if (!line.empty()) lines.push_back(boost::json::parse(line));
    pos = nl + 1;
  }
  REQUIRE(out.size() == lines.size());
  REQUIRE(out.size() >= 3);
  bool saw_bookmark = false, saw_modified = false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto& want = lines[i].as_object();
    CHECK(kcoro::to_string(out[i].type) == want.at("type").as_string());
    const auto& obj = want.at("object").as_object();
    CHECK(out[i].resource_version() == obj.at("metadata").at("resourceVersion").as_string());
    if (out[i].type == WatchEventType::bookmark) {
      saw_bookmark = true;
      CHECK(out[i].object->meta().name.empty());
    } else {
      CHECK(out[i].object->meta().name == obj.at("metadata").at("name").as_string());
      CHECK(boost::json::parse(out[i].object->json()) ==
            kcoro::test::without_managed_fields(boost::json::serialize(obj)));
    }
    if (out[i].type == WatchEventType::modified) saw_modified = true;
  }
  CHECK(saw_bookmark);
  CHECK(saw_modified);
  CHECK(dec.bytes_fed() == body.size());
}

TEST_CASE("the streaming initial list ends at the initial-events-end bookmark") {
  const std::string body = kcoro::test::fixture("watch-list-initial-events.ndjson");
  WatchDecoder dec;
  std::vector<WatchEvent> out;
  CHECK_FALSE(dec.feed(body, out));
  CHECK_FALSE(dec.finish());
  REQUIRE(out.size() >= 2);
  for (std::size_t i = 0; i + 1 < out.size(); ++i) {
    CHECK(out[i].type == WatchEventType::added);
    CHECK_FALSE(out[i].initial_events_end());
  }
  CHECK(out.back().type == WatchEventType::bookmark);
  CHECK(out.back().initial_events_end());
  CHECK_FALSE(out.back().resource_version().empty());
}

TEST_CASE("an ERROR event with 410 is resource_expired") {
  const std::string body = http_body("watch-too-old-rv.http");
  WatchDecoder dec;
  std::vector<WatchEvent> out;
  CHECK_FALSE(dec.feed(body, out));
  CHECK_FALSE(dec.finish());
  REQUIRE(out.size() == 1);
  CHECK(out[0].type == WatchEventType::error);
  CHECK(out[0].object == nullptr);
  CHECK(out[0].error == kcoro::errc::resource_expired);
  REQUIRE(out[0].status);
  CHECK(out[0].status->code == 410);
  CHECK(out[0].status->reason == "Expired");
  CHECK(out[0].status->message.find("too old resource version") != std::string::npos);

  std::vector<WatchEvent> other;
  CHECK_FALSE(dec.feed(
      R"({"type":"ERROR","object":{"kind":"Status","code":500,"reason":"InternalError","message":"x"}})"
      "\n",
      other));
  REQUIRE(other.size() == 1);
  CHECK(other[0].error == kcoro::errc::api_error);
}

TEST_CASE("every fixture stream decodes identically at every split point and byte by byte") {
  for (const char* name : {"watch-pods.http", "watch-too-old-rv.http",
                           "watch-list-initial-events.ndjson", "watch-foos-rv0.ndjson"}) {
    CAPTURE(name);
    const std::string file = name;
    const std::string body = file.ends_with(".http") ? http_body(file) : kcoro::test::fixture(file);
    const Decoded whole = decode_whole(body);
    CHECK(whole.errors.empty());
    CHECK_FALSE(whole.events.empty());
    for (std::size_t cut = 1; cut < body.size(); ++cut) {
      const Decoded split = decode_split(body, {cut});
      if (!(split == whole)) {
        FAIL("split at " << cut << " differs");
        break;
      }
    }
    CHECK(decode_bytewise(body) == whole);
  }
}

TEST_CASE("malformed events are errors with offsets; good events around them still come out") {
  const std::string good1 =
      R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}})";
  const std::string good2 =
      R"({"type":"DELETED","object":{"metadata":{"name":"b","resourceVersion":"2"}}})";
  struct Case {
    std::string line;
    kcoro::errc code;
  };
  const Case cases[] = {
      {R"({"type":"ADDED","object":{"metadata":{"name":"x"})", kcoro::errc::truncated_input},
      {R"({"type":"ADDED","object":{"metadata":{"name":"x"}}} junk)", kcoro::errc::invalid_json},
      {R"({"type":"ADDED" "object":{}})", kcoro::errc::invalid_json},
      {R"({"object":{"metadata":{"name":"x"}}})", kcoro::errc::missing_event_type},
      {R"({"type":7,"object":{"metadata":{"name":"x"}}})", kcoro::errc::missing_event_type},
      {R"({"type":"ADDED"})", kcoro::errc::missing_event_object},
      {R"({"type":"ADDED","object":"nope"})", kcoro::errc::missing_event_object},
      {R"({"type":"RENAMED","object":{"metadata":{"name":"x"}}})", kcoro::errc::unknown_event_type},
      {R"({"type":"ADDED","object":{"metadata":{"namespace":"x"}}})",
       kcoro::errc::missing_object_name},
      {R"({"type":"ERROR","object":[]})", kcoro::errc::missing_event_object},
      {R"(not json at all)", kcoro::errc::invalid_json},
      {R"([1,2,3])", kcoro::errc::invalid_json},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    const std::string body = good1 + "\n" + c.line + "\n" + good2 + "\n";
    for (bool bytewise : {false, true}) {
      const Decoded d = bytewise ? decode_bytewise(body) : decode_whole(body);
      REQUIRE(d.events.size() == 2);
      CHECK(d.events[0].starts_with("ADDED 1"));
      CHECK(d.events[1].starts_with("DELETED 2"));
      REQUIRE(d.errors.size() == 1);
      CHECK(d.errors[0] ==
            std::error_code(c.code).message() + "@" + std::to_string(good1.size() + 1));
    }
  }
}

TEST_CASE("a stream cut mid-event is truncated_input at finish") {
  const std::string body = http_body("watch-pods.http");
  const auto second_line = body.find('\n') + 1;
  WatchDecoder dec;
  std::vector<WatchEvent> out;
  CHECK_FALSE(dec.feed(std::string_view(body).substr(0, second_line + 100), out));
  CHECK(out.size() == 1);
  Error err = dec.finish();
  CHECK(err.code == kcoro::errc::truncated_input);
  CHECK(err.offset == second_line);
  // A trailing newline-less complete line is also cut: the server always ends an event with \n.
  WatchDecoder blank;
  CHECK_FALSE(blank.feed("\n\r\n  \n", out));
  CHECK_FALSE(blank.finish());
}

TEST_CASE("a line beyond the size cap fails and is skipped") {
  kcoro::DecodeOptions opts;
  opts.max_document_bytes = 256;
  const std::string big =
      R"({"type":"ADDED","object":{"metadata":{"name":")" + std::string(1000, 'x') + "\"}}}";
  const std::string ok = R"({"type":"ADDED","object":{"metadata":{"name":"ok"}}})";
  const std::string body = big + "\n" + ok + "\n";
  for (bool bytewise : {false, true}) {
    std::vector<std::size_t> cuts;
    if (bytewise) {
      for (std::size_t i = 1; i < body.size(); ++i)
        cuts.push_back(i);
    }
    const Decoded d = decode_split(body, cuts, opts);
    REQUIRE(d.events.size() == 1);
    CHECK(d.events[0].find("\"ok\"") != std::string::npos);
    REQUIRE(d.errors.size() == 1);
    CHECK(d.errors[0] == std::error_code(kcoro::errc::document_too_large).message() + "@0");
  }
}

TEST_CASE("a synthetic stream of 100,000 events decodes in order") {
  kcoro::testing::PodGenerator gen(7);
  std::vector<std::string> pods;
  for (int i = 0; i < 50; ++i)
    pods.push_back(gen.pod("default", "pod-" + std::to_string(i), 0));
  std::string body;
  const int n = 100000;
  const char* types[] = {"ADDED", "MODIFIED", "DELETED"};
  WatchDecoder dec;
  std::vector<WatchEvent> out;
  out.reserve(1024);
  std::size_t total = 0;
  int bad = 0;
  uint64_t expect_rv = 1;
  for (int i = 0; i < n; ++i) {
    // Rewrite the resourceVersion of a template pod so every event is distinct.
    std::string pod = pods[static_cast<std::size_t>(i) % pods.size()];
    const auto at = pod.find("\"resourceVersion\":\"0\"");
    pod.replace(at, 21, "\"resourceVersion\":\"" + std::to_string(i + 1) + "\"");
    body += kcoro::testing::PodGenerator::watch_line(types[i % 3], pod);
    if (body.size() > 1 << 20 || i + 1 == n) {
      // Feed in uneven reads, as a socket would deliver them.
      std::size_t pos = 0;
      std::size_t read = 16384 + static_cast<std::size_t>(i % 7) * 1000;
      while (pos < body.size()) {
        const std::size_t len = std::min(read, body.size() - pos);
        if (dec.feed(std::string_view(body).substr(pos, len), out)) ++bad;
        pos += len;
      }
      for (const auto& e : out) {
        if (e.resource_version() != std::to_string(expect_rv)) ++bad;
        if (e.object->meta().labels.size() != 4) ++bad;
        ++expect_rv;
      }
      total += out.size();
      out.clear();
      body.clear();
    }
  }
  CHECK_FALSE(dec.finish());
  CHECK(bad == 0);
  CHECK(total == static_cast<std::size_t>(n));
}

// Found by watch_decoder_fuzz in CI: simdjson looks at the byte after a malformed document's
// last token, so a line decoded from the decoder's own buffer (a line that ends within the last
// 64 bytes of a read) must not be followed there by what an earlier, longer line left behind.
TEST_CASE("a malformed line decodes the same whatever an earlier line left in the buffer") {
  for (const std::string line : {R"({"":}})", R"({"a":1}})", R"({"type":"ADDED","object":{"x":})",
                                 R"({"type":"ADDED","object":{}})"}) {
    CAPTURE(line);
    // In place: the caller's bytes after the line are whitespace.
    WatchDecoder clean;
    std::vector<WatchEvent> clean_out;
    const Error clean_err = clean.feed(line + "\n" + std::string(80, '\n'), clean_out);

    // From the decoder's buffer, after a long line of '}' went through it (in two reads).
    WatchDecoder used;
    std::vector<WatchEvent> used_out;
    const std::string junk(300, '}');
    (void)used.feed(junk, used_out);
    (void)used.feed("\n", used_out);
    const Error used_err = used.feed(line + "\n", used_out);

    CHECK(used_err.code == clean_err.code);
    CHECK(used_err.message == clean_err.message);
    REQUIRE(clean_err.offset.has_value() == used_err.offset.has_value());
    if (clean_err.offset) CHECK(*used_err.offset == *clean_err.offset + junk.size() + 1);
    CHECK(used_out.size() == clean_out.size());
  }
}
