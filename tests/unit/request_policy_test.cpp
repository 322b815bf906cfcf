// RequestPolicy as a table: responses and connection failures in, the Client's next step out
// (retry after how long, reauthenticate, or the answer), with the jitter's draw chosen by the test.
#include "kcoro/request_policy.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <optional>

using kcoro::RequestPolicy;
using kcoro::RetryPolicy;
using Action = RequestPolicy::Action;
using namespace std::chrono_literals;

namespace {

RetryPolicy retries(int max) {
  RetryPolicy r;
  r.max_retries = max;
  r.base = 200ms;
  r.cap = 1000ms;
  r.max_retry_after = 10s;
  return r;
}

}  // namespace

TEST_CASE("request policy: 2xx, 3xx and 4xx answers are the answer") {
  RequestPolicy p(retries(4), true);
  for (int status : {200, 201, 304, 400, 403, 404, 409, 410, 422})
    CHECK(p.on_response(status, std::nullopt).action == Action::answer);
  CHECK(p.retries() == 0);
}

TEST_CASE("request policy: 408, 429 and 5xx to a read back off exponentially, jittered") {
  RequestPolicy p(retries(4), true);
  // base 200 ms doubling to the 1 s cap; the draw places each wait in [d/2, d).
  auto d = p.on_response(503, std::nullopt);
  CHECK(d.action == Action::retry);
  CHECK(d.jittered);
  CHECK(d.delay == 200ms);
  CHECK(d.wait(0.0) == 100ms);
  d = p.on_response(429, std::nullopt);
  CHECK(d.action == Action::retry);
  CHECK(d.delay == 400ms);
  CHECK(d.wait(0.5) == 300ms);
  d = p.on_response(408, std::nullopt);
  CHECK(d.wait(0.0) == 400ms);  // 800 ms
  d = p.on_response(500, std::nullopt);
  CHECK(d.delay == 1000ms);  // capped at 1 s
  CHECK(d.wait(0.999) >= 999ms);
  CHECK(d.wait(0.999) <= 1000ms);
  CHECK(d.wait(7.0) == 1000ms);  // a draw out of range is clamped
  CHECK(p.retries() == 4);
  // max_retries spent: the fifth 5xx is the answer.
  CHECK(p.on_response(500, std::nullopt).action == Action::answer);
}

TEST_CASE("request policy: Retry-After sets the wait, capped at max_retry_after, not jittered") {
  RequestPolicy p(retries(4), true);
  auto d = p.on_response(429, 3);
  CHECK(d.action == Action::retry);
  CHECK_FALSE(d.jittered);
  CHECK(d.wait(0.0) == 3s);
  d = p.on_response(503, 3600);
  CHECK(d.wait(0.9) == 10s);
  d = p.on_response(429, -5);  // nonsense from the server: no wait, not a negative one
  CHECK(d.wait(0.9) == 0ms);
}

TEST_CASE("request policy: a write's 5xx or 429 is the answer: it may have been carried out") {
  RequestPolicy p(retries(4), false);
  for (int status : {408, 429, 500, 503, 504})
    CHECK(p.on_response(status, 1).action == Action::answer);
  CHECK(p.retries() == 0);
}

TEST_CASE("request policy: a 401 reauthenticates once, at once, reads and writes alike") {
  for (bool idempotent : {true, false}) {
    CAPTURE(idempotent);
    RequestPolicy p(retries(4), idempotent);
    const auto d = p.on_response(401, std::nullopt);
    CHECK(d.action == Action::reauthenticate);
    CHECK(d.delay == 0ms);
    CHECK(p.on_response(401, std::nullopt).action == Action::answer);
  }
  // Even with no retries allowed: a refreshed credential is not a retry of the same request.
  RequestPolicy none(retries(0), true);
  CHECK(none.on_response(401, std::nullopt).action == Action::reauthenticate);
  CHECK(none.on_response(503, std::nullopt).action == Action::answer);
}

TEST_CASE("request policy: connection failures of a read retry with backoff") {
  RequestPolicy p(retries(2), true);
  auto d = p.on_connection_failure(false, false);  // refused: a new connection failed
  CHECK(d.action == Action::retry);
  CHECK(d.jittered);
  CHECK(d.wait(0.0) == 100ms);
  d = p.on_connection_failure(false, true);  // reset after the request went out
  CHECK(d.action == Action::retry);
  CHECK(d.wait(0.0) == 200ms);
  CHECK(p.on_connection_failure(false, true).action == Action::fail);
}

TEST_CASE("request policy: a pooled connection closed by the server is retried at once") {
  // A write on a stale keep-alive connection, broken before the request was written: it never
  // reached the server, so it is sent again, at once, on a fresh connection.
  RequestPolicy w(retries(4), false);
  auto d = w.on_connection_failure(true, false);
  CHECK(d.action == Action::retry);
  CHECK_FALSE(d.jittered);
  CHECK(d.wait(0.5) == 0ms);
  // The fresh connection fails too: a write after that is the answer.
  CHECK(w.on_connection_failure(false, false).action == Action::fail);
  // Broken after the request was written: it may have been carried out.
  RequestPolicy written(retries(4), false);
  CHECK(written.on_connection_failure(true, true).action == Action::fail);
  // A read on a stale connection: at once the first time, then with backoff.
  RequestPolicy r(retries(4), true);
  CHECK(r.on_connection_failure(true, true).wait(0.5) == 0ms);
  CHECK(r.on_connection_failure(true, true).wait(0.0) == 200ms);  // the second retry: 400 ms
  // With retries disabled nothing is retried, not even a stale connection.
  RequestPolicy none(retries(0), false);
  CHECK(none.on_connection_failure(true, false).action == Action::fail);
}

TEST_CASE("request policy: retries count across responses and failures") {
  RequestPolicy p(retries(3), true);
  CHECK(p.on_connection_failure(false, false).action == Action::retry);
  CHECK(p.on_response(503, std::nullopt).action == Action::retry);
  CHECK(p.on_response(401, std::nullopt).action == Action::reauthenticate);
  CHECK(p.retries() == 3);
  CHECK(p.on_response(503, std::nullopt).action == Action::answer);
  CHECK(p.on_connection_failure(false, false).action == Action::fail);
}
