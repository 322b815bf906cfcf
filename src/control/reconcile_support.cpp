// The reconcile helpers' decisions, without I/O (kcoro/reconcile_support.hpp).
#include "kcoro/reconcile_support.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace kcoro {

namespace json = boost::json;

std::string_view to_string(OperationResult r) noexcept {
  switch (r) {
    case OperationResult::unchanged:
      return "unchanged";
    case OperationResult::created:
      return "created";
    case OperationResult::updated:
      return "updated";
    case OperationResult::updated_status:
      return "updatedStatus";
    case OperationResult::updated_status_only:
      return "updatedStatusOnly";
  }
  return "unknown";
}

json::object merge_patch_diff(const json::object& before, const json::object& after) {
  json::object out;
  for (const auto& kv : after) {
    auto it = before.find(kv.key());
    if (it != before.end() && it->value() == kv.value()) continue;
    if (it != before.end() && it->value().is_object() && kv.value().is_object()) {
      out[kv.key()] = merge_patch_diff(it->value().get_object(), kv.value().get_object());
    } else {
      out[kv.key()] = kv.value();
    }
  }
  for (const auto& kv : before) {
    if (!after.contains(kv.key())) out[kv.key()] = nullptr;
  }
  return out;
}

bool has_finalizer(const Object& obj, std::string_view name) noexcept {
  const auto& f = obj.meta().finalizers;
  return std::find(f.begin(), f.end(), name) != f.end();
}

bool is_write_conflict(const ApiError& e) noexcept {
  if (is_conflict(e)) return true;
  if (e.http_code() != 422) return false;
  // evanphx/json-patch's ErrTestFailed, which kube-apiserver reports as the cause of a 422.
  constexpr std::string_view test_failed = "test failed";
  if (e.status().message.find(test_failed) != std::string::npos) return true;
  return std::any_of(
      e.status().details.causes.begin(), e.status().details.causes.end(),
      [&](const StatusCause& c) { return c.message.find(test_failed) != std::string::npos; });
}

std::chrono::nanoseconds retry_delay(const RetryBackoff& b, int attempt, double unit) noexcept {
  double d = static_cast<double>(b.duration.count()) * std::pow(b.factor, std::max(attempt, 0));
  if (b.cap.count() > 0) d = std::min(d, static_cast<double>(b.cap.count()));
  if (b.jitter > 0) d += d * b.jitter * std::clamp(unit, 0.0, 1.0);
  // A day is far past any sensible wait, and keeps the conversion below in range.
  constexpr double max_wait = 86400e9;
  if (!(d > 0)) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(static_cast<int64_t>(std::min(d, max_wait)));
}

}  // namespace kcoro
