// Test support: run a coroutine on a fresh io_context with a deadline. A hang fails the test
// (instead of hanging the suite) and an escaped exception is rethrown into the test.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <exception>

namespace kcoro::test {

template <class MakeCoroutine>
void co_run(MakeCoroutine&& make, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  boost::asio::io_context io;
  std::exception_ptr error;
  bool done = false;
  boost::asio::co_spawn(io, make(io.get_executor()), [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  io.run_for(limit);
  REQUIRE_MESSAGE(done, "the coroutine did not finish within its deadline");
  if (error) std::rethrow_exception(error);
}

}  // namespace kcoro::test
