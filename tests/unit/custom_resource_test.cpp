// Custom resources (kcoro/custom_resource.hpp): JSON round trips of every member type, required
// and optional members, and errors that name the JSON path.
#include "kcoro/custom_resource.hpp"
#include "kcoro/object.hpp"
#include "kcoro/store.hpp"

#include "../../examples/sample_controller/foo.hpp"
#include "support/fixtures.hpp"
#include "support/widget.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <string>

namespace api = kcoro::api;
namespace json = boost::json;
using kcoro::test::Gadget;
using kcoro::test::Widget;
using samplecontroller::v1alpha1::Foo;

namespace {

json::value encoded(const auto& v) {
  return json::parse(api::encode(v));
}

std::string decode_error(std::string_view text) {
  try {
    (void)api::decode<Widget>(text);
  } catch (const api::DecodeError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

constexpr const char* kWidget = R"({
  "apiVersion": "example.kcoro.dev/v1", "kind": "Widget",
  "metadata": {"name": "w", "namespace": "ns", "labels": {"a": "b"}, "resourceVersion": "7"},
  "spec": {
    "image": "nginx", "replicas": 3, "big": 9007199254740993, "paused": false, "ratio": 0.25,
    "args": ["a", "b"], "env": {"K": "V"},
    "ports": [{"name": "http", "number": 80}, {"name": "https", "number": 443}],
    "primary": {"name": "p", "number": 1}, "named": {"x": {"name": "x", "number": 2}},
    "memory": "1Gi", "maxUnavailable": "25%", "until": "2024-01-02T03:04:05Z",
    "renewed": "2024-01-02T03:04:05.123456Z", "extra": {"free": [1, {"form": null}]},
    "default": "a", "selector": {"matchLabels": {"app": "w"}}
  },
  "status": {"observedGeneration": 2,
             "conditions": [{"type": "Ready", "status": "True", "reason": "Ok", "message": "",
                             "lastTransitionTime": "2024-01-02T03:04:05Z"}]}
})";

TEST_CASE("custom resource: JSON round trip of every member type") {
  const Widget w = api::decode<Widget>(kWidget);
  REQUIRE(w.spec);
  CHECK(w.spec->image == "nginx");
  CHECK(w.spec->replicas == 3);
  CHECK(w.spec->big == 9007199254740993);
  CHECK(w.spec->paused == false);
  CHECK(w.spec->ratio == 0.25);
  CHECK(w.spec->args == std::vector<std::string>{"a", "b"});
  CHECK(w.spec->env.at("K") == "V");
  REQUIRE(w.spec->ports.size() == 2);
  CHECK(w.spec->ports[1].number == 443);
  CHECK(w.spec->primary->name == "p");
  CHECK(w.spec->named.at("x").number == 2);
  CHECK(*w.spec->memory == api::Quantity::parse("1024Mi"));
  CHECK(w.spec->maxUnavailable->scaled_value(8, true) == 2);
  CHECK(w.spec->until->str() == "2024-01-02T03:04:05Z");
  CHECK(w.spec->renewed->str() == "2024-01-02T03:04:05.123456Z");
  CHECK(w.spec->extra->text == R"({"free": [1, {"form": null}]})");
  CHECK(w.spec->default_ == "a");
  CHECK(w.spec->selector->matchLabels.at("app") == "w");
  CHECK(w.metadata->namespace_ == "ns");
  CHECK(w.metadata->labels.at("a") == "b");
  REQUIRE(w.status);
  CHECK(w.status->conditions.at(0).type == "Ready");
  CHECK(w.status->conditions.at(0).lastTransitionTime->str() == "2024-01-02T03:04:05Z");

  json::value want = json::parse(kWidget);
  want.at("spec").as_object()["extra"] = json::parse(R"({"free": [1, {"form": null}]})");
  CHECK(encoded(w) == want);
  // Keys in declaration order, compact.
  CHECK(api::encode(w).starts_with(
      R"({"apiVersion":"example.kcoro.dev/v1","kind":"Widget","metadata":{)"));
}

TEST_CASE("custom resource: encode writes only what is set; required members always") {
  Widget w;
  CHECK(api::encode(w) == "{}");
  w.spec.emplace();
  CHECK(api::encode(w) == R"({"spec":{"image":""}})");
  w.spec->primary.emplace();
  w.spec->replicas = 0;
  CHECK(api::encode(w) == R"({"spec":{"image":"","replicas":0,"primary":{"name":"","number":0}}})");
  Gadget g;
  g.spec.emplace();
  CHECK(api::encode(g) == R"({"spec":{"enabled":false}})");
}

TEST_CASE("custom resource: unknown fields are ignored, null is unset") {
  const Widget w = api::decode<Widget>(
      R"({"spec":{"image":"x","unknown":{"deep":[1,2]},"replicas":null,"ports":[null]},"zz":1})");
  CHECK(w.spec->image == "x");
  CHECK_FALSE(w.spec->replicas);
  REQUIRE(w.spec->ports.size() == 1);  // a null element is a default one
  CHECK(w.spec->ports[0].number == 0);
  CHECK_THROWS_AS(api::decode<Widget>("null"), api::DecodeError);  // as the generated types
}

TEST_CASE("custom resource: errors name the JSON path") {
  CHECK(decode_error(R"({"spec":{"image":"x","replicas":"3"}})") ==
        "spec.replicas: expected an integer");
  CHECK(decode_error(R"({"spec":{"image":"x","ports":[{"name":"a","number":1},{"name":2}]}})") ==
        "spec.ports[1].name: expected a string");
  CHECK(decode_error(R"({"spec":{"image":"x","named":{"k":{"name":"a","number":true}}}})") ==
        "spec.named[\"k\"].number: expected an integer");
  CHECK(decode_error(R"({"spec":{"replicas":1}})") == "spec.image: required field is missing");
  CHECK(decode_error(R"({"spec":{"image":null}})") == "spec.image: required field is missing");
  CHECK(decode_error(R"({"spec":{"image":"x","ports":[{"name":"a"}]}})") ==
        "spec.ports[0].number: required field is missing");
  CHECK(decode_error(R"({"spec":{"image":"x","replicas":4294967296}})") ==
        "spec.replicas: integer out of range for int32");
  CHECK(decode_error(R"({"spec":{"image":"x","memory":"1Qi"}})") ==
        "spec.memory: not a quantity: \"1Qi\"");
  CHECK(decode_error(R"({"spec":{"image":"x","until":"yesterday"}})") ==
        "spec.until: not an RFC 3339 time: \"yesterday\"");
  CHECK(decode_error(R"({"spec":[]})") == "spec: expected an object");
  CHECK(decode_error(R"({"spec":{"image":"x","args":{}}})") == "spec.args: expected an array");
  // Inside a generated struct: the path goes on through it.
  CHECK(decode_error(R"({"spec":{"image":"x","selector":{"matchLabels":{"a":1}}}})") ==
        "spec.selector.matchLabels[\"a\"]: expected a string");
  CHECK(decode_error(R"({"status":{"conditions":[{"type":"A"},{"status":5}]}})") ==
        "status.conditions[1].status: expected a string");
  CHECK(decode_error(R"({"metadata":{"labels":[]}})") == "metadata.labels: expected an object");
  CHECK(decode_error(R"({"spec":{"image":"x"})").starts_with("malformed JSON"));
  CHECK(decode_error(R"({"spec":{"image":"x"}} {})") ==
        "malformed JSON: content after the document");
}

TEST_CASE("custom resource: Object::as, Store::get and the recorded Foo of a real server") {
  // create-foo.json is the server's answer to creating example-foo.
  const std::string text = kcoro::test::fixture("create-foo.json");
  kcoro::ObjectPtr obj = kcoro::Object::parse(text);
  const Foo foo = obj->as<Foo>();
  CHECK(foo.metadata->name == "example-foo");
  CHECK(foo.spec->deploymentName == "example-foo");
  CHECK(foo.spec->replicas == 1);
  CHECK(Foo::resource() ==
        kcoro::Resource{"samplecontroller.k8s.io", "v1alpha1", "Foo", "foos", true});
  CHECK(Gadget::resource().namespaced == false);
  // JSON → typed → JSON: equal on every field the type knows (the managedFields were cut).
  json::value want = json::parse(obj->json());
  CHECK(encoded(foo) == want);
}
