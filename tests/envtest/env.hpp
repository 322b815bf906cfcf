// Test support for the envtest tier: the real API servers the tests share, and small helpers.
//
// Starting kube-apiserver costs seconds, so the tier starts at most two, lazily, on the main
// thread, and stops them when the process exits:
// - env(): the default server (1.32: streaming initial lists served);
// - legacy_env(): `--feature-gates=WatchList=false` (streaming lists refused with 422) and no
//   watch cache for configmaps (`--watch-cache-sizes=configmaps#0`), so that a watch of
//   configmaps at a compacted resourceVersion reaches etcd and answers 410.
// Tests isolate themselves in a namespace of their own (fresh_namespace).
#pragma once

#include "kcoro/client.hpp"
#include "kcoro/testing/envtest.hpp"

#include <boost/asio/awaitable.hpp>

#include <spdlog/sinks/ringbuffer_sink.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kcoro::test {

testing::EnvTest& env();
testing::EnvTest& legacy_env();

/// Creates a namespace named `prefix` plus a suffix unique in this run, and returns its name.
boost::asio::awaitable<std::string> fresh_namespace(Client& client, const std::string& prefix);

/// Waits until `pred` holds, checking every 20 ms; false when `limit` passes first.
boost::asio::awaitable<bool> eventually(std::function<boost::asio::awaitable<bool>()> pred,
                                        std::chrono::milliseconds limit = std::chrono::seconds(20));
boost::asio::awaitable<bool> eventually(std::function<bool()> pred,
                                        std::chrono::milliseconds limit = std::chrono::seconds(20));

/// A ConfigMap with one key, "k".
std::string configmap_json(const std::string& name, const std::string& ns,
                           const std::string& value = "v");

/// Copies the lines spdlog's default logger writes while it lives.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  /// True when a captured line contains `text`.
  bool contains(const std::string& text) const;
  std::vector<std::string> lines() const;

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

}  // namespace kcoro::test
