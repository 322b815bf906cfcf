#include "envtest/env.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <optional>
#include <stdexcept>

namespace kcoro::test {
namespace {

// Started on first use; a failed start is reported to every test that asks.
struct SharedEnv {
  std::optional<testing::EnvTest> env;
  std::string error;

  testing::EnvTest& get(const testing::EnvTestOptions& opts, const char* what) {
    if (!env && error.empty()) {
      env.emplace(opts);
      try {
        env->start();
        std::fprintf(stderr, "envtest: %s started in %lld ms at %s\n", what,
                     static_cast<long long>(env->startup_time().count()), env->url().c_str());
      } catch (const std::exception& e) {
        error = e.what();
        env.reset();
      }
    }
    if (!env) throw std::runtime_error(error);
    return *env;
  }
};

}  // namespace

testing::EnvTest& env() {
  static SharedEnv shared;
  return shared.get(testing::EnvTestOptions(), "default kube-apiserver");
}

testing::EnvTest& legacy_env() {
  static SharedEnv shared;
  testing::EnvTestOptions opts;
  opts.apiserver_flags = {"--feature-gates=WatchList=false", "--watch-cache-sizes=configmaps#0"};
  return shared.get(opts, "kube-apiserver with WatchList=false");
}

boost::asio::awaitable<std::string> fresh_namespace(Client& client, const std::string& prefix) {
  static std::atomic<int> counter{0};
  const std::string name = prefix + "-" + std::to_string(++counter);
  co_await client.create(
      resources::namespaces, "",
      R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + name + R"("}})");
  co_return name;
}

boost::asio::awaitable<bool> eventually(std::function<boost::asio::awaitable<bool>()> pred,
                                        std::chrono::milliseconds limit) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!co_await pred()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(boost::asio::use_awaitable);
  }
  co_return true;
}

boost::asio::awaitable<bool> eventually(std::function<bool()> pred,
                                        std::chrono::milliseconds limit) {
  co_return co_await eventually([&]() -> boost::asio::awaitable<bool> { co_return pred(); }, limit);
}

std::string configmap_json(const std::string& name, const std::string& ns,
                           const std::string& value) {
  return R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name +
         R"(","namespace":")" + ns + R"("},"data":{"k":")" + value + R"("}})";
}

LogCapture::LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1024)) {
  sink_->set_pattern("%v");
  spdlog::default_logger()->sinks().push_back(sink_);
}

LogCapture::~LogCapture() {
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
}

bool LogCapture::contains(const std::string& text) const {
  for (const auto& l : lines())
    if (l.find(text) != std::string::npos) return true;
  return false;
}

std::vector<std::string> LogCapture::lines() const {
  return sink_->last_formatted();
}

}  // namespace kcoro::test

// The tier's pre-check (tests/main.cpp): without assets, say so on one line and skip (77).
int envtest_precheck() {
  if (kcoro::testing::find_envtest_assets()) return -1;
  std::puts(
      "envtest tier skipped: no kube-apiserver/etcd assets (set KCORO_TEST_ASSETS or "
      "KUBEBUILDER_ASSETS)");
  return 77;
}
