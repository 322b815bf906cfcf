// Owner references (kcoro/owner_reference.hpp): controller-runtime's SetControllerReference and
// SetOwnerReference on an object's JSON.
#include "kcoro/owner_reference.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <string>

namespace json = boost::json;

namespace {

kcoro::ObjectPtr owner(const std::string& kind, const std::string& name, const std::string& uid,
                       const std::string& ns = "default", const std::string& av = "apps/v1") {
  std::string meta = R"({"name":")" + name + R"(","uid":")" + uid + R"(")";
  if (!ns.empty()) meta += R"(,"namespace":")" + ns + R"(")";
  return kcoro::Object::parse(R"({"apiVersion":")" + av + R"(","kind":")" + kind +
                              R"(","metadata":)" + meta + "}}");
}

json::object configmap(const std::string& ns = "default") {
  json::object meta{{"name", "cm"}};
  if (!ns.empty()) meta["namespace"] = ns;
  return json::object{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", meta}};
}

const json::array& refs_of(const json::object& obj) {
  return obj.at("metadata").at("ownerReferences").as_array();
}

}  // namespace

TEST_CASE("set_controller_reference: adds the reference, idempotent for the same owner") {
  auto rs = owner("ReplicaSet", "web", "uid-1");
  json::object cm = configmap();
  kcoro::set_controller_reference(*rs, cm);
  REQUIRE(refs_of(cm).size() == 1);
  CHECK(refs_of(cm)[0] == json::parse(R"({"apiVersion":"apps/v1","kind":"ReplicaSet",
      "name":"web","uid":"uid-1","controller":true,"blockOwnerDeletion":true})"));
  json::object again = cm;
  kcoro::set_controller_reference(*rs, again);
  CHECK(again == cm);
  // The same owner (group, kind, name) at another version and uid: updated in place.
  auto recreated = owner("ReplicaSet", "web", "uid-2", "default", "apps/v1beta2");
  kcoro::set_controller_reference(*recreated, again);
  REQUIRE(refs_of(again).size() == 1);
  CHECK(refs_of(again)[0].at("uid") == "uid-2");
  CHECK(refs_of(again)[0].at("apiVersion") == "apps/v1beta2");
}

TEST_CASE("set_controller_reference: a second controller is refused, obj unchanged") {
  auto first = owner("ReplicaSet", "web", "uid-1");
  auto second = owner("ReplicaSet", "other", "uid-2");
  json::object cm = configmap();
  kcoro::set_controller_reference(*first, cm);
  const json::object before = cm;
  try {
    kcoro::set_controller_reference(*second, cm);
    FAIL("no AlreadyOwnedError");
  } catch (const kcoro::AlreadyOwnedError& e) {
    CHECK(e.owner_kind() == "ReplicaSet");
    CHECK(e.owner_name() == "web");
    CHECK(std::string(e.what()) ==
          "Object default/cm is already owned by another ReplicaSet controller web");
  }
  CHECK(cm == before);
  // A plain owner reference to another owner is allowed beside the controller.
  kcoro::set_owner_reference(*second, cm);
  REQUIRE(refs_of(cm).size() == 2);
  CHECK(refs_of(cm)[1] == json::parse(R"({"apiVersion":"apps/v1","kind":"ReplicaSet",
      "name":"other","uid":"uid-2"})"));
  // A non-controller reference does not block becoming the controller.
  json::object plain = configmap();
  kcoro::set_owner_reference(*second, plain);
  kcoro::set_controller_reference(*first, plain);
  CHECK(refs_of(plain).size() == 2);
}

TEST_CASE("set_owner_reference keeps the controller flag of the reference it replaces") {
  auto rs = owner("ReplicaSet", "web", "uid-1");
  json::object cm = configmap();
  kcoro::set_controller_reference(*rs, cm);
  kcoro::set_owner_reference(*rs, cm);
  REQUIRE(refs_of(cm).size() == 1);
  CHECK(refs_of(cm)[0].at("controller") == true);
  CHECK(refs_of(cm)[0].at("blockOwnerDeletion") == true);
}

TEST_CASE("owner references: scope rules of controller-runtime's validateOwner") {
  auto namespaced = owner("ReplicaSet", "web", "uid-1", "default");
  auto cluster = owner("Node", "n1", "uid-n", "", "v1");
  // A cluster-scoped owner may own a namespaced or a cluster-scoped object.
  json::object cm = configmap("elsewhere");
  kcoro::set_controller_reference(*cluster, cm);
  CHECK(refs_of(cm)[0].at("kind") == "Node");
  json::object cluster_obj = configmap("");
  kcoro::set_owner_reference(*cluster, cluster_obj);
  CHECK(refs_of(cluster_obj).size() == 1);
  // A namespaced owner may not own an object in another namespace, nor a cluster-scoped one.
  json::object other_ns = configmap("elsewhere");
  const json::object other_before = other_ns;
  CHECK_THROWS_WITH_AS(kcoro::set_controller_reference(*namespaced, other_ns),
                       "cross-namespace owner references are disallowed, owner's namespace "
                       "default, obj's namespace elsewhere",
                       kcoro::OwnerReferenceError);
  CHECK(other_ns == other_before);
  json::object no_ns = configmap("");
  CHECK_THROWS_AS(kcoro::set_owner_reference(*namespaced, no_ns), kcoro::OwnerReferenceError);
  CHECK_FALSE(no_ns.at("metadata").as_object().contains("ownerReferences"));
  // An owner not read from the server (no uid) cannot be referenced.
  auto no_uid = kcoro::Object::parse(
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"default"}})");
  json::object cm2 = configmap();
  CHECK_THROWS_AS(kcoro::set_controller_reference(*no_uid, cm2), std::invalid_argument);
}
