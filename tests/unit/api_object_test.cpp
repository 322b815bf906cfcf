// Typed views of cached Objects: Object::as<T>() and Store::get<T>().
#include "kcoro/api/apps/v1.hpp"
#include "kcoro/api/core/v1.hpp"
#include "kcoro/object.hpp"
#include "kcoro/store.hpp"

#include "support/fixtures.hpp"

#include <doctest/doctest.h>

using kcoro::test::fixture;
namespace corev1 = kcoro::api::core::v1;

TEST_CASE("Object::as decodes the stored text into a typed struct") {
  const auto obj = kcoro::Object::parse(fixture("create-pod-1.json"));
  const auto pod = obj->as<corev1::Pod>();
  REQUIRE(pod.metadata);
  CHECK(pod.metadata->name == std::string(obj->meta().name));
  CHECK(pod.metadata->uid == std::string(obj->meta().uid));
  // The default transform cut managedFields from the stored text.
  CHECK(pod.metadata->managedFields.empty());
  REQUIRE(pod.spec);
  CHECK(pod.spec->containers.size() == 1);

  const auto deployment = kcoro::Object::parse(fixture("create-deployment-owned.json"));
  const auto d = deployment->as<kcoro::api::apps::v1::Deployment>();
  REQUIRE(d.metadata);
  REQUIRE(d.metadata->ownerReferences.size() == 1);
  CHECK(d.metadata->ownerReferences[0].controller == true);
  CHECK(d.spec->template_->spec->containers.size() >= 1);

  // A type that does not fit the text is a DecodeError naming the path.
  const auto odd = kcoro::Object::parse(R"({"metadata":{"name":"x"},"spec":{"replicas":"3"}})");
  CHECK_THROWS_WITH_AS(odd->as<kcoro::api::apps::v1::Deployment>(),
                       "spec.replicas: expected an integer", kcoro::api::DecodeError);
}

TEST_CASE("Store::get<T> reads a cached object as a typed struct") {
  kcoro::StoreWriter w;
  w.upsert(kcoro::Object::parse(fixture("create-pod-2.json")));
  const auto& store = w.reader();
  const std::string key = store.list_keys().at(0);
  const std::optional<corev1::Pod> pod = store.get<corev1::Pod>(key);
  REQUIRE(pod);
  CHECK(pod->metadata->namespace_.value() + "/" + pod->metadata->name.value() == key);
  CHECK_FALSE(store.get<corev1::Pod>("fixtures/missing"));
  // The untyped read is unchanged.
  CHECK(store.get(key) != nullptr);
}
