// Event predicates as a table of create / update / delete decisions (kcoro/predicates.hpp).
#include "kcoro/object.hpp"
#include "kcoro/predicates.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

kcoro::ObjectPtr obj(const std::string& meta_json) {
  return kcoro::Object::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":)" + meta_json + "}");
}

}  // namespace

TEST_CASE("predicates: a table of create / update / delete decisions") {
  const auto a = obj(
      R"({"name":"a","namespace":"d","resourceVersion":"1","generation":1,"labels":{"x":"1","y":"2"},"annotations":{"k":"v"}})");
  const auto same = obj(
      R"({"name":"a","namespace":"d","resourceVersion":"1","generation":1,"labels":{"y":"2","x":"1"},"annotations":{"k":"v"}})");
  const auto status = obj(
      R"({"name":"a","namespace":"d","resourceVersion":"2","generation":1,"labels":{"x":"1","y":"2"},"annotations":{"k":"v"}})");
  const auto spec = obj(
      R"({"name":"a","namespace":"d","resourceVersion":"3","generation":2,"labels":{"x":"1","y":"2"},"annotations":{"k":"v"}})");
  const auto relabel = obj(
      R"({"name":"a","namespace":"d","resourceVersion":"4","generation":1,"labels":{"x":"1"},"annotations":{"k":"v"}})");
  const auto annotate = obj(
      R"({"name":"a","namespace":"d","resourceVersion":"5","generation":1,"labels":{"x":"1","y":"2"},"annotations":{"k":"w"}})");

  struct Row {
    const char* name;
    kcoro::Predicate p;
    // update from `a` to: same, status, spec, relabel, annotate; then create, delete
    std::vector<bool> want;
  };
  using namespace kcoro;
  const std::vector<Row> table{
      {"default", Predicate{}, {true, true, true, true, true, true, true}},
      {"resource_version", resource_version_changed(), {false, true, true, true, true, true, true}},
      {"generation", generation_changed(), {false, false, true, false, false, true, true}},
      {"labels", labels_changed(), {false, false, false, true, false, true, true}},
      {"annotations", annotations_changed(), {false, false, false, false, true, true, true}},
      {"generation || labels",
       generation_changed() || labels_changed(),
       {false, false, true, true, false, true, true}},
      {"rv && !generation",
       resource_version_changed() && !generation_changed(),
       {false, true, false, true, true, false, false}},
      {"matching name b",
       matching([](const Object& o) { return o.meta().name == "b"; }),
       {false, false, false, false, false, false, false}},
  };
  for (const auto& row : table) {
    CAPTURE(row.name);
    std::vector<bool> got;
    for (const auto& n : {same, status, spec, relabel, annotate})
      got.push_back(row.p.on_update(*a, *n));
    got.push_back(row.p.on_create(*a));
    got.push_back(row.p.on_delete(*a, true));
    CHECK(got == row.want);
  }
}
