// Store across threads: one writer (upserts, erases, replaces, a late add_index) while readers on
// other threads read. Every replace gives all objects one "gen" label value; upserts and erases in
// between keep it. A reader must therefore never see two generations at once, in a list() or in
// an index. The writer runs a fixed number of steps; readers run until it is done. Run under
// ThreadSanitizer in CI.
#include "kcoro/store.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

using kcoro::ObjectPtr;

namespace {

ObjectPtr make(int i, int gen, long rv) {
  const std::string name = "obj-" + std::to_string(i);
  const std::string ns = "ns-" + std::to_string(i % 4);
  return kcoro::Object::parse(R"({"metadata":{"name":")" + name + R"(","namespace":")" + ns +
                              R"(","resourceVersion":")" + std::to_string(rv) +
                              R"(","labels":{"gen":")" + std::to_string(gen) + R"(","slot":")" +
                              std::to_string(i % 5) + R"("}}})");
}

std::string gen_of(const ObjectPtr& o) {
  return std::string(o->meta().labels.get("gen").value_or("?"));
}

struct Violations {
  std::atomic<long> mixed_list{0};       // a list() with two generations
  std::atomic<long> mixed_index{0};      // index_keys("gen") with two values
  std::atomic<long> wrong_index{0};      // by_index returned an object without that value
  std::atomic<long> wrong_namespace{0};  // likewise for the namespace index
  std::atomic<long> reads{0};
};

}  // namespace

TEST_CASE("threads: readers never observe a half-applied replace") {
  constexpr int kObjects = 60, kGenerations = 150, kReaders = 3;
  kcoro::StoreWriter writer;
  writer.add_index("gen", kcoro::index_by_label("gen"));
  std::shared_ptr<const kcoro::Store> store = writer.store();
  std::atomic<bool> done{false};
  Violations v;

  auto reader = [&] {
    // At least a few reads even if the writer is quick.
    for (long n = 0; !done.load() || n < 50; ++n) {
      const auto all = store->list();
      if (!all.empty()) {
        const std::string g = gen_of(all.front());
        if (!std::all_of(all.begin(), all.end(), [&](auto& o) { return gen_of(o) == g; })) {
          v.mixed_list++;
        }
      }
      const auto gens = store->index_keys("gen");
      if (gens.size() > 1) v.mixed_index++;
      for (const auto& g : gens) {
        for (const auto& o : store->by_index("gen", g)) {
          if (gen_of(o) != g) v.wrong_index++;
        }
      }
      const std::string ns = "ns-" + std::to_string(n % 4);
      for (const auto& o : store->by_index("namespace", ns)) {
        if (o->meta().ns != ns) v.wrong_namespace++;
      }
      if (auto o = store->get("ns-1/obj-1")) (void)gen_of(o);
      const auto names = store->index_names();
      if (std::find(names.begin(), names.end(), "slot") != names.end()) {
        for (const auto& o : store->by_index("slot", "3")) {
          if (o->meta().labels.get("slot") != "3") v.wrong_index++;
        }
      }
      v.reads++;
    }
  };

  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r)
    readers.emplace_back(reader);

  long rv = 1;
  for (int gen = 0; gen < kGenerations; ++gen) {
    std::vector<ObjectPtr> items;
    // New resourceVersions throughout: an "unchanged" object would keep its old generation.
    for (int i = 0; i < kObjects; ++i)
      items.push_back(make(i, gen, rv++));
    auto result = writer.replace(std::move(items));
    CHECK(result.added.size() + result.updated.size() + result.unchanged.size() == kObjects);
    // Within a generation: new versions of a few objects, some deletes and re-adds.
    for (int k = 0; k < 10; ++k) {
      const int i = (gen * 7 + k * 13) % kObjects;
      if (k % 3 == 0) {
        writer.erase("ns-" + std::to_string(i % 4) + "/obj-" + std::to_string(i));
      } else {
        writer.upsert(make(i, gen, rv++));
      }
    }
    if (gen == kGenerations / 2) writer.add_index("slot", kcoro::index_by_label("slot"));
  }
  done = true;
  for (auto& t : readers)
    t.join();

  CHECK(v.mixed_list == 0);
  CHECK(v.mixed_index == 0);
  CHECK(v.wrong_index == 0);
  CHECK(v.wrong_namespace == 0);
  CHECK(v.reads >= kReaders * 50);
  CHECK(store->size() <= kObjects);
}
