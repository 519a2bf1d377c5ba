#include "crawlers/http_client.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <stdexcept>

namespace testbed {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

void format_get(std::string& out, std::string_view target, std::string_view host) {
  out.append("GET ");
  out.append(target);
  out.append(" HTTP/1.1\r\nHost: ");
  out.append(host);
  out.append("\r\n\r\n");
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

SyncClient::SyncClient(asio::io_context& ioc, std::vector<tcp::endpoint> endpoints,
                       std::string host_header)
    : endpoints_(std::move(endpoints)), host_(std::move(host_header)), socket_(ioc) {}

HttpResult SyncClient::get(std::string_view target) {
  HttpResult r;
  bool reused = socket_.is_open();
  bool stale = false;
  if (exchange(target, r, stale)) return r;
  // A kept-alive connection the server closed while idle fails at once with
  // no answer; that is not the request's fault, so try once more on a fresh one.
  if (reused && stale) {
    r = {};
    exchange(target, r, stale);
  }
  return r;
}

bool SyncClient::exchange(std::string_view target, HttpResult& out, bool& stale) {
  boost::system::error_code ec;
  stale = false;
  if (!socket_.is_open()) {
    buffer_.clear();
    asio::connect(socket_, endpoints_, ec);
    if (ec) {
      out.error = describe_error("connect", ec, host_);
      socket_.close();
      return false;
    }
    socket_.set_option(tcp::no_delay(true), ec);
  }
  request_.clear();
  format_get(request_, target, host_);
  asio::write(socket_, asio::buffer(request_), ec);
  if (!ec) {
    response_ = {};
    http::read(socket_, buffer_, response_, ec);
  }
  if (ec) {
    stale = is_stale_connection_error(ec);
    out.error = describe_error("request to", ec, host_);
    boost::system::error_code ignored;
    socket_.close(ignored);
    return false;
  }
  out.status = static_cast<int>(response_.result_int());
  out.bytes = static_cast<std::int64_t>(response_.body().size());
  if (!response_.keep_alive()) socket_.close(ec);
  return true;
}

asio::awaitable<HttpResult> async_get(AsyncConnection& conn, const std::vector<tcp::endpoint>& endpoints,
                                      const std::string& host_header, const std::string& target) {
  using asio::redirect_error;
  using asio::use_awaitable;
  HttpResult r;
  for (int attempt = 0; attempt < 2; ++attempt) {
    beast::error_code ec;
    bool reused = conn.socket.is_open();
    if (!reused) {
      conn.buffer.clear();
      co_await asio::async_connect(conn.socket, endpoints, redirect_error(use_awaitable, ec));
      if (ec) {
        conn.socket.close(ec);
        r.error = describe_error("connect", ec, host_header);
        co_return r;
      }
      conn.socket.set_option(tcp::no_delay(true), ec);
    }
    conn.request.clear();
    format_get(conn.request, target, host_header);
    co_await asio::async_write(conn.socket, asio::buffer(conn.request), redirect_error(use_awaitable, ec));
    if (!ec) {
      conn.response = {};
      co_await http::async_read(conn.socket, conn.buffer, conn.response, redirect_error(use_awaitable, ec));
    }
    if (ec) {
      beast::error_code ignored;
      conn.socket.close(ignored);
      if (reused && is_stale_connection_error(ec)) continue;  // idle connection was closed
      r.error = describe_error("request to", ec, host_header);
      co_return r;
    }
    r.status = static_cast<int>(conn.response.result_int());
    r.bytes = static_cast<std::int64_t>(conn.response.body().size());
    if (!conn.response.keep_alive()) conn.socket.close(ec);
    co_return r;
  }
  co_return r;
}

}  // namespace testbed
