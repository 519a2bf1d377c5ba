#pragma once
// HTTP/1.1 client pieces both clients share: request formatting, endpoint
// resolution, error wording, the one retry policy, the answer parser and the
// event-loop connection with its timeouts. The blocking client of the serial
// and thread models is sync_client.hpp.
#include "common/query.hpp"
#include "common/tls.hpp"

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace testbed {

using tcp = boost::asio::ip::tcp;

// Appends "GET target HTTP/1.1\r\nHost: host\r\n\r\n" (keep-alive is HTTP/1.1's
// default). A retry (`attempt` > 0, counted from 0) says which it is in an
// X-Attempt field (2 for the first retry): delayserver draws its injected
// faults per URL and attempt, so a retried URL is not doomed to the same fault.
// `last`: the connection's last request (its policy says so): "Connection:
// close", so that the server closes its side too.
void format_get(std::string& out, std::string_view target, std::string_view host, int attempt = 0,
                bool last = false);

// How many requests a connection carries before the client closes it: the
// connection policy of crawl --connection. keepalive (0: as many as the
// server allows, the default), close (1: a connection per request), reuse:N.
// nullopt with the reason for a bad spec.
std::optional<std::int64_t> parse_connection_spec(std::string_view spec, std::string* error);
std::string connection_spec_text(std::int64_t reuse);

// https: the client's context and the host its certificate must name (SNI
// too). An empty target (client == nullptr) is plain HTTP.
struct TlsTarget {
  TlsClient* client = nullptr;
  std::string host;  // a name, or an address without brackets
  explicit operator bool() const { return client != nullptr; }
};

// Resolves the base URL's host once; throws std::runtime_error with a one-line reason.
std::vector<tcp::endpoint> resolve(const BaseUrl& base);

// "connect 127.0.0.1:8080: Connection refused" and the like.
std::string describe_error(std::string_view stage, const boost::system::error_code& ec,
                           std::string_view host_header);

// Errors that mean a kept-alive connection was closed by the server while
// idle: the request never reached it, so it is retried once on a new one.
bool is_stale_connection_error(const boost::system::error_code& ec);

struct HttpResult {
  int status = 0;  // 0: no answer
  std::int64_t bytes = 0;
  std::string error;           // set when status == 0
  bool refused = false;        // nothing listens at the address (connection refused)
  std::int64_t conn = 0;       // the connection that carried the answer (0: none)
  bool opened = false;         // that connection was opened for this attempt
  std::int64_t delay_us = -1;  // the delay the server says it gave (X-Delay-Us); -1: not said
  std::int64_t connect_us = 0; // the time this attempt spent opening its connection; 0: reused
  std::int64_t tls_us = 0;     // https: the time its TLS handshake took; 0: reused or plain
  bool resumed = false;        // that handshake resumed a session
};

// Every connection a client opens gets the next id of this process (from 1),
// so a timeline shows which requests shared one; the count is how many were
// opened. One atomic increment per connection, none per request.
std::int64_t next_connection_id();
std::int64_t connections_opened();

// The one retry policy of both clients (crawl's models and primes' savers).
// An attempt is worth another, up to `retries` more, when it got no answer at
// all or the server's own failure (5xx, 408, 429); other 4xx answers would
// only repeat themselves. A refused connection is worth another only once some
// attempt has had an answer: a server that was never up is reported at once,
// not after every backoff. Thread-safe.
class RetryPolicy {
 public:
  explicit RetryPolicy(int retries) : retries_(retries) {}
  // Attempt `attempt` (0-based) ended with `r`: try again after retry_backoff()?
  bool again(const HttpResult& r, int attempt);

 private:
  int retries_;
  std::atomic<bool> answered_{false};  // some attempt got an HTTP answer
};

// How long to wait before attempt `attempt + 1`: 10 ms doubling to at most
// 1 s, scaled by 0.5..1 from `salt` so that requests failing together do not
// all come back together.
std::chrono::milliseconds retry_backoff(int attempt, std::uint64_t salt);

// One GET on a connection of its own, closed after: the body of a 200 answer,
// or nothing if none came within `timeout` (no server, another status). For
// a glance at a server beside a run (delayserver's /stats), not for a model.
std::optional<std::string> fetch_text(const std::vector<tcp::endpoint>& endpoints,
                                      const std::string& host_header, const std::string& target,
                                      std::chrono::milliseconds timeout, const TlsTarget* tls = nullptr);

// "timed out after 200 ms: 127.0.0.1:8080"
std::string timeout_error(std::chrono::milliseconds timeout, std::string_view host_header);

// What every model accepts of an answer, so that they agree on the edge cases:
// a header of up to 100 KiB (libcurl's own limit, CURL_MAX_HTTP_HEADER), and
// never Content-Length together with Transfer-Encoding (RFC 9112 6.3: a sign
// of smuggling; Beast refuses it, and the curl model is made to): such an
// answer fails its request and closes the connection.
constexpr std::uint32_t kAnswerHeaderLimit = 100 * 1024;

// The value of an X-Delay-Us field; -1 if it is not a non-negative integer.
std::int64_t parse_delay_us(std::string_view value);

// Reads an answer keeping only what the clients record: the status, the body's
// length and whether the connection stays open. Nothing is allocated per
// answer (a full http::response allocates for each header field and the body).
class ResponseHead : public boost::beast::http::basic_parser<false> {
 public:
  ResponseHead() {
    body_limit(std::uint64_t{1} << 30);
    header_limit(kAnswerHeaderLimit);
  }
  int status() const { return status_; }
  std::int64_t body_bytes() const { return body_bytes_; }
  // X-Delay-Us: the delay delayserver gave the request (-1: absent or not a number).
  std::int64_t delay_us() const { return delay_us_; }

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;
  void on_request_impl(boost::beast::http::verb, string_view, string_view, int, error_code&) override {}
  void on_response_impl(int code, string_view reason, int, error_code&) override {
    status_ = code;
    header_bytes_ = 15 + reason.size();  // "HTTP/1.1 200 " + reason + CRLF
  }
  // Beast's own header_limit holds only for some ways the bytes arrive (a
  // 132 KiB header read 64 KiB at a time passes it), so the header is counted
  // here, line by line, as libcurl counts it.
  void on_field_impl(boost::beast::http::field f, string_view name, string_view value,
                     error_code& ec) override {
    header_bytes_ += name.size() + value.size() + 4;  // ": " and CRLF
    if (header_bytes_ > kAnswerHeaderLimit) ec = boost::beast::http::error::header_limit;
    if (f == boost::beast::http::field::unknown && boost::beast::iequals(name, "X-Delay-Us"))
      delay_us_ = parse_delay_us({value.data(), value.size()});
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(string_view body, error_code&) override {
    body_bytes_ += static_cast<std::int64_t>(body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
    body_bytes_ += static_cast<std::int64_t>(body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  int status_ = 0;
  std::int64_t delay_us_ = -1;
  std::size_t header_bytes_ = 0;
  std::int64_t body_bytes_ = 0;
};

struct AsyncConnection;

// What the event-loop clients read and write through: the socket, or the TLS
// stream over it. One branch per operation; the plain path is the socket's.
struct ConnStream {
  AsyncConnection& c;
  using executor_type = boost::asio::any_io_executor;
  executor_type get_executor();
  template <class Buffers, class Token>
  auto async_read_some(const Buffers& b, Token&& token);
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& b, Token&& token);
};

// A keep-alive connection for the event-loop clients: one request at a time,
// reconnecting as needed. `deadline_us` is enforced by a DeadlineSweeper.
// `reuse` > 0: it carries that many requests, then is closed (the policy).
// `tls`: https (it must outlive the connection).
struct AsyncConnection {
  explicit AsyncConnection(boost::asio::any_io_executor ex, std::int64_t reuse = 0,
                           const TlsTarget* tls = nullptr)
      : socket(ex), reuse(reuse), tls_target(tls && *tls ? tls : nullptr) {}
  ~AsyncConnection();
  AsyncConnection(const AsyncConnection&) = delete;
  AsyncConnection& operator=(const AsyncConnection&) = delete;
  tcp::socket socket;
  // https: the TLS stream over `socket`, made anew for each connection (a
  // closed socket leaves it in place until the next connect replaces it).
  std::optional<boost::asio::ssl::stream<tcp::socket&>> tls;
  ConnStream io{*this};
  boost::beast::flat_buffer buffer;
  std::string request;
  std::optional<ResponseHead> response;  // a fresh parser per answer
  std::int64_t deadline_us = 0;          // 0: no attempt running
  bool timed_out = false;                // the sweeper closed it mid-attempt
  std::int64_t id = 0;                   // next_connection_id() when it was opened
  bool opened = false;                   // opened during the current attempt
  std::int64_t reuse = 0;                // requests it carries before it is closed; 0: no limit
  std::int64_t carried = 0;              // requests sent on it since it was opened
  std::int64_t connect_from_us = 0;      // when its connect began
  std::int64_t connect_us = 0;           // how long that connect took
  const TlsTarget* tls_target = nullptr; // https: whom to speak TLS to
  std::int64_t tls_us = 0;               // how long its handshake took
  bool resumed = false;                  // its handshake resumed a session
  std::uint32_t origin = 0;              // crawl: the origin it is open to (of the job's)
};

inline ConnStream::executor_type ConnStream::get_executor() { return c.socket.get_executor(); }
template <class Buffers, class Token>
auto ConnStream::async_read_some(const Buffers& b, Token&& token) {
  if (c.tls) return c.tls->async_read_some(b, std::forward<Token>(token));
  return c.socket.async_read_some(b, std::forward<Token>(token));
}
template <class Buffers, class Token>
auto ConnStream::async_write_some(const Buffers& b, Token&& token) {
  if (c.tls) return c.tls->async_write_some(b, std::forward<Token>(token));
  return c.socket.async_write_some(b, std::forward<Token>(token));
}

// https, right after connected(conn): a fresh TLS stream, prepared for the
// target's host (SNI, the name to check, a session to resume). False with
// the reason in `error` if OpenSSL refused.
bool begin_tls(AsyncConnection& conn, std::string* error);
// Its TLS stream, if any, is destroyed (the socket is closed or about to be,
// no TLS operation pending).
void drop_tls(AsyncConnection& conn);
// Its handshake has ended: how long it took and whether it resumed.
void end_tls(AsyncConnection& conn);
// "TLS handshake with localhost:8443: certificate verify failed: ..."
std::string describe_handshake_error(AsyncConnection& conn, const boost::system::error_code& ec,
                                     std::string_view host_header);

// The TLS handshake of a connection just opened (nothing to do for plain
// HTTP): any completion token, completing with the handshake's error.
template <class Token>
auto async_start_tls(AsyncConnection& conn, Token&& token) {
  return boost::asio::async_compose<Token, void(boost::beast::error_code)>(
      [&conn, started = false](auto& self, boost::beast::error_code ec = {}) mutable {
        if (!conn.tls_target) return self.complete(ec);
        if (!started) {
          started = true;
          std::string why;
          if (!begin_tls(conn, &why)) return self.complete(boost::asio::error::invalid_argument);
          return conn.tls->async_handshake(boost::asio::ssl::stream_base::client, std::move(self));
        }
        end_tls(conn);
        self.complete(ec);
      },
      token, conn.socket);
}

// Before each attempt on `conn`: nothing opened for it yet. Around a connect:
// when it began; then a new id, opened for this attempt, and how long it took.
inline void begin_attempt(AsyncConnection& conn) { conn.opened = false; }
void connecting(AsyncConnection& conn);
void connected(AsyncConnection& conn);
// The next request on `conn` into conn.request: the connection's last (with
// "Connection: close") when its policy says so.
void format_request(AsyncConnection& conn, std::string_view target, std::string_view host, int attempt);

// Reads the answer to the request just sent on `conn` into conn.response,
// skipping interim answers (100 Continue, 103 Early Hints: RFC 9110 15.2), so
// the status is the final one. Works with any completion token: a callback,
// use_awaitable, a yield_context. Completes with the error of the read.
template <class Token>
auto async_read_answer(AsyncConnection& conn, Token&& token) {
  return boost::asio::async_compose<Token, void(boost::beast::error_code)>(
      [&conn, started = false](auto& self, boost::beast::error_code ec = {}, std::size_t = 0) mutable {
        if (started && (ec || conn.response->status() / 100 != 1 || conn.response->status() == 101))
          return self.complete(ec);
        started = true;
        conn.response.emplace();
        boost::beast::http::async_read(conn.io, conn.buffer, *conn.response, std::move(self));
      },
      token, conn.socket);
}

// The final answer read on `conn`: its status and body length. The connection
// is closed unless it can carry the next request: the server keeps it alive
// and sent nothing beyond the answer (bytes nobody asked for could otherwise
// be taken for the next request's answer).
HttpResult take_answer(AsyncConnection& conn);

// aiohttp's `await session.get(url)`: one GET on `conn`, retried once on a
// fresh connection if the kept-alive one turns out to have been closed.
boost::asio::awaitable<HttpResult> async_get(AsyncConnection& conn,
                                             const std::vector<tcp::endpoint>& endpoints,
                                             const std::string& host_header, const std::string& target,
                                             int attempt = 0);

// Per-attempt timeouts for many connections with one periodic timer, instead
// of arming (and cancelling) a timer for every request: each tick closes the
// connections whose deadline has passed, which fails their pending operation.
// A deadline is honoured within an eighth of the timeout (5..250 ms).
class DeadlineSweeper {
 public:
  // A zero timeout disables it.
  DeadlineSweeper(boost::asio::any_io_executor ex, std::chrono::milliseconds timeout);
  void watch(AsyncConnection& c) { conns_.push_back(&c); }
  void arm(AsyncConnection& c);
  void disarm(AsyncConnection& c) { c.deadline_us = 0; }
  void start();
  void stop();  // lets the event loop run out of work
  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  void tick();
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds period_;
  std::vector<AsyncConnection*> conns_;
  bool running_ = false;
};

}  // namespace testbed
