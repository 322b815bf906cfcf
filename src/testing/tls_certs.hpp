// Internal (the fake API server): throwaway X.509 certificates made with OpenSSL.
//
// A CertificateAuthority generates its EC P-256 key and a self-signed CA certificate when
// constructed, then issues server certificates (with subjectAltName) and client certificates
// (CN = user, O = each group) signed by it; `generate_key_pair` makes the key pair a
// service-account token issuer signs with. Everything is PEM text. Certificates are valid from one
// hour ago for ten days. Thread-safe. Failures throw std::runtime_error with OpenSSL's error
// string.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace kcoro::testing {

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;
};

/// A PEM key pair (EC P-256): the private key (PKCS#8) and its public key (SubjectPublicKeyInfo).
struct KeyPair {
  std::string private_pem;
  std::string public_pem;
};

/// A fresh EC P-256 key pair, e.g. the API server's service-account signing key (ES256).
KeyPair generate_key_pair();

class CertificateAuthority {
 public:
  explicit CertificateAuthority(const std::string& common_name = "kcoro-fake-ca");
  ~CertificateAuthority();
  CertificateAuthority(const CertificateAuthority&) = delete;
  CertificateAuthority& operator=(const CertificateAuthority&) = delete;

  const std::string& cert_pem() const;

  /// A serverAuth certificate for `dns_names` and `ip_addresses` (the first DNS name is the CN);
  /// `expired`: valid from two days ago until yesterday (for tests of refusal).
  CertAndKey issue_server(const std::vector<std::string>& dns_names,
                          const std::vector<std::string>& ip_addresses, bool expired = false) const;
  /// A clientAuth certificate whose subject is CN=`user` and O=each of `groups` (the API
  /// server's user name and groups: O=system:masters makes an administrator).
  CertAndKey issue_client(const std::string& user,
                          const std::vector<std::string>& groups = {}) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kcoro::testing
