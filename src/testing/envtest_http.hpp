// Internal (EnvTest): a blocking HTTP/1.1 client for one endpoint on 127.0.0.1, plain (etcd's v3
// gateway) or TLS with a client certificate (the API server). Beast over OpenSSL on a private
// io_context per request, independent of kcoro::Client so that EnvTest can judge it. One request
// per connection ("Connection: close"); the deadline covers connect, handshake, write and read.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace kcoro::testing {

struct HttpAnswer {
  int status = 0;
  std::string body;
};

struct HttpEndpoint {
  uint16_t port = 0;
  std::shared_ptr<boost::asio::ssl::context> tls;  ///< null: plain HTTP

  /// Throws boost::system::system_error when the server cannot be reached or the deadline passes;
  /// any HTTP status is an answer.
  HttpAnswer request(boost::beast::http::verb verb, const std::string& target,
                     const std::string& body = {},
                     const std::string& content_type = "application/json",
                     std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
};

}  // namespace kcoro::testing
