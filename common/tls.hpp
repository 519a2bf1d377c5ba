#pragma once
// TLS for both sides, on OpenSSL 3 through Asio's SSL streams: a self-signed
// certificate made in memory (delayserver's default identity, and the tests'
// certificates), the server's context, and the client's (verification on by
// default, SNI and the host name check per connection).
#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

typedef struct ssl_st SSL;

namespace testbed {

// A certificate and its private key, both PEM.
struct CertPair {
  std::string cert_pem;
  std::string key_pem;
  std::string description;  // "self-signed ECDSA P-256" and the like
};

// What make_self_signed makes.
struct CertOptions {
  std::string key = "ecdsa";  // ecdsa (P-256) or rsa (2048 bits)
  // The names it is valid for (subjectAltName): addresses as IP entries, the
  // rest as DNS names; the first is also the subject's CN.
  std::vector<std::string> names = {"localhost", "127.0.0.1", "::1"};
  long not_before_s = -3600;                 // from now; negative: in the past
  long not_after_s = 10L * 365 * 24 * 3600;  // from now
};

// Throws std::runtime_error with OpenSSL's reason on failure.
CertPair make_self_signed(const CertOptions& options);

// "ecdsa" or "rsa": true; anything else: false.
bool valid_key_kind(std::string_view kind);

// delayserver's context: TLS 1.2 and 1.3, the given identity, a session cache
// and tickets (so clients may resume). Throws std::runtime_error on a bad pair.
std::unique_ptr<boost::asio::ssl::context> make_server_context(const CertPair& identity);

// Reads a file whole; throws std::runtime_error naming it.
std::string read_pem_file(const std::string& path);

// How a client checks the servers it speaks TLS to (crawl --cacert,
// --insecure, --tls-resume), and the context every connection uses.
struct TlsClientOptions {
  std::string cacert;     // a PEM file of trusted certificates; empty: the system's
  bool insecure = false;  // no verification at all (the explicit opt-out)
  bool resume = true;     // offer a session the server gave before (TLS 1.3: each one once)
};

class TlsClient {
 public:
  // Throws std::runtime_error with a reason (an unreadable --cacert, say).
  explicit TlsClient(TlsClientOptions options);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  boost::asio::ssl::context& context() { return ctx_; }
  const TlsClientOptions& options() const { return options_; }

  // Before a handshake to `host` (a name, or an address without brackets):
  // SNI for a name, the name or address the certificate must carry, and the
  // session to resume, if any. False with a reason if OpenSSL refuses.
  bool prepare(SSL* ssl, const std::string& host, std::string* error);

 private:
  static int on_new_session(SSL* ssl, struct ssl_session_st* session);
  TlsClientOptions options_;
  boost::asio::ssl::context ctx_;
  struct Sessions;  // the sessions each host gave, to resume (a lock per new connection, none per request)
  std::unique_ptr<Sessions> sessions_;
};

// A TLS error worded for a person: OpenSSL's reason, and for a failed
// verification what was wrong with the certificate ("certificate has expired",
// "hostname mismatch", "self-signed certificate").
std::string describe_tls_error(const boost::system::error_code& ec, long verify_result);

}  // namespace testbed
