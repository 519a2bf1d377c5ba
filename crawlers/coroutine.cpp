// Model 4, C++20 coroutines (asyncio + aiohttp, Example 8-8): each URL is a
// task that awaits its request as if it were blocking code. As in the book,
// a semaphore of `concurrency` bounds how many run at once; we acquire it
// before spawning, so no more than `concurrency` task frames ever exist even
// for 100k URLs. Finished tasks hand their connection back to a small pool,
// so connections are reused (keep-alive) rather than opened per URL.
#include "crawlers/crawl.hpp"
#include "crawlers/http_client.hpp"

#include <memory>
#include <vector>

namespace testbed {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::use_awaitable;

namespace {

// asyncio.Semaphore for one event-loop thread: waiters park on a timer that
// never expires; release() wakes one of them by cancelling its wait.
class AsyncSemaphore {
 public:
  AsyncSemaphore(asio::any_io_executor ex, std::size_t count)
      : wakeup_(ex, asio::steady_timer::time_point::max()), count_(count) {}

  awaitable<void> acquire() {
    while (count_ == 0) {
      beast::error_code ec;
      co_await wakeup_.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    --count_;
  }
  void release() {
    ++count_;
    wakeup_.cancel_one();
  }

 private:
  asio::steady_timer wakeup_;
  std::size_t count_;
};

struct Connection {
  explicit Connection(asio::any_io_executor ex) : socket(ex) {}
  tcp::socket socket;
  beast::flat_buffer buffer;
  std::string request;
  http::response<http::string_body> response;
};

struct Crawl {
  const CrawlJob& job;
  Recorder& rec;
  AsyncSemaphore semaphore;
  std::vector<std::unique_ptr<Connection>> idle;  // the connection pool
};

// One GET on a pooled connection, (re)connecting as needed.
awaitable<HttpResult> http_get(Crawl& c, Connection& conn, const std::string& target) {
  HttpResult r;
  for (int attempt = 0; attempt < 2; ++attempt) {
    beast::error_code ec;
    bool reused = conn.socket.is_open();
    if (!reused) {
      conn.buffer.clear();
      co_await asio::async_connect(conn.socket, c.job.endpoints, asio::redirect_error(use_awaitable, ec));
      if (ec) {
        conn.socket.close(ec);
        r.error = describe_error("connect", ec, c.job.host_header);
        co_return r;
      }
      conn.socket.set_option(tcp::no_delay(true), ec);
    }
    conn.request.clear();
    format_get(conn.request, target, c.job.host_header);
    co_await asio::async_write(conn.socket, asio::buffer(conn.request),
                               asio::redirect_error(use_awaitable, ec));
    if (!ec) {
      conn.response = {};
      co_await http::async_read(conn.socket, conn.buffer, conn.response,
                                asio::redirect_error(use_awaitable, ec));
    }
    if (ec) {
      beast::error_code ignored;
      conn.socket.close(ignored);
      if (reused && is_stale_connection_error(ec)) continue;  // idle connection was closed
      r.error = describe_error("request to", ec, c.job.host_header);
      co_return r;
    }
    r.status = static_cast<int>(conn.response.result_int());
    r.bytes = static_cast<std::int64_t>(conn.response.body().size());
    if (!conn.response.keep_alive()) conn.socket.close(ec);
    co_return r;
  }
  co_return r;
}

// The task for one URL: runs while holding one semaphore permit.
awaitable<void> fetch(Crawl& c, std::size_t i) {
  std::unique_ptr<Connection> conn;
  if (c.idle.empty()) {
    conn = std::make_unique<Connection>(co_await asio::this_coro::executor);
  } else {
    conn = std::move(c.idle.back());
    c.idle.pop_back();
  }
  c.rec.start(i);
  HttpResult r = co_await http_get(c, *conn, c.job.targets[i]);
  if (r.status)
    c.rec.finish(i, r.status, r.bytes);
  else
    c.rec.fail(i, r.error);
  c.idle.push_back(std::move(conn));
  c.semaphore.release();
}

awaitable<void> crawl_all(Crawl& c) {
  auto ex = co_await asio::this_coro::executor;
  for (std::size_t i = 0; i < c.job.targets.size(); ++i) {
    co_await c.semaphore.acquire();  // `async with semaphore:`
    asio::co_spawn(ex, fetch(c, i), asio::detached);
  }
  // Like awaiting as_completed() to the end: holding every permit means every
  // task has finished.
  for (int k = 0; k < c.job.concurrency; ++k) co_await c.semaphore.acquire();
}

}  // namespace

void crawl_coroutine(const CrawlJob& job, Recorder& rec) {
  asio::io_context ioc(1);
  Crawl c{job, rec,
          AsyncSemaphore(ioc.get_executor(), static_cast<std::size_t>(job.concurrency)), {}};
  c.idle.reserve(static_cast<std::size_t>(job.concurrency));
  std::exception_ptr failure;
  asio::co_spawn(ioc, crawl_all(c), [&](std::exception_ptr e) { failure = e; });
  ioc.run();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace testbed
