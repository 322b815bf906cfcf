#include "kcoro/reflector_policy.hpp"

#include "kcoro/backoff.hpp"

#include <algorithm>

namespace kcoro {

ReflectorPolicy::ReflectorPolicy(ReflectorPolicyOptions opts, uint64_t seed)
    : opts_(std::move(opts)), rng_(seed), streaming_(opts_.streaming_initial_list) {
  if (opts_.max_watch_timeout <= opts_.min_watch_timeout) {
    opts_.max_watch_timeout = opts_.min_watch_timeout + std::chrono::seconds(1);
  }
}

std::string ReflectorPolicy::relist_resource_version() const {
  if (rv_unavailable_) return "";
  if (last_rv_.empty()) return opts_.initial_list_from_cache ? "0" : "";
  return last_rv_;
}

ReflectorPolicy::Action ReflectorPolicy::start() {
  if (streaming_) {
    // A watch from last_rv_ ("" on the first: the most recent state) that lists first.
    Action a = watch_action(std::chrono::milliseconds(0));
    a.step = Step::streaming_list;
    a.options.send_initial_events = true;
    a.options.resource_version_match = "NotOlderThan";
    return a;
  }
  return list_action(std::chrono::milliseconds(0));
}

ListOptions ReflectorPolicy::base_options() const {
  ListOptions o;
  o.label_selector = opts_.label_selector;
  o.field_selector = opts_.field_selector;
  o.metadata_only = opts_.metadata_only;
  o.transform = opts_.transform;
  return o;
}

ReflectorPolicy::Action ReflectorPolicy::list_action(std::chrono::milliseconds delay) const {
  Action a;
  a.step = Step::list;
  a.delay = delay;
  a.options = base_options();
  a.options.limit = opts_.page_size;
  a.options.resource_version = relist_resource_version();
  return a;
}

ReflectorPolicy::Action ReflectorPolicy::watch_action(std::chrono::milliseconds delay) {
  Action a;
  a.step = Step::watch;
  a.delay = delay;
  a.options = base_options();
  a.options.watch = true;
  a.options.allow_watch_bookmarks = true;
  a.options.resource_version = last_rv_;
  std::uniform_int_distribution<int64_t> d(opts_.min_watch_timeout.count(),
                                           opts_.max_watch_timeout.count() - 1);
  a.options.timeout_seconds = d(rng_);
  return a;
}

std::chrono::milliseconds ReflectorPolicy::backoff(Clock::time_point now) {
  if (failures_ > 0 && now - last_failure_ >= opts_.backoff_reset) failures_ = 0;
  last_failure_ = now;
  const int shift = std::min(failures_, 30);
  ++failures_;
  const auto cap = std::chrono::duration_cast<std::chrono::milliseconds>(
                       exponential_delay(opts_.backoff_initial, opts_.backoff_max, shift))
                       .count();
  std::uniform_int_distribution<int64_t> jitter(0, cap);
  return std::chrono::milliseconds(jitter(rng_));
}

ReflectorPolicy::Action ReflectorPolicy::on_list_done(const std::string& resource_version,
                                                      Clock::time_point now) {
  (void)now;
  last_rv_ = resource_version;
  rv_unavailable_ = false;
  synced_ = true;
  return watch_action(std::chrono::milliseconds(0));
}

ReflectorPolicy::Action ReflectorPolicy::on_list_failed(Failure f, Clock::time_point now) {
  if (f == Failure::gone) {
    const bool was_consistent = relist_resource_version().empty();
    rv_unavailable_ = true;
    // client-go: "Retry immediately if the resource version used to list is unavailable". The
    // consistent read that follows cannot be too old; after a compaction, waiting out a backoff
    // grown by earlier failures would leave the cache stale for up to backoff_max.
    if (!was_consistent) return list_action(std::chrono::milliseconds(0));
  }
  return list_action(backoff(now));
}

void ReflectorPolicy::on_event(const std::string& resource_version) {
  if (!resource_version.empty()) last_rv_ = resource_version;
}

void ReflectorPolicy::on_initial_events_end(const std::string& resource_version) {
  on_event(resource_version);
  synced_ = true;
  rv_unavailable_ = false;
}

ReflectorPolicy::Action ReflectorPolicy::on_watch_ended(Clock::time_point started,
                                                        std::size_t events, Clock::time_point now) {
  if (!synced_) {
    // A streaming list that ended before its initial-events-end bookmark: start over.
    return on_watch_failed(Failure::other, now);
  }
  if (events == 0 && now - started < opts_.short_watch) {
    return watch_action(backoff(now));  // a very short watch is a failure
  }
  return watch_action(std::chrono::milliseconds(0));
}

ReflectorPolicy::Action ReflectorPolicy::on_watch_failed(Failure f, Clock::time_point now) {
  if (!synced_ && streaming_) {
    if (f == Failure::refused) {
      streaming_ = false;  // the server does not do streaming lists: list+watch from now on
      return list_action(std::chrono::milliseconds(0));
    }
    Action a = start();
    a.delay = backoff(now);
    return a;
  }
  if (!synced_) return list_action(backoff(now));
  if (f == Failure::gone) {
    synced_ = false;
    if (streaming_) {
      last_rv_.clear();
      return start();
    }
    return list_action(std::chrono::milliseconds(0));
  }
  return watch_action(backoff(now));
}

}  // namespace kcoro
