// DeltaChannel: a single-producer/single-consumer ring of deltas (the core: try_push/try_pop on two
// atomic counters) and an atomic waiter slot per side (the shell: suspend, wake, cancel).
//
// Memory orderings
// - Data: the producer writes a slot, then publishes it with its store to `tail`; the consumer
//   reads `tail` (acquire) before the slot, moves the delta out, then frees the slot with its store
//   to `head`; the producer reads `head` (acquire) before writing there again.
// - Wake-ups (Dekker): a waiting side stores its waiter, then loads the other side's counter (and
//   `closed`); the other side stores its counter (or `closed`), then loads the waiter slot. All
//   four are seq_cst, so in their single total order at least one side sees the other's store. The
//   waiter is then taken by an exchange (or a compare-exchange, by its own side), so exactly one
//   party completes it.
#include "kcoro/delta_channel.hpp"

#include "kcoro/detail/pending_op.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <utility>

namespace asio = boost::asio;

namespace kcoro {

std::string_view to_string(DeltaType type) noexcept {
  switch (type) {
    case DeltaType::added:
      return "added";
    case DeltaType::updated:
      return "updated";
    case DeltaType::deleted:
      return "deleted";
    case DeltaType::bookmark:
      return "bookmark";
    case DeltaType::replace_begin:
      return "replace_begin";
    case DeltaType::replace_item:
      return "replace_item";
    case DeltaType::replace_end:
      return "replace_end";
  }
  return "unknown";
}

namespace detail {

namespace {

// A suspended side, waiting for its wake-up `void(error_code)`: the work queue's pending
// operation, without an id.
using Waiter = PendingOp<>;
template <class Handler>
using WaiterImpl = PendingOpImpl<Handler>;

void finish(Waiter* w, boost::system::error_code ec) {
  std::unique_ptr<Waiter> owned(w);
  owned->complete(ec);
}

constexpr std::size_t kLine = 64;

}  // namespace

enum class Side : uint8_t { producer, consumer };

class ChannelState : public std::enable_shared_from_this<ChannelState> {
 public:
  explicit ChannelState(std::size_t capacity)
      : cap_(capacity), slots_(std::make_unique<Delta[]>(capacity)) {}

  ~ChannelState() {
    // close() took any waiter; this is only a safety net.
    delete producer_waiter_.exchange(nullptr);
    delete consumer_waiter_.exchange(nullptr);
  }

  std::size_t capacity() const noexcept { return cap_; }

  // ---- The ring (producer side) ----
  bool try_push(Delta& d) {
    const uint64_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_cache_ == cap_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t - head_cache_ == cap_) return false;
    }
    slots_[t % cap_] = std::move(d);
    tail_.store(t + 1, std::memory_order_seq_cst);
    return true;
  }

  // ---- The ring (consumer side) ----
  std::optional<Delta> try_pop() {
    const uint64_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (h == tail_cache_) return std::nullopt;
    }
    std::optional<Delta> d(std::move(slots_[h % cap_]));
    head_.store(h + 1, std::memory_order_seq_cst);
    return d;
  }

  std::size_t try_pop_some(std::vector<Delta>& out, std::size_t max) {
    const uint64_t h = head_.load(std::memory_order_relaxed);
    tail_cache_ = tail_.load(std::memory_order_acquire);
    const std::size_t n = std::min<std::size_t>(tail_cache_ - h, max);
    if (n == 0) return 0;
    out.reserve(out.size() + n);  // Nothing may throw once deltas are moved out.
    for (std::size_t i = 0; i < n; ++i)
      out.push_back(std::move(slots_[(h + i) % cap_]));
    head_.store(h + n, std::memory_order_seq_cst);
    return n;
  }

  std::size_t size_approx() const noexcept {
    const uint64_t h = head_.load(std::memory_order_acquire);
    const uint64_t t = tail_.load(std::memory_order_acquire);
    return t > h ? static_cast<std::size_t>(t - h) : 0;
  }

  // ---- Close ----
  bool closed() const noexcept { return closed_.load(std::memory_order_seq_cst); }
  void close() noexcept {
    closed_.store(true, std::memory_order_seq_cst);
    wake(Side::producer);
    wake(Side::consumer);
  }

  // ---- Waiting and waking ----

  // After a pop: wakes a producer waiting on a full channel once half of it is free (or it is
  // empty), so that a producer refills in batches rather than paying a wake-up per delta. A waiter
  // that is not woken yet stays published, and every later pop looks again; the pop that empties
  // the channel always wakes it.
  void wake_producer() noexcept {
    if (producer_waiter_.load(std::memory_order_seq_cst) == nullptr) return;
    const uint64_t used =
        tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_relaxed);
    if (used != 0 && cap_ - used < (cap_ + 1) / 2) return;
    if (Waiter* w = producer_waiter_.exchange(nullptr, std::memory_order_acq_rel)) finish(w, {});
  }

  // Completes the waiter of `side`, if one is published. Called after a push (for the consumer),
  // a pop (for the producer) or a close.
  void wake(Side side) noexcept {
    auto& slot = waiter(side);
    if (slot.load(std::memory_order_seq_cst) == nullptr) return;
    if (Waiter* w = slot.exchange(nullptr, std::memory_order_acq_rel)) finish(w, {});
  }

  // The initiation of a wait by `side`: publishes the waiter, then looks again.
  template <class Handler>
  void wait(Side side, Handler handler) {
    auto cancel_slot = asio::get_associated_cancellation_slot(handler);
    Waiter* w = new WaiterImpl<Handler>(0, std::move(handler));
    if (cancel_slot.is_connected()) {
      cancel_slot.template emplace<CancelWait>(weak_from_this(), side, w);
    }
    auto& slot = waiter(side);
    slot.store(w, std::memory_order_seq_cst);
    // From here on `w` may already be completed and deleted by the other side; only the
    // compare-exchange below may touch it.
    if (ready(side)) {
      Waiter* expected = w;
      if (slot.compare_exchange_strong(expected, nullptr, std::memory_order_acq_rel)) {
        finish(w, {});
      }
    }
  }

 private:
  // Whether `side` can proceed (or must stop): what it re-checks after publishing its waiter.
  bool ready(Side side) const noexcept {
    if (closed_.load(std::memory_order_seq_cst)) return true;
    if (side == Side::consumer) {
      return tail_.load(std::memory_order_seq_cst) != head_.load(std::memory_order_relaxed);
    }
    return tail_.load(std::memory_order_relaxed) - head_.load(std::memory_order_seq_cst) < cap_;
  }

  std::atomic<Waiter*>& waiter(Side side) noexcept {
    return side == Side::producer ? producer_waiter_ : consumer_waiter_;
  }

  // The handler installed in a waiting operation's cancellation slot.
  struct CancelWait {
    std::weak_ptr<ChannelState> state;
    Side side;
    Waiter* waiter;
    CancelWait(std::weak_ptr<ChannelState> s, Side sd, Waiter* w)
        : state(std::move(s)), side(sd), waiter(w) {}
    void operator()(asio::cancellation_type) {
      auto st = state.lock();
      if (!st) return;
      Waiter* expected = waiter;
      // Fails if the other side (or close) took the waiter first: that wake-up wins.
      if (st->waiter(side).compare_exchange_strong(expected, nullptr, std::memory_order_acq_rel)) {
        finish(waiter, asio::error::operation_aborted);
      }
    }
  };

  const std::size_t cap_;
  const std::unique_ptr<Delta[]> slots_;
  // Written by the producer.
  alignas(kLine) std::atomic<uint64_t> tail_{0};
  uint64_t head_cache_ = 0;
  // Written by the consumer.
  alignas(kLine) std::atomic<uint64_t> head_{0};
  uint64_t tail_cache_ = 0;
  // Written rarely: when a side waits, is woken, or the channel closes.
  alignas(kLine) std::atomic<Waiter*> producer_waiter_{nullptr};
  std::atomic<Waiter*> consumer_waiter_{nullptr};
  std::atomic<bool> closed_{false};
};

namespace {

// Trivially destructible, holding plain pointers: GCC 12 may destroy temporaries of a co_await
// expression twice.
struct InitWait {
  ChannelState* st;
  Side side;
  template <class Handler>
  void operator()(Handler&& h) const {
    st->wait(side, std::forward<Handler>(h));
  }
};

asio::awaitable<void> wait(ChannelState* st, Side side) {
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(boost::system::error_code)>(
      InitWait{st, side}, asio::use_awaitable);
}

}  // namespace
}  // namespace detail

using detail::Side;

DeltaChannel::DeltaChannel(std::size_t capacity) {
  if (capacity == 0) throw std::invalid_argument("DeltaChannel: capacity must be at least 1");
  state_ = std::make_shared<detail::ChannelState>(capacity);
}

DeltaChannel::~DeltaChannel() {
  state_->close();
}

asio::awaitable<bool> DeltaChannel::send(Delta delta) {
  detail::ChannelState* st = state_.get();
  // Held while suspended: the channel may be destroyed meanwhile (`this` is not used after that).
  std::shared_ptr<detail::ChannelState> keep;
  for (;;) {
    if (st->closed()) co_return false;
    if (st->try_push(delta)) {
      st->wake(Side::consumer);
      co_return true;
    }
    if (!keep) keep = state_;
    co_await detail::wait(st, Side::producer);
  }
}

bool DeltaChannel::try_send(Delta& delta) {
  detail::ChannelState& st = *state_;
  if (st.closed() || !st.try_push(delta)) return false;
  st.wake(Side::consumer);
  return true;
}

asio::awaitable<std::optional<Delta>> DeltaChannel::receive() {
  detail::ChannelState* st = state_.get();
  std::shared_ptr<detail::ChannelState> keep;
  for (;;) {
    if (auto d = st->try_pop()) {
      st->wake_producer();
      co_return d;
    }
    if (st->closed()) {
      // Deltas sent before the close are visible now.
      auto d = st->try_pop();
      if (d) st->wake_producer();
      co_return d;
    }
    if (!keep) keep = state_;
    co_await detail::wait(st, Side::consumer);
  }
}

asio::awaitable<std::size_t> DeltaChannel::receive_some(std::vector<Delta>& out, std::size_t max) {
  if (max == 0) throw std::invalid_argument("DeltaChannel::receive_some: max must be at least 1");
  detail::ChannelState* st = state_.get();
  std::shared_ptr<detail::ChannelState> keep;
  for (;;) {
    if (const std::size_t n = st->try_pop_some(out, max)) {
      st->wake_producer();
      co_return n;
    }
    if (st->closed()) {
      const std::size_t n = st->try_pop_some(out, max);
      if (n) st->wake_producer();
      co_return n;
    }
    if (!keep) keep = state_;
    co_await detail::wait(st, Side::consumer);
  }
}

std::optional<Delta> DeltaChannel::try_receive() {
  detail::ChannelState& st = *state_;
  auto d = st.try_pop();
  if (d) st.wake_producer();
  return d;
}

void DeltaChannel::close() noexcept {
  state_->close();
}

bool DeltaChannel::closed() const noexcept {
  return state_->closed();
}

std::size_t DeltaChannel::capacity() const noexcept {
  return state_->capacity();
}

std::size_t DeltaChannel::size_approx() const noexcept {
  return state_->size_approx();
}

}  // namespace kcoro
