// kcoro/reflector.hpp — lists and watches one resource and feeds the changes into a DeltaChannel.
//
// Contract
// - `run()` is a coroutine that performs the I/O ReflectorPolicy decides on: it lists (all pages,
//   decoded while they arrive), then watches, re-watches from the last resourceVersion, relists
//   on 410 and backs off on failures, until it is cancelled or the channel's consumer closes.
// - What it sends, in the server's order: a relist as one batch (replace_begin, replace_item×N,
//   replace_end carrying the list's resourceVersion); then added/updated/deleted per watch event
//   and bookmark deltas. A batch that fails half way is not ended: the next attempt starts a new
//   batch with replace_begin, and the consumer drops the unfinished one.
// - A full channel suspends the reflector between socket reads, so back-pressure reaches the
//   server through TCP.
// - `on_error` (optional) hears about every failed list or watch, with the exception; the
//   informer uses it to fail wait_for_sync on errors that retrying will not fix (403, 404).
// - It runs on the executor of the coroutine that awaits run(); cancel that coroutine to stop it.
#pragma once

#include "kcoro/client.hpp"
#include "kcoro/delta_channel.hpp"
#include "kcoro/reflector_policy.hpp"

#include <exception>
#include <functional>
#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace kcoro {

struct ReflectorOptions {
  Resource resource;
  std::string ns;  ///< empty: all namespaces (or a cluster-scoped resource)
  ReflectorPolicyOptions policy;
  uint64_t seed = 0;                       ///< for the policy's jitter; 0: random
  std::shared_ptr<spdlog::logger> logger;  ///< default: spdlog's default logger
};

class Reflector {
 public:
  Reflector(Client& client, std::shared_ptr<DeltaChannel> channel, ReflectorOptions opts);

  /// Runs until cancelled (throws system_error(cancelled) or operation_aborted) or until the
  /// channel is closed by its consumer (returns).
  awaitable<void> run();

  std::function<void(std::exception_ptr)> on_error;

  /// The last resourceVersion seen (list, event or bookmark).
  const std::string& last_resource_version() const noexcept;

 private:
  awaitable<bool> list(const ReflectorPolicy::Action& a, ReflectorPolicy::Action& next);
  awaitable<bool> watch(const ReflectorPolicy::Action& a, ReflectorPolicy::Action& next);

  Client client_;  // a handle sharing the caller's pool
  std::shared_ptr<DeltaChannel> channel_;
  ReflectorOptions opts_;
  ReflectorPolicy policy_;
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace kcoro
