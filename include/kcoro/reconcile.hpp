// kcoro/reconcile.hpp — what a reconciler is asked (Request), what it answers (Result), and the
// pure policy that turns the answer into work-queue operations.
//
// Contract
// - A Request names one object by client-go's key: "namespace/name", or "name" for a
//   cluster-scoped object. It is ObjectKey (object.hpp): `req.ns`, `req.name`, `req.str()`.
// - A Result is done, requeue, requeue_after(d), error(message) or terminal(message). A reconciler
//   may also throw: kcoro::TerminalError is a terminal error, any other exception an error.
// - retry_policy() is the whole retry decision, as a pure function of (result, the key's failures
//   on record, max_retries) — sample-controller's processNextWorkItem and controller-runtime's
//   reconcileHandler:
//     done                  forget
//     requeue               add_rate_limited          (not counted against max_retries)
//     requeue_after(d > 0)  forget, add_after(d)
//     requeue_after(d <= 0) forget, add
//     error                 add_rate_limited while num_requeues < max_retries (always when
//                           max_retries is unlimited_retries), else forget, drop
//     terminal              forget, drop
//   `drop` means: the key leaves the queue until its next event; the controller logs it.
// - owner_request() is sample-controller's handleObject: the controlling owner reference
//   (controller: true) of the given kind, named in the owned object's namespace.
// - No Asio here.
#pragma once

#include "kcoro/object.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kcoro {

/// The key of the object to reconcile.
using Request = ObjectKey;

/// Thrown by a reconciler: this key cannot succeed by retrying; it is not requeued.
class TerminalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Result {
 public:
  enum class Kind : uint8_t { done, requeue, requeue_after, error, terminal };

  static Result done() { return Result(Kind::done); }
  /// Again, after the key's rate-limited backoff.
  static Result requeue() { return Result(Kind::requeue); }
  /// Again after `d` (the key's failure record is cleared).
  static Result requeue_after(std::chrono::nanoseconds d) { return Result(Kind::requeue_after, d); }
  /// A failure: retried with backoff up to max_retries.
  static Result error(std::string message) { return Result(Kind::error, {}, std::move(message)); }
  /// A failure retrying cannot fix: not requeued.
  static Result terminal(std::string message) {
    return Result(Kind::terminal, {}, std::move(message));
  }

  Kind kind() const noexcept { return kind_; }
  std::chrono::nanoseconds after() const noexcept { return after_; }
  const std::string& message() const noexcept { return message_; }
  bool failed() const noexcept { return kind_ == Kind::error || kind_ == Kind::terminal; }

 private:
  explicit Result(Kind k, std::chrono::nanoseconds after = {}, std::string message = {})
      : kind_(k), after_(after), message_(std::move(message)) {}
  Kind kind_;
  std::chrono::nanoseconds after_;
  std::string message_;
};

/// max_retries value: retry errors forever.
inline constexpr int unlimited_retries = -1;

/// One operation on the work queue, for the key just processed.
struct QueueOp {
  enum class Kind : uint8_t { forget, add_rate_limited, add_after, add, drop };
  Kind kind;
  std::chrono::nanoseconds after{0};  ///< add_after only
  friend bool operator==(const QueueOp&, const QueueOp&) = default;
};

/// At most two operations, applied in order.
struct QueueOps {
  std::array<QueueOp, 2> ops{};
  uint8_t size = 0;
  const QueueOp* begin() const noexcept { return ops.data(); }
  const QueueOp* end() const noexcept { return ops.data() + size; }
  bool contains(QueueOp::Kind k) const noexcept {
    for (const auto& op : *this)
      if (op.kind == k) return true;
    return false;
  }
};

/// The queue operations for a reconcile that ended with `result` (see the contract's table).
/// `num_requeues` is the key's failures on record (WorkQueue::num_requeues) before this one.
QueueOps retry_policy(Result::Kind result, std::chrono::nanoseconds requeue_after, int num_requeues,
                      int max_retries) noexcept;

/// The key of `obj`'s controlling owner if that owner is of kind `owner_kind`, in obj's namespace.
std::optional<Request> owner_request(const Object& obj, std::string_view owner_kind);

/// As above, when the owner's API group (the part of its apiVersion before '/'; "" for "v1") is
/// `owner_group` too: a Foo of another group is not this controller's Foo.
std::optional<Request> owner_request(const Object& obj, std::string_view owner_group,
                                     std::string_view owner_kind);

}  // namespace kcoro
