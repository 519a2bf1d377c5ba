#include "client/http_client.hpp"

#include "common/clock.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <stdexcept>

namespace testbed {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

void format_get(std::string& out, std::string_view target, std::string_view host, int attempt) {
  out.append("GET ");
  out.append(target);
  out.append(" HTTP/1.1\r\nHost: ");
  out.append(host);
  if (attempt > 0) {
    out.append("\r\nX-Attempt: ");
    out.append(std::to_string(attempt + 1));
  }
  out.append("\r\n\r\n");
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
         ec == asio::error::broken_pipe || ec == asio::error::eof;
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
  if (!conn.response->keep_alive() || conn.buffer.size() > 0) {
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
    }
    conn.request.clear();
    format_get(conn.request, target, host_header, attempt);
    co_await asio::async_write(conn.socket, asio::buffer(conn.request), redirect_error(use_awaitable, ec));
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

std::optional<std::string> fetch_text(const std::vector<tcp::endpoint>& endpoints,
                                      const std::string& host_header, const std::string& target,
                                      std::chrono::milliseconds timeout) {
  namespace http = beast::http;
  if (endpoints.empty()) return std::nullopt;
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(timeout);  // one deadline for all three steps
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, host_header);
  req.set(http::field::connection, "close");
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  std::optional<std::string> body;
  stream.async_connect(endpoints.front(), [&](beast::error_code ec) {
    if (ec) return;
    http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
      if (ec) return;
      http::async_read(stream, buffer, res, [&](beast::error_code ec, std::size_t) {
        if (!ec && res.result_int() == 200) body = std::move(res.body());
      });
    });
  });
  ioc.run();
  return body;
}

}  // namespace testbed
