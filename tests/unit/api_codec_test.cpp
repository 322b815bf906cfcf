// The generated API types against the recorded kube-apiserver responses: JSON → typed → JSON round
// trips, partial objects, and errors that name the JSON path.
//
// Round trips compare boost::json values. The original is normalised first: null members and
// empty arrays are removed, because the typed structs read null as "not set" and write neither
// an unset field nor an empty vector (a 1.32 server omits empty lists anyway). Everything else
// must come back exactly: the structs know every field these recordings hold, so no "unknown
// field" filter is needed; a field the generator missed would fail the comparison.
#include "kcoro/api/apiextensions/v1.hpp"
#include "kcoro/api/apps/v1.hpp"
#include "kcoro/api/coordination/v1.hpp"
#include "kcoro/api/core/v1.hpp"
#include "kcoro/api/rbac/v1.hpp"

#include "support/fixtures.hpp"
#include "support/prefix_errors.hpp"
#include "testing/pod_generator.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include <string>

namespace api = kcoro::api;
namespace corev1 = kcoro::api::core::v1;
using kcoro::test::fixture;

namespace {

void normalise(boost::json::value& v) {
  if (auto* o = v.if_object()) {
    for (auto it = o->begin(); it != o->end();) {
      normalise(it->value());
      const bool drop =
          it->value().is_null() || (it->value().is_array() && it->value().get_array().empty());
      it = drop ? o->erase(it) : it + 1;
    }
  } else if (auto* a = v.if_array()) {
    for (auto& e : *a)
      normalise(e);
  }
}

template <class T>
void check_round_trip_text(const std::string& text) {
  const T typed = api::decode<T>(text);
  const std::string out = api::encode(typed);
  boost::json::value want = boost::json::parse(text);
  normalise(want);
  const boost::json::value got = boost::json::parse(out);
  CHECK(got == want);
  if (got != want) MESSAGE(out);
  // And again: the encoded text decodes to the same thing.
  CHECK(api::encode(api::decode<T>(out)) == out);
}

template <class T>
void check_round_trip(const std::string& name) {
  CAPTURE(name);
  check_round_trip_text<T>(fixture(name));
}

}  // namespace

TEST_CASE("generated types round-trip the recorded objects") {
  check_round_trip<corev1::Pod>("create-pod-1.json");
  check_round_trip<corev1::Pod>("create-pod-2.json");
  check_round_trip<corev1::Pod>("create-pod-3.json");
  check_round_trip<corev1::Pod>("patch-merge-pod.json");
  check_round_trip<corev1::Pod>("delete-pod.json");
  check_round_trip<corev1::PodList>("list-pods-page1.json");
  check_round_trip<corev1::PodList>("list-pods-page2.json");
  check_round_trip<corev1::PodList>("list-pods-rv0.json");
  check_round_trip<corev1::PodList>("list-pods-selectors.json");
  check_round_trip<corev1::Event>("create-event.json");
  check_round_trip<corev1::ConfigMap>("apply-configmap.json");
  check_round_trip<kcoro::api::apps::v1::Deployment>("create-deployment-owned.json");
  check_round_trip<kcoro::api::coordination::v1::Lease>("create-lease.json");
  check_round_trip<kcoro::api::apiextensions::v1::CustomResourceDefinition>("create-crd-foo.json");
}

TEST_CASE("generated types round-trip the benchmarks' generated pods") {
  kcoro::testing::PodGenerator gen(7);
  for (int i = 0; i < 50; ++i) {
    CAPTURE(i);
    check_round_trip_text<corev1::Pod>(gen.pod("ns", "pod-" + std::to_string(i), 100 + i));
  }
}

TEST_CASE("a decoded Pod reads like the recording") {
  const auto pod = api::decode<corev1::Pod>(fixture("create-pod-1.json"));
  REQUIRE(pod.metadata);
  CHECK(pod.metadata->name == "web-1");
  CHECK(pod.metadata->namespace_ == "fixtures");
  CHECK(pod.metadata->labels.at("app") == "web");
  REQUIRE(pod.metadata->creationTimestamp);
  CHECK(pod.metadata->creationTimestamp->str() == "2026-11-22T10:31:15Z");
  REQUIRE(pod.spec);
  REQUIRE(!pod.spec->containers.empty());
  CHECK(pod.spec->containers[0].name.has_value());
  CHECK(corev1::Pod::resource() == kcoro::resources::pods);
  CHECK(kcoro::api::apps::v1::Deployment::resource() == kcoro::resources::deployments);
  CHECK(kcoro::api::coordination::v1::Lease::resource() == kcoro::resources::leases);
  CHECK(corev1::Node::resource() == kcoro::resources::nodes);
  CHECK(kcoro::api::rbac::v1::ClusterRole::resource().namespaced == false);
  CHECK(kcoro::api::rbac::v1::Role::resource().plural == "roles");
  CHECK(kcoro::api::apiextensions::v1::CustomResourceDefinition::resource() ==
        kcoro::resources::customresourcedefinitions);
  // Every hand-written constant agrees with what the generator read from the OpenAPI paths.
  namespace res = kcoro::resources;
  CHECK(corev1::Service::resource() == res::services);
  CHECK(corev1::ConfigMap::resource() == res::configmaps);
  CHECK(corev1::Secret::resource() == res::secrets);
  CHECK(corev1::ServiceAccount::resource() == res::serviceaccounts);
  CHECK(corev1::Event::resource() == res::events);
  CHECK(corev1::Namespace::resource() == res::namespaces);
  CHECK(kcoro::api::apps::v1::ReplicaSet::resource() == res::replicasets);
  CHECK(kcoro::api::apps::v1::StatefulSet::resource() == res::statefulsets);
  CHECK(kcoro::api::apps::v1::DaemonSet::resource() == res::daemonsets);
}

TEST_CASE("a partly filled struct encodes only what is set: an apply configuration") {
  corev1::Pod pod;
  pod.apiVersion = "v1";
  pod.kind = "Pod";
  auto& md = pod.metadata.emplace();
  md.name = "web";
  md.namespace_ = "default";
  md.labels["app"] = "web";
  auto& c = pod.spec.emplace().containers.emplace_back();
  c.name = "main";
  c.image = "nginx:1.27";
  c.resources.emplace().limits["memory"] = api::Quantity::parse("1.5Gi");
  c.ports.emplace_back().containerPort = 80;
  CHECK(api::encode(pod) ==
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"web"},"name":"web",)"
        R"("namespace":"default"},"spec":{"containers":[{"image":"nginx:1.27","name":"main",)"
        R"("ports":[{"containerPort":80}],"resources":{"limits":{"memory":"1536Mi"}}}]}})");
  CHECK(api::encode(corev1::Pod{}) == "{}");
  corev1::Service svc;
  svc.spec.emplace().ports.emplace_back().targetPort = api::IntOrString("http");
  svc.spec->ports[0].port = 80;
  CHECK(api::encode(svc) == R"({"spec":{"ports":[{"port":80,"targetPort":"http"}]}})");
}

TEST_CASE("strings are escaped and unescaped") {
  corev1::ConfigMap cm;
  cm.data["k"] = "a\"b\\c\nd\t\x01/é";
  const std::string out = api::encode(cm);
  CHECK(out == R"({"data":{"k":"a\"b\\c\nd\t\u0001/é"}})");
  CHECK(api::decode<corev1::ConfigMap>(out).data.at("k") == cm.data["k"]);
  CHECK(api::decode<corev1::ConfigMap>(R"({"data":{"k":"\u00e9\ud83d\ude00"}})").data.at("k") ==
        "é\xF0\x9F\x98\x80");
}

TEST_CASE("unknown fields are ignored, null is not set") {
  const auto pod = api::decode<corev1::Pod>(
      R"({"kind":"Pod","future":{"x":[1,2,{"y":null}]},"metadata":null,"spec":{"nodeName":null,)"
      R"("extra":1,"containers":[{"name":"a","newField":true}]}})");
  CHECK(pod.kind == "Pod");
  CHECK_FALSE(pod.metadata);
  REQUIRE(pod.spec);
  CHECK_FALSE(pod.spec->nodeName);
  CHECK(pod.spec->containers.at(0).name == "a");
  CHECK(api::encode(pod) == R"({"kind":"Pod","spec":{"containers":[{"name":"a"}]}})");
}

TEST_CASE("free-form fields keep their JSON: RawExtension, FieldsV1, JSONSchemaProps") {
  const auto crd = api::decode<kcoro::api::apiextensions::v1::CustomResourceDefinition>(
      fixture("create-crd-foo.json"));
  REQUIRE(crd.spec);
  REQUIRE(!crd.spec->versions.empty());
  const auto& schema = crd.spec->versions[0].schema;
  REQUIRE(schema);
  REQUIRE(schema->openAPIV3Schema);
  CHECK(schema->openAPIV3Schema->type == "object");
  CHECK(!schema->openAPIV3Schema->properties.empty());

  kcoro::api::apiextensions::v1::JSONSchemaProps p;
  p.not_.emplace().type = "string";
  p.default_ = api::RawJson{R"({"a":[1,2]})"};
  p.x_kubernetes_preserve_unknown_fields = true;
  const std::string out = api::encode(p);
  CHECK(out == R"({"default":{"a":[1,2]},"not":{"type":"string"},)"
               R"("x-kubernetes-preserve-unknown-fields":true})");
  const auto back = api::decode<kcoro::api::apiextensions::v1::JSONSchemaProps>(out);
  REQUIRE(back.not_);
  CHECK(back.not_->type == "string");
  CHECK(back.default_->text == R"({"a":[1,2]})");
}

TEST_CASE("a value of the wrong type is an error naming its JSON path") {
  struct Case {
    const char* json;
    const char* what;
  };
  const Case cases[] = {
      {R"({"spec":{"containers":[{"name":"a"},{"ports":[{"containerPort":1},{"containerPort":"x"}]}]}})",
       "spec.containers[1].ports[1].containerPort: expected an integer"},
      {R"({"spec":{"containers":[{"ports":[{"containerPort":4294967296}]}]}})",
       "spec.containers[0].ports[0].containerPort: integer out of range for int32"},
      {R"({"metadata":{"labels":{"app":1}}})", R"(metadata.labels["app"]: expected a string)"},
      {R"({"metadata":{"labels":[]}})", "metadata.labels: expected an object"},
      {R"({"spec":{"containers":{}}})", "spec.containers: expected an array"},
      {R"({"spec":{"hostNetwork":"yes"}})", "spec.hostNetwork: expected a boolean"},
      {R"({"metadata":{"creationTimestamp":"yesterday"}})",
       R"(metadata.creationTimestamp: not an RFC 3339 time: "yesterday")"},
      {R"({"spec":{"containers":[{"resources":{"limits":{"cpu":"lots"}}}]}})",
       R"(spec.containers[0].resources.limits["cpu"]: not a quantity: "lots")"},
      {R"({"spec":{"containers":[{"resources":{"limits":{"cpu":true}}}]}})",
       R"(spec.containers[0].resources.limits["cpu"]: expected a quantity (a string or a number))"},
      {R"([1])", "expected an object"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.json);
    try {
      (void)api::decode<corev1::Pod>(c.json);
      FAIL("no error");
    } catch (const api::DecodeError& e) {
      CHECK(std::string(e.what()) == c.what);
    }
  }
  // Malformed JSON is an error too, never a crash.
  for (const char* bad : {"", "{", R"({"kind":)", R"({"kind":"Pod",})",
                          R"({"spec":{"containers":[{]}})", "nul", R"({"kind":"Pod"} x)"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS((void)api::decode<corev1::Pod>(bad), api::DecodeError);
  }
}

// The decoder reuses one padded buffer for text that came without padding. Whatever an earlier,
// longer document left in that buffer must not change how a later one decodes: every prefix of
// a recorded Pod is malformed, and each fails with one error whatever was decoded before it.
TEST_CASE("a malformed document fails the same way whatever was decoded before it") {
  const std::string pod = fixture("create-pod-1.json");
  auto error_of = [](std::string_view text) -> std::string {
    try {
      (void)api::decode<corev1::Pod>(text);
    } catch (const api::DecodeError& e) {
      return e.what();
    }
    return "no error";
  };
  kcoro::test::check_prefixes_fail_alike(pod, error_of, error_of);
}

TEST_CASE("numbers and IntOrString in JSON") {
  const auto svc = api::decode<corev1::Service>(
      R"({"spec":{"ports":[{"port":80,"targetPort":8080},{"port":443,"targetPort":"https"}]}})");
  REQUIRE(svc.spec);
  CHECK(svc.spec->ports[0].targetPort->int_value() == 8080);
  CHECK(svc.spec->ports[1].targetPort->str_value() == "https");
  // A quantity may be a JSON number.
  const auto pod = api::decode<corev1::Pod>(
      R"({"spec":{"containers":[{"resources":{"requests":{"cpu":0.5,"memory":1024}}}]}})");
  const auto& req = pod.spec->containers[0].resources->requests;
  CHECK(req.at("cpu").str() == "500m");
  CHECK(req.at("memory") == api::Quantity::parse("1Ki"));
}
