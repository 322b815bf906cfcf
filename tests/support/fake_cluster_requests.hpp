// Test support for the FakeCluster tests (tests/unit/fake_cluster_*_test.cpp): the recorded
// fixtures read as JSON, HTTP responses and watch lines; a JSON shape comparison against the real
// server's responses (CHECK_SHAPE); request builders and request bodies; a manual clock.
#pragma once

#include "kcoro/testing/fake_cluster.hpp"
#include "support/fixtures.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace kcoro::test {

/// A recorded fixture's text (fixtures.hpp's fixture()); a missing fixture fails the test case.
inline std::string read_fixture(const std::string& name) {
  std::string text;
  REQUIRE_NOTHROW(text = fixture(name));
  return text;
}

inline boost::json::value fixture_json(const std::string& name) {
  return boost::json::parse(read_fixture(name));
}

/// A recorded .http response: status code, content type and body.
struct HttpFixture {
  int status = 0;
  std::string content_type;
  std::string body;
};

inline HttpFixture http_fixture(const std::string& name) {
  std::string text = read_fixture(name);
  HttpFixture f;
  f.status = std::stoi(text.substr(9, 3));
  auto ct = text.find("Content-Type: ") + 14;
  f.content_type = text.substr(ct, text.find_first_of("\r\n", ct) - ct);
  auto sep = text.find("\r\n\r\n");
  f.body = sep == std::string::npos ? text.substr(text.find("\n\n") + 2) : text.substr(sep + 4);
  return f;
}

/// The JSON documents of a watch fixture (.http with chunk framing, or .ndjson).
inline std::vector<boost::json::value> watch_fixture_lines(const std::string& name) {
  std::istringstream in(read_fixture(name));
  std::vector<boost::json::value> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.front() == '{') out.push_back(boost::json::parse(line));
  }
  return out;
}

inline std::vector<boost::json::value> split_lines(const std::string& text) {
  std::vector<boost::json::value> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    REQUIRE(nl != std::string::npos);  // every event ends with a newline
    out.push_back(boost::json::parse(text.substr(start, nl - start)));
    start = nl + 1;
  }
  return out;
}

inline const char* kind_name(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null:
      return "null";
    case boost::json::kind::bool_:
      return "bool";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_:
      return "number";
    case boost::json::kind::string:
      return "string";
    case boost::json::kind::array:
      return "array";
    case boost::json::kind::object:
      return "object";
  }
  return "?";
}

/// Same keys and value types recursively (values themselves may differ). Arrays of objects with
/// a "name" are matched by name where both sides have it; otherwise element by element.
/// fieldsV1 trees are schema-derived on the real server and only checked to be objects.
inline bool same_shape(const boost::json::value& want, const boost::json::value& got,
                       const std::string& path, std::string& why) {
  if (std::string(kind_name(want)) != kind_name(got)) {
    why = path + ": want " + kind_name(want) + ", got " + kind_name(got);
    return false;
  }
  if (want.is_object()) {
    const auto& w = want.get_object();
    const auto& g = got.get_object();
    if (path.ends_with(".fieldsV1")) return true;
    for (const auto& kv : w) {
      if (!g.contains(kv.key())) {
        why = path + ": missing key " + std::string(kv.key());
        return false;
      }
      if (!same_shape(kv.value(), g.at(kv.key()), path + "." + std::string(kv.key()), why)) {
        return false;
      }
    }
    for (const auto& kv : g) {
      if (!w.contains(kv.key())) {
        why = path + ": unexpected key " + std::string(kv.key());
        return false;
      }
    }
    return true;
  }
  if (want.is_array()) {
    const auto& w = want.get_array();
    const auto& g = got.get_array();
    if (w.empty() != g.empty()) {
      why = path + ": array emptiness differs";
      return false;
    }
    auto name_of = [](const boost::json::value& v) -> std::string {
      if (!v.is_object() || !v.get_object().contains("name")) return {};
      const auto& n = v.get_object().at("name");
      return n.is_string() ? std::string(n.get_string()) : std::string();
    };
    for (std::size_t i = 0; i < g.size(); ++i) {
      std::string n = name_of(g[i]);
      const boost::json::value* match = nullptr;
      if (!n.empty()) {
        for (const auto& e : w) {
          if (name_of(e) == n) match = &e;
        }
      }
      if (!match && i < w.size() && n.empty()) match = &w[i];
      if (!match) continue;
      if (!same_shape(*match, g[i], path + "[" + std::to_string(i) + "]", why)) return false;
    }
    return true;
  }
  return true;
}

#define CHECK_SHAPE(want, got)                       \
  do {                                               \
    std::string why_;                                \
    bool ok_ = same_shape((want), (got), "$", why_); \
    CHECK_MESSAGE(ok_, why_ << "\n got: " << (got)); \
  } while (0)

inline testing::FakeRequest request(std::string method, std::string target, std::string body = {},
                                    std::string content_type = {}) {
  testing::FakeRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

inline boost::json::value body_of(const testing::FakeResponse& r) {
  return boost::json::parse(r.body);
}

/// A fixture object without what the server sets: a request body.
inline std::string request_body(boost::json::value obj) {
  auto& o = obj.as_object();
  auto& meta = o["metadata"].as_object();
  for (const char* k : {"uid", "resourceVersion", "creationTimestamp", "generation",
                        "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds"}) {
    meta.erase(k);
  }
  o.erase("status");
  return boost::json::serialize(obj);
}

inline std::string pod_body(const std::string& name, const std::string& tier,
                            const std::string& node = "node-a",
                            const std::string& ns = "fixtures") {
  boost::json::value pod = fixture_json("create-pod-1.json");
  auto& meta = pod.as_object()["metadata"].as_object();
  meta["name"] = name;
  meta["namespace"] = ns;
  meta["labels"].as_object()["tier"] = tier;
  if (node.empty()) {
    pod.as_object()["spec"].as_object().erase("nodeName");
  } else {
    pod.as_object()["spec"].as_object()["nodeName"] = node;
  }
  return request_body(std::move(pod));
}

inline std::string rv_of(const boost::json::value& obj) {
  return std::string(obj.at("metadata").at("resourceVersion").as_string());
}

inline std::string name_of(const boost::json::value& obj) {
  return std::string(obj.at("metadata").at("name").as_string());
}

inline std::vector<std::string> item_names(const boost::json::value& list) {
  std::vector<std::string> out;
  for (const auto& i : list.at("items").as_array())
    out.push_back(name_of(i));
  return out;
}

/// A manual steady clock for bookmarks and deadlines, in the form FakeClusterOptions::clock takes
/// (kcoro::ManualClock would bring Asio into the unit tier).
struct ManualTime {
  std::shared_ptr<std::chrono::steady_clock::time_point> now =
      std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  std::function<std::chrono::steady_clock::time_point()> fn() const {
    auto p = now;
    return [p] { return *p; };
  }
  void advance(std::chrono::milliseconds d) const { *now += d; }
};

inline std::string poll_all(testing::Watcher& w) {
  std::string out;
  w.poll(out);
  return out;
}

inline const std::string kPods = "/api/v1/namespaces/fixtures/pods";
inline const std::string kConfigMaps = "/api/v1/namespaces/fixtures/configmaps";
inline const std::string kFoos = "/apis/samplecontroller.k8s.io/v1alpha1/namespaces/fixtures/foos";
inline const std::string kCrds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

inline std::string cm_body(const std::string& name, const std::string& labels_json = "{}",
                           const std::string& extra_meta = "") {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name + R"(","labels":)" +
         labels_json + extra_meta + R"(},"data":{"k":"v"}})";
}

}  // namespace kcoro::test
