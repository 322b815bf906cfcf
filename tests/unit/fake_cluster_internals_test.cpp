// FakeCluster's internals, tested directly: label selector parsing, patches, and field sets in
// managedFields notation.
#include "testing/fake_internal.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace json = boost::json;

TEST_CASE("FakeCluster internals: label selector parsing") {
  namespace fake = kcoro::testing::fake;
  std::string err;
  auto sel = fake::parse_label_selector("a in (x, y), b notin (z),c!=d, e==f, g, !h", err);
  REQUIRE(sel);
  REQUIRE(sel->reqs.size() == 6);
  CHECK(sel->reqs[0].op == fake::LabelRequirement::Op::In);
  CHECK(sel->reqs[0].values == std::vector<std::string>{"x", "y"});
  CHECK(sel->reqs[1].op == fake::LabelRequirement::Op::NotIn);
  CHECK(sel->reqs[2].op == fake::LabelRequirement::Op::NotEq);
  CHECK(sel->reqs[3].op == fake::LabelRequirement::Op::Eq);
  CHECK(sel->reqs[4].op == fake::LabelRequirement::Op::Exists);
  CHECK(sel->reqs[5].op == fake::LabelRequirement::Op::NotExists);
  auto labels = json::parse(R"({"a":"x","c":"q","e":"f","g":""})").as_object();
  CHECK(fake::matches(*sel, &labels));
  labels["h"] = "1";
  CHECK_FALSE(fake::matches(*sel, &labels));
  CHECK(fake::parse_label_selector("example.com/app=web", err));
  for (const char* bad : {"a in (x", "a=(b)", ",", "a in ()x", "-a=b"}) {
    CAPTURE(bad);
    CHECK_FALSE(fake::parse_label_selector(bad, err));
  }
  auto fs = fake::parse_field_selector(R"(metadata.name=a\,b,spec.x!=y)", err);
  REQUIRE(fs);
  REQUIRE(fs->reqs.size() == 2);
  CHECK(fs->reqs[0].value == "a,b");
  CHECK(fs->reqs[1].negate);
  CHECK_FALSE(fake::parse_field_selector("nonsense", err));
}

TEST_CASE("FakeCluster internals: patches") {
  namespace fake = kcoro::testing::fake;
  json::value doc = json::parse(R"({"a":{"b":1,"c":2},"l":[1,2]})");
  fake::merge_patch(doc, json::parse(R"({"a":{"b":null,"d":{"e":null,"f":1}},"l":[3]})"));
  CHECK(doc == json::parse(R"({"a":{"c":2,"d":{"f":1}},"l":[3]})"));

  doc = json::parse(R"({"x":[1,2,3]})");
  CHECK_FALSE(fake::json_patch(doc, json::parse(R"([{"op":"move","from":"/x/0","path":"/x/-"},
      {"op":"test","path":"/x","value":[2,3,1]},{"op":"add","path":"/x/1","value":9}])")));
  CHECK(doc == json::parse(R"({"x":[2,9,3,1]})"));
  auto err = fake::json_patch(doc, json::parse(R"([{"op":"test","path":"/x/0","value":5}])"));
  REQUIRE(err);
  CHECK(err->code == 422);
  CHECK(err->message == "testing value /x/0 failed: test failed");
  err = fake::json_patch(doc, json::parse(R"([{"op":"frobnicate","path":"/x"}])"));
  REQUIRE(err);
  CHECK(err->code == 400);

  doc = json::parse(R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80},
      {"containerPort":81}]}]},"metadata":{"finalizers":["f1"]},"m":{"k":1,"j":2}})");
  fake::strategic_merge(doc, json::parse(R"({"spec":{"containers":[{"name":"a","ports":[
      {"containerPort":81,"name":"alt"},{"containerPort":82}]}]},
      "metadata":{"finalizers":["f2","f1"]},"m":{"$patch":"replace","z":0}})"));
  CHECK(doc.at("spec").at("containers").at(0).at("ports") ==
        json::parse(R"([{"containerPort":80},{"containerPort":81,"name":"alt"},
                        {"containerPort":82}])"));
  CHECK(doc.at("metadata").at("finalizers") == json::parse(R"(["f1","f2"])"));
  CHECK(doc.at("m") == json::parse(R"({"z":0})"));
}

TEST_CASE("FakeCluster internals: field sets") {
  namespace fake = kcoro::testing::fake;
  auto obj = json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p",
      "labels":{"a":"1"},"finalizers":["x"]},"spec":{"containers":[{"name":"c","image":"i"}],
      "tolerations":[{"key":"k"}]},"status":{"phase":"Running"}})")
                 .as_object();
  auto leaves = fake::collect_leaves(obj, fake::FieldScope::MainNoStatus);
  auto set = fake::keys_of(leaves);
  CHECK(set.size() == 5);  // labels.a, finalizers x, containers[c].name/.image, tolerations
  auto fields = fake::to_fields_v1(set, false);
  CHECK(fields == json::parse(R"({"f:metadata":{"f:finalizers":{".":{},"v:\"x\"":{}},
      "f:labels":{".":{},"f:a":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},
      "f:image":{},"f:name":{}}},"f:tolerations":{}}})"));
  CHECK(fake::from_fields_v1(fields) == set);
  CHECK(fake::keys_of(fake::collect_leaves(obj, fake::FieldScope::Status)).size() == 1);
  fake::FieldPath image{"f:spec", "f:containers", "k:{\"name\":\"c\"}", "f:image"};
  CHECK(fake::path_string(image) == ".spec.containers[name=\"c\"].image");
  fake::remove_path(obj, image);
  fake::remove_path(obj, {"f:spec", "f:containers", "k:{\"name\":\"c\"}", "f:name"});
  CHECK(obj.at("spec").at("containers").as_array().empty());
  fake::remove_path(obj, {"f:metadata", "f:finalizers", "v:\"x\""});
  CHECK(obj.at("metadata").at("finalizers").as_array().empty());
}
