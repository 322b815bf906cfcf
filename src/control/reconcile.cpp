#include "kcoro/reconcile.hpp"

namespace kcoro {

QueueOps retry_policy(Result::Kind result, std::chrono::nanoseconds requeue_after, int num_requeues,
                      int max_retries) noexcept {
  using K = QueueOp::Kind;
  QueueOps out;
  auto push = [&out](K k, std::chrono::nanoseconds after = {}) {
    out.ops[out.size++] = QueueOp{k, after};
  };
  switch (result) {
    case Result::Kind::done:
      push(K::forget);
      break;
    case Result::Kind::requeue:
      push(K::add_rate_limited);
      break;
    case Result::Kind::requeue_after:
      push(K::forget);
      if (requeue_after > std::chrono::nanoseconds::zero()) {
        push(K::add_after, requeue_after);
      } else {
        push(K::add);
      }
      break;
    case Result::Kind::error:
      if (max_retries < 0 || num_requeues < max_retries) {
        push(K::add_rate_limited);
      } else {
        push(K::forget);
        push(K::drop);
      }
      break;
    case Result::Kind::terminal:
      push(K::forget);
      push(K::drop);
      break;
  }
  return out;
}

std::optional<Request> owner_request(const Object& obj, std::string_view owner_kind) {
  const OwnerReference* ref = obj.meta().controller_ref();
  if (!ref || ref->kind != owner_kind || ref->name.empty()) return std::nullopt;
  return Request{std::string(obj.meta().ns), std::string(ref->name)};
}

std::optional<Request> owner_request(const Object& obj, std::string_view owner_group,
                                     std::string_view owner_kind) {
  const OwnerReference* ref = obj.meta().controller_ref();
  if (!ref) return std::nullopt;
  const std::size_t slash = ref->api_version.find('/');
  const std::string_view group =
      slash == std::string_view::npos ? std::string_view{} : ref->api_version.substr(0, slash);
  if (group != owner_group) return std::nullopt;
  return owner_request(obj, owner_kind);
}

}  // namespace kcoro
