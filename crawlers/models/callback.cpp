// Model 3, callbacks (tornado's callback crawler, Example 8-7): Asio
// completion handlers only, no coroutines. The crawl is `concurrency` slots;
// each slot is a chain of handlers on a keep-alive connection from the pool
// (one a slot, for one host; by host, with --urls):
//
//   fetch_next -> (connect ->) write -> read -> settle -> fetch_next -> ...
//                                                   `-> backoff -> send (a retry)
//
// A slot takes the next URL when its previous one finishes, so the number of
// requests in flight is exactly the number of slots. When the URLs run out,
// each chain simply stops (the last one also stops the timeout sweeper), the
// event loop has no more work, and run() returns: the "carry the stop function
// around" the book complains about is Asio's outstanding-work counting here.
//
// Open loop (--rate): a slot that takes a request not yet due arms a timer
// for when it is, and sends it from the timer's handler; with every slot
// busy, a due request waits for the first slot to come free.
#include "client/http_client.hpp"
#include "common/clock.hpp"
#include "crawlers/conn_pool.hpp"
#include "crawlers/model.hpp"

#include <memory>
#include <vector>

namespace testbed {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

struct Shared {
  const CrawlJob& job;
  Recorder& rec;
  DeadlineSweeper& sweeper;
  ConnectionPool& pool;    // tornado's: connections kept alive, by host
  std::size_t next;        // the next URL to hand out (one thread: no atomics)
  std::size_t end;         // and the end of this loop's share
  std::size_t untaken;     // URLs that have not had a connection yet
  std::size_t active = 0;  // chains still running
};

class Slot {
 public:
  Slot(asio::io_context& ioc, Shared& shared) : s_(shared), pause_(ioc) {}

  void fetch_next() {
    if (s_.next >= s_.end) return finish_chain();
    index_ = s_.next++;
    attempt_ = 0;
    if (s_.job.open_loop()) {
      const std::int64_t wait = s_.job.due_us[index_] - now_us();
      if (wait > 0) {
        pause_.expires_after(std::chrono::microseconds(wait));
        pause_.async_wait([this](beast::error_code) { begin(); });
        return;
      }
    }
    begin();
  }

 private:
  void begin() {
    s_.rec.start(index_);
    take_connection();
  }

  // A connection to the request's host from the pool; with --per-host, the
  // wait for one when its host has them all busy.
  void take_connection() {
    const std::uint32_t o = s_.job.origin_index(index_);
    conn_ = s_.pool.take(o);
    if (!conn_) return s_.pool.async_wait(o, [this](beast::error_code) { take_connection(); });
    --s_.untaken;
    to_ = &s_.pool.origin(*conn_);
    send();
  }

  void send() {
    retried_ = false;
    begin_attempt(*conn_);
    s_.sweeper.arm(*conn_);
    connect_or_reuse();
  }

  void connect_or_reuse() {
    if (!conn_->socket.is_open()) {
      reused_ = false;
      conn_->buffer.clear();
      connecting(*conn_);
      asio::async_connect(conn_->socket, to_->endpoints,
                          [this](beast::error_code ec, const tcp::endpoint&) { on_connect(ec); });
      return;
    }
    reused_ = true;
    on_connect({});
  }

  void on_connect(beast::error_code ec) {
    if (ec) return on_error("connect", ec);
    if (!reused_) {
      connected(*conn_);
      conn_->socket.set_option(tcp::no_delay(true), ec);
      if (conn_->tls_target)
        return async_start_tls(*conn_, [this](beast::error_code ec) { on_handshake(ec); });
    }
    send_request();
  }

  void on_handshake(beast::error_code ec) {
    if (ec) return on_error(nullptr, ec);
    send_request();
  }

  void send_request() {
    format_request(*conn_, s_.job.targets[index_], to_->host_header, attempt_);
    asio::async_write(conn_->io, asio::buffer(conn_->request),
                      [this](beast::error_code ec, std::size_t) { on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) return on_error("request to", ec);
    async_read_answer(*conn_, [this](beast::error_code ec) { on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return on_error("request to", ec);
    s_.sweeper.disarm(*conn_);
    settle(take_answer(*conn_));
  }

  void on_error(const char* stage, beast::error_code ec) {
    close();
    if (reused_ && !retried_ && !conn_->timed_out && is_stale_connection_error(ec)) {
      retried_ = true;  // the server had closed our idle connection: once more, fresh
      return connect_or_reuse();
    }
    s_.sweeper.disarm(*conn_);
    HttpResult r;
    r.error = conn_->timed_out ? timeout_error(s_.sweeper.timeout(), to_->host_header)
              : stage          ? describe_error(stage, ec, to_->host_header)
                               : describe_handshake_error(*conn_, ec, to_->host_header);
    r.refused = ec == asio::error::connection_refused;
    settle(r);
  }

  // One attempt is over: back off and try again, or record it and move on.
  void settle(const HttpResult& r) {
    if (!s_.rec.try_again(index_, r, attempt_)) {
      if (s_.untaken == 0) close();  // no URL is left to reuse it: closed now, not all at the end
      s_.pool.give_back(*conn_);
      return fetch_next();
    }
    pause_.expires_after(retry_backoff(attempt_++, index_));
    pause_.async_wait([this](beast::error_code) { send(); });
  }

  void finish_chain() {
    if (--s_.active == 0) s_.sweeper.stop();  // nothing left to time out
  }

  void close() {
    beast::error_code ignored;
    conn_->socket.close(ignored);
  }

  Shared& s_;
  AsyncConnection* conn_ = nullptr;  // the current request's, from the pool
  const Origin* to_ = nullptr;       // its host
  asio::steady_timer pause_;         // backoff between attempts
  std::size_t index_ = 0;
  int attempt_ = 0;
  bool reused_ = false;
  bool retried_ = false;
};

}  // namespace

void crawl_callback(const CrawlJob& job, Recorder& rec) {
  run_event_loops(job, [&](const LoopShare& share) {  // one loop unless --loops
    asio::io_context ioc(1);
    DeadlineSweeper sweeper(ioc.get_executor(), job.timeout);
    std::size_t n = std::min<std::size_t>(share.concurrency, share.end - share.begin);
    ConnectionPool pool(ioc.get_executor(), job, share, sweeper);
    Shared shared{job, rec, sweeper, pool, share.begin, share.end, share.end - share.begin};
    std::vector<std::unique_ptr<Slot>> slots;
    shared.active = n;
    for (std::size_t k = 0; k < n; ++k) slots.push_back(std::make_unique<Slot>(ioc, shared));
    if (n > 0) sweeper.start();
    for (auto& slot : slots) slot->fetch_next();
    ioc.run();  // returns when every chain has run out of URLs
  });
}

}  // namespace testbed
