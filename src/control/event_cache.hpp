// src/control/event_cache.hpp — the EventRecorder's policies without I/O: the per-object spam
// filter and the repeat cache (client-go tools/record/events_cache.go). Not thread-safe; the
// recorder holds the locks. Time is passed in.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace kcoro::detail {

/// A least-recently-used map of at most `capacity` entries.
template <class V>
class LruMap {
 public:
  explicit LruMap(std::size_t capacity) : capacity_(capacity ? capacity : 1) {}

  /// The entry for `key`, made most recent; nullptr if absent.
  V* find(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }
  /// Inserts or replaces `key`, evicting the least recent entry when full.
  V& put(const std::string& key, V value) {
    if (V* v = find(key)) return *v = std::move(value);
    if (index_.size() >= capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    order_.emplace_front(key, std::move(value));
    index_.emplace(key, order_.begin());
    return order_.front().second;
  }
  void erase(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    order_.erase(it->second);
    index_.erase(it);
  }
  std::size_t size() const noexcept { return index_.size(); }

 private:
  std::size_t capacity_;
  std::list<std::pair<std::string, V>> order_;
  std::unordered_map<std::string, typename std::list<std::pair<std::string, V>>::iterator> index_;
};

/// A token bucket per key: `burst` tokens, one more every `refill` (client-go's spam filter).
class EventSpamFilter {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  EventSpamFilter(int burst, std::chrono::nanoseconds refill, std::size_t capacity)
      : burst_(burst), refill_(refill), buckets_(capacity) {}

  /// Takes a token from `key`'s bucket at `now`; false if it had none.
  bool allow(const std::string& key, time_point now) {
    Bucket* b = buckets_.find(key);
    if (!b) b = &buckets_.put(key, Bucket{static_cast<double>(burst_), now});
    if (refill_.count() > 0 && now > b->last) {
      const double gained =
          std::chrono::duration<double>(now - b->last) / std::chrono::duration<double>(refill_);
      b->tokens = std::min(static_cast<double>(burst_), b->tokens + gained);
    }
    b->last = std::max(b->last, now);
    if (b->tokens < 1) return false;
    b->tokens -= 1;
    return true;
  }

 private:
  struct Bucket {
    double tokens;
    time_point last;
  };
  int burst_;
  std::chrono::nanoseconds refill_;
  LruMap<Bucket> buckets_;
};

/// What the recorder knows of an Event it wrote: where it is and its count so far.
struct WrittenEvent {
  std::string ns;
  std::string name;
  int64_t count = 1;
  std::string first_timestamp;
};

/// The next write for an event with aggregation key `key`: a create (first time, or the previous
/// Event was forgotten) or a patch of `existing` with `count`.
struct EventWrite {
  std::optional<WrittenEvent> existing;  ///< set: patch it; its count is the new count
};

class EventCorrelator {
 public:
  explicit EventCorrelator(std::size_t capacity) : written_(capacity) {}

  /// What to do for one more occurrence of `key`.
  EventWrite next(const std::string& key) {
    EventWrite w;
    if (WrittenEvent* e = written_.find(key)) {
      w.existing = *e;
      ++w.existing->count;
    }
    return w;
  }
  /// Records that `key`'s Event is now `e` (after a successful create or patch).
  void written(const std::string& key, WrittenEvent e) { written_.put(key, std::move(e)); }
  void forget(const std::string& key) { written_.erase(key); }

 private:
  LruMap<WrittenEvent> written_;
};

}  // namespace kcoro::detail
