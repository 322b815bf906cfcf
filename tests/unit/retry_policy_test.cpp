// The retry policy as a table: a reconcile outcome, the failures on record and max_retries ->
// the work queue operations (kcoro/reconcile.hpp).
#include "kcoro/reconcile.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <vector>

using namespace std::chrono_literals;
using kcoro::QueueOp;
using kcoro::Result;
using K = QueueOp::Kind;

namespace {

std::vector<QueueOp> ops(Result::Kind k, int requeues, int max, std::chrono::nanoseconds d = {}) {
  auto o = kcoro::retry_policy(k, d, requeues, max);
  return {o.begin(), o.end()};
}

}  // namespace

TEST_CASE("retry policy: outcome x failures on record x max_retries -> queue operations") {
  struct Row {
    Result::Kind kind;
    std::chrono::nanoseconds after;
    int requeues;
    int max;
    std::vector<QueueOp> want;
  };
  const QueueOp forget{K::forget};
  const QueueOp rate_limited{K::add_rate_limited};
  const QueueOp add{K::add};
  const QueueOp drop{K::drop};
  const std::vector<Row> table{
      {Result::Kind::done, {}, 0, 5, {forget}},
      {Result::Kind::done, {}, 4, 5, {forget}},
      {Result::Kind::requeue, {}, 0, 5, {rate_limited}},
      {Result::Kind::requeue, {}, 9, 5, {rate_limited}},  // requeues are not failures
      {Result::Kind::requeue_after, 30s, 3, 5, {forget, {K::add_after, 30s}}},
      {Result::Kind::requeue_after, 0s, 0, 5, {forget, add}},
      {Result::Kind::error, {}, 0, 5, {rate_limited}},
      {Result::Kind::error, {}, 4, 5, {rate_limited}},
      {Result::Kind::error, {}, 5, 5, {forget, drop}},
      {Result::Kind::error, {}, 7, 5, {forget, drop}},
      {Result::Kind::error, {}, 0, 0, {forget, drop}},
      {Result::Kind::error, {}, 1000000, kcoro::unlimited_retries, {rate_limited}},
      {Result::Kind::terminal, {}, 0, 5, {forget, drop}},
      {Result::Kind::terminal, {}, 0, kcoro::unlimited_retries, {forget, drop}},
  };
  for (const auto& row : table) {
    CAPTURE(static_cast<int>(row.kind));
    CAPTURE(row.requeues);
    CAPTURE(row.max);
    CHECK(ops(row.kind, row.requeues, row.max, row.after) == row.want);
  }
}
