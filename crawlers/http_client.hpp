#pragma once
// HTTP/1.1 client pieces the models share: request formatting, endpoint
// resolution, error wording, and a blocking keep-alive connection for the
// serial and thread-pool models (and the serial prime saver).
#include "common/query.hpp"

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace testbed {

using tcp = boost::asio::ip::tcp;

// Appends "GET target HTTP/1.1\r\nHost: host\r\n\r\n" (keep-alive is HTTP/1.1's default).
void format_get(std::string& out, std::string_view target, std::string_view host);

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
  std::string error;  // set when status == 0
};

// One blocking keep-alive connection, reopened when the server closes it.
class SyncClient {
 public:
  SyncClient(boost::asio::io_context& ioc, std::vector<tcp::endpoint> endpoints,
             std::string host_header);
  HttpResult get(std::string_view target);

 private:
  bool exchange(std::string_view target, HttpResult& out, bool& stale);
  std::vector<tcp::endpoint> endpoints_;
  std::string host_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::string request_;
  boost::beast::http::response<boost::beast::http::string_body> response_;
};

// A keep-alive connection for coroutines (the coroutine model, the async
// prime saver): one request at a time, reconnecting as needed.
struct AsyncConnection {
  explicit AsyncConnection(boost::asio::any_io_executor ex) : socket(ex) {}
  tcp::socket socket;
  boost::beast::flat_buffer buffer;
  std::string request;
  boost::beast::http::response<boost::beast::http::string_body> response;
};

// aiohttp's `await session.get(url)`: one GET on `conn`, retried once on a
// fresh connection if the kept-alive one turns out to have been closed.
boost::asio::awaitable<HttpResult> async_get(AsyncConnection& conn,
                                             const std::vector<tcp::endpoint>& endpoints,
                                             const std::string& host_header,
                                             const std::string& target);

}  // namespace testbed
