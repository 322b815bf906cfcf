#include "kcoro/retry.hpp"

#include "kcoro/error.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <random>

namespace kcoro {

namespace detail {

boost::asio::awaitable<void> retry_on_conflict(RetryBackoff backoff,
                                               std::function<boost::asio::awaitable<void>()> fn) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (int attempt = 0;; ++attempt) {
    try {
      co_await fn();
      co_return;
    } catch (const ApiError& e) {
      if (!is_conflict(e) || attempt + 1 >= backoff.steps) throw;
    }
    timer.expires_after(retry_delay(backoff, attempt, unit(rng)));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

}  // namespace detail

}  // namespace kcoro
