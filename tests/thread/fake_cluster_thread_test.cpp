// FakeCluster under threads: writers on four threads while three watchers are read on another;
// every watcher sees every change once, in resourceVersion order.
#include "kcoro/testing/fake_cluster.hpp"

#include "support/fake_cluster_requests.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace kcoro::test;
using kcoro::testing::FakeCluster;
using kcoro::testing::Watcher;

TEST_CASE("FakeCluster many writers and watchers") {
  FakeCluster c;
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 40;
  std::mutex m;
  std::condition_variable cv;
  int wakeups = 0;
  std::vector<std::shared_ptr<Watcher>> watchers;
  for (int i = 0; i < 3; ++i) {
    auto ws = c.watch(request("GET", "/api/v1/configmaps?watch=1&resourceVersion=0"));
    REQUIRE(ws.watcher);
    ws.watcher->set_notify([&] {
      std::lock_guard lk(m);
      ++wakeups;
      cv.notify_all();
    });
    watchers.push_back(ws.watcher);
  }
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::string ns = "/api/v1/namespaces/ns" + std::to_string(w) + "/configmaps";
      for (int i = 0; i < kPerWriter; ++i) {
        std::string name = "c" + std::to_string(i);
        c.handle(request("POST", ns, cm_body(name)));
        c.handle(request("PATCH", ns + "/" + name, R"({"data":{"k":"2"}})",
                         "application/merge-patch+json"));
        if (i % 2 == 0) c.handle(request("DELETE", ns + "/" + name));
      }
    });
  }
  std::vector<std::string> seen(watchers.size());
  std::thread reader([&] {
    for (std::size_t i = 0; i < watchers.size(); ++i) {
      for (int round = 0; round < 10000; ++round) {
        watchers[i]->poll(seen[i]);
        if (std::count(seen[i].begin(), seen[i].end(), '\n') ==
            kWriters * kPerWriter * 2 + kWriters * kPerWriter / 2) {
          break;
        }
        std::unique_lock lk(m);
        cv.wait_for(lk, std::chrono::milliseconds(10));
      }
    }
  });
  for (auto& t : threads)
    t.join();
  reader.join();
  const std::size_t expected = kWriters * kPerWriter * 2 + kWriters * kPerWriter / 2;
  for (const auto& s : seen) {
    auto lines = split_lines(s);
    CHECK(lines.size() == expected);
    uint64_t prev = 0;
    bool ordered = true;
    for (const auto& l : lines) {
      uint64_t rv = std::stoull(rv_of(l.at("object")));
      ordered = ordered && rv > prev;
      prev = rv;
    }
    CHECK(ordered);
  }
  CHECK(wakeups > 0);
  auto list = body_of(c.handle(request("GET", "/api/v1/configmaps")));
  CHECK(list.at("items").as_array().size() == kWriters * kPerWriter / 2);
}
