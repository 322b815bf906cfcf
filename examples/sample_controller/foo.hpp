// The Foo custom resource of sample_controller (samplecontroller.k8s.io/v1alpha1), as upstream's
// pkg/apis/samplecontroller/v1alpha1/types.go declares it. artifacts/crd.yaml is crd_of<Foo>()
// (tests/unit/custom_resource_test.cpp checks that they agree).
#pragma once

#include "kcoro/custom_resource.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace samplecontroller::v1alpha1 {

/// FooSpec is the spec for a Foo resource.
struct FooSpec {
  std::optional<std::string> deploymentName;
  std::optional<int32_t> replicas;
};
BOOST_DESCRIBE_STRUCT(FooSpec, (), (deploymentName, replicas))

/// The validation upstream's CRD carries: 1 to 10 replicas.
inline kcoro::SchemaHints kcoro_schema(const FooSpec*) {
  return {.members = {{"replicas", {.minimum = 1, .maximum = 10}}}};
}

/// FooStatus is the status for a Foo resource.
struct FooStatus {
  std::optional<int32_t> availableReplicas;
};
BOOST_DESCRIBE_STRUCT(FooStatus, (), (availableReplicas))

/// Foo is a specification for a Foo resource.
KCORO_CUSTOM_RESOURCE(Foo, "samplecontroller.k8s.io", "v1alpha1", "Foo", "foos", Namespaced,
                      FooSpec, FooStatus)

}  // namespace samplecontroller::v1alpha1
