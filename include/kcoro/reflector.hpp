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
// - Metrics (ReflectorOptions::metrics; nullptr records nothing), counters labelled `resource`
//   (the plural, "PLURAL.GROUP" outside the core group), looked up once at construction; an
//   event costs one atomic read-modify-write on a counter held by pointer (prometheus-cpp's
//   Counter, a compare-exchange on an atomic<double>: about 20 ns, no lock):
//   * kcoro_reflector_lists_total: lists started (paginated, or a streaming initial list),
//     whether they succeed or not;
//   * kcoro_reflector_relists_total: those of them started after a list had completed: the
//     cache is being replaced (after a 410 Gone, or a failure the policy answers with a list);
//   * kcoro_reflector_watches_total: watch requests started (a streaming list not included);
//   * kcoro_reflector_watch_events_total: events the watches delivered (bookmarks, ERROR events
//     and the items of a streaming list included);
//   * kcoro_reflector_watch_restarts_total: watches (and streaming lists) that ended, by the
//     server's timeout, an ERROR event or a failure, and are followed by a new watch or a list;
//     a watch ended by cancellation or by the channel's consumer is not counted.
#pragma once

#include "kcoro/client.hpp"
#include "kcoro/delta_channel.hpp"
#include "kcoro/metrics.hpp"
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
  /// Where the kcoro_reflector_* series go (see the contract); nullptr records nothing.
  std::shared_ptr<MetricsRegistry> metrics = MetricsRegistry::global();
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
  void count_list();

  Client client_;  // a handle sharing the caller's pool
  std::shared_ptr<DeltaChannel> channel_;
  ReflectorOptions opts_;
  ReflectorPolicy policy_;
  std::shared_ptr<spdlog::logger> log_;
  // The kcoro_reflector_* series; all null without metrics.
  prometheus::Counter* lists_ = nullptr;
  prometheus::Counter* relists_ = nullptr;
  prometheus::Counter* watches_ = nullptr;
  prometheus::Counter* events_ = nullptr;
  prometheus::Counter* restarts_ = nullptr;
  bool listed_ = false;  // a list (or streaming list) has completed
};

}  // namespace kcoro
