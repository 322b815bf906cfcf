// Internal: a suspended asynchronous operation (a coroutine awaiting a queue's get() or a
// channel's push/pop) and its completion, posted to the waiter's own executor. The work queue and
// the delta channel both park their waiters in it.
#pragma once

#include "kcoro/detail/asio_config.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <type_traits>
#include <utility>

namespace kcoro::detail {

// A suspended operation waiting for its completion `void(error_code, Args...)`.
template <class... Args>
class PendingOp {
 public:
  explicit PendingOp(uint64_t id) : id(id) {}
  virtual ~PendingOp() = default;
  // Posts the completion to the handler's executor. Called once.
  virtual void complete(boost::system::error_code ec, Args... args) = 0;
  const uint64_t id;
};

template <class Handler, class... Args>
class PendingOpImpl final : public PendingOp<Args...> {
 public:
  PendingOpImpl(uint64_t id, Handler h)
      : PendingOp<Args...>(id),
        work_(boost::asio::prefer(boost::asio::get_associated_executor(h),
                                  boost::asio::execution::outstanding_work.tracked)),
        handler_(std::move(h)) {}

  void complete(boost::system::error_code ec, Args... args) override {
    boost::asio::post(work_, [h = std::move(handler_), ec, ... a = std::move(args)]() mutable {
      // Our cancellation handler lives in the slot until the operation completes.
      auto slot = boost::asio::get_associated_cancellation_slot(h);
      if (slot.is_connected()) slot.clear();
      std::move(h)(ec, std::move(a)...);
    });
  }

 private:
  using Executor = boost::asio::associated_executor_t<Handler>;
  std::decay_t<decltype(boost::asio::prefer(std::declval<Executor>(),
                                            boost::asio::execution::outstanding_work.tracked))>
      work_;
  Handler handler_;
};

}  // namespace kcoro::detail
