#include "kcoro/predicates.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace kcoro {

namespace {

bool same_map(const StringMap& a, const StringMap& b) {
  if (a.size() != b.size()) return false;
  std::vector<StringMap::Entry> x(a.begin(), a.end());
  std::vector<StringMap::Entry> y(b.begin(), b.end());
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  return x == y;
}

Predicate on_update_only(std::function<bool(const Object&, const Object&)> fn) {
  Predicate p;
  p.update = std::move(fn);
  return p;
}

}  // namespace

Predicate resource_version_changed() {
  return on_update_only([](const Object& o, const Object& n) {
    return o.meta().resource_version != n.meta().resource_version;
  });
}

Predicate generation_changed() {
  return on_update_only(
      [](const Object& o, const Object& n) { return o.meta().generation != n.meta().generation; });
}

Predicate labels_changed() {
  return on_update_only(
      [](const Object& o, const Object& n) { return !same_map(o.meta().labels, n.meta().labels); });
}

Predicate annotations_changed() {
  return on_update_only([](const Object& o, const Object& n) {
    return !same_map(o.meta().annotations, n.meta().annotations);
  });
}

Predicate matching(std::function<bool(const Object& obj)> fn) {
  Predicate p;
  p.create = fn;
  p.update = [fn](const Object&, const Object& n) { return fn(n); };
  p.remove = [fn](const Object& o, bool) { return fn(o); };
  return p;
}

Predicate operator&&(Predicate a, Predicate b) {
  Predicate p;
  p.create = [a, b](const Object& o) { return a.on_create(o) && b.on_create(o); };
  p.update = [a, b](const Object& o, const Object& n) {
    return a.on_update(o, n) && b.on_update(o, n);
  };
  p.remove = [a, b](const Object& o, bool t) { return a.on_delete(o, t) && b.on_delete(o, t); };
  return p;
}

Predicate operator||(Predicate a, Predicate b) {
  Predicate p;
  p.create = [a, b](const Object& o) { return a.on_create(o) || b.on_create(o); };
  p.update = [a, b](const Object& o, const Object& n) {
    return a.on_update(o, n) || b.on_update(o, n);
  };
  p.remove = [a, b](const Object& o, bool t) { return a.on_delete(o, t) || b.on_delete(o, t); };
  return p;
}

Predicate operator!(Predicate a) {
  Predicate p;
  p.create = [a](const Object& o) { return !a.on_create(o); };
  p.update = [a](const Object& o, const Object& n) { return !a.on_update(o, n); };
  p.remove = [a](const Object& o, bool t) { return !a.on_delete(o, t); };
  return p;
}

}  // namespace kcoro
