#include "testing/tls_certs.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <mutex>
#include <stdexcept>

namespace kcoro::testing {
namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;

[[noreturn]] void fail(const char* what) {
  char buf[256] = "unknown error";
  if (const unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  throw std::runtime_error(std::string("tls_certs: ") + what + ": " + buf);
}

void check(int ok, const char* what) {
  if (ok <= 0) fail(what);
}

PkeyPtr generate_key() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr));
  if (!ctx) fail("EVP_PKEY_CTX_new_id");
  check(EVP_PKEY_keygen_init(ctx.get()), "EVP_PKEY_keygen_init");
  check(EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx.get(), NID_X9_62_prime256v1), "curve");
  EVP_PKEY* key = nullptr;
  check(EVP_PKEY_keygen(ctx.get(), &key), "EVP_PKEY_keygen");
  return PkeyPtr(key);
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string cert_to_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
  return bio_string(bio.get());
}

std::string key_to_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
        "PEM_write_bio_PrivateKey");
  return bio_string(bio.get());
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) fail("X509V3_EXT_conf_nid");
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(ok, "X509_add_ext");
}

// A certificate for `key`, subject CN=`cn` (and O=each of `orgs`), valid from an hour ago for ten
// days (or as `expired` says: from two days ago until yesterday). Self-signed when `issuer` is
// null.
X509Ptr new_cert(EVP_PKEY* key, const std::string& cn, X509* issuer,
                 const std::vector<std::string>& orgs = {}, bool expired = false) {
  X509Ptr cert(X509_new());
  if (!cert) fail("X509_new");
  check(X509_set_version(cert.get(), 2), "X509_set_version");
  unsigned char serial[16];
  check(RAND_bytes(serial, sizeof serial), "RAND_bytes");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()))) {
    BN_free(bn);
    fail("serial");
  }
  BN_free(bn);
  const long from = expired ? -2L * 24 * 3600 : -3600;
  const long to = expired ? -24L * 3600 : 10L * 24 * 3600;
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), from) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), to)) {
    fail("X509_gmtime_adj");
  }
  check(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0),
        "X509_NAME_add_entry_by_txt");
  for (const auto& o : orgs) {
    check(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0),
          "X509_NAME_add_entry_by_txt");
  }
  check(X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name),
        "X509_set_issuer_name");
  return cert;
}

}  // namespace

struct CertificateAuthority::Impl {
  PkeyPtr key;
  X509Ptr cert;
  std::string pem;
  mutable std::mutex mutex;  // signing with one key from several threads

  CertAndKey issue(const std::string& cn, const std::string& eku, const std::string& san,
                   const std::vector<std::string>& orgs = {}, bool expired = false) const {
    PkeyPtr leaf_key = generate_key();
    std::lock_guard lock(mutex);
    X509Ptr leaf = new_cert(leaf_key.get(), cn, cert.get(), orgs, expired);
    add_ext(leaf.get(), cert.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_ext(leaf.get(), cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
    add_ext(leaf.get(), cert.get(), NID_ext_key_usage, eku);
    add_ext(leaf.get(), cert.get(), NID_subject_key_identifier, "hash");
    add_ext(leaf.get(), cert.get(), NID_authority_key_identifier, "keyid:always");
    if (!san.empty()) add_ext(leaf.get(), cert.get(), NID_subject_alt_name, san);
    check(X509_sign(leaf.get(), key.get(), EVP_sha256()), "X509_sign");
    return {cert_to_pem(leaf.get()), key_to_pem(leaf_key.get())};
  }
};

CertificateAuthority::CertificateAuthority(const std::string& common_name)
    : impl_(std::make_unique<Impl>()) {
  impl_->key = generate_key();
  impl_->cert = new_cert(impl_->key.get(), common_name, nullptr);
  X509* c = impl_->cert.get();
  add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  add_ext(c, c, NID_subject_key_identifier, "hash");
  check(X509_sign(c, impl_->key.get(), EVP_sha256()), "X509_sign");
  impl_->pem = cert_to_pem(c);
}

CertificateAuthority::~CertificateAuthority() = default;

const std::string& CertificateAuthority::cert_pem() const {
  return impl_->pem;
}

CertAndKey CertificateAuthority::issue_server(const std::vector<std::string>& dns_names,
                                              const std::vector<std::string>& ip_addresses,
                                              bool expired) const {
  std::string san;
  for (const auto& d : dns_names)
    san += (san.empty() ? "DNS:" : ",DNS:") + d;
  for (const auto& ip : ip_addresses)
    san += (san.empty() ? "IP:" : ",IP:") + ip;
  const std::string cn = dns_names.empty() ? "kcoro-fake-apiserver" : dns_names.front();
  return impl_->issue(cn, "serverAuth", san, {}, expired);
}

CertAndKey CertificateAuthority::issue_client(const std::string& user,
                                              const std::vector<std::string>& groups) const {
  return impl_->issue(user, "clientAuth", {}, groups);
}

KeyPair generate_key_pair() {
  PkeyPtr key = generate_key();
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PUBKEY(bio.get(), key.get()), "PEM_write_bio_PUBKEY");
  return {key_to_pem(key.get()), bio_string(bio.get())};
}

}  // namespace kcoro::testing
