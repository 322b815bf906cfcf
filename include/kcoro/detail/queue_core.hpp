// kcoro/detail/queue_core.hpp — the work queue's bookkeeping, without threads, Asio or clocks.
//
// QueueCore is the whole of WorkQueue's policy as a plain class: the dirty and processing marks,
// the ready FIFO, and the delayed heap keyed by ready time. Every call takes `now` instead of
// reading a clock and reports what it changed; the Asio shell in workqueue.hpp adds the mutex, the
// timer and the waiting consumers. Not thread-safe by itself. The rules are documented in
// workqueue.hpp; this file is their one implementation.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kcoro {

/// Hooks for controller-runtime's work queue metrics. Every method has an empty default, so an
/// implementation overrides what it records. The queue calls them with its lock held: keep them
/// cheap and never call back into the queue from them.
class QueueMetrics {
 public:
  enum class Gauge {
    depth,                              ///< Items waiting to be processed (dirty).
    unfinished_work_seconds,            ///< Sum of the ages of the items in hand.
    longest_running_processor_seconds,  ///< Age of the oldest item in hand.
  };
  enum class Counter {
    adds_total,     ///< Adds that made an item dirty (coalesced adds do not count).
    retries_total,  ///< Calls to add_after and add_rate_limited.
  };
  enum class Histogram {
    queue_duration_seconds,  ///< From the add that made an item dirty to the get that took it.
    work_duration_seconds,   ///< From get to done.
  };

  virtual ~QueueMetrics() = default;
  virtual void set(Gauge /*g*/, double /*value*/) {}
  virtual void inc(Counter /*c*/) {}
  virtual void observe(Histogram /*h*/, double /*seconds*/) {}

  /// controller-runtime's metric names ("workqueue_depth", ...).
  static constexpr std::string_view name(Gauge g) noexcept {
    switch (g) {
      case Gauge::depth:
        return "workqueue_depth";
      case Gauge::unfinished_work_seconds:
        return "workqueue_unfinished_work_seconds";
      case Gauge::longest_running_processor_seconds:
        return "workqueue_longest_running_processor_seconds";
    }
    return {};
  }
  static constexpr std::string_view name(Counter c) noexcept {
    return c == Counter::adds_total ? "workqueue_adds_total" : "workqueue_retries_total";
  }
  static constexpr std::string_view name(Histogram h) noexcept {
    return h == Histogram::queue_duration_seconds ? "workqueue_queue_duration_seconds"
                                                  : "workqueue_work_duration_seconds";
  }
};

namespace detail {

/// How an item came to wait in the delayed heap.
enum class DelayKind : uint8_t {
  plain,        ///< add_after: the program asked for a later run.
  rate_limited  ///< add_rate_limited: a retry after a failure; plain adds do not release it early.
};

/// A FIFO of pointers in a power-of-two ring that grows and never shrinks (no allocation once
/// warm).
template <class P>
class Ring {
 public:
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  void push(P p) {
    if (size_ == buf_.size()) grow();
    buf_[(head_ + size_) & (buf_.size() - 1)] = p;
    ++size_;
  }
  P pop() noexcept {
    P p = buf_[head_];
    head_ = (head_ + 1) & (buf_.size() - 1);
    --size_;
    return p;
  }

 private:
  void grow() {
    std::vector<P> bigger(buf_.empty() ? 64 : buf_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i)
      bigger[i] = buf_[(head_ + i) & (buf_.size() - 1)];
    buf_.swap(bigger);
    head_ = 0;
  }
  std::vector<P> buf_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

template <class T, class Hash = std::hash<T>, class Eq = std::equal_to<T>>
class QueueCore {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

 private:
  static constexpr uint32_t kNotDelayed = UINT32_MAX;
  struct Entry {
    bool dirty = false;       // Waiting to be processed: in the FIFO, or to be requeued at done().
    bool processing = false;  // Handed out by get(), done() not called yet.
    bool retry = false;       // The delayed-heap entry is a rate-limited retry.
    uint32_t heap_pos = kNotDelayed;
    time_point added_at{};    // Metrics: when the item last became dirty.
    time_point started_at{};  // Metrics: when get() handed it out.
  };
  using Map = std::unordered_map<T, Entry, Hash, Eq>;

 public:
  using Node = typename Map::value_type;  // pair<const T, Entry>; its address is stable.

  explicit QueueCore(QueueMetrics* metrics = nullptr) : metrics_(metrics) {}

  /// client-go's Add. Returns true when the item entered the ready FIFO.
  bool add(const T& item, time_point now) {
    if (shutting_down_) return false;
    auto it = map_.find(item);
    if (it != map_.end()) {
      Entry& e = it->second;
      if (e.dirty) return false;  // Already waiting: coalesced.
      // A pending rate-limited retry absorbs the add: the item runs at the retry time, not now.
      if (e.heap_pos != kNotDelayed && e.retry) return false;
      return mark_dirty(&*it, now);
    }
    return mark_dirty(insert(item), now);
  }

  /// client-go's AddAfter, with the retry rule for `kind == rate_limited` (see workqueue.hpp).
  /// Returns true when the item entered the ready FIFO (a delay <= 0 is an add).
  bool add_after(const T& item, duration d, time_point now, DelayKind kind) {
    if (shutting_down_) return false;
    if (metrics_) metrics_->inc(QueueMetrics::Counter::retries_total);
    if (d <= duration::zero()) {
      if (kind == DelayKind::rate_limited) {
        // An immediate retry: earlier than any pending retry, so it replaces it.
        auto it = map_.find(item);
        if (it != map_.end() && it->second.heap_pos != kNotDelayed) heap_erase(it->second);
      }
      return add(item, now);
    }
    const time_point at = now + d;
    auto it = map_.find(item);
    Node* n = it != map_.end() ? &*it : insert(item);
    Entry& e = n->second;
    if (e.heap_pos == kNotDelayed) {
      heap_push(n, at, kind == DelayKind::rate_limited);
    } else if (kind == DelayKind::plain) {
      // Earlier wins, except that a plain delay never advances a pending retry.
      if (!e.retry && at < heap_[e.heap_pos].at) heap_move(e, at);
    } else if (!e.retry || at < heap_[e.heap_pos].at) {
      // A retry replaces a plain delay (even a sooner one); among retries the earlier wins.
      e.retry = true;
      heap_move(e, at);
    }
    if (kind == DelayKind::rate_limited && e.dirty && e.processing) {
      // An add that came in while the failing attempt ran is absorbed by the retry.
      e.dirty = false;
      --dirty_;
      if (metrics_) metrics_->set(QueueMetrics::Gauge::depth, static_cast<double>(dirty_));
    }
    return false;
  }

  /// client-go's Get without the waiting: the head of the FIFO, now being processed, or null.
  /// The node (and its key) stays valid until done() for it.
  const Node* pop(time_point now) {
    if (fifo_.empty()) return nullptr;
    Node* n = fifo_.pop();
    Entry& e = n->second;
    e.dirty = false;
    --dirty_;
    e.processing = true;
    ++processing_;
    if (metrics_) {
      metrics_->set(QueueMetrics::Gauge::depth, static_cast<double>(dirty_));
      metrics_->observe(QueueMetrics::Histogram::queue_duration_seconds, seconds(now - e.added_at));
      e.started_at = now;
    }
    return n;
  }

  /// client-go's Done. Returns true when the item went back into the FIFO (it was added while it
  /// was processed). An item not being processed is ignored.
  bool done(const T& item, time_point now) {
    auto it = map_.find(item);
    if (it == map_.end() || !it->second.processing) return false;
    Entry& e = it->second;
    e.processing = false;
    --processing_;
    if (metrics_) {
      metrics_->observe(QueueMetrics::Histogram::work_duration_seconds,
                        seconds(now - e.started_at));
    }
    if (e.dirty) {
      fifo_.push(&*it);
      return true;
    }
    if (e.heap_pos == kNotDelayed) release(it);
    return false;
  }

  /// Moves the delayed items whose time has come (ready time <= now) to the queue, earliest first
  /// (ties in the order they were delayed). Returns how many entered the FIFO.
  std::size_t promote(time_point now) {
    std::size_t ready = 0;
    while (!heap_.empty() && heap_.front().at <= now) {
      Node* n = heap_.front().node;
      heap_erase(n->second);
      if (mark_dirty_if_clean(n, now)) ++ready;
    }
    return ready;
  }

  /// The earliest ready time in the delayed heap.
  std::optional<time_point> next_ready() const {
    if (heap_.empty()) return std::nullopt;
    return heap_.front().at;
  }

  /// Stops taking adds and drops the delayed items (client-go's ShutDown). The FIFO stays, and an
  /// item added while it was processed still goes back into it at done().
  void shutdown() {
    shutting_down_ = true;
    while (!heap_.empty()) {
      Node* n = heap_.back().node;
      heap_erase(n->second);
      if (!n->second.dirty && !n->second.processing) release(map_.find(n->first));
    }
  }

  /// Sets the unfinished-work and longest-running gauges (client-go updates them twice a second).
  void update_unfinished_work(time_point now) {
    if (!metrics_) return;
    double total = 0, longest = 0;
    if (processing_ != 0) {
      for (auto& [key, e] : map_) {
        if (!e.processing) continue;
        const double age = seconds(now - e.started_at);
        total += age;
        longest = std::max(longest, age);
      }
    }
    metrics_->set(QueueMetrics::Gauge::unfinished_work_seconds, total);
    metrics_->set(QueueMetrics::Gauge::longest_running_processor_seconds, longest);
  }

  bool shutting_down() const noexcept { return shutting_down_; }
  std::size_t len() const noexcept { return fifo_.size(); }  ///< Items in the ready FIFO.
  std::size_t processing() const noexcept { return processing_; }
  std::size_t delayed() const noexcept { return heap_.size(); }
  std::size_t dirty() const noexcept { return dirty_; }
  /// Items the core tracks in any state (for tests: nothing leaks).
  std::size_t tracked() const noexcept { return map_.size(); }
  bool is_dirty(const T& item) const { return flag(item, &Entry::dirty); }
  bool is_processing(const T& item) const { return flag(item, &Entry::processing); }
  /// The ready time of a delayed item.
  std::optional<time_point> ready_at(const T& item) const {
    auto it = map_.find(item);
    if (it == map_.end() || it->second.heap_pos == kNotDelayed) return std::nullopt;
    return heap_[it->second.heap_pos].at;
  }
  bool waiting_retry(const T& item) const {
    auto it = map_.find(item);
    return it != map_.end() && it->second.heap_pos != kNotDelayed && it->second.retry;
  }

 private:
  struct Delayed {
    time_point at;
    uint64_t seq;  // Ties on `at` keep the order the items were delayed in.
    Node* node;
  };
  static constexpr std::size_t kMaxSpareNodes = 1024;

  static double seconds(duration d) { return std::chrono::duration<double>(d).count(); }

  bool flag(const T& item, bool Entry::*f) const {
    auto it = map_.find(item);
    return it != map_.end() && it->second.*f;
  }

  // A node for a new item, from the spare pool when there is one (its key's storage is reused).
  Node* insert(const T& item) {
    if (!spare_.empty()) {
      auto nh = std::move(spare_.back());
      spare_.pop_back();
      nh.key() = item;
      nh.mapped() = Entry{};
      return &*map_.insert(std::move(nh)).position;
    }
    return &*map_.try_emplace(item).first;
  }

  // Forgets an item in no state at all, keeping its node for reuse.
  void release(typename Map::iterator it) {
    if (spare_.size() < kMaxSpareNodes) {
      spare_.push_back(map_.extract(it));
    } else {
      map_.erase(it);
    }
  }

  bool mark_dirty(Node* n, time_point now) {
    Entry& e = n->second;
    e.dirty = true;
    ++dirty_;
    if (metrics_) {
      metrics_->inc(QueueMetrics::Counter::adds_total);
      metrics_->set(QueueMetrics::Gauge::depth, static_cast<double>(dirty_));
      e.added_at = now;
    }
    if (e.processing) return false;  // Requeued at done().
    fifo_.push(n);
    return true;
  }

  bool mark_dirty_if_clean(Node* n, time_point now) {
    if (n->second.dirty) return false;
    return mark_dirty(n, now);
  }

  // The delayed heap: a binary min-heap on (at, seq), each entry's index kept in its node.
  bool less(std::size_t a, std::size_t b) const {
    return heap_[a].at != heap_[b].at ? heap_[a].at < heap_[b].at : heap_[a].seq < heap_[b].seq;
  }
  void place(std::size_t i) { heap_[i].node->second.heap_pos = static_cast<uint32_t>(i); }
  void swap_at(std::size_t a, std::size_t b) {
    std::swap(heap_[a], heap_[b]);
    place(a);
    place(b);
  }
  void sift_up(std::size_t i) {
    while (i > 0) {
      std::size_t parent = (i - 1) / 2;
      if (!less(i, parent)) break;
      swap_at(i, parent);
      i = parent;
    }
  }
  void sift_down(std::size_t i) {
    for (;;) {
      std::size_t l = 2 * i + 1, r = l + 1, m = i;
      if (l < heap_.size() && less(l, m)) m = l;
      if (r < heap_.size() && less(r, m)) m = r;
      if (m == i) return;
      swap_at(i, m);
      i = m;
    }
  }
  void heap_push(Node* n, time_point at, bool retry) {
    heap_.push_back(Delayed{at, seq_++, n});
    n->second.retry = retry;
    place(heap_.size() - 1);
    sift_up(heap_.size() - 1);
  }
  void heap_move(Entry& e, time_point at) {
    const std::size_t i = e.heap_pos;
    const bool earlier = at < heap_[i].at;
    heap_[i].at = at;
    if (earlier) {
      sift_up(i);
    } else {
      sift_down(i);
    }
  }
  void heap_erase(Entry& e) {
    const std::size_t i = e.heap_pos;
    e.heap_pos = kNotDelayed;
    e.retry = false;
    const std::size_t last = heap_.size() - 1;
    if (i != last) {
      heap_[i] = heap_[last];
      place(i);
      heap_.pop_back();
      sift_up(i);  // Only one of the two moves anything.
      sift_down(i);
    } else {
      heap_.pop_back();
    }
  }

  QueueMetrics* metrics_;
  Map map_;
  std::vector<typename Map::node_type> spare_;
  Ring<Node*> fifo_;
  std::vector<Delayed> heap_;
  uint64_t seq_ = 0;
  std::size_t dirty_ = 0;
  std::size_t processing_ = 0;
  bool shutting_down_ = false;
};

}  // namespace detail
}  // namespace kcoro
