// Owner mapping: the request an owned object maps to (owner_request, kcoro/reconcile.hpp).
#include "kcoro/object.hpp"
#include "kcoro/reconcile.hpp"

#include <doctest/doctest.h>

#include <string>

namespace {

kcoro::ObjectPtr obj(const std::string& meta_json) {
  return kcoro::Object::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":)" + meta_json + "}");
}

}  // namespace

TEST_CASE("owner mapping: the controlling owner of the right kind, in the object's namespace") {
  const auto owned = obj(R"({"name":"foo-abc","namespace":"ns1","ownerReferences":[
      {"apiVersion":"v1","kind":"Other","name":"x","uid":"1"},
      {"apiVersion":"samplecontroller.k8s.io/v1alpha1","kind":"Foo","name":"foo","uid":"2",
       "controller":true}]})");
  auto r = kcoro::owner_request(*owned, "Foo");
  REQUIRE(r);
  CHECK(r->str() == "ns1/foo");
  CHECK_FALSE(kcoro::owner_request(*owned, "Other"));  // not the controller
  CHECK_FALSE(kcoro::owner_request(*owned, "Bar"));
  const auto orphan = obj(R"({"name":"o","namespace":"ns1"})");
  CHECK_FALSE(kcoro::owner_request(*orphan, "Foo"));
  const auto cluster = obj(
      R"({"name":"c","ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"n1","uid":"3","controller":true}]})");
  CHECK(kcoro::owner_request(*cluster, "Node")->str() == "n1");
}
