// Model 3, callbacks (tornado's callback crawler, Example 8-7): Asio
// completion handlers only, no coroutines. The crawl is `concurrency` slots;
// each slot is a chain of handlers on one keep-alive connection:
//
//   fetch_next -> (connect ->) write -> read -> record -> fetch_next -> ...
//
// A slot takes the next URL when its previous one finishes, so the number of
// requests in flight is exactly the number of slots. When the URLs run out,
// each chain simply stops, the event loop has no more work, and run() returns:
// the "carry the stop function around" the book complains about is Asio's
// outstanding-work counting here.
#include "crawlers/crawl.hpp"
#include "crawlers/http_client.hpp"

#include <memory>
#include <vector>

namespace testbed {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

struct Shared {
  const CrawlJob& job;
  Recorder& rec;
  std::size_t next = 0;  // the next URL to hand out (one thread: no atomics)
};

class Slot {
 public:
  Slot(asio::io_context& ioc, Shared& shared) : s_(shared), socket_(ioc) {}

  void fetch_next() {
    if (s_.next >= s_.job.targets.size()) return close();  // this chain ends
    index_ = s_.next++;
    retried_ = false;
    s_.rec.start(index_);
    send();
  }

 private:
  void send() {
    if (!socket_.is_open()) {
      reused_ = false;
      asio::async_connect(socket_, s_.job.endpoints,
                          [this](beast::error_code ec, const tcp::endpoint&) { on_connect(ec); });
      return;
    }
    reused_ = true;
    on_connect({});
  }

  void on_connect(beast::error_code ec) {
    if (ec) return on_error("connect", ec);
    if (!reused_) socket_.set_option(tcp::no_delay(true), ec);
    request_.clear();
    format_get(request_, s_.job.targets[index_], s_.job.host_header);
    asio::async_write(socket_, asio::buffer(request_),
                      [this](beast::error_code ec, std::size_t) { on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) return on_error("request to", ec);
    response_ = {};
    http::async_read(socket_, buffer_, response_,
                     [this](beast::error_code ec, std::size_t) { on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return on_error("request to", ec);
    s_.rec.finish(index_, static_cast<int>(response_.result_int()),
                  static_cast<std::int64_t>(response_.body().size()));
    if (!response_.keep_alive()) close();
    fetch_next();
  }

  void on_error(const char* stage, beast::error_code ec) {
    close();
    if (reused_ && !retried_ && is_stale_connection_error(ec)) {
      retried_ = true;  // the server had closed our idle connection: once more, fresh
      return send();
    }
    s_.rec.fail(index_, describe_error(stage, ec, s_.job.host_header));
    fetch_next();
  }

  void close() {
    beast::error_code ignored;
    socket_.close(ignored);
    buffer_.clear();
  }

  Shared& s_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::string request_;
  http::response<http::string_body> response_;
  std::size_t index_ = 0;
  bool reused_ = false;
  bool retried_ = false;
};

}  // namespace

void crawl_callback(const CrawlJob& job, Recorder& rec) {
  asio::io_context ioc(1);
  Shared shared{job, rec};
  std::vector<std::unique_ptr<Slot>> slots;
  std::size_t n = std::min<std::size_t>(job.concurrency, job.targets.size());
  for (std::size_t k = 0; k < n; ++k) {
    slots.push_back(std::make_unique<Slot>(ioc, shared));
    slots.back()->fetch_next();
  }
  ioc.run();  // returns when every chain has run out of URLs
}

}  // namespace testbed
