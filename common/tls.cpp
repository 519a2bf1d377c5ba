#include "common/tls.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace testbed {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

namespace {

// OpenSSL's last error, worded, and its queue emptied.
std::string openssl_reason(const char* what) {
  std::string out = what;
  unsigned long e = ERR_get_error();
  if (e) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  ERR_clear_error();
  return out;
}

[[noreturn]] void fail(const char* what) { throw std::runtime_error(openssl_reason(what)); }

template <class T, void (*Free)(T*)>
struct Owned {
  T* p = nullptr;
  ~Owned() {
    if (p) Free(p);
  }
};

bool is_address(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string to_pem(int (*write)(BIO*, void*), void* obj, const char* what) {
  Owned<BIO, BIO_free_all> bio{BIO_new(BIO_s_mem())};
  if (!bio.p || !write(bio.p, obj)) fail(what);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.p, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

int write_cert(BIO* b, void* x) { return PEM_write_bio_X509(b, static_cast<X509*>(x)); }
int write_key(BIO* b, void* k) {
  return PEM_write_bio_PrivateKey(b, static_cast<EVP_PKEY*>(k), nullptr, nullptr, 0, nullptr, nullptr);
}

void add_extension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  Owned<X509_EXTENSION, X509_EXTENSION_free> ext{X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str())};
  if (!ext.p || !X509_add_ext(cert, ext.p, -1)) fail("certificate extension");
}

}  // namespace

bool valid_key_kind(std::string_view kind) { return kind == "ecdsa" || kind == "rsa"; }

CertPair make_self_signed(const CertOptions& o) {
  if (!valid_key_kind(o.key)) throw std::runtime_error("unknown key kind '" + o.key + "' (ecdsa or rsa)");
  if (o.names.empty()) throw std::runtime_error("a certificate needs at least one name");
  Owned<EVP_PKEY, EVP_PKEY_free> key{o.key == "rsa" ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256")};
  if (!key.p) fail("cannot make a key");
  Owned<X509, X509_free> cert{X509_new()};
  if (!cert.p) fail("X509_new");
  X509_set_version(cert.p, 2);  // v3: extensions
  // A random serial, so that two certificates made by one program differ.
  Owned<BIGNUM, BN_free> serial{BN_new()};
  if (!serial.p || !BN_rand(serial.p, 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
      !BN_to_ASN1_INTEGER(serial.p, X509_get_serialNumber(cert.p)))
    fail("certificate serial");
  X509_gmtime_adj(X509_getm_notBefore(cert.p), o.not_before_s);
  X509_gmtime_adj(X509_getm_notAfter(cert.p), o.not_after_s);
  X509_NAME* name = X509_get_subject_name(cert.p);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("delayserver"),
                             -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(o.names.front().c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.p, name);
  if (!X509_set_pubkey(cert.p, key.p)) fail("certificate key");
  std::string alt;
  for (const std::string& n : o.names) {
    if (!alt.empty()) alt += ',';
    alt += is_address(n) ? "IP:" : "DNS:";
    alt += n;
  }
  add_extension(cert.p, NID_subject_alt_name, alt);
  add_extension(cert.p, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.p, NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_extension(cert.p, NID_ext_key_usage, "serverAuth");
  add_extension(cert.p, NID_subject_key_identifier, "hash");
  if (!X509_sign(cert.p, key.p, EVP_sha256())) fail("cannot sign the certificate");
  CertPair out;
  out.cert_pem = to_pem(write_cert, cert.p, "certificate PEM");
  out.key_pem = to_pem(write_key, key.p, "key PEM");
  out.description = std::string("self-signed ") + (o.key == "rsa" ? "RSA-2048" : "ECDSA P-256");
  return out;
}

std::string read_pem_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::unique_ptr<ssl::context> make_server_context(const CertPair& identity) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* c = ctx->native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  boost::system::error_code ec;
  ctx->use_certificate_chain(asio::buffer(identity.cert_pem), ec);
  if (ec) throw std::runtime_error("TLS certificate: " + ec.message());
  ctx->use_private_key(asio::buffer(identity.key_pem), ssl::context::pem, ec);
  if (ec) throw std::runtime_error("TLS key: " + ec.message());
  if (!SSL_CTX_check_private_key(c)) fail("the TLS key does not match the certificate");
  // Resumption: TLS 1.2 session ids from the server's cache, TLS 1.3 (and
  // 1.2) tickets; the id context names this program's sessions.
  static const unsigned char sid[] = "delayserver";
  SSL_CTX_set_session_id_context(c, sid, sizeof sid - 1);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(c, 100'000);
  return ctx;
}

// The sessions each host gave, newest last. A TLS 1.3 session is offered
// once (OpenSSL makes a ticket single-use once a handshake has resumed it,
// as RFC 8446 C.4 advises), so a host's tickets are a pool a new connection
// takes one from; every handshake brings new ones (OpenSSL's server sends
// two after a full handshake). A TLS 1.2 session stays for the next
// connection.
struct TlsClient::Sessions {
  static constexpr std::size_t kMaxPerHost = 4096;  // the oldest go beyond it
  std::mutex mutex;
  std::map<std::string, std::deque<SSL_SESSION*>> pool;  // per host; the map's nodes never move
  ~Sessions() {
    for (auto& [host, sessions] : pool)
      for (SSL_SESSION* s : sessions) SSL_SESSION_free(s);
  }
};

namespace {
// Where a connection's SSL points at its client and its host's entry.
int client_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
int host_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
}  // namespace

TlsClient::TlsClient(TlsClientOptions options)
    : options_(std::move(options)), ctx_(ssl::context::tls_client), sessions_(std::make_unique<Sessions>()) {
  SSL_CTX* c = ctx_.native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  boost::system::error_code ec;
  if (options_.insecure) {
    ctx_.set_verify_mode(ssl::verify_none);
  } else {
    ctx_.set_verify_mode(ssl::verify_peer);
    if (!options_.cacert.empty()) {
      ctx_.load_verify_file(options_.cacert, ec);
      if (ec)
        throw std::runtime_error("--cacert '" + options_.cacert + "': " + openssl_reason("cannot load it"));
    } else {
      ctx_.set_default_verify_paths(ec);
      if (ec) throw std::runtime_error("the system's CA certificates: " + ec.message());
    }
  }
  client_index();
  host_index();
  if (options_.resume) {
    // Sessions are kept here, in a pool per host (Sessions, above), not in
    // OpenSSL's internal cache, which a client does not look up.
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, &TlsClient::on_new_session);
  } else {
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
  }
}

TlsClient::~TlsClient() = default;

int TlsClient::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<TlsClient*>(SSL_get_ex_data(ssl, client_index()));
  auto* sessions = static_cast<std::deque<SSL_SESSION*>*>(SSL_get_ex_data(ssl, host_index()));
  if (!self || !sessions || !SSL_SESSION_is_resumable(session)) return 0;
  std::lock_guard lock(self->sessions_->mutex);
  sessions->push_back(session);
  if (sessions->size() > Sessions::kMaxPerHost) {
    SSL_SESSION_free(sessions->front());
    sessions->pop_front();
  }
  return 1;  // the reference is ours now
}

bool TlsClient::prepare(SSL* ssl, const std::string& host, std::string* error) {
  const bool address = is_address(host);
  if (!address && !SSL_set_tlsext_host_name(ssl, host.c_str())) {
    if (error) *error = openssl_reason("SNI");
    return false;
  }
  if (!options_.insecure) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int ok = address ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                           : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    if (!ok) {
      if (error) *error = openssl_reason("host name check");
      return false;
    }
  }
  if (!options_.resume) return true;
  std::lock_guard lock(sessions_->mutex);
  std::deque<SSL_SESSION*>& sessions = sessions_->pool[host];
  SSL_set_ex_data(ssl, client_index(), this);
  SSL_set_ex_data(ssl, host_index(), &sessions);
  // The newest session that can still be resumed (older ones may have been
  // used meanwhile: a session given back to the pool is checked again here).
  while (!sessions.empty()) {
    SSL_SESSION* s = sessions.back();
    if (!SSL_SESSION_is_resumable(s)) {
      sessions.pop_back();
      SSL_SESSION_free(s);
      continue;
    }
    SSL_set_session(ssl, s);  // which takes a reference of its own
    if (SSL_SESSION_get_protocol_version(s) >= TLS1_3_VERSION) {
      sessions.pop_back();  // single use
      SSL_SESSION_free(s);
    }
    break;
  }
  return true;
}

std::string describe_tls_error(const boost::system::error_code& ec, long verify_result) {
  if (verify_result != X509_V_OK)
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify_result) +
           " (--cacert FILE to trust it, --insecure not to check)";
  if (ec == ssl::error::stream_truncated)
    return "TLS stream truncated (the peer closed without close_notify)";
  if (ec.category() == asio::error::get_ssl_category()) {
    // OpenSSL's reason ("wrong version number"), or its whole code when it has none.
    if (const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value())))
      return std::string("TLS: ") + reason;
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(ec.value()), buf, sizeof buf);
    return std::string("TLS: ") + buf;
  }
  return ec.message();
}

}  // namespace testbed
