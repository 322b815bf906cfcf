// The fake API server against the real one: the same requests go to kcoro::testing::FakeApiServer
// and to EnvTest's kube-apiserver, and what a client can act on must be equal: status codes, the
// Status of errors (reason, code, details, the words that name a conflicting manager), list
// metadata, watch event types, managedFields, generation and deletionTimestamp.
//
// The table: each step is a request and the facts read from its answer. A fact is a JSON pointer
// into the body: "/reason" reads the value, "?/metadata/uid" only whether it is there,
// "/message|text" whether the message contains the text. A watch body (ndjson) adds the fact
// "events" (the types in order) and reads its pointers in the last event. Where the fake
// differs, the fake is fixed: the real server wins.
#include "kcoro/client.hpp"
#include "kcoro/testing/envtest.hpp"
#include "kcoro/testing/fake_apiserver.hpp"

#include "envtest/env.hpp"
#include "support/co_test.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace net = boost::asio;
namespace json = boost::json;
using kcoro::Client;
using kcoro::RawResponse;
using kcoro::test::co_run;
using kcoro::test::env;
using namespace std::chrono_literals;

namespace {

struct Step {
  const char* what;
  const char* method;
  std::string target;  ///< {ns} is the namespace, {continue} the last list's continue token
  std::string body;
  std::vector<std::string> facts;
  const char* content_type = "application/json";
  bool compact_first = false;  ///< compact the store's history first (etcd, or the fake's)
};

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::string percent_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string render(const json::value* v) {
  if (!v) return "<absent>";
  if (v->is_string()) return std::string(v->as_string());
  return json::serialize(*v);
}

// The facts of one answer, one per line, after its status code.
std::string facts_of(const Step& step, const RawResponse& r) {
  std::ostringstream out;
  out << r.status;
  json::value doc;
  const bool is_watch = r.status == 200 && step.target.find("watch=true") != std::string::npos;
  if (is_watch) {
    std::istringstream lines(r.body);
    std::string types;
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      boost::system::error_code ec;
      doc = json::parse(line, ec);
      const auto* type = ec ? nullptr : doc.find_pointer("/type", ec);
      types += (type ? render(type) : "<not an event>") + " ";
    }
    out << "\n  events: " << types;
  } else if (!r.body.empty()) {
    boost::system::error_code ec;
    doc = json::parse(r.body, ec);
    if (ec) doc = json::string(r.body);
  }
  for (const auto& f : step.facts) {
    out << "\n  " << f << ": ";
    if (f[0] == '?') {
      boost::system::error_code ec;
      out << (doc.find_pointer(f.substr(1), ec) ? "present" : "absent");
    } else if (auto bar = f.find('|'); bar != std::string::npos) {
      boost::system::error_code ec;
      const auto* v = doc.find_pointer(f.substr(0, bar), ec);
      out << (v && v->is_string() &&
              std::string_view(v->as_string()).find(f.substr(bar + 1)) != std::string::npos);
    } else {
      boost::system::error_code ec;
      out << render(doc.find_pointer(f, ec));
    }
  }
  return out.str();
}

// Runs the table against one server; returns the facts of each step.
net::awaitable<std::vector<std::string>> run_table(Client& c, const std::string& ns,
                                                   const std::vector<Step>& steps,
                                                   std::function<void()> compact) {
  std::vector<std::string> out;
  std::string continue_token;
  for (const auto& step : steps) {
    if (step.compact_first) compact();
    const std::string target = replace_all(replace_all(step.target, "{ns}", ns), "{continue}",
                                           percent_encode(continue_token));
    const std::string body = replace_all(step.body, "{ns}", ns);
    RawResponse r;
    std::string failure;
    try {
      r = co_await c.request(step.method, target, body, step.content_type);
    } catch (const std::exception& ex) {
      failure = ex.what();
    }
    if (!failure.empty()) {
      out.push_back("threw: " + failure);
      continue;
    }
    boost::system::error_code ec;
    auto doc = json::parse(r.body, ec);
    if (!ec && doc.is_object()) {
      if (const auto* t = doc.find_pointer("/metadata/continue", ec); t && t->is_string())
        continue_token = std::string(t->as_string());
    }
    out.push_back(facts_of(step, r));
  }
  co_return out;
}

std::string configmap(const std::string& name, const std::string& extra_meta = "",
                      const std::string& ns = "{ns}") {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name +
         R"(","namespace":")" + ns + R"(")" + extra_meta + R"(},"data":{"k":"v"}})";
}

const std::string deployment =
    R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","namespace":"{ns}"},)"
    R"("spec":{"replicas":1,"selector":{"matchLabels":{"app":"d"}},"template":{"metadata":)"
    R"({"labels":{"app":"d"}},"spec":{"containers":[{"name":"c","image":"nginx:1.25"}]}}}})";

const std::vector<std::string> status_facts = {"/kind",         "/apiVersion",   "/status",
                                               "/code",         "/reason",       "/details/kind",
                                               "/details/name", "/details/group"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<Step> table() {
  const std::string cms = "/api/v1/namespaces/{ns}/configmaps";
  const std::string deploys = "/apis/apps/v1/namespaces/{ns}/deployments";
  const char* apply = "application/apply-patch+yaml";
  const char* merge = "application/merge-patch+json";
  return {
      {"create",
       "POST",
       cms,
       configmap("a"),
       {"/kind", "/apiVersion", "?/metadata/uid", "?/metadata/resourceVersion",
        "?/metadata/creationTimestamp", "?/metadata/generation",
        "/metadata/managedFields/0/operation", "/metadata/managedFields/0/manager|kcoro",
        "/metadata/managedFields/0/fieldsType"}},
      {"create again: 409 AlreadyExists", "POST", cms, configmap("a"),
       with(status_facts, {"/message|already exists"})},
      {"get a missing object: 404 NotFound", "GET", cms + "/missing", "",
       with(status_facts, {"/message|not found"})},
      {"replace at a stale resourceVersion: 409 Conflict", "PUT", cms + "/a",
       configmap("a", R"(,"resourceVersion":"1")"),
       with(status_facts, {"/message|the object has been modified"})},
      {"create with an invalid name: 422 Invalid", "POST", cms, configmap("Bad_Name"),
       with(status_facts, {"/details/causes/0/field", "/details/causes/0/reason"})},
      {"create with another namespace in the body: 400 BadRequest", "POST", cms,
       configmap("b", "", "elsewhere"), with(status_facts, {"/message|does not match"})},
      {"create with malformed JSON: 400 BadRequest",
       "POST",
       cms,
       R"({"apiVersion":)",
       {"/kind", "/code", "/reason"}},
      {"create b", "POST", cms, configmap("b"), {"/metadata/name"}},
      {"create c", "POST", cms, configmap("c"), {"/metadata/name"}},
      {"list with limit: a continue token",
       "GET",
       cms + "?limit=2",
       "",
       {"/kind", "/apiVersion", "?/metadata/resourceVersion", "?/metadata/continue",
        "/metadata/remainingItemCount", "/items/0/metadata/name", "/items/1/metadata/name",
        "?/items/0/kind"}},
      {"list the next page",
       "GET",
       cms + "?limit=2&continue={continue}",
       "",
       {"?/metadata/resourceVersion", "?/metadata/continue", "?/metadata/remainingItemCount",
        "/items/0/metadata/name"}},
      {"list with a malformed continue token: 400 BadRequest",
       "GET",
       cms + "?limit=2&continue=garbage",
       "",
       {"/code", "/reason"}},
      {"streaming list: ADDED each, then the initial-events-end BOOKMARK",
       "GET",
       cms + "?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
             "&allowWatchBookmarks=true&timeoutSeconds=2",
       "",
       {"/type", "/object/kind", "/object/metadata/annotations/k8s.io~1initial-events-end",
        "?/object/metadata/resourceVersion"}},
      {"streaming list without bookmarks: the initial events, no bookmark",
       "GET",
       cms +
           "?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=2",
       "",
       {"/type", "/object/kind"}},
      {"apply as manager-a",
       "PATCH",
       cms + "/applied?fieldManager=manager-a",
       configmap("applied"),
       {"/metadata/managedFields/0/manager", "/metadata/managedFields/0/operation",
        "?/metadata/managedFields/1"},
       apply},
      {"apply a conflicting value as manager-b: 409 Conflict naming manager-a", "PATCH",
       cms + "/applied?fieldManager=manager-b",
       R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied"},"data":{"k":"w"}})",
       with(status_facts, {"/message|conflict with \"manager-a\"", "/details/causes/0/field",
                           "/details/causes/0/reason"}),
       apply},
      {"apply it with force",
       "PATCH",
       cms + "/applied?fieldManager=manager-b&force=true",
       R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied"},"data":{"k":"w"}})",
       {"/data/k", "/metadata/managedFields/0/manager", "/metadata/managedFields/1/manager"},
       apply},
      {"apply without a fieldManager: 422", "PATCH", cms + "/applied", configmap("applied"),
       with(status_facts, {}), apply},
      {"create a deployment: generation 1", "POST", deploys, deployment, {"/metadata/generation"}},
      {"change its spec: generation 2",
       "PATCH",
       deploys + "/d",
       R"({"spec":{"replicas":2}})",
       {"/metadata/generation"},
       merge},
      {"change its labels: generation stays",
       "PATCH",
       deploys + "/d",
       R"({"metadata":{"labels":{"x":"y"}}})",
       {"/metadata/generation"},
       merge},
      {"change its status: generation stays",
       "PATCH",
       deploys + "/d/status",
       R"({"status":{"observedGeneration":2}})",
       {"/metadata/generation", "/status/observedGeneration"},
       merge},
      {"spec through the status subresource is ignored",
       "PATCH",
       deploys + "/d/status",
       R"({"spec":{"replicas":5}})",
       {"/metadata/generation", "/spec/replicas"},
       merge},
      {"create with a finalizer",
       "POST",
       cms,
       configmap("f", R"(,"finalizers":["kcoro.io/f"])"),
       {"/metadata/finalizers/0", "?/metadata/deletionTimestamp"}},
      {"delete it: kept, with a deletionTimestamp",
       "DELETE",
       cms + "/f",
       "",
       {"/kind", "?/metadata/deletionTimestamp", "/metadata/deletionGracePeriodSeconds",
        "/metadata/finalizers/0"}},
      {"a new finalizer on an object being deleted: 422", "PATCH", cms + "/f",
       R"({"metadata":{"finalizers":["kcoro.io/f","kcoro.io/g"]}})",
       with(status_facts, {"/message|Forbidden: no new finalizers"}), merge},
      {"remove the finalizer",
       "PATCH",
       cms + "/f",
       R"({"metadata":{"finalizers":null}})",
       {"/metadata/name"},
       merge},
      {"then it is gone", "GET", cms + "/f", "", {"/code", "/reason"}},
      {"delete a missing object: 404", "DELETE", cms + "/missing", "", with(status_facts, {})},
      {"delete: a Status with the details",
       "DELETE",
       cms + "/c",
       "",
       {"/kind", "/status", "/details/name", "/details/kind", "?/details/uid"}},
  };
}

// Against a server that has no watch cache for configmaps (legacy_env): lists and watches at
// an old resourceVersion reach etcd, as the fake's history does.
std::vector<Step> etcd_table() {
  const std::string cms = "/api/v1/namespaces/{ns}/configmaps";
  return {
      {"create x", "POST", cms, configmap("x"), {"/metadata/name"}},
      {"create y", "POST", cms, configmap("y"), {"/metadata/name"}},
      {"list one of two", "GET", cms + "?limit=1", "", {"?/metadata/continue"}},
      {"the next page after a compaction: 410 Expired with a fresh token", "GET",
       cms + "?limit=1&continue={continue}", "",
       with(status_facts, {"?/metadata/continue", "/message|continue parameter is too old"}),
       "application/json", true},
      {"list at a compacted resourceVersion: 410 Expired", "GET",
       cms + "?limit=10&resourceVersion=2&resourceVersionMatch=Exact", "", with(status_facts, {})},
      // The message differs by path on the real server too: etcd says "The resourceVersion for
      // the provided watch is too old.", the watch cache "too old resource version: 2 (N)" (the
      // fake's wording, recorded in fixtures/watch-too-old-rv.http).
      {"watch from a compacted resourceVersion: ERROR 410 Expired",
       "GET",
       cms + "?watch=true&resourceVersion=2&timeoutSeconds=2",
       "",
       {"/type", "/object/kind", "/object/status", "/object/code", "/object/reason",
        "?/object/message"}},
  };
}

// Runs `steps` on `real` and on a fresh fake; returns how many steps differ (each is a CHECK).
int compare(kcoro::testing::EnvTest& e, const std::vector<Step>& steps, const char* prefix) {
  kcoro::testing::FakeApiServerOptions fopts;
  // The real server sends periodic bookmarks about once a minute: so does this fake, so that
  // a short watch carries the same events on both.
  fopts.cluster.bookmark_interval = 60s;
  kcoro::testing::FakeApiServer fake(fopts);
  std::vector<std::string> real_facts, fake_facts;
  co_run(
      [&](net::any_io_executor ex) -> net::awaitable<void> {
        Client real(ex, e.admin_config());
        Client faked(ex, kcoro::ClusterConfig::from_url(fake.url()));
        const std::string ns = co_await kcoro::test::fresh_namespace(real, prefix);
        co_await faked.create(
            kcoro::resources::namespaces, "",
            R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + ns + R"("}})");
        real_facts = co_await run_table(real, ns, steps, [&] { e.compact_etcd(); });
        fake_facts = co_await run_table(faked, ns, steps, [&] { fake.cluster().compact(); });
      },
      60s);
  REQUIRE(real_facts.size() == steps.size());
  REQUIRE(fake_facts.size() == steps.size());
  int differences = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const bool same = real_facts[i] == fake_facts[i];
    CHECK_MESSAGE(same, std::string(steps[i].what)
                            << "\nreal: " << real_facts[i] << "\nfake: " << fake_facts[i]);
    differences += same ? 0 : 1;
  }
  MESSAGE(steps.size(), " steps compared, ", differences, " differ");
  return differences;
}

}  // namespace

TEST_CASE("envtest conformance: the fake API server answers as the real one") {
  compare(env(), table(), "conformance");
}

TEST_CASE("envtest conformance: compacted resourceVersions, where etcd answers (no watch cache)") {
  compare(kcoro::test::legacy_env(), etcd_table(), "conformance-etcd");
}
