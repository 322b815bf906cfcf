#include "kcoro/error.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace {
// The body of a recorded HTTP response (after the blank line).
std::string http_body(const std::string& name) {
  std::ifstream in(std::string(KCORO_FIXTURES_DIR) + "/" + name, std::ios::binary);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  auto pos = all.find("\r\n\r\n");
  REQUIRE(pos != std::string::npos);
  return all.substr(pos + 4);
}
}  // namespace

TEST_CASE("errc values have the kcoro category and a message") {
  std::error_code ec = kcoro::errc::resource_expired;
  CHECK(ec.category().name() == std::string("kcoro"));
  CHECK(ec.message() == "resource version expired (410)");
  CHECK(ec == kcoro::errc::resource_expired);
  CHECK(std::error_code(kcoro::errc::invalid_json).message() == "invalid JSON");
}

TEST_CASE("ApiError decodes the recorded Status bodies") {
  SUBCASE("404 NotFound") {
    kcoro::ApiError e(404, http_body("error-404-get-missing.http"));
    CHECK(kcoro::is_not_found(e));
    CHECK(e.reason() == "NotFound");
    CHECK(e.status().code == 404);
    CHECK(e.status().details.kind == "pods");
    CHECK(std::string(e.what()).find("not found") != std::string::npos);
  }
  SUBCASE("404 for an unknown resource is plain text") {
    kcoro::ApiError e(404, http_body("error-404-unknown-resource.http"));
    CHECK(kcoro::is_not_found(e));
    CHECK(e.status().message == "404 page not found");
    CHECK(e.reason() == "NotFound");
  }
  SUBCASE("409 AlreadyExists vs Conflict") {
    kcoro::ApiError exists(409, http_body("error-409-already-exists.http"));
    CHECK(kcoro::is_already_exists(exists));
    CHECK_FALSE(kcoro::is_conflict(exists));
    kcoro::ApiError conflict(409, http_body("error-409-conflict-stale-rv.http"));
    CHECK(kcoro::is_conflict(conflict));
    CHECK_FALSE(kcoro::is_already_exists(conflict));
  }
  SUBCASE("410 Expired carries a fresh continue token") {
    kcoro::ApiError e(410, http_body("error-410-expired-continue.http"));
    CHECK(kcoro::is_gone(e));
    CHECK_FALSE(e.status().continue_token.empty());
  }
  SUBCASE("422 Invalid has causes") {
    kcoro::ApiError e(422, http_body("error-422-invalid.http"));
    CHECK(kcoro::is_invalid(e));
    REQUIRE_FALSE(e.status().details.causes.empty());
    CHECK_FALSE(e.status().details.causes[0].field.empty());
  }
  SUBCASE("401, 403, 400") {
    CHECK(kcoro::is_unauthorized(kcoro::ApiError(401, http_body("error-401-bad-token.http"))));
    CHECK(kcoro::is_forbidden(kcoro::ApiError(403, http_body("error-403-forbidden.http"))));
    CHECK(kcoro::is_bad_request(kcoro::ApiError(400, http_body("error-400-bad-json.http"))));
  }
  SUBCASE("429 keeps Retry-After from the header") {
    kcoro::ApiError e(429, "", 7);
    CHECK(kcoro::is_too_many_requests(e));
    REQUIRE(e.retry_after_seconds());
    CHECK(*e.retry_after_seconds() == 7);
    CHECK(e.reason() == "TooManyRequests");
  }
  SUBCASE("5xx") {
    CHECK(kcoro::is_server_error(kcoro::ApiError(503, "unavailable")));
    CHECK_FALSE(kcoro::is_server_error(kcoro::ApiError(404, "")));
  }
}

TEST_CASE("classify_failure: one table of retry, relist and fatal") {
  using kcoro::FailureClass;
  struct Row {
    int code;
    const char* reason;
    FailureClass want;
  };
  const Row rows[] = {
      {410, "", FailureClass::relist},
      {410, "Gone", FailureClass::relist},
      {500, "Expired", FailureClass::relist},
      {408, "", FailureClass::retry},
      {429, "TooManyRequests", FailureClass::retry},
      {500, "", FailureClass::retry},
      {503, "ServiceUnavailable", FailureClass::retry},
      {504, "Timeout", FailureClass::retry},
      {400, "BadRequest", FailureClass::fatal},
      {401, "Unauthorized", FailureClass::fatal},
      {403, "Forbidden", FailureClass::fatal},
      {404, "NotFound", FailureClass::fatal},
      {405, "", FailureClass::fatal},
      {409, "Conflict", FailureClass::fatal},
      {415, "", FailureClass::fatal},
      {422, "Invalid", FailureClass::fatal},
  };
  for (const Row& r : rows) {
    CAPTURE(r.code);
    CAPTURE(r.reason);
    CHECK(kcoro::classify_failure(r.code, r.reason) == r.want);
  }
  // From recorded answers: the Status body's reason counts.
  CHECK(kcoro::classify_failure(kcoro::ApiError(
            410, http_body("error-410-list-too-old-rv.http"))) == FailureClass::relist);
  CHECK(kcoro::classify_failure(kcoro::ApiError(403, http_body("error-403-forbidden.http"))) ==
        FailureClass::fatal);
  CHECK(kcoro::classify_failure(kcoro::ApiError(429, "", 3)) == FailureClass::retry);
}

TEST_CASE("exception_message: what() of any exception, a word for anything else") {
  CHECK(kcoro::exception_message(nullptr).empty());
  CHECK(kcoro::exception_message(std::make_exception_ptr(std::runtime_error("boom"))) == "boom");
  CHECK(kcoro::exception_message(std::make_exception_ptr(kcoro::ApiError(404, ""))).find("404") !=
        std::string::npos);
  CHECK(kcoro::exception_message(std::make_exception_ptr(42)) == "a non-exception");
}

TEST_CASE("Status::parse rejects what is not an object") {
  std::error_code ec;
  CHECK_FALSE(kcoro::Status::parse("not json", ec));
  CHECK(ec == kcoro::errc::invalid_status);
  CHECK_FALSE(kcoro::Status::parse("[1,2]", ec));
}
