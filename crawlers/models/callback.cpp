// Model 3, callbacks (tornado's callback crawler, Example 8-7): Asio
// completion handlers only, no coroutines. The crawl is `concurrency` slots;
// each slot is a chain of handlers on one keep-alive connection:
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
  std::size_t next;        // the next URL to hand out (one thread: no atomics)
  std::size_t end;         // and the end of this loop's share
  std::size_t active = 0;  // chains still running
};

class Slot {
 public:
  Slot(asio::io_context& ioc, Shared& shared)
      : s_(shared), conn_(ioc.get_executor(), shared.job.reuse, &shared.job.tls), pause_(ioc) {
    s_.sweeper.watch(conn_);
  }

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
    send();
  }

  void send() {
    retried_ = false;
    begin_attempt(conn_);
    s_.sweeper.arm(conn_);
    connect_or_reuse();
  }

  void connect_or_reuse() {
    if (!conn_.socket.is_open()) {
      reused_ = false;
      conn_.buffer.clear();
      connecting(conn_);
      asio::async_connect(conn_.socket, s_.job.endpoints,
                          [this](beast::error_code ec, const tcp::endpoint&) { on_connect(ec); });
      return;
    }
    reused_ = true;
    on_connect({});
  }

  void on_connect(beast::error_code ec) {
    if (ec) return on_error("connect", ec);
    if (!reused_) {
      connected(conn_);
      conn_.socket.set_option(tcp::no_delay(true), ec);
      if (conn_.tls_target) return async_start_tls(conn_, [this](beast::error_code ec) { on_handshake(ec); });
    }
    send_request();
  }

  void on_handshake(beast::error_code ec) {
    if (ec) return on_error(nullptr, ec);
    send_request();
  }

  void send_request() {
    format_request(conn_, s_.job.targets[index_], s_.job.host_header, attempt_);
    asio::async_write(conn_.io, asio::buffer(conn_.request),
                      [this](beast::error_code ec, std::size_t) { on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) return on_error("request to", ec);
    async_read_answer(conn_, [this](beast::error_code ec) { on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return on_error("request to", ec);
    s_.sweeper.disarm(conn_);
    settle(take_answer(conn_));
  }

  void on_error(const char* stage, beast::error_code ec) {
    close();
    if (reused_ && !retried_ && !conn_.timed_out && is_stale_connection_error(ec)) {
      retried_ = true;  // the server had closed our idle connection: once more, fresh
      return connect_or_reuse();
    }
    s_.sweeper.disarm(conn_);
    HttpResult r;
    r.error = conn_.timed_out ? timeout_error(s_.sweeper.timeout(), s_.job.host_header)
              : stage         ? describe_error(stage, ec, s_.job.host_header)
                              : describe_handshake_error(conn_, ec, s_.job.host_header);
    r.refused = ec == asio::error::connection_refused;
    settle(r);
  }

  // One attempt is over: back off and try again, or record it and move on.
  void settle(const HttpResult& r) {
    if (!s_.rec.try_again(index_, r, attempt_)) return fetch_next();
    pause_.expires_after(retry_backoff(attempt_++, index_));
    pause_.async_wait([this](beast::error_code) { send(); });
  }

  void finish_chain() {
    close();
    if (--s_.active == 0) s_.sweeper.stop();  // nothing left to time out
  }

  void close() {
    beast::error_code ignored;
    conn_.socket.close(ignored);
  }

  Shared& s_;
  AsyncConnection conn_;
  asio::steady_timer pause_;  // backoff between attempts
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
    Shared shared{job, rec, sweeper, share.begin, share.end};
    std::vector<std::unique_ptr<Slot>> slots;
    std::size_t n = std::min<std::size_t>(share.concurrency, share.end - share.begin);
    shared.active = n;
    for (std::size_t k = 0; k < n; ++k) slots.push_back(std::make_unique<Slot>(ioc, shared));
    if (n > 0) sweeper.start();
    for (auto& slot : slots) slot->fetch_next();
    ioc.run();  // returns when every chain has run out of URLs
  });
}

}  // namespace testbed
