// kcoro/reflector_policy.hpp — the reflector's decisions, as a pure state machine.
//
// Contract
// - ReflectorPolicy decides what the reflector requests next, given what just happened; the
//   Reflector coroutine performs the I/O it is told to and reports back. No clock, no sockets:
//   time is passed in, randomness comes from a seeded generator, so every rule is unit-tested.
// - Rules (client-go's Reflector and kube-rs's watcher, where they agree):
//   * The first list asks for resourceVersion "0" (served from the watch cache). After a list
//     fails with 410, the next list is a consistent read (resourceVersion ""), at once, without
//     backoff (client-go's reflector does the same); a 410 on that consistent read backs off.
//     Otherwise a relist asks for the last resourceVersion seen.
//   * Lists are paginated (limit, default 500).
//   * After a list, it watches from the list's resourceVersion with allowWatchBookmarks=true and
//     timeoutSeconds random in [min, max) (default [300, 600)).
//   * When a watch ends cleanly it watches again from the last resourceVersion seen (events and
//     bookmarks), without relisting.
//   * A 410 (an HTTP status or an ERROR event) on a watch relists.
//   * Other failures back off: 800 ms doubling to 30 s, full jitter, reset after 2 minutes
//     without a failure. A watch that ends in under a second with no event counts as a failure.
//     A failed watch is retried as a watch from the last resourceVersion; a failed list as a list.
//   * Optionally the initial list is a streaming list (sendInitialEvents=true,
//     resourceVersionMatch=NotOlderThan) on the first watch only; if the server refuses it, the
//     policy falls back to list+watch for good.
// - Not thread-safe: it belongs to one reflector.
#pragma once

#include "kcoro/resource.hpp"

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

namespace kcoro {

struct ReflectorPolicyOptions {
  std::string label_selector;
  std::string field_selector;
  bool metadata_only = false;  ///< list and watch PartialObjectMetadata (ListOptions)
  Transform transform;         ///< edits each listed and watched object (ListOptions)
  int64_t page_size = 500;
  /// The first list asks for resourceVersion "0", any state the watch cache has (client-go's
  /// choice: cheap for the server, but served in one page). false: a consistent, paginated list
  /// of the most recent state (resourceVersion "", kube-rs's default).
  bool initial_list_from_cache = true;
  /// Each watch's timeoutSeconds is drawn from [min, max); a max at or below min gives min.
  std::chrono::seconds min_watch_timeout{300};
  std::chrono::seconds max_watch_timeout{600};
  bool streaming_initial_list = false;
  std::chrono::milliseconds backoff_initial{800};
  std::chrono::milliseconds backoff_max{30000};
  std::chrono::milliseconds backoff_reset{120000};
  std::chrono::milliseconds short_watch{1000};
};

class ReflectorPolicy {
 public:
  using Clock = std::chrono::steady_clock;

  enum class Step {
    list,            ///< list (all pages) with `options`, then report on_list_*
    watch,           ///< watch with `options`, then report on_watch_*
    streaming_list,  ///< a watch with sendInitialEvents: the initial list arrives as events
  };
  struct Action {
    Step step = Step::list;
    ListOptions options;
    std::chrono::milliseconds delay{0};  ///< wait this long before starting the step
  };

  /// How a list or watch failed.
  enum class Failure {
    gone,     ///< 410 Gone / Expired (HTTP status or ERROR event)
    refused,  ///< the server refused a streaming list (4xx other than 410, or no support)
    other,    ///< anything else: connection, timeout, 5xx, 429, malformed body, 403...
  };

  explicit ReflectorPolicy(ReflectorPolicyOptions opts = {},
                           uint64_t seed = std::random_device{}());

  /// The first action.
  Action start();

  /// A list finished: its resourceVersion becomes the resume point.
  Action on_list_done(const std::string& resource_version, Clock::time_point now);
  Action on_list_failed(Failure f, Clock::time_point now);

  /// A watch event (or bookmark) with this resourceVersion arrived.
  void on_event(const std::string& resource_version);

  /// The watch ended. `clean`: the server closed it (timeoutSeconds) rather than an error.
  /// `started` is when the watch began, `events` how many arrived (bookmarks included).
  Action on_watch_ended(Clock::time_point started, std::size_t events, Clock::time_point now);
  Action on_watch_failed(Failure f, Clock::time_point now);

  /// The streaming initial list reached its initial-events-end bookmark.
  void on_initial_events_end(const std::string& resource_version);

  const std::string& last_resource_version() const noexcept { return last_rv_; }
  int failures() const noexcept { return failures_; }
  bool streaming_supported() const noexcept { return streaming_; }

  /// Whether a failure is reported to the reflector's on_error (and from there can end an
  /// informer's wait_for_sync): only `other`. A 410 is answered by a relist and a refused
  /// streaming list by the fallback to list+watch; neither is an error of the caller's.
  static bool reported(Failure f) noexcept { return f == Failure::other; }

  /// The relist resourceVersion by client-go's rule ("", "0" or the last seen).
  std::string relist_resource_version() const;

 private:
  ListOptions base_options() const;
  Action list_action(std::chrono::milliseconds delay) const;
  Action watch_action(std::chrono::milliseconds delay);
  std::chrono::milliseconds backoff(Clock::time_point now);

  ReflectorPolicyOptions opts_;
  std::mt19937_64 rng_;
  std::string last_rv_;
  bool rv_unavailable_ = false;
  bool streaming_ = false;
  bool synced_ = false;  // a list (or streaming list) has completed
  int failures_ = 0;
  Clock::time_point last_failure_{};
};

}  // namespace kcoro
