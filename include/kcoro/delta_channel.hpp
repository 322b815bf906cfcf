// kcoro/delta_channel.hpp — the bounded, lock-free hand-off from a reflector to its informer.
//
// Contract
//
// Roles. A DeltaChannel has one producer (the reflector) and one consumer (the informer). At most
// one send()/try_send() may be in progress at a time, and at most one receive()/receive_some()/
// try_receive(); the two sides may run on different threads and io_contexts, or on the same one.
// close(), closed(), capacity() and size_approx() may be called from any thread.
//
// Ordering. Deltas come out exactly once, in the order they went in (FIFO). A relist travels as
// replace_begin, replace_item x N, replace_end, so the consumer can apply it atomically; bookmark
// and replace_end carry the resourceVersion.
//
// Capacity and back-pressure. The channel holds at most `capacity` deltas (given at construction,
// at least 1). A send() on a full channel suspends the producer until there is room again, so a
// slow informer stops the reflector from reading its socket and back-pressure reaches the server.
// A receive() on an empty channel suspends the consumer until a delta arrives or the channel is
// closed. An operation that need not wait completes without suspending. A producer suspended on a
// full channel is woken once half of it is free, or it is empty, whichever comes first: it then
// refills in a batch instead of paying a cross-thread wake-up per delta.
//
// Executors. A suspended side is resumed on its own executor (the executor of the coroutine that
// called send() or receive()), through a post: never inline inside the other side's call, and never
// on the other side's thread. While suspended it keeps its executor's work count up, as any Asio
// operation does.
//
// Lock-freedom. The ring is a single-producer/single-consumer array indexed by two atomic counters
// (release/acquire for the data). Waking uses an atomic waiter slot per side: a side that must wait
// publishes its waiter, then looks at the ring again before suspending; the other side, after it
// pushed or popped, looks at the slot. Both steps are sequentially consistent, so at least one of
// the two sees the other, and an atomic exchange decides which one completes the waiter: no wake-up
// is lost and none is delivered twice. Besides the coroutine frames (which Asio recycles), only
// waiting allocates.
//
// Close. close() may come from either side (or any thread) and is idempotent. Afterwards send()
// and try_send() return false; receive() still hands out the deltas already in the channel, then
// std::nullopt (receive_some(): 0). A suspended side is woken by close. Every delta whose send()
// returned true is in the channel until it is received or the channel is destroyed; when the
// close comes from another thread than the producer's, a send() racing with it may still succeed
// after the consumer saw the end (drain with try_receive() if that matters). Destroying the
// channel closes it; an operation suspended on it at that time completes (false / std::nullopt)
// and keeps the channel's state alive until it does.
//
// Cancellation. A suspended send(), receive() or receive_some() honours its coroutine's
// cancellation slot (any cancellation type): it completes with
// boost::asio::error::operation_aborted (thrown from co_await as boost::system::system_error) and
// the channel is as if the operation had never been called: a cancelled send() did not enqueue its
// delta, a cancelled receive() took none. If the other side woke the operation first, the wake-up
// wins and the operation completes normally. Emit the cancellation from the waiting side's
// executor, as Asio requires.
//
// Lifetimes. The channel must outlive the start of every call made on it (until the call first
// suspends). Deltas hold ObjectPtrs; a delta taken out of the ring no longer holds anything there.
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include "kcoro/object.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kcoro {

enum class DeltaType : uint8_t {
  added,          ///< A watch ADDED event.
  updated,        ///< A watch MODIFIED event.
  deleted,        ///< A watch DELETED event; `object` is the last state the server sent.
  bookmark,       ///< A watch BOOKMARK: no object, `resource_version` set.
  replace_begin,  ///< A relist starts: the items follow.
  replace_item,   ///< One object of the relist.
  replace_end,    ///< The relist is complete; `resource_version` is the list's.
};

/// "added", "updated", ...
std::string_view to_string(DeltaType type) noexcept;

struct Delta {
  DeltaType type = DeltaType::added;
  ObjectPtr object;              ///< Null for bookmark, replace_begin and replace_end.
  std::string resource_version;  ///< Set for bookmark and replace_end.

  Delta() = default;
  // Not an aggregate on purpose: GCC 12 destroys the members of an aggregate temporary built inside
  // a co_await expression twice (`co_await ch.send({type, obj, rv})` frees them twice); a
  // temporary made by a constructor is handled correctly.
  Delta(DeltaType t, ObjectPtr obj = nullptr, std::string rv = {}) noexcept
      : type(t), object(std::move(obj)), resource_version(std::move(rv)) {}
};

namespace detail {
class ChannelState;
}

class DeltaChannel {
 public:
  /// Throws std::invalid_argument if capacity is 0.
  explicit DeltaChannel(std::size_t capacity);
  /// Closes the channel (see the contract).
  ~DeltaChannel();
  DeltaChannel(const DeltaChannel&) = delete;
  DeltaChannel& operator=(const DeltaChannel&) = delete;

  /// Enqueues `delta`, suspending while the channel is full. True once it is in the channel; false
  /// if the channel was closed (the delta is dropped).
  boost::asio::awaitable<bool> send(Delta delta);
  /// Enqueues `delta` if there is room and the channel is open (then `delta` is moved from);
  /// otherwise returns false and leaves `delta` untouched. Never suspends.
  bool try_send(Delta& delta);

  /// The next delta, suspending while the channel is empty; std::nullopt once it is closed and
  /// drained.
  boost::asio::awaitable<std::optional<Delta>> receive();
  /// Waits as receive() does, then appends to `out` every delta there is, up to `max` (>= 1;
  /// throws std::invalid_argument otherwise). Returns how many it appended: 0 only once the
  /// channel is closed and drained.
  boost::asio::awaitable<std::size_t> receive_some(std::vector<Delta>& out, std::size_t max);
  /// The next delta if there is one. Never suspends.
  std::optional<Delta> try_receive();

  /// Closes the channel and wakes a suspended side. Idempotent; any thread.
  void close() noexcept;
  bool closed() const noexcept;
  std::size_t capacity() const noexcept;
  /// Deltas in the channel; exact when called by either side while the other is idle.
  std::size_t size_approx() const noexcept;

 private:
  std::shared_ptr<detail::ChannelState> state_;
};

}  // namespace kcoro
