#include "client/http_client.hpp"

#include "common/clock.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace testbed {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

void format_get(std::string& out, std::string_view target, std::string_view host, int attempt, bool last) {
  out.append("GET ");
  out.append(target);
  out.append(" HTTP/1.1\r\nHost: ");
  out.append(host);
  if (attempt > 0) {
    out.append("\r\nX-Attempt: ");
    out.append(std::to_string(attempt + 1));
  }
  if (last) out.append("\r\nConnection: close");
  out.append("\r\n\r\n");
}

std::optional<std::int64_t> parse_connection_spec(std::string_view spec, std::string* error) {
  if (spec == "keepalive") return 0;
  if (spec == "close") return 1;
  if (spec.substr(0, 6) == "reuse:") {
    const std::string_view n = spec.substr(6);
    std::int64_t v = 0;
    auto r = std::from_chars(n.data(), n.data() + n.size(), v);
    if (r.ec == std::errc() && r.ptr == n.data() + n.size() && v >= 1 && v <= 1'000'000'000) return v;
    if (error) *error = "reuse:N needs a whole number of requests, 1 to 1000000000, not '" + std::string(n) + "'";
    return std::nullopt;
  }
  if (error) *error = "'" + std::string(spec) + "' is not keepalive, close or reuse:N";
  return std::nullopt;
}

std::string connection_spec_text(std::int64_t reuse) {
  return reuse == 0 ? "keepalive" : reuse == 1 ? "close" : "reuse:" + std::to_string(reuse);
}

void connecting(AsyncConnection& conn) { conn.connect_from_us = now_us(); }

void connected(AsyncConnection& conn) {
  conn.id = next_connection_id();
  conn.opened = true;
  conn.carried = 0;
  conn.connect_us = now_us() - conn.connect_from_us;
}

AsyncConnection::~AsyncConnection() { drop_tls(*this); }

void drop_tls(AsyncConnection& conn) {
  if (!conn.tls) return;
  // As SyncClient::close(): no close_notify, and the session kept good.
  SSL_set_shutdown(conn.tls->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  conn.tls.reset();
}

bool begin_tls(AsyncConnection& conn, std::string* error) {
  drop_tls(conn);
  conn.tls.emplace(conn.socket, conn.tls_target->client->context());
  return conn.tls_target->client->prepare(conn.tls->native_handle(), conn.tls_target->host, error);
}

void end_tls(AsyncConnection& conn) {
  conn.tls_us = now_us() - conn.connect_from_us - conn.connect_us;
  conn.resumed = SSL_session_reused(conn.tls->native_handle()) == 1;
}

std::string describe_handshake_error(AsyncConnection& conn, const boost::system::error_code& ec,
                                     std::string_view host_header) {
  const long verify = conn.tls ? SSL_get_verify_result(conn.tls->native_handle()) : X509_V_OK;
  return "TLS handshake with " + std::string(host_header) + ": " + describe_tls_error(ec, verify);
}

void format_request(AsyncConnection& conn, std::string_view target, std::string_view host, int attempt) {
  conn.request.clear();
  format_get(conn.request, target, host, attempt, conn.reuse > 0 && conn.carried + 1 >= conn.reuse);
  ++conn.carried;
}

std::int64_t parse_delay_us(std::string_view value) {
  std::int64_t v = 0;
  return parse_nonneg_int(value, v) == IntError::ok ? v : -1;
}

std::vector<tcp::endpoint> resolve(const BaseUrl& base) {
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(base.host, base.port, ec);
  if (ec || results.empty())
    throw std::runtime_error("cannot resolve " + base.host + ": " +
                             (ec ? ec.message() : std::string("no addresses")));
  std::vector<tcp::endpoint> eps;
  for (const auto& r : results) eps.push_back(r.endpoint());
  return eps;
}

std::string describe_error(std::string_view stage, const boost::system::error_code& ec,
                           std::string_view host_header) {
  std::string s(stage);
  s += ' ';
  s += host_header;
  s += ": ";
  s += ec.message();
  return s;
}

bool is_stale_connection_error(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

bool RetryPolicy::again(const HttpResult& r, int attempt) {
  // Written once, not per request: threads would fight over its cache line.
  bool server_seen = answered_.load(std::memory_order_relaxed);
  if (r.status && !server_seen) answered_.store(server_seen = true, std::memory_order_relaxed);
  if (r.status == 200 || attempt >= retries_) return false;
  if (r.refused && !server_seen) return false;
  return r.status == 0 || r.status >= 500 || r.status == 408 || r.status == 429;
}

std::chrono::milliseconds retry_backoff(int attempt, std::uint64_t salt) {
  std::uint64_t x = salt * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(attempt);
  x = (x ^ (x >> 31)) * 0xBF58476D1CE4E5B9ull;
  double scale = 0.5 + 0.5 * static_cast<double>(x >> 11) * 0x1p-53;
  int base = std::min(1000, 10 << std::clamp(attempt, 0, 7));
  return std::chrono::milliseconds(std::max(1, static_cast<int>(base * scale)));
}

std::string timeout_error(std::chrono::milliseconds timeout, std::string_view host_header) {
  std::string s = "timed out after " + std::to_string(timeout.count()) + " ms: ";
  s += host_header;
  return s;
}

DeadlineSweeper::DeadlineSweeper(asio::any_io_executor ex, std::chrono::milliseconds timeout)
    : timer_(ex),
      timeout_(timeout),
      period_(std::clamp<std::chrono::milliseconds>(timeout / 8, std::chrono::milliseconds(5),
                                                    std::chrono::milliseconds(250))) {}

void DeadlineSweeper::arm(AsyncConnection& c) {
  c.timed_out = false;
  if (timeout_.count() > 0) c.deadline_us = now_us() + timeout_.count() * 1000;
}

void DeadlineSweeper::start() {
  if (timeout_.count() <= 0 || running_) return;
  running_ = true;
  tick();
}

void DeadlineSweeper::stop() {
  running_ = false;
  timer_.cancel();
}

void DeadlineSweeper::tick() {
  timer_.expires_after(period_);
  timer_.async_wait([this](beast::error_code ec) {
    if (ec || !running_) return;
    std::int64_t now = now_us();
    for (AsyncConnection* c : conns_) {
      if (c->deadline_us == 0 || now < c->deadline_us) continue;
      c->deadline_us = 0;
      c->timed_out = true;
      beast::error_code ignored;
      c->socket.close(ignored);
    }
    tick();
  });
}

namespace {
std::atomic<std::int64_t> connection_ids{0};
}  // namespace

std::int64_t next_connection_id() { return connection_ids.fetch_add(1, std::memory_order_relaxed) + 1; }
std::int64_t connections_opened() { return connection_ids.load(std::memory_order_relaxed); }

HttpResult take_answer(AsyncConnection& conn) {
  HttpResult r;
  r.status = conn.response->status();
  r.bytes = conn.response->body_bytes();
  r.delay_us = conn.response->delay_us();
  r.conn = conn.id;
  r.opened = conn.opened;
  r.connect_us = conn.opened ? conn.connect_us : 0;
  r.tls_us = conn.opened ? conn.tls_us : 0;
  r.resumed = conn.opened && conn.resumed;
  if (!conn.response->keep_alive() || conn.buffer.size() > 0 || (conn.reuse > 0 && conn.carried >= conn.reuse)) {
    beast::error_code ignored;
    conn.socket.close(ignored);
  }
  return r;
}

asio::awaitable<HttpResult> async_get(AsyncConnection& conn, const std::vector<tcp::endpoint>& endpoints,
                                      const std::string& host_header, const std::string& target,
                                      int attempt) {
  using asio::redirect_error;
  using asio::use_awaitable;
  HttpResult r;
  begin_attempt(conn);
  for (int fresh = 0; fresh < 2; ++fresh) {  // a stale kept-alive connection is reopened once
    beast::error_code ec;
    bool reused = conn.socket.is_open();
    if (!reused) {
      conn.buffer.clear();
      connecting(conn);
      co_await asio::async_connect(conn.socket, endpoints, redirect_error(use_awaitable, ec));
      if (ec) {
        beast::error_code ignored;
        conn.socket.close(ignored);
        r.error = describe_error("connect", ec, host_header);
        r.refused = ec == asio::error::connection_refused;
        co_return r;
      }
      connected(conn);
      conn.socket.set_option(tcp::no_delay(true), ec);
      co_await async_start_tls(conn, redirect_error(use_awaitable, ec));
      if (ec) {
        r.error = describe_handshake_error(conn, ec, host_header);
        beast::error_code ignored;
        conn.socket.close(ignored);
        co_return r;
      }
    }
    format_request(conn, target, host_header, attempt);
    co_await asio::async_write(conn.io, asio::buffer(conn.request), redirect_error(use_awaitable, ec));
    if (!ec) co_await async_read_answer(conn, redirect_error(use_awaitable, ec));
    if (ec) {
      beast::error_code ignored;
      conn.socket.close(ignored);
      if (reused && is_stale_connection_error(ec)) continue;  // idle connection was closed
      r.error = describe_error("request to", ec, host_header);
      co_return r;
    }
    co_return take_answer(conn);
  }
  co_return r;
}

namespace {

// fetch_text's request and answer on a stream already open (and TLS's handshake done).
template <class Stream>
void exchange_text(Stream& stream, const std::string& host_header, const std::string& target,
                   std::optional<std::string>& body) {
  namespace http = beast::http;
  auto req = std::make_shared<http::request<http::empty_body>>(http::verb::get, target, 11);
  req->set(http::field::host, host_header);
  req->set(http::field::connection, "close");
  http::async_write(stream, *req, [&stream, &body, req](beast::error_code ec, std::size_t) {
    if (ec) return;
    auto buffer = std::make_shared<beast::flat_buffer>();
    auto res = std::make_shared<http::response<http::string_body>>();
    http::async_read(stream, *buffer, *res, [&body, buffer, res](beast::error_code ec, std::size_t) {
      if (!ec && res->result_int() == 200) body = std::move(res->body());
    });
  });
}

}  // namespace

std::optional<std::string> fetch_text(const std::vector<tcp::endpoint>& endpoints,
                                      const std::string& host_header, const std::string& target,
                                      std::chrono::milliseconds timeout, const TlsTarget* tls) {
  if (endpoints.empty()) return std::nullopt;
  asio::io_context ioc;
  beast::tcp_stream plain(ioc);
  plain.expires_after(timeout);  // one deadline for every step
  std::optional<asio::ssl::stream<beast::tcp_stream&>> secure;
  std::optional<std::string> body;
  plain.async_connect(endpoints.front(), [&](beast::error_code ec) {
    if (ec) return;
    if (!tls || !*tls) return exchange_text(plain, host_header, target, body);
    secure.emplace(plain, tls->client->context());
    if (!tls->client->prepare(secure->native_handle(), tls->host, nullptr)) return;
    secure->async_handshake(asio::ssl::stream_base::client, [&](beast::error_code ec) {
      if (!ec) exchange_text(*secure, host_header, target, body);
    });
  });
  ioc.run();
  return body;
}

}  // namespace testbed
