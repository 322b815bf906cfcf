// Seeding pods, pre-rendering the throughput mode's watch stream, and churn.
#include "testing/fake_server_http.hpp"
#include "testing/fake_server_impl.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>

namespace kcoro::testing {
namespace {

using Clock = std::chrono::steady_clock;

// PodGenerator writes the resourceVersion it is given; pods are made with this one and it is cut
// out (the cluster assigns its own) or replaced (pre-rendered events).
constexpr uint64_t kRvSentinel = 987654321987654321ULL;
const std::string kRvField = "\"resourceVersion\":\"" + std::to_string(kRvSentinel) + "\"";

std::string without_rv(std::string json) {
  const auto pos = json.find(kRvField);
  if (pos != std::string::npos) {
    const bool comma = pos + kRvField.size() < json.size() && json[pos + kRvField.size()] == ',';
    json.erase(pos, kRvField.size() + (comma ? 1 : 0));
  }
  return json;
}

std::string ns_name(std::size_t i, std::size_t namespaces) {
  return "ns-" + std::to_string(i % std::max<std::size_t>(namespaces, 1));
}

asio::awaitable<void> churn_loop(FakeApiServer::Impl& s) {
  const double rate = s.opts.churn_per_second;
  const auto tick = std::clamp<Clock::duration>(
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate)),
      std::chrono::milliseconds(1), std::chrono::milliseconds(100));
  auto last = Clock::now();
  double due = 0;
  for (;;) {
    s.churn_timer.expires_after(tick);
    co_await s.churn_timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (s.stopped) co_return;
    const auto now = Clock::now();
    due = std::min(due + rate * std::chrono::duration<double>(now - last).count(), rate);
    last = now;
    for (; due >= 1; due -= 1) {
      try {
        s.churn_once();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "kcoro-fake-apiserver: churn: %s\n", e.what());
      }
    }
  }
}

}  // namespace

void FakeApiServer::Impl::seed() {
  const std::size_t n = opts.seed_pods;
  if (n == 0) return;
  const std::size_t namespaces = std::max<std::size_t>(opts.seed_namespaces, 1);
  for (std::size_t i = 0; i < std::min(n, namespaces); ++i) {
    const std::string ns = ns_name(i, namespaces);
    cluster->apply_object(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + ns +
                          R"(","labels":{"kubernetes.io/metadata.name":")" + ns +
                          R"("}},"spec":{"finalizers":["kubernetes"]}})");
  }
  PodGenerator gen(42);
  pods.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    SeededPod p{ns_name(i, namespaces), "pod-" + std::to_string(i)};
    std::string json = gen.pod(p.ns, p.name, kRvSentinel);
    cluster->apply_object(without_rv(json));
    if (opts.throughput.events) pod_templates.push_back(std::move(json));
    pods.push_back(std::move(p));
  }
}

void FakeApiServer::Impl::prerender() {
  const std::size_t events = opts.throughput.events;
  if (events == 0 || pod_templates.empty()) return;
  std::size_t avg = 0;
  for (const auto& t : pod_templates)
    avg += t.size();
  avg /= pod_templates.size();
  prerendered.reserve(events * (avg + 64) + 16);
  uint64_t rv = cluster->resource_version();
  std::string object;
  for (std::size_t k = 0; k < events; ++k) {
    const std::string& t = pod_templates[k % pod_templates.size()];
    const auto pos = t.find(kRvField);
    object.assign(t, 0, pos);
    object += "\"resourceVersion\":\"" + std::to_string(++rv) + "\"";
    object.append(t, pos + kRvField.size());
    http_render::append_chunk(prerendered, PodGenerator::watch_line("MODIFIED", object));
  }
  prerendered += http_render::kLastChunk;
  pod_templates.clear();
  pod_templates.shrink_to_fit();
  throughput.prerendered_bytes = prerendered.size();
}

bool FakeApiServer::Impl::is_throughput_watch(const std::string& path) const {
  return !prerendered.empty() && path.starts_with("/api/v1/") && path.ends_with("/pods");
}

void FakeApiServer::Impl::record_throughput(uint64_t bytes, double seconds) {
  std::lock_guard lock(throughput_mutex);
  ++throughput.streams;
  throughput.bytes += bytes;
  throughput.seconds += seconds;
}

void FakeApiServer::Impl::start_churn() {
  if (opts.churn_per_second <= 0) return;
  asio::co_spawn(control, churn_loop(*this), asio::detached);
}

// On `control`: creates, updates (a merge patch of an annotation, as a controller would) and
// deletes pods, keeping their number at seed_pods, give or take one: at seed_pods, 60% updates,
// 20% creates, 20% deletes; one over, a delete; one under, a create. A steady number, so that a
// client's memory under churn (kcoro-bench soak) measures leaks, not a cache that grew.
void FakeApiServer::Impl::churn_once() {
  const std::size_t target = opts.seed_pods;
  const std::size_t n = pods.size();
  const uint64_t r = churn_gen.next() % 10;
  enum { create, update, remove } op;
  if (n == 0 || n < target) {
    op = create;
  } else if (n > target) {
    op = remove;
  } else {
    op = r < 6 ? update : r < 8 ? create : remove;
  }
  const std::size_t namespaces = std::max<std::size_t>(opts.seed_namespaces, 1);
  if (op == create) {
    const uint64_t k = churn_serial++;
    SeededPod p{ns_name(k, namespaces), "churn-" + std::to_string(k)};
    cluster->apply_object(without_rv(churn_gen.pod(p.ns, p.name, kRvSentinel)));
    pods.push_back(std::move(p));
  } else if (op == update) {
    const SeededPod& p = pods[churn_gen.next() % n];
    FakeRequest req;
    req.method = "PATCH";
    req.target = "/api/v1/namespaces/" + p.ns + "/pods/" + p.name;
    req.content_type = "application/merge-patch+json";
    req.body = R"({"metadata":{"annotations":{"kcoro.example/churn":")" +
               std::to_string(churn_serial++) + "\"}}}";
    cluster->handle(req);
  } else {
    const std::size_t i = churn_gen.next() % n;
    cluster->delete_object("v1", "Pod", pods[i].ns, pods[i].name);
    pods[i] = std::move(pods.back());
    pods.pop_back();
  }
  count(churn_ops);
}

}  // namespace kcoro::testing
