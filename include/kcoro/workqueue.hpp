// kcoro/workqueue.hpp — the rate-limited, delaying work queue between event handlers and workers.
//
// Contract
//
// WorkQueue<T> is client-go's util/workqueue (queue.go, delaying_queue.go, rate_limiting_queue.go)
// for coroutines. Items are keys (T hashable with std::hash<T>, std::string by default); the queue
// guarantees that a key is processed by at most one worker at a time, and that a key added N times
// before a worker takes it is processed once.
//
// States. An item is "dirty" from an add until a worker takes it with get(), and "processing" from
// get() until done(). Adding a dirty item does nothing (the adds are coalesced). Adding an item
// that is processing marks it dirty but does not queue it: done() queues it again, so the next run
// starts only after the current one ended. Items are handed out in FIFO order of the adds that
// queued them (an item requeued by done() goes to the back).
//
// Consumers. `co_await get()` yields the next item. When one is ready it returns without
// suspending. Otherwise the coroutine suspends, and it is resumed on its own executor (the executor
// of the coroutine that called get()), through a post: never inline inside the add() or done() of
// another thread, and never on the queue's executor. Suspended consumers are served first come,
// first served, and each keeps its executor's work count up, as any Asio operation does. Every
// member function may be called from any thread.
//
// Delays. add_after(item, d) adds the item once `d` has passed (d <= 0 adds at once). An item that
// already waits keeps the earlier of its two ready times. Items whose times have come are queued
// earliest first. The wait runs on a timer on the queue's executor (the one given to the
// constructor), so that executor must be running for delayed items to come out. Time comes from
// a QueueClock: the steady clock by default, or a ManualClock that tests advance by hand.
//
// Rate-limited retries. add_rate_limited(item) is add_after(item, limiter.when(item, now));
// forget() and num_requeues() go to the limiter. One rule differs from client-go on purpose: a
// pending rate-limited retry is a floor. While an item waits out a retry, a plain add(item) (an
// event for it) or add_after(item, d) does not release it early: the add is coalesced into the
// retry and the item runs once, at the retry time, where it sees the newest state anyway. An add
// that arrived while the failing attempt was still running is absorbed by the retry the same way.
// In client-go such an add goes straight to the ready queue: the item runs at once, usually fails
// again, and each failure doubles the next backoff, so the failure count grows faster than the
// backoff is served and a broken item is retried in a hot loop for as long as events arrive
// (kubernetes #112325, #132805). A retry scheduled over a plain delay replaces it (the retry time
// holds even if the plain delay was sooner); between two retries the earlier wins. An item that
// already sits in the ready FIFO when a retry is scheduled stays there.
//
// Shutdown. shutdown() makes the queue refuse new adds and drops delayed items; get() keeps handing
// out the items already queued (client-go does the same) and yields std::nullopt once none is left,
// at once to every suspended consumer. `co_await shutdown_with_drain()` does the same and then
// waits until no item is being processed (every get() matched by its done()); a later shutdown()
// ends that wait at once. An item added while it was processed is still queued at its done() during
// shutdown, so workers should keep calling get() until it yields std::nullopt.
//
// Cancellation. A suspended get() or shutdown_with_drain() honours its coroutine's cancellation
// slot (any cancellation type): it completes with boost::asio::error::operation_aborted (thrown
// from co_await as boost::system::system_error). No item is lost: an item is either delivered or
// stays queued. Emit the cancellation from the consumer's executor, as Asio requires.
//
// Lifetimes. Destroying the queue shuts it down (suspended consumers get std::nullopt). The queue
// must outlive the calls made on it; pending timers and cancellation handlers hold no reference to
// a destroyed queue. The rate limiter, metrics and clock are shared_ptrs the queue keeps alive.
//
// Metrics. QueueMetrics (detail/queue_core.hpp) receives controller-runtime's workqueue_* series:
// depth, adds, queue and work durations and retries as they happen, and the unfinished-work gauges
// each time update_unfinished_work() is called (client-go does it every 500 ms). The hooks are
// called with the queue's lock held. Without metrics, the queue never reads the clock for them.
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "kcoro/detail/pending_op.hpp"
#include "kcoro/detail/queue_core.hpp"
#include "kcoro/queue_clock.hpp"
#include "kcoro/rate_limiter.hpp"

namespace kcoro {

template <class T = std::string>
class WorkQueue {
 public:
  using time_point = QueueClock::time_point;
  using duration = QueueClock::duration;

  struct Options {
    /// Used by add_rate_limited, forget and num_requeues. Default:
    /// default_controller_rate_limiter<T>().
    std::shared_ptr<RateLimiter<T>> rate_limiter = nullptr;
    /// Receives the workqueue_* metrics. Default: none.
    std::shared_ptr<QueueMetrics> metrics = nullptr;
    /// Default: SteadyQueueClock.
    std::shared_ptr<QueueClock> clock = nullptr;
  };

  /// `ex` runs the timer for delayed items.
  explicit WorkQueue(boost::asio::any_io_executor ex, Options opts = {})
      : state_(std::make_shared<State>(std::move(ex), std::move(opts))) {
    std::weak_ptr<State> weak = state_;
    state_->alarm = state_->clock->make_alarm(state_->ex, [weak] {
      if (auto st = weak.lock()) st->on_alarm();
    });
  }
  ~WorkQueue() { shutdown(); }
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  /// Queues `item` unless it is already waiting (see the contract for processing items and
  /// pending retries). Ignored after shutdown.
  void add(const T& item) {
    State& st = *state_;
    std::lock_guard lk(st.mu);
    if (st.core.add(item, st.stamp())) st.dispatch();
  }

  /// Adds `item` once `d` has passed; an item already waiting keeps the earlier time.
  void add_after(const T& item, duration d) {
    State& st = *state_;
    std::lock_guard lk(st.mu);
    if (st.core.add_after(item, d, st.clock->now(), detail::DelayKind::plain)) st.dispatch();
    st.arm();
  }

  /// Adds `item` after the delay the rate limiter gives it (one more failure on its record).
  void add_rate_limited(const T& item) {
    State& st = *state_;
    const time_point now = st.clock->now();
    const auto d = st.limiter->when(item, now);
    std::lock_guard lk(st.mu);
    if (st.core.add_after(item, d, now, detail::DelayKind::rate_limited)) st.dispatch();
    st.arm();
  }

  /// Clears the item's failure record in the rate limiter (it succeeded). Does not touch a
  /// pending retry.
  void forget(const T& item) { state_->limiter->forget(item); }
  int num_requeues(const T& item) const { return state_->limiter->num_requeues(item); }

  /// The next item, or std::nullopt once the queue is shut down and empty. See the contract.
  boost::asio::awaitable<std::optional<T>> get() {
    {
      State& st = *state_;
      std::lock_guard lk(st.mu);
      if (const auto* n = st.core.pop(st.stamp())) co_return n->first;
      if (st.core.shutting_down()) co_return std::nullopt;
    }
    co_return co_await boost::asio::async_initiate<
        const boost::asio::use_awaitable_t<>&, void(boost::system::error_code, std::optional<T>)>(
        InitGet{state_.get()}, boost::asio::use_awaitable);
  }

  /// Marks the end of processing an item returned by get(); queues it again if it was added
  /// meanwhile.
  void done(const T& item) {
    State& st = *state_;
    std::lock_guard lk(st.mu);
    if (st.core.done(item, st.stamp())) st.dispatch();
    if (st.core.processing() == 0) st.finish_drain();
  }

  /// Refuses new adds, drops delayed items, wakes suspended consumers with std::nullopt and ends
  /// any shutdown_with_drain() wait. Idempotent.
  void shutdown() {
    State& st = *state_;
    std::lock_guard lk(st.mu);
    st.shutdown_locked();
    st.drain_forced = true;
    st.finish_drain();
  }

  /// shutdown(), then waits until no item is being processed (or until shutdown() is called).
  boost::asio::awaitable<void> shutdown_with_drain() {
    {
      State& st = *state_;
      std::lock_guard lk(st.mu);
      st.shutdown_locked();
      st.drain_forced = false;
      if (st.core.processing() == 0) co_return;
    }
    co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                         void(boost::system::error_code)>(
        InitDrain{state_.get()}, boost::asio::use_awaitable);
  }

  bool shutting_down() const {
    std::lock_guard lk(state_->mu);
    return state_->core.shutting_down();
  }
  /// Items ready to be handed out (client-go's Len: neither delayed nor processing ones).
  std::size_t len() const {
    std::lock_guard lk(state_->mu);
    return state_->core.len();
  }
  /// Items waiting for their ready time.
  std::size_t delayed_len() const {
    std::lock_guard lk(state_->mu);
    return state_->core.delayed();
  }
  /// Items handed out and not done.
  std::size_t processing_len() const {
    std::lock_guard lk(state_->mu);
    return state_->core.processing();
  }
  /// Sets workqueue_unfinished_work_seconds and workqueue_longest_running_processor_seconds.
  void update_unfinished_work() {
    State& st = *state_;
    std::lock_guard lk(st.mu);
    st.core.update_unfinished_work(st.clock->now());
  }

 private:
  using ItemOp = detail::PendingOp<std::optional<T>>;
  using DrainOp = detail::PendingOp<>;

  struct State : std::enable_shared_from_this<State> {
    State(boost::asio::any_io_executor e, Options o)
        : ex(std::move(e)),
          limiter(o.rate_limiter ? std::move(o.rate_limiter)
                                 : default_controller_rate_limiter<T>()),
          metrics(std::move(o.metrics)),
          clock(o.clock ? std::move(o.clock) : SteadyQueueClock::instance()),
          core(metrics.get()) {}

    // The time for metrics; the epoch when there are none (the core then ignores it).
    time_point stamp() const { return metrics ? clock->now() : time_point{}; }

    // Hands ready items to suspended consumers, oldest consumer first.
    void dispatch() {
      while (!waiters.empty()) {
        const auto* n = core.pop(stamp());
        if (!n) return;
        std::unique_ptr<ItemOp> w = std::move(waiters.front());
        waiters.pop_front();
        w->complete({}, n->first);
      }
    }

    // Sets the alarm when the earliest delayed item is due before it would ring.
    void arm() {
      auto next = core.next_ready();
      if (next && *next < armed_at) {
        armed_at = *next;
        alarm->set(*next);
      }
    }

    void on_alarm() {
      std::lock_guard lk(mu);
      armed_at = time_point::max();
      if (core.promote(clock->now()) != 0) dispatch();
      arm();
    }

    void shutdown_locked() {
      core.shutdown();
      alarm->cancel();
      armed_at = time_point::max();
      // Waiters exist only while the FIFO is empty, so they all get std::nullopt.
      while (!waiters.empty()) {
        std::unique_ptr<ItemOp> w = std::move(waiters.front());
        waiters.pop_front();
        w->complete({}, std::nullopt);
      }
    }

    void finish_drain() {
      while (!drainers.empty()) {
        std::unique_ptr<DrainOp> d = std::move(drainers.front());
        drainers.pop_front();
        d->complete({});
      }
    }

    template <class Handler>
    void wait_for_item(Handler handler) {
      auto slot = boost::asio::get_associated_cancellation_slot(handler);
      std::lock_guard lk(mu);
      const uint64_t id = ++last_id;
      auto op = std::make_unique<detail::PendingOpImpl<Handler, std::optional<T>>>(
          id, std::move(handler));
      // Something may have come in since get() looked.
      if (const auto* n = core.pop(stamp())) return op->complete({}, n->first);
      if (core.shutting_down()) return op->complete({}, std::nullopt);
      if (slot.is_connected()) {
        slot.template emplace<Cancel>(this->weak_from_this(), id, &State::waiters);
      }
      waiters.push_back(std::move(op));
    }

    template <class Handler>
    void wait_for_drain(Handler handler) {
      auto slot = boost::asio::get_associated_cancellation_slot(handler);
      std::lock_guard lk(mu);
      const uint64_t id = ++last_id;
      auto op = std::make_unique<detail::PendingOpImpl<Handler>>(id, std::move(handler));
      if (core.processing() == 0 || drain_forced) return op->complete({});
      if (slot.is_connected()) {
        slot.template emplace<Cancel>(this->weak_from_this(), id, &State::drainers);
      }
      drainers.push_back(std::move(op));
    }

    // Completes the pending operation `id` of `list` with operation_aborted, if it is still there.
    template <class Op>
    void cancel(uint64_t id, std::deque<std::unique_ptr<Op>> State::*list) {
      std::lock_guard lk(mu);
      auto& ops = this->*list;
      for (auto it = ops.begin(); it != ops.end(); ++it) {
        if ((*it)->id != id) continue;
        std::unique_ptr<Op> op = std::move(*it);
        ops.erase(it);
        if constexpr (std::is_same_v<Op, ItemOp>) {
          op->complete(boost::asio::error::operation_aborted, std::nullopt);
        } else {
          op->complete(boost::asio::error::operation_aborted);
        }
        return;
      }
    }

    // The handler installed in a suspended operation's cancellation slot.
    struct Cancel {
      std::weak_ptr<State> state;
      uint64_t id;
      std::variant<std::deque<std::unique_ptr<ItemOp>> State::*,
                   std::deque<std::unique_ptr<DrainOp>> State::*>
          list;
      template <class List>
      Cancel(std::weak_ptr<State> s, uint64_t i, List l) : state(std::move(s)), id(i), list(l) {}
      void operator()(boost::asio::cancellation_type) {
        auto st = state.lock();
        if (!st) return;
        std::visit([&](auto l) { st->cancel(id, l); }, list);
      }
    };

    mutable std::mutex mu;
    const boost::asio::any_io_executor ex;
    const std::shared_ptr<RateLimiter<T>> limiter;
    const std::shared_ptr<QueueMetrics> metrics;
    const std::shared_ptr<QueueClock> clock;
    detail::QueueCore<T> core;
    std::deque<std::unique_ptr<ItemOp>> waiters;
    std::deque<std::unique_ptr<DrainOp>> drainers;
    std::unique_ptr<QueueClock::Alarm> alarm;
    time_point armed_at = time_point::max();
    uint64_t last_id = 0;
    bool drain_forced = false;  // shutdown() ended the drain wait.
  };

  // Initiations hold a plain pointer (the queue outlives the call that runs them) and are
  // trivially destructible: GCC 12 may destroy temporaries of a co_await expression twice.
  struct InitGet {
    State* st;
    template <class Handler>
    void operator()(Handler&& h) const {
      st->wait_for_item(std::forward<Handler>(h));
    }
  };
  struct InitDrain {
    State* st;
    template <class Handler>
    void operator()(Handler&& h) const {
      st->wait_for_drain(std::forward<Handler>(h));
    }
  };

  std::shared_ptr<State> state_;
};

}  // namespace kcoro
