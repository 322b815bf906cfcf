// The pure parts of the reconciler helpers (reconcile_support.hpp): the merge patch of
// create_or_patch, the write-conflict predicate and has_finalizer, and the retry backoff's waits.
#include "kcoro/reconcile_support.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

namespace json = boost::json;
using namespace std::chrono_literals;

TEST_CASE("merge_patch_diff: changed and new members, removed as null, arrays whole") {
  auto before = json::parse(R"({"a":1,"b":{"c":2,"d":3},"e":[1,2],"f":"x","g":{"h":1}})");
  auto after = json::parse(R"({"a":1,"b":{"c":2,"d":4,"n":true},"e":[1],"g":{"h":1},"z":{}})");
  CHECK(json::value(kcoro::merge_patch_diff(before.as_object(), after.as_object())) ==
        json::parse(R"({"b":{"d":4,"n":true},"e":[1],"f":null,"z":{}})"));
  CHECK(kcoro::merge_patch_diff(before.as_object(), before.as_object()).empty());
}

TEST_CASE("OperationResult names are controller-runtime's") {
  using kcoro::OperationResult;
  CHECK(kcoro::to_string(OperationResult::unchanged) == "unchanged");
  CHECK(kcoro::to_string(OperationResult::created) == "created");
  CHECK(kcoro::to_string(OperationResult::updated) == "updated");
  CHECK(kcoro::to_string(OperationResult::updated_status) == "updatedStatus");
  CHECK(kcoro::to_string(OperationResult::updated_status_only) == "updatedStatusOnly");
}

TEST_CASE("is_write_conflict: 409 Conflict or a failed JSON-patch test, nothing else") {
  using kcoro::ApiError;
  CHECK(kcoro::is_write_conflict(ApiError(409, R"({"kind":"Status","reason":"Conflict",
      "message":"the object has been modified","code":409})")));
  CHECK_FALSE(kcoro::is_write_conflict(ApiError(409, R"({"kind":"Status",
      "reason":"AlreadyExists","message":"exists","code":409})")));
  // kube-apiserver's answer to a failed test op (NewGenericServerResponse, 422).
  CHECK(kcoro::is_write_conflict(ApiError(422, R"({"kind":"Status","status":"Failure",
      "message":"the server rejected our request due to an error in our request",
      "reason":"Invalid","details":{"causes":[{"reason":"UnexpectedServerResponse",
      "message":"testing value /metadata/resourceVersion failed: test failed"}]},"code":422})")));
  CHECK_FALSE(kcoro::is_write_conflict(ApiError(422, R"({"kind":"Status","reason":"Invalid",
      "message":"spec.x: Invalid value","code":422})")));
  CHECK_FALSE(kcoro::is_write_conflict(ApiError(404, R"({"kind":"Status","reason":"NotFound",
      "message":"not found","code":404})")));
}

TEST_CASE("has_finalizer") {
  auto obj = kcoro::Object::parse(
      R"({"kind":"ConfigMap","metadata":{"name":"x","finalizers":["a/b","c"]}})");
  CHECK(kcoro::has_finalizer(*obj, "a/b"));
  CHECK(kcoro::has_finalizer(*obj, "c"));
  CHECK_FALSE(kcoro::has_finalizer(*obj, "a"));
  auto none = kcoro::Object::parse(R"({"kind":"ConfigMap","metadata":{"name":"x"}})");
  CHECK_FALSE(kcoro::has_finalizer(*none, "c"));
}

TEST_CASE("retry_delay: client-go's DefaultRetry and wait.Backoff steps") {
  kcoro::RetryBackoff def;
  CHECK(def.steps == 5);
  CHECK(def.duration == 10ms);
  CHECK(def.factor == 1.0);
  CHECK(def.jitter == 0.1);
  CHECK(kcoro::retry_delay(def, 0, 0.0) == 10ms);
  CHECK(kcoro::retry_delay(def, 3, 0.0) == 10ms);  // factor 1: constant
  CHECK(kcoro::retry_delay(def, 3, 0.5) == 10500us);
  CHECK(kcoro::retry_delay(def, 3, 1.0) == 11ms);  // jitter at most 10%

  kcoro::RetryBackoff exp;
  exp.duration = 10ms;
  exp.factor = 5.0;  // client-go's DefaultBackoff
  exp.jitter = 0;
  exp.cap = 1s;
  CHECK(kcoro::retry_delay(exp, 0, 0.9) == 10ms);
  CHECK(kcoro::retry_delay(exp, 1, 0.9) == 50ms);
  CHECK(kcoro::retry_delay(exp, 2, 0.9) == 250ms);
  CHECK(kcoro::retry_delay(exp, 3, 0.9) == 1s);  // capped
  CHECK(kcoro::retry_delay(exp, 1000, 0.9) == 1s);
  exp.cap = 0ns;
  CHECK(kcoro::retry_delay(exp, 1000, 0.9) == 86400s);  // bounded, never overflows
  exp.duration = 0ns;
  CHECK(kcoro::retry_delay(exp, 3, 0.9) == 0ns);
}
