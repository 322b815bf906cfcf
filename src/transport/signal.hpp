// Internal: kcoro's one wake-up primitive for its coroutine shells (stop requests, "synced",
// "workers done", "a new event to write"). Transport is the lowest layer with Asio, so the cache
// and control layers share it from here.
//
// A Signal is a concurrent channel of one slot carrying no value: `try_send(error_code{})`
// from any thread wakes one waiter, or is kept for the next one when nobody waits (a second
// notification while one is pending is dropped: a wake-up is a level, not a count);
// `co_await sig.async_receive(use_awaitable)` waits on any executor and honours per-operation
// cancellation, so it composes with awaitable operators (`wait || timer`). Construct it as
// `Signal(executor, 1)`.
#pragma once

#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/system/error_code.hpp>

namespace kcoro::detail {

using Signal = boost::asio::experimental::concurrent_channel<void(boost::system::error_code)>;

}  // namespace kcoro::detail
