// Custom resources (kcoro/custom_resource.hpp, kcoro/crd.hpp): JSON round trips of every member
// type, required and optional members, errors that name the JSON path, and the schema crd_of()
// derives, down to the CRD of sample_controller's artifacts/crd.yaml.
#include "kcoro/crd.hpp"
#include "kcoro/custom_resource.hpp"
#include "kcoro/object.hpp"
#include "kcoro/store.hpp"

#include "../../examples/sample_controller/foo.hpp"
#include "support/fixtures.hpp"
#include "support/prefix_errors.hpp"
#include "support/widget.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

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

// A YAML document as JSON; scalars that look like numbers or booleans become them (the CRD's
// plain scalars), quoted ones stay strings.
json::value yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : n)
        o[kv.first.Scalar()] = yaml_to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json::array a;
      for (const auto& e : n)
        a.push_back(yaml_to_json(e));
      return a;
    }
    case YAML::NodeType::Scalar: {
      if (n.Tag() == "!") return json::value(n.Scalar());
      const std::string& s = n.Scalar();
      if (s == "true") return true;
      if (s == "false") return false;
      std::error_code ec;
      json::value v = json::parse(s, ec);
      if (!ec && v.is_number()) return v;
      return json::value(s);
    }
    default:
      return nullptr;
  }
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

// As for the generated types: a custom resource's decoder, and the generated decoder it calls
// for a member, reuse padded buffers; every prefix of a Widget fails the same way whatever was
// decoded before it.
TEST_CASE("custom resource: a malformed document fails the same way whatever came before") {
  auto prime = [](const std::string& text) {
    (void)decode_error(text);
    try {  // and the generated decoder's buffer, which reads spec.selector
      (void)api::decode<api::meta::v1::LabelSelector>(text);
    } catch (const api::DecodeError&) {
    }
  };
  kcoro::test::check_prefixes_fail_alike(kWidget, prime, decode_error);
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

TEST_CASE("crd_of: the schema controller-gen would write") {
  const auto crd = kcoro::crd_of<Widget>();
  const json::value v = encoded(crd);
  CHECK(v.at("apiVersion") == "apiextensions.k8s.io/v1");
  CHECK(v.at("kind") == "CustomResourceDefinition");
  CHECK(v.at("metadata") == json::parse(R"({"name":"widgets.example.kcoro.dev"})"));
  const auto& spec = v.at("spec");
  CHECK(spec.at("group") == "example.kcoro.dev");
  CHECK(spec.at("scope") == "Namespaced");
  CHECK(spec.at("names") ==
        json::parse(
            R"({"kind":"Widget","listKind":"WidgetList","plural":"widgets","singular":"widget"})"));
  const auto& version = spec.at("versions").at(0);
  CHECK(version.at("name") == "v1");
  CHECK(version.at("served") == true);
  CHECK(version.at("storage") == true);
  CHECK(version.at("subresources") == json::parse(R"({"status":{}})"));
  const auto& schema = version.at("schema").at("openAPIV3Schema");
  CHECK(schema.at("type") == "object");
  CHECK_FALSE(schema.as_object().contains("required"));
  const auto& top = schema.at("properties");
  CHECK(top.at("apiVersion") == json::parse(R"({"type":"string"})"));
  CHECK(top.at("kind") == json::parse(R"({"type":"string"})"));
  CHECK(top.at("metadata") == json::parse(R"({"type":"object"})"));
  const auto& ws = top.at("spec");
  CHECK(ws.at("description") == "WidgetSpec is what the user wants.");
  CHECK(ws.at("required") == json::parse(R"(["image"])"));
  const auto& p = ws.at("properties");
  CHECK(p.at("image") == json::parse(R"({"pattern":"^[a-z]+$","type":"string"})"));
  CHECK(
      p.at("replicas") ==
      json::parse(
          R"({"description":"How many.","format":"int32","maximum":5,"minimum":0,"type":"integer"})"));
  CHECK(p.at("big") == json::parse(R"({"format":"int64","type":"integer"})"));
  CHECK(p.at("paused") == json::parse(R"({"type":"boolean"})"));
  CHECK(p.at("ratio") == json::parse(R"({"type":"number"})"));
  CHECK(p.at("args") == json::parse(R"({"items":{"type":"string"},"type":"array"})"));
  CHECK(p.at("env") ==
        json::parse(R"({"additionalProperties":{"type":"string"},"type":"object"})"));
  const json::value port = json::parse(
      R"({"properties":{"name":{"type":"string"},"number":{"format":"int32","type":"integer"}},
          "required":["name","number"],"type":"object"})");
  CHECK(p.at("ports") == json::value{{"items", port}, {"type", "array"}});
  CHECK(p.at("primary") == port);
  CHECK(p.at("named") == json::value{{"additionalProperties", port}, {"type", "object"}});
  CHECK(p.at("memory") == json::parse(R"({"anyOf":[{"type":"integer"},{"type":"string"}],
          "pattern":"^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$",
          "x-kubernetes-int-or-string":true})"));
  CHECK(p.at("maxUnavailable") == json::parse(R"({"anyOf":[{"type":"integer"},{"type":"string"}],
                        "x-kubernetes-int-or-string":true})"));
  CHECK(p.at("until") == json::parse(R"({"format":"date-time","type":"string"})"));
  CHECK(p.at("renewed") == json::parse(R"({"format":"date-time","type":"string"})"));
  CHECK(p.at("extra") == json::parse(R"({"x-kubernetes-preserve-unknown-fields":true})"));
  CHECK(p.at("default") == json::parse(R"({"enum":["a","b"],"type":"string"})"));
  CHECK(p.at("selector") ==
        json::parse(R"({"type":"object","x-kubernetes-preserve-unknown-fields":true})"));
  const auto& st = top.at("status");
  CHECK_FALSE(st.as_object().contains("required"));
  CHECK(st.at("properties").at("conditions") ==
        json::parse(R"({"items":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
                        "type":"array"})"));
}

TEST_CASE("crd_of: cluster scope, no status, a protected group") {
  const json::value v = encoded(kcoro::crd_of<Gadget>());
  CHECK(v.at("metadata").at("name") == "gadgets.gadgets.k8s.io");
  CHECK(v.at("metadata").at("annotations") ==
        json::parse(R"({"api-approved.kubernetes.io":"unapproved, experimental-only"})"));
  CHECK(v.at("spec").at("scope") == "Cluster");
  const auto& version = v.at("spec").at("versions").at(0);
  CHECK_FALSE(version.as_object().contains("subresources"));
  const auto& props = version.at("schema").at("openAPIV3Schema").at("properties");
  CHECK_FALSE(props.as_object().contains("status"));
  CHECK(props.at("spec").at("required") == json::parse(R"(["enabled"])"));
}

TEST_CASE("crd_of<Foo>() agrees with sample_controller's artifacts/crd.yaml") {
  const json::value yaml = yaml_to_json(YAML::LoadFile(KCORO_SAMPLE_CONTROLLER_CRD));
  const json::value ours = encoded(kcoro::crd_of<Foo>());
  // The meaningful parts: identity, names, scope, versions with their schema and subresources.
  CHECK(yaml.at("apiVersion") == ours.at("apiVersion"));
  CHECK(yaml.at("kind") == ours.at("kind"));
  CHECK(yaml.at("metadata") == ours.at("metadata"));
  CHECK(yaml.at("spec") == ours.at("spec"));
}
