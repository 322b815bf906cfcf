// The fake API server's pure pieces, without sockets: response heads and chunk framing, the
// Status bodies it answers itself, the fault table, and the throwaway certificates.
#include "support/fixtures.hpp"
#include "testing/fake_server_faults.hpp"
#include "testing/fake_server_http.hpp"
#include "testing/tls_certs.hpp"

#include <doctest/doctest.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace render = kcoro::testing::http_render;
using kcoro::testing::Fault;
using kcoro::testing::FaultKind;
using kcoro::testing::FaultTable;

TEST_CASE("fake server pieces: a response head has the real server's headers, in its order") {
  const std::string h = render::head(200, "application/json", 42, {{"Retry-After", "1"}});
  CHECK(h.starts_with("HTTP/1.1 200 OK\r\nAudit-Id: "));
  const auto cache = h.find("\r\nCache-Control: no-cache, private\r\n");
  const auto type = h.find("\r\nContent-Type: application/json\r\n");
  const auto retry = h.find("\r\nRetry-After: 1\r\n");
  const auto date = h.find("\r\nDate: ");
  const auto length = h.find("\r\nContent-Length: 42\r\n\r\n");
  CHECK(cache < type);
  CHECK(type < retry);
  CHECK(retry < date);
  CHECK(date < length);
  CHECK(length + 24 == h.size());

  const std::string chunked =
      render::head(404, "text/plain; charset=utf-8", std::nullopt, {}, true);
  CHECK(chunked.starts_with("HTTP/1.1 404 Not Found\r\n"));
  CHECK(chunked.find("X-Content-Type-Options: nosniff") != std::string::npos);
  CHECK(chunked.ends_with("Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"));
  CHECK(render::uuid().size() == 36);
  CHECK(render::http_date().size() == 29);
}

TEST_CASE("fake server pieces: one chunk per event line, framed as in watch-pods.http") {
  std::string out;
  render::append_line_chunks(out, "{\"a\":1}\n{\"b\":22}\n");
  CHECK(out == "8\r\n{\"a\":1}\n\r\n9\r\n{\"b\":22}\n\r\n");
  out.clear();
  render::append_chunk(out, std::string(0x85a, 'x'));
  CHECK(out.starts_with("85a\r\n"));
  CHECK(render::kLastChunk == "0\r\n\r\n");
}

TEST_CASE("fake server pieces: Status bodies") {
  const auto unauthorized = render::unauthorized();
  CHECK(unauthorized.status == 401);
  CHECK(unauthorized.body == kcoro::test::http_body("error-401-bad-token.http"));

  const auto too_many = render::injected_status(429, std::chrono::seconds(7));
  CHECK(too_many.headers == render::Headers{{"Retry-After", "7"}});
  const auto v = boost::json::parse(too_many.body);
  CHECK(v.at("reason").as_string() == "TooManyRequests");
  CHECK(v.at("details").at("retryAfterSeconds").as_int64() == 7);
  CHECK(v.at("code").as_int64() == 429);
  CHECK(boost::json::parse(render::injected_status(503, {}).body).at("code").as_int64() == 503);
}

TEST_CASE("fake server pieces: faults match method, path prefix and watch, and are used up") {
  FaultTable t;
  Fault watch_only;
  watch_only.path_prefix = "/api/v1/pods";
  watch_only.watch_only = true;
  watch_only.kind = FaultKind::stall;
  Fault posts;
  posts.method = "POST";
  posts.times = 2;
  posts.status = 429;
  t.add(watch_only);
  const int id = t.add(posts);

  CHECK(!t.take("GET", "/api/v1/pods", false));
  CHECK(!t.take("GET", "/api/v1/namespaces/x/pods", true));
  auto f = t.take("GET", "/api/v1/pods", true);
  REQUIRE(f);
  CHECK(f->kind == FaultKind::stall);
  CHECK(!t.take("GET", "/api/v1/pods", true));  // used up

  CHECK(t.take("POST", "/anything", false)->status == 429);
  CHECK(t.take("POST", "/anything", false));
  CHECK(!t.take("POST", "/anything", false));

  Fault always;
  always.times = Fault::kAlways;
  const int a = t.add(always);
  for (int i = 0; i < 5; ++i)
    CHECK(t.take("DELETE", "/x", false));
  t.remove(a);
  CHECK(!t.take("DELETE", "/x", false));
  t.remove(id);
}

TEST_CASE("fake server pieces: the CA signs a server certificate for 127.0.0.1 and localhost") {
  const kcoro::testing::CertificateAuthority ca;
  const auto server = ca.issue_server({"localhost"}, {"127.0.0.1"});
  BIO* bio = BIO_new_mem_buf(server.cert_pem.data(), static_cast<int>(server.cert_pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  REQUIRE(cert);
  CHECK(X509_check_host(cert, "localhost", 0, 0, nullptr) == 1);
  CHECK(X509_check_ip_asc(cert, "127.0.0.1", 0) == 1);
  CHECK(X509_check_host(cert, "example.com", 0, 0, nullptr) == 0);

  bio = BIO_new_mem_buf(ca.cert_pem().data(), static_cast<int>(ca.cert_pem().size()));
  X509* ca_cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  REQUIRE(ca_cert);
  EVP_PKEY* ca_key = X509_get_pubkey(ca_cert);
  CHECK(X509_verify(cert, ca_key) == 1);
  EVP_PKEY_free(ca_key);
  X509_free(ca_cert);
  X509_free(cert);
  CHECK(ca.issue_client("alice").key_pem.find("PRIVATE KEY") != std::string::npos);
}
