// FakeCluster: responses and failures as the real server writes them (Status objects, 404 page,
// 403/404/405/409/422), and its timestamps.
#include "testing/fake_cluster_impl.hpp"

#include <ctime>

namespace kcoro::testing::fake {

FakeResponse json_response(int code, const json::value& v) {
  FakeResponse r;
  r.status = code;
  r.body = json::serialize(v);
  return r;
}

FakeResponse page_not_found() {
  FakeResponse r;
  r.status = 404;
  r.content_type = "text/plain; charset=utf-8";
  r.body = "404 page not found\n";
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

json::object status_object(int code, std::string_view reason, std::string message,
                           json::object details, json::object metadata, bool empty_details) {
  json::object s;
  s.emplace("kind", "Status");
  s.emplace("apiVersion", "v1");
  s.emplace("metadata", std::move(metadata));
  s.emplace("status", "Failure");
  s.emplace("message", std::move(message));
  s.emplace("reason", reason);
  if (!details.empty() || empty_details) s.emplace("details", std::move(details));
  s.emplace("code", code);
  return s;
}

void fail(int code, std::string_view reason, std::string message, json::object details,
          json::object metadata) {
  throw Failure{json_response(code, status_object(code, reason, std::move(message),
                                                  std::move(details), std::move(metadata), false))};
}

void fail_bad_request(std::string message) {
  fail(400, "BadRequest", std::move(message));
}

json::object name_details(const ResourceInfo& r, std::string_view name) {
  json::object d;
  if (!name.empty()) d.emplace("name", name);
  if (!r.group.empty()) d.emplace("group", r.group);
  d.emplace("kind", r.plural);
  return d;
}

void fail_not_found(const ResourceInfo& r, std::string_view name) {
  fail(404, "NotFound", r.qualified() + " \"" + std::string(name) + "\" not found",
       name_details(r, name));
}

void fail_conflict(const ResourceInfo& r, std::string_view name, std::string message) {
  fail(409, "Conflict",
       "Operation cannot be fulfilled on " + r.qualified() + " \"" + std::string(name) +
           "\": " + message,
       name_details(r, name));
}

void fail_invalid(const ResourceInfo& r, std::string_view name, const std::vector<Cause>& causes) {
  std::string list;
  json::array arr;
  for (const auto& c : causes) {
    if (!list.empty()) list += ", ";
    list += c.field + ": " + c.message;
    arr.emplace_back(
        json::object{{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
  }
  if (causes.size() > 1) list = "[" + list + "]";
  json::object d;
  d.emplace("name", name);
  if (!r.group.empty()) d.emplace("group", r.group);
  d.emplace("kind", r.kind);
  d.emplace("causes", std::move(arr));
  std::string group_suffix = r.group.empty() ? "" : "." + r.group;
  fail(422, "Invalid", r.kind + group_suffix + " \"" + std::string(name) + "\" is invalid: " + list,
       std::move(d));
}

void fail_options(std::string_view kind, std::string field, std::string message,
                  std::string reason) {
  json::object d{{"group", "meta.k8s.io"},
                 {"kind", kind},
                 {"causes", json::array{json::object{
                                {"reason", reason}, {"message", message}, {"field", field}}}}};
  fail(422, "Invalid",
       std::string(kind) + ".meta.k8s.io \"\" is invalid: " + field + ": " + message, std::move(d));
}

void fail_method_not_allowed() {
  throw Failure{json_response(
      405, status_object(405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource", {}, {},
                         true))};
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace kcoro::testing::fake
