// Custom resources for the tests: Widget (namespaced, with status) uses every member type
// kcoro/custom_resource.hpp supports; Gadget is cluster-scoped and has no status.
#pragma once

#include "kcoro/custom_resource.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kcoro::test {

struct Port {
  std::string name;
  int32_t number = 0;
};
BOOST_DESCRIBE_STRUCT(Port, (), (name, number))

struct WidgetSpec {
  std::string image;  // required
  std::optional<int32_t> replicas;
  std::optional<int64_t> big;
  std::optional<bool> paused;
  std::optional<double> ratio;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::vector<Port> ports;
  std::optional<Port> primary;
  std::map<std::string, Port> named;
  std::optional<api::Quantity> memory;
  std::optional<api::IntOrString> maxUnavailable;
  std::optional<api::Time> until;
  std::optional<api::MicroTime> renewed;
  std::optional<api::RawJson> extra;
  std::optional<std::string> default_;  // "default" in JSON
  std::optional<api::meta::v1::LabelSelector> selector;
};
BOOST_DESCRIBE_STRUCT(WidgetSpec, (),
                      (image, replicas, big, paused, ratio, args, env, ports, primary, named,
                       memory, maxUnavailable, until, renewed, extra, default_, selector))

inline SchemaHints kcoro_schema(const WidgetSpec*) {
  return {.description = "WidgetSpec is what the user wants.",
          .members = {{"replicas", {.description = "How many.", .minimum = 0, .maximum = 5}},
                      {"image", {.pattern = "^[a-z]+$"}},
                      {"default", {.enum_values = {"a", "b"}}}}};
}

struct WidgetStatus {
  std::optional<int64_t> observedGeneration;
  std::vector<api::meta::v1::Condition> conditions;
};
BOOST_DESCRIBE_STRUCT(WidgetStatus, (), (observedGeneration, conditions))

KCORO_CUSTOM_RESOURCE(Widget, "example.kcoro.dev", "v1", "Widget", "widgets", Namespaced,
                      WidgetSpec, WidgetStatus)

struct GadgetSpec {
  bool enabled = false;
  std::optional<std::string> note;
};
BOOST_DESCRIBE_STRUCT(GadgetSpec, (), (enabled, note))

KCORO_CUSTOM_RESOURCE(Gadget, "gadgets.k8s.io", "v1beta1", "Gadget", "gadgets", Cluster, GadgetSpec)

}  // namespace kcoro::test
