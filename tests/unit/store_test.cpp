// Store and StoreWriter on one thread: keys, the namespace index, user indexes kept up to date by
// every write, and replace()'s report (added, updated, deleted with the last known object,
// unchanged keeping the stored pointer).
#include "kcoro/store.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using kcoro::ObjectPtr;
using kcoro::StoreWriter;

namespace {

struct Spec {
  std::string ns;
  std::string name;
  std::string rv = "1";
  std::map<std::string, std::string> labels = {};
  std::vector<std::string> owner_uids = {};
  std::string extra = "";  // More top-level members, e.g. R"("spec":{...})".
};

ObjectPtr make(const Spec& s) {
  std::string j = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + s.name + '"';
  if (!s.ns.empty()) j += R"(,"namespace":")" + s.ns + '"';
  j += R"(,"resourceVersion":")" + s.rv + '"';
  if (!s.labels.empty()) {
    j += R"(,"labels":{)";
    bool first = true;
    for (const auto& [k, v] : s.labels) {
      j += (first ? "" : ",") + kcoro::json_quote(k) + ":" + kcoro::json_quote(v);
      first = false;
    }
    j += "}";
  }
  if (!s.owner_uids.empty()) {
    j += R"(,"ownerReferences":[)";
    for (std::size_t i = 0; i < s.owner_uids.size(); ++i) {
      j += (i ? "," : "") +
           std::string(R"({"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs)") +
           std::to_string(i) + R"(","uid":")" + s.owner_uids[i] + R"("})";
    }
    j += "]";
  }
  j += "}";
  if (!s.extra.empty()) j += "," + s.extra;
  j += "}";
  return kcoro::Object::parse(j);
}

std::vector<std::string> keys_of(const std::vector<ObjectPtr>& objs) {
  std::vector<std::string> keys;
  for (const auto& o : objs)
    keys.push_back(o->key());
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

using Keys = std::vector<std::string>;

}  // namespace

TEST_CASE("store: get, list, list_keys and size") {
  StoreWriter w;
  auto store = w.store();
  CHECK(store->size() == 0);
  CHECK(store->get("a/p1") == nullptr);
  CHECK(store->list().empty());

  auto p1 = make({.ns = "a", .name = "p1"});
  auto p2 = make({.ns = "b", .name = "p2"});
  auto node = make({.ns = "", .name = "node-1"});
  CHECK(w.upsert(p1) == nullptr);
  CHECK(w.upsert(p2) == nullptr);
  CHECK(w.upsert(node) == nullptr);

  CHECK(store->size() == 3);
  CHECK(store->get("a/p1") == p1);
  CHECK(store->get("b/p2") == p2);
  CHECK(store->get("node-1") == node);  // cluster-scoped: the name alone
  CHECK(store->get("p1") == nullptr);
  CHECK(sorted(store->list_keys()) == Keys{"a/p1", "b/p2", "node-1"});
  CHECK(keys_of(store->list()) == Keys{"a/p1", "b/p2", "node-1"});

  // upsert returns the object it replaced; erase the one it removed.
  auto p1v2 = make({.ns = "a", .name = "p1", .rv = "2"});
  CHECK(w.upsert(p1v2) == p1);
  CHECK(store->get("a/p1") == p1v2);
  CHECK(store->size() == 3);
  CHECK(w.erase("a/p1") == p1v2);
  CHECK(w.erase("a/p1") == nullptr);
  CHECK(store->get("a/p1") == nullptr);
  CHECK(store->size() == 2);
  CHECK_THROWS_AS(w.upsert(nullptr), std::invalid_argument);
}

TEST_CASE("store: the built-in namespace index") {
  StoreWriter w;
  const kcoro::Store& store = w.reader();
  CHECK(store.index_names() == Keys{"namespace"});
  w.upsert(make({.ns = "a", .name = "p1"}));
  w.upsert(make({.ns = "a", .name = "p2"}));
  w.upsert(make({.ns = "b", .name = "p3"}));
  w.upsert(make({.ns = "", .name = "node-1"}));
  CHECK(keys_of(store.by_index("namespace", "a")) == Keys{"a/p1", "a/p2"});
  CHECK(keys_of(store.by_index("namespace", "b")) == Keys{"b/p3"});
  CHECK(keys_of(store.by_index("namespace", "")) == Keys{"node-1"});
  CHECK(store.by_index("namespace", "c").empty());
  CHECK(sorted(store.index_keys("namespace")) == Keys{"", "a", "b"});

  w.erase("b/p3");
  CHECK(store.by_index("namespace", "b").empty());
  CHECK(sorted(store.index_keys("namespace")) == Keys{"", "a"});  // empty values disappear

  CHECK_THROWS_AS(store.by_index("nope", "a"), std::invalid_argument);
  CHECK_THROWS_AS(store.index_keys("nope"), std::invalid_argument);
}

TEST_CASE("store: a user index with several values per object follows upserts and erases") {
  StoreWriter w;
  const kcoro::Store& store = w.reader();
  // Every label value, and a duplicate of the first (duplicates are ignored).
  w.add_index("label-values", [](const kcoro::Object& o) {
    std::vector<std::string> v;
    for (const auto& [k, val] : o.meta().labels)
      v.emplace_back(val);
    if (!v.empty()) v.push_back(v.front());
    return v;
  });
  CHECK(store.index_names() == Keys{"label-values", "namespace"});

  w.upsert(make({.ns = "a", .name = "p1", .labels = {{"app", "web"}, {"tier", "front"}}}));
  w.upsert(make({.ns = "a", .name = "p2", .labels = {{"app", "web"}, {"tier", "back"}}}));
  w.upsert(make({.ns = "a", .name = "p3"}));
  CHECK(keys_of(store.by_index("label-values", "web")) == Keys{"a/p1", "a/p2"});
  CHECK(keys_of(store.by_index("label-values", "front")) == Keys{"a/p1"});
  CHECK(sorted(store.index_keys("label-values")) == Keys{"back", "front", "web"});

  // p1 changes one value and keeps another; p2 loses all its labels.
  w.upsert(make({.ns = "a", .name = "p1", .rv = "2", .labels = {{"app", "web"}, {"tier", "mid"}}}));
  w.upsert(make({.ns = "a", .name = "p2", .rv = "2"}));
  CHECK(keys_of(store.by_index("label-values", "web")) == Keys{"a/p1"});
  CHECK(store.by_index("label-values", "front").empty());
  CHECK(store.by_index("label-values", "back").empty());
  CHECK(keys_of(store.by_index("label-values", "mid")) == Keys{"a/p1"});
  CHECK(sorted(store.index_keys("label-values")) == Keys{"mid", "web"});
  // The index hands out the current object, not the one it was indexed with first.
  CHECK(store.by_index("label-values", "web").front()->meta().resource_version == "2");

  w.erase("a/p1");
  CHECK(store.by_index("label-values", "web").empty());
  CHECK(store.index_keys("label-values").empty());
}

TEST_CASE("store: add_index after objects exist indexes them; duplicate names are refused") {
  StoreWriter w;
  const kcoro::Store& store = w.reader();
  w.upsert(make({.ns = "a", .name = "p1", .labels = {{"app", "web"}}}));
  w.upsert(make({.ns = "b", .name = "p2", .labels = {{"app", "db"}}}));
  w.upsert(make({.ns = "b", .name = "p3"}));
  w.add_index("app", kcoro::index_by_label("app"));
  CHECK(keys_of(store.by_index("app", "web")) == Keys{"a/p1"});
  CHECK(keys_of(store.by_index("app", "db")) == Keys{"b/p2"});
  CHECK(sorted(store.index_keys("app")) == Keys{"db", "web"});
  CHECK_THROWS_AS(w.add_index("app", kcoro::index_by_label("x")), std::invalid_argument);
  CHECK_THROWS_AS(w.add_index("namespace", kcoro::index_by_label("x")), std::invalid_argument);
  CHECK_THROWS_AS(w.add_index("empty", nullptr), std::invalid_argument);
}

TEST_CASE("store: index helpers — owner uid and field") {
  StoreWriter w;
  const kcoro::Store& store = w.reader();
  w.add_index("owner", kcoro::index_by_owner_uid());
  w.add_index("node", kcoro::index_by_field("/spec/nodeName"));
  w.add_index("prio", kcoro::index_by_field("/spec/priority"));
  w.add_index("spec", kcoro::index_by_field("/spec"));
  CHECK_THROWS_AS(kcoro::index_by_field("spec/nodeName"), std::invalid_argument);

  w.upsert(make({.ns = "a",
                 .name = "p1",
                 .owner_uids = {"u1", "u2"},
                 .extra = R"("spec":{"nodeName":"node-1","priority":7})"}));
  w.upsert(make({.ns = "a",
                 .name = "p2",
                 .owner_uids = {"u2"},
                 .extra = R"("spec":{"nodeName":"n\u00f6de-2","priority":null})"}));
  w.upsert(make({.ns = "a", .name = "p3"}));

  CHECK(keys_of(store.by_index("owner", "u1")) == Keys{"a/p1"});
  CHECK(keys_of(store.by_index("owner", "u2")) == Keys{"a/p1", "a/p2"});
  CHECK(keys_of(store.by_index("node", "node-1")) == Keys{"a/p1"});
  CHECK(keys_of(store.by_index("node",
                               "n\xc3\xb6"
                               "de-2")) == Keys{"a/p2"});  // unescaped
  CHECK(keys_of(store.by_index("prio", "7")) == Keys{"a/p1"});
  CHECK(sorted(store.index_keys("prio")) == Keys{"7"});  // null and absent: not indexed
  CHECK(store.index_keys("spec").empty());               // objects are not indexed
}

TEST_CASE("store: an index function that throws leaves the store unchanged") {
  StoreWriter w;
  const kcoro::Store& store = w.reader();
  w.add_index("picky", [](const kcoro::Object& o) -> std::vector<std::string> {
    if (o.meta().labels.contains("bad")) throw std::runtime_error("bad object");
    return {std::string(o.meta().name)};
  });
  auto p1 = make({.ns = "a", .name = "p1"});
  w.upsert(p1);
  CHECK_THROWS_AS(w.upsert(make({.ns = "a", .name = "p1", .rv = "2", .labels = {{"bad", "1"}}})),
                  std::runtime_error);
  CHECK(store.get("a/p1") == p1);
  CHECK(keys_of(store.by_index("picky", "p1")) == Keys{"a/p1"});
  CHECK_THROWS_AS(w.replace({make({.ns = "a", .name = "p2", .labels = {{"bad", "1"}}})}),
                  std::runtime_error);
  CHECK(store.size() == 1);
  CHECK(store.get("a/p1") == p1);
}

TEST_CASE("store: replace reports added, updated, deleted and unchanged exactly") {
  StoreWriter w;
  const kcoro::Store& store = w.reader();
  w.add_index("app", kcoro::index_by_label("app"));
  auto keep = make({.ns = "a", .name = "keep", .rv = "10", .labels = {{"app", "web"}}});
  auto change = make({.ns = "a", .name = "change", .rv = "11", .labels = {{"app", "web"}}});
  auto gone = make({.ns = "b", .name = "gone", .rv = "12", .labels = {{"app", "db"}}});
  auto gone_too = make({.ns = "", .name = "gone-node", .rv = "13"});
  for (const auto& o : {keep, change, gone, gone_too})
    w.upsert(o);

  // The relist decodes fresh copies: `keep` again at the same resourceVersion.
  auto keep_copy = make({.ns = "a", .name = "keep", .rv = "10", .labels = {{"app", "web"}}});
  auto changed = make({.ns = "a", .name = "change", .rv = "20", .labels = {{"app", "api"}}});
  auto fresh1 = make({.ns = "c", .name = "new1", .rv = "21", .labels = {{"app", "db"}}});
  auto fresh2 = make({.ns = "c", .name = "new2", .rv = "22"});
  auto r = w.replace({fresh1, keep_copy, changed, fresh2});

  CHECK(r.added == std::vector<ObjectPtr>{fresh1, fresh2});  // in list order
  REQUIRE(r.updated.size() == 1);
  CHECK(r.updated[0].old_object == change);
  CHECK(r.updated[0].new_object == changed);
  CHECK(keys_of(r.deleted) == Keys{"b/gone", "gone-node"});
  for (const auto& d : r.deleted)  // the last known objects themselves
    CHECK((d == gone || d == gone_too));
  REQUIRE(r.unchanged.size() == 1);
  CHECK(r.unchanged[0] == keep);  // the stored pointer, not the relist's copy

  // The store equals the list, with `keep` still the same shared_ptr.
  CHECK(store.size() == 4);
  CHECK(store.get("a/keep") == keep);
  CHECK(store.get("a/keep") != keep_copy);
  CHECK(store.get("a/change") == changed);
  CHECK(store.get("c/new1") == fresh1);
  CHECK(store.get("b/gone") == nullptr);
  CHECK(store.get("gone-node") == nullptr);
  // Indexes were rebuilt with it.
  CHECK(keys_of(store.by_index("app", "web")) == Keys{"a/keep"});
  CHECK(keys_of(store.by_index("app", "api")) == Keys{"a/change"});
  CHECK(keys_of(store.by_index("app", "db")) == Keys{"c/new1"});
  CHECK(sorted(store.index_keys("namespace")) == Keys{"a", "c"});
  CHECK(keys_of(store.by_index("namespace", "a")) == Keys{"a/change", "a/keep"});
  // Later writes keep the rebuilt indexes consistent.
  w.erase("a/keep");
  CHECK(store.by_index("app", "web").empty());
  w.upsert(make({.ns = "c", .name = "new2", .rv = "23", .labels = {{"app", "web"}}}));
  CHECK(keys_of(store.by_index("app", "web")) == Keys{"c/new2"});
}

TEST_CASE("store: replace edge cases — empty resourceVersion, same pointer, duplicates, empty") {
  StoreWriter w;
  const kcoro::Store& store = w.reader();
  auto norv = make({.ns = "a", .name = "norv", .rv = ""});
  auto same = make({.ns = "a", .name = "same", .rv = "5"});
  w.upsert(norv);
  w.upsert(same);

  auto norv_again = make({.ns = "a", .name = "norv", .rv = ""});
  auto dup1 = make({.ns = "a", .name = "dup", .rv = "1"});
  auto dup2 = make({.ns = "a", .name = "dup", .rv = "2"});
  auto r = w.replace({norv_again, same, dup1, dup2});
  REQUIRE(r.updated.size() == 1);  // no resourceVersion: cannot tell, so an update
  CHECK(r.updated[0].new_object == norv_again);
  CHECK(r.unchanged == std::vector<ObjectPtr>{same});  // the very same pointer
  CHECK(r.added == std::vector<ObjectPtr>{dup2});      // the last duplicate wins
  CHECK(r.deleted.empty());
  CHECK(store.size() == 3);
  CHECK(store.get("a/dup") == dup2);

  auto all = w.replace({});
  CHECK(all.deleted.size() == 3);
  CHECK(store.size() == 0);
  CHECK(store.index_keys("namespace").empty());
}

namespace {
// "add a", "update a 1->2", "remove a (tombstone)": what the handlers would be told.
std::vector<std::string> describe(const kcoro::ApplyResult& r) {
  std::vector<std::string> out;
  for (const auto& c : r.changes) {
    const std::string name(c.object->meta().name);
    switch (c.kind) {
      case kcoro::StoreChange::add:
        out.push_back("add " + name);
        break;
      case kcoro::StoreChange::update:
        out.push_back("update " + name + " " + std::string(c.old_object->meta().resource_version) +
                      "->" + std::string(c.object->meta().resource_version));
        break;
      case kcoro::StoreChange::remove:
        out.push_back("remove " + name + (c.tombstone ? " (tombstone)" : ""));
        break;
    }
  }
  return out;
}
}  // namespace

TEST_CASE("store: apply(delta) turns watch events into adds, updates and removes") {
  using kcoro::Delta;
  using kcoro::DeltaType;
  StoreWriter w;
  auto r = w.apply(Delta(DeltaType::added, make({"ns", "a", "5"})));
  CHECK(describe(r) == std::vector<std::string>{"add a"});
  CHECK(r.resource_version == "5");
  CHECK_FALSE(r.relisted);
  // A MODIFIED for a key the store has is an update; an ADDED for one it has is one too.
  r = w.apply(Delta(DeltaType::updated, make({"ns", "a", "6"})));
  CHECK(describe(r) == std::vector<std::string>{"update a 5->6"});
  r = w.apply(Delta(DeltaType::added, make({"ns", "a", "7"})));
  CHECK(describe(r) == std::vector<std::string>{"update a 6->7"});
  // A MODIFIED for an unknown key is an add.
  r = w.apply(Delta(DeltaType::updated, make({"ns", "b", "8"})));
  CHECK(describe(r) == std::vector<std::string>{"add b"});
  // DELETED removes with the server's last state, not a tombstone.
  r = w.apply(Delta(DeltaType::deleted, make({"ns", "a", "9"})));
  CHECK(describe(r) == std::vector<std::string>{"remove a"});
  CHECK(r.changes[0].object->meta().resource_version == "9");
  CHECK(r.resource_version == "9");
  CHECK(w.reader().get("ns/a") == nullptr);
  // A bookmark moves only the resume point.
  r = w.apply(Delta(DeltaType::bookmark, nullptr, "12"));
  CHECK(r.changes.empty());
  CHECK(r.resource_version == "12");
  CHECK(w.reader().size() == 1);
}

TEST_CASE("store: apply(delta) applies a relist batch at its end, at once") {
  using kcoro::Delta;
  using kcoro::DeltaType;
  StoreWriter w;
  w.apply(Delta(DeltaType::added, make({"ns", "keep", "1"})));
  w.apply(Delta(DeltaType::added, make({"ns", "change", "1"})));
  w.apply(Delta(DeltaType::added, make({"ns", "gone", "1"})));

  CHECK(w.apply(Delta(DeltaType::replace_begin)).changes.empty());
  w.apply(Delta(DeltaType::replace_item, make({"ns", "keep", "1"})));
  w.apply(Delta(DeltaType::replace_item, make({"ns", "change", "2"})));
  w.apply(Delta(DeltaType::replace_item, make({"ns", "new", "3"})));
  // Nothing shows before the end: the store still holds the old state.
  CHECK(w.reader().get("ns/gone") != nullptr);
  CHECK(w.reader().get("ns/new") == nullptr);
  auto r = w.apply(Delta(DeltaType::replace_end, nullptr, "30"));
  CHECK(r.relisted);
  CHECK(r.resource_version == "30");
  // Adds, then updates, then tombstones; an unchanged object is not reported.
  CHECK(describe(r) ==
        std::vector<std::string>{"add new", "update change 1->2", "remove gone (tombstone)"});
  CHECK(w.reader().size() == 3);

  // An unfinished batch is dropped by the next begin; items and ends outside a batch do nothing.
  w.apply(Delta(DeltaType::replace_begin));
  w.apply(Delta(DeltaType::replace_item, make({"ns", "half", "4"})));
  w.apply(Delta(DeltaType::replace_begin));
  w.apply(Delta(DeltaType::replace_item, make({"ns", "keep", "1"})));
  r = w.apply(Delta(DeltaType::replace_end, nullptr, "40"));
  auto removed = describe(r);
  std::sort(removed.begin(), removed.end());  // the order among tombstones is not defined
  CHECK(removed == std::vector<std::string>{"remove change (tombstone)", "remove new (tombstone)"});
  CHECK(w.reader().get("ns/half") == nullptr);
  r = w.apply(Delta(DeltaType::replace_item, make({"ns", "stray", "5"})));
  CHECK(r.changes.empty());
  r = w.apply(Delta(DeltaType::replace_end, nullptr, "50"));
  CHECK(r.changes.empty());
  CHECK_FALSE(r.relisted);
  CHECK(w.reader().get("ns/stray") == nullptr);
}
