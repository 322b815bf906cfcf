#include "kcoro/object.hpp"

#include "support/fixtures.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

using kcoro::Object;
using kcoro::RawJson;
using kcoro::test::fixture;
using kcoro::test::without_managed_fields;

TEST_CASE("Object extracts metadata from a recorded Pod and cuts managedFields") {
  const std::string text = fixture("create-pod-1.json");
  auto pod = Object::parse(text);
  const auto& m = pod->meta();
  CHECK(m.kind == "Pod");
  CHECK(m.api_version == "v1");
  CHECK(m.name == "web-1");
  CHECK(m.ns == "fixtures");
  CHECK(m.uid == "88a605e0-b584-4b3e-b31f-3c32aeb4e95f");
  CHECK(m.resource_version == "218");
  CHECK(m.creation_timestamp == "2026-11-22T10:31:15Z");
  CHECK(m.deletion_timestamp.empty());
  CHECK_FALSE(m.being_deleted());
  CHECK(m.labels.size() == 2);
  CHECK(m.labels.get("app") == "web");
  CHECK(m.labels.get("tier") == "frontend");
  CHECK_FALSE(m.labels.get("missing"));
  CHECK(m.annotations.get("example.com/note") == "fixture");
  CHECK(pod->key() == "fixtures/web-1");

  // The stored text is the document minus managedFields, nothing else changed.
  CHECK(pod->json().find("managedFields") == std::string_view::npos);
  CHECK(boost::json::parse(pod->json()) == without_managed_fields(text));
  CHECK(pod->json().size() < text.size());
}

TEST_CASE("managedFields is kept when the transform is off") {
  const std::string text = fixture("create-pod-2.json");
  kcoro::DecodeOptions opts;
  opts.strip_managed_fields = false;
  auto pod = Object::parse(text, opts);
  CHECK(pod->json().find("managedFields") != std::string_view::npos);
  CHECK(boost::json::parse(pod->json()) == boost::json::parse(text));
}

TEST_CASE("the managedFields cut works wherever the field stands") {
  const char* cases[] = {
      R"({"metadata":{"managedFields":[{"manager":"a"}],"name":"x"}})",
      R"({"metadata":{"name":"x","managedFields":[{"manager":"a"}]}})",
      R"({"metadata":{"name":"x","managedFields":[],"uid":"u"}})",
      R"({"metadata":{"name":"x" , "managedFields" : [ {"m":1} ] , "uid":"u"}})",
      R"({"metadata":{"name":"x",
           "managedFields": [{"m": [1, 2]}]
         }, "spec": {}})",
  };
  for (const char* c : cases) {
    CAPTURE(c);
    auto o = Object::parse(c);
    CHECK(o->meta().name == "x");
    CHECK(o->json().find("managedFields") == std::string_view::npos);
    CHECK(boost::json::parse(o->json()) == without_managed_fields(c));
    if (std::string_view(c).find("\"uid\"") != std::string_view::npos) {
      CHECK(o->meta().uid == "u");
    }
  }
}

TEST_CASE("owner references, finalizers and deletion metadata") {
  auto dep = Object::parse(fixture("create-deployment-owned.json"));
  const auto& refs = dep->meta().owner_references;
  REQUIRE(refs.size() == 1);
  CHECK(refs[0].kind == "Foo");
  CHECK(refs[0].name == "example-foo");
  CHECK(refs[0].api_version == "samplecontroller.k8s.io/v1alpha1");
  CHECK(refs[0].uid == "1f3c89ec-2220-4c4b-94a7-938918595381");
  CHECK(refs[0].controller);
  CHECK(refs[0].block_owner_deletion);
  REQUIRE(dep->meta().controller_ref() != nullptr);
  CHECK(dep->meta().controller_ref()->name == "example-foo");
  CHECK(dep->meta().generation >= 1);

  auto deleted = Object::parse(fixture("delete-pod.json"));
  CHECK(deleted->meta().deletion_timestamp == "2026-11-22T10:31:47Z");
  CHECK(deleted->meta().being_deleted());
  REQUIRE(deleted->meta().deletion_grace_period_seconds);
  CHECK(*deleted->meta().deletion_grace_period_seconds == 30);

  auto fin = Object::parse(
      R"({"metadata":{"name":"f","finalizers":["a.example.com/x","kubernetes"],"labels":null}})");
  REQUIRE(fin->meta().finalizers.size() == 2);
  CHECK(fin->meta().finalizers[0] == "a.example.com/x");
  CHECK(fin->meta().finalizers[1] == "kubernetes");
  CHECK(fin->meta().labels.empty());
  CHECK(fin->meta().controller_ref() == nullptr);
}

TEST_CASE("strings with JSON escapes are unescaped in meta") {
  auto o = Object::parse(
      R"({"metadata":{"name":"a\u0062c","namespace":"n","labels":{"k\"q":"v\\w","plain":"p"},)"
      R"("annotations":{"note":"line1\nline2"}},"spec":{"s":"x\ty","u":"\u00e9"}})");
  CHECK(o->meta().name == "abc");
  CHECK(o->meta().labels.get("k\"q") == "v\\w");
  CHECK(o->meta().labels.get("plain") == "p");
  CHECK(o->meta().annotations.get("note") == "line1\nline2");
  CHECK(o->get<std::string_view>("/spec/s") == "x\ty");
  CHECK(o->get<std::string>("/spec/u") == "\xc3\xa9");
  // The same escaped string read twice is the same interned copy.
  CHECK(o->get<std::string_view>("/spec/s")->data() == o->get<std::string_view>("/spec/s")->data());
}

TEST_CASE("get by JSON pointer") {
  auto pod = Object::parse(fixture("create-pod-1.json"));
  CHECK(pod->get<std::string_view>("/spec/nodeName") == "node-a");
  CHECK(pod->get<std::string_view>("/spec/containers/0/image") == "nginx:1.25");
  CHECK(pod->get<int64_t>("/spec/containers/0/ports/0/containerPort") == 80);
  CHECK(pod->get<double>("/spec/terminationGracePeriodSeconds") == doctest::Approx(30.0));
  CHECK(pod->get<bool>("/spec/enableServiceLinks") == true);
  CHECK(pod->get<std::string>("/status/phase") == "Pending");
  auto tol = pod->get<RawJson>("/spec/tolerations/0");
  REQUIRE(tol);
  CHECK(boost::json::parse(tol->text) ==
        boost::json::parse(R"({"key":"dedicated","operator":"Exists","effect":"NoSchedule"})"));
  auto sc = pod->get<RawJson>("/spec/securityContext");
  REQUIRE(sc);
  CHECK(sc->text == "{}");
  CHECK(pod->get<RawJson>("/spec/priority")->text == "0");

  SUBCASE("absent and null fields are nullopt") {
    CHECK_FALSE(pod->get<std::string_view>("/spec/missing"));
    CHECK_FALSE(pod->get<int64_t>("/spec/containers/7/ports"));
    auto o = Object::parse(R"({"metadata":{"name":"n"},"spec":{"x":null}})");
    CHECK_FALSE(o->get<std::string_view>("/spec/x"));
  }
  SUBCASE("a type mismatch is a clear error") {
    std::error_code ec;
    CHECK_FALSE(pod->get<int64_t>("/spec/nodeName", ec));
    CHECK(ec == kcoro::errc::type_mismatch);
    CHECK_FALSE(pod->get<std::string_view>("/spec/containers", ec));
    CHECK(ec == kcoro::errc::type_mismatch);
    CHECK_THROWS_WITH_AS(pod->get<bool>("/spec/nodeName"), doctest::Contains("/spec/nodeName"),
                         std::system_error);
  }
  SUBCASE("an invalid pointer is an error") {
    std::error_code ec;
    CHECK_FALSE(pod->get<std::string_view>("spec", ec));
    CHECK(ec == kcoro::errc::invalid_json_pointer);
  }
  SUBCASE("the empty pointer is the whole document") {
    auto all = pod->get<RawJson>("");
    REQUIRE(all);
    CHECK(all->text == pod->json());
  }
}

TEST_CASE("malformed objects fail with an error, never a crash") {
  struct Case {
    const char* json;
    kcoro::errc code;
  };
  const Case cases[] = {
      {R"({"metadata":{"namespace":"n"}})", kcoro::errc::missing_object_name},
      {R"({"spec":{}})", kcoro::errc::missing_object_name},
      {R"([1,2])", kcoro::errc::invalid_json},
      {R"("just a string")", kcoro::errc::invalid_json},
      {"", kcoro::errc::truncated_input},
      {R"({"metadata":{"name":"x"})", kcoro::errc::truncated_input},
      {R"({"metadata":{"name":"x")", kcoro::errc::truncated_input},
      {R"({"metadata":{"name":"x}})", kcoro::errc::truncated_input},
      {R"({"metadata":{"name":"x"}} trailing)", kcoro::errc::invalid_json},
      {R"({"metadata":{"name":42}})", kcoro::errc::type_mismatch},
      {R"({"metadata":{"name":"x","labels":{"a":1}}})", kcoro::errc::type_mismatch},
      {R"({"metadata":[]})", kcoro::errc::type_mismatch},
  };
  for (const auto& c : cases) {
    CAPTURE(c.json);
    kcoro::Error err;
    auto o = Object::parse(c.json, err);
    CHECK_FALSE(o);
    CHECK(err.code == c.code);
    CHECK_FALSE(err.to_string().empty());
  }
  CHECK_THROWS_AS(Object::parse("{"), std::system_error);
}

TEST_CASE("user transforms run after the managedFields cut and compose") {
  kcoro::DecodeOptions opts;
  auto drop_status = [](std::string& json) {
    auto v = boost::json::parse(json);
    v.as_object().erase("status");
    json = boost::json::serialize(v);
  };
  auto add_label = [](std::string& json) {
    auto v = boost::json::parse(json);
    v.at("metadata").as_object()["labels"].as_object()["seen"] = "yes";
    json = boost::json::serialize(v);
  };
  opts.transform = kcoro::compose(drop_status, add_label);
  const std::string text = fixture("create-pod-3.json");
  auto pod = Object::parse(text, opts);
  CHECK(pod->json().find("managedFields") == std::string_view::npos);
  CHECK(pod->json().find("\"status\"") == std::string_view::npos);
  CHECK(pod->meta().labels.get("seen") == "yes");
  CHECK(pod->meta().labels.get("app") == "web");
  CHECK_FALSE(pod->meta().name.empty());

  SUBCASE("a throwing transform fails that object") {
    kcoro::DecodeOptions bad;
    bad.transform = [](std::string&) { throw std::runtime_error("boom"); };
    kcoro::Error err;
    CHECK_FALSE(Object::parse(text, err, bad));
    CHECK(err.to_string().find("boom") != std::string::npos);
  }
  SUBCASE("a transform that drops the name fails that object") {
    kcoro::DecodeOptions bad;
    bad.transform = [](std::string& json) { json = R"({"metadata":{}})"; };
    kcoro::Error err;
    CHECK_FALSE(Object::parse(text, err, bad));
    CHECK(err.code == kcoro::errc::missing_object_name);
  }
}

TEST_CASE("ObjectKey follows client-go's key format") {
  CHECK(kcoro::ObjectKey{"ns", "a"}.str() == "ns/a");
  CHECK(kcoro::ObjectKey{"", "node-1"}.str() == "node-1");
  CHECK(kcoro::ObjectKey::parse("ns/a") == kcoro::ObjectKey{"ns", "a"});
  CHECK(kcoro::ObjectKey::parse("node-1") == kcoro::ObjectKey{"", "node-1"});
  CHECK(kcoro::ObjectKey::parse("/a") == kcoro::ObjectKey{"", "a"});
  CHECK_FALSE(kcoro::ObjectKey::parse(""));
  CHECK_FALSE(kcoro::ObjectKey::parse("ns/"));
  CHECK_FALSE(kcoro::ObjectKey::parse("a/b/c"));
  auto cluster = Object::parse(R"({"kind":"Node","metadata":{"name":"n1"}})");
  CHECK(cluster->key() == "n1");
}

TEST_CASE("retained_bytes accounts for the text and the tables") {
  auto pod = Object::parse(fixture("create-pod-1.json"));
  CHECK(pod->retained_bytes() >= pod->json().size() + kcoro::json_padding);
  CHECK(pod->retained_bytes() < pod->json().size() + 1024);
}

TEST_CASE("json_quote escapes what JSON requires") {
  CHECK(kcoro::json_quote("a\"b\\c\n\x01") == R"("a\"b\\c\n\u0001")");
  CHECK(boost::json::parse(kcoro::json_quote("tab\there")).as_string() == "tab\there");
}

TEST_CASE("every recorded object fixture decodes, and every error body is a Status") {
  struct Want {
    const char* file;
    const char* kind;
  };
  const Want objects[] = {
      {"create-pod-1.json", "Pod"},
      {"create-pod-2.json", "Pod"},
      {"create-pod-3.json", "Pod"},
      {"patch-merge-pod.json", "Pod"},
      {"delete-pod.json", "Pod"},
      {"create-deployment-owned.json", "Deployment"},
      {"create-crd-foo.json", "CustomResourceDefinition"},
      {"create-foo.json", "Foo"},
      {"patch-foo-status.json", "Foo"},
      {"apply-configmap.json", "ConfigMap"},
      {"create-lease.json", "Lease"},
      {"create-event.json", "Event"},
  };
  for (const auto& w : objects) {
    CAPTURE(w.file);
    const std::string text = fixture(w.file);
    auto o = Object::parse(text);
    CHECK(o->meta().kind == w.kind);
    CHECK_FALSE(o->meta().name.empty());
    CHECK_FALSE(o->meta().uid.empty());
    CHECK_FALSE(o->meta().resource_version.empty());
    CHECK(boost::json::parse(o->json()) == without_managed_fields(text));
  }
  // Discovery documents and /version are not objects (no metadata.name): a clear error.
  for (const char* f : {"discovery-api.json", "discovery-apps-v1.json", "version.json"}) {
    CAPTURE(f);
    kcoro::Error err;
    CHECK_FALSE(Object::parse(fixture(f), err));
    CHECK(err.code == kcoro::errc::missing_object_name);
  }
  for (const char* f :
       {"error-400-bad-json.http", "error-401-bad-token.http", "error-403-forbidden.http",
        "error-404-get-missing.http", "error-409-already-exists.http",
        "error-409-conflict-stale-rv.http", "error-410-expired-continue.http",
        "error-410-list-too-old-rv.http", "error-422-invalid.http"}) {
    CAPTURE(f);
    const std::string body = kcoro::test::http_body(f);
    std::error_code ec;
    auto status = kcoro::Status::parse(body, ec);
    REQUIRE(status);
    CHECK(status->status == "Failure");
    CHECK(status->code >= 400);
    CHECK_FALSE(status->reason.empty());
  }
}
