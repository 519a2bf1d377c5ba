// A connection: one Session reads a request, routes it, waits on a timer
// (never a sleeping thread) or for the database, answers, and reads the next.
// What the routes that need no waiting answer is routes.cpp's.
// While a delay runs, the session watches its socket so a client that leaves
// is noticed and its delay cancelled; the idle sweep (idle.hpp) closes a peer
// that takes too long to send a request or to read an answer.
#include "server/session.hpp"

#include "common/clock.hpp"
#include "server/response.hpp"
#include "server/routes.hpp"
#include "server/state.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <optional>

namespace testbed {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kReadBufferLimit = 64 * 1024;  // pipelined requests waiting their turn

class Session : public SessionBase {
 public:
  Session(ServerState& srv, tcp::socket socket)
      : srv_(srv), socket_(std::move(socket)), buffer_(kReadBufferLimit), timer_(socket_.get_executor()) {
    srv_.registry.add(this);
  }
  ~Session() override {
    if (in_flight_) leave_flight(now_us());
    release_timeline();
    srv_.registry.remove(this);
    srv_.counters.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() { do_read(); }

  asio::any_io_executor executor() override { return socket_.get_executor(); }

  void on_sweep() override {
    if (!srv_.idle.timed_out(waiting_since.load(std::memory_order_relaxed))) return;  // moved on
    srv_.counters.read_timeouts.fetch_add(1, std::memory_order_relaxed);
    close();  // the pending read or write ends with operation_aborted
  }

 private:
  std::shared_ptr<Session> self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  void wait_on_peer() { waiting_since.store(srv_.idle.now(), std::memory_order_relaxed); }
  void peer_answered() { waiting_since.store(0, std::memory_order_relaxed); }

  void do_read() {
    parser_.emplace(target_);
    wait_on_peer();
    http::async_read(socket_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, self()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    peer_answered();
    if (!ec) return handle();
    if (ec == http::error::bad_method) {  // perhaps empty lines before the request line
      auto data = buffer_.data();
      if (std::size_t n = leading_empty_lines({static_cast<const char*>(data.data()), data.size()})) {
        buffer_.consume(n);
        return do_read();
      }
    }
    // A request we refuse gets an answer and then the connection is closed;
    // anything else (the peer left, a timeout, a reset) just ends it.
    bool refused = parser_->reject_status() != 0 ||
                   (ec.category() == http::make_error_code(http::error::bad_method).category() &&
                    ec != http::error::end_of_stream && ec != http::error::partial_message);
    if (!refused) return close();
    auto unread = buffer_.data();
    ParseFailure f = parse_failure(ec, *parser_, {static_cast<const char*>(unread.data()), unread.size()});
    version_ = 11;
    reply_error(static_cast<http::status>(f.status), f.reason, true);
  }

  void handle() {
    version_ = parser_->version();  // 10 or 11: Beast refuses any other (parse_failure: 505)
    keep_alive_ = parser_->keep_alive();
    if (const auto most = srv_.config.max_requests_per_connection; most > 0 && ++served_ >= most)
      keep_alive_ = false;  // this answer is the connection's last
    const Route route = parser_->method() == http::verb::post
                            ? route_post(target_, parser_->body(), srv_.limits, req_)
                            : route_request(parser_->method() == http::verb::get, target_, srv_.limits, req_);
    switch (route) {
      case Route::add_delay:
      case Route::add_post:
        return start_delay();
      case Route::add_prime:
        return handle_prime();
      case Route::flush:
        return answer(flush_answer(srv_));
      case Route::health:
        return reply(http::status::ok, "ok\n", "text/plain");
      case Route::timeline:
        return answer(timeline_answer(srv_, holds_timeline_));
      case Route::primes:
        return handle_primes(false);
      case Route::primes_reset:
        return handle_primes(true);
      case Route::stats:
        return answer(stats_answer(srv_));
      case Route::rejected:
        return reply_error(static_cast<http::status>(req_.status), req_.error, false);
    }
  }

  // /add?name=N&delay=MS[&dist=...], and POST /add: wait on a timer, answer,
  // record the span.
  void start_delay() {
    start_us_ = now_us();
    fault_ = req_.route == Route::add_post ? Fault::none : srv_.roll_fault(req_, parser_->attempt());
    delay_us_ = srv_.enter_flight(req_);
    in_flight_ = true;
    if (delay_us_ == 0 && fault_ == Fault::none) return finish_delay();
    delaying_ = true;
    timer_.expires_after(std::chrono::microseconds(delay_us_));
    timer_.async_wait(beast::bind_front_handler(&Session::on_delay, self()));
    watch_peer();
  }

  void on_delay(beast::error_code ec) {
    if (!delaying_) return;  // the client left and the session was closed
    delaying_ = false;
    beast::error_code ignored;
    socket_.cancel(ignored);  // ends watch_peer's wait
    if (ec) return close();
    finish_delay();
  }

  void finish_delay() {
    const std::int64_t end_us = now_us();
    if (in_flight_) leave_flight(end_us);
    if (fault_ != Fault::none) return inject_fault();
    srv_.timeline.add(req_.name, start_us_, end_us, delay_us_);
    if (req_.route == Route::add_post) {  // the later editions' answer, echoing the body
      post_answer(body_, parser_->body(), delay_us_);
      return reply(http::status::ok, body_, "application/json", delay_us_);
    }
    reply(http::status::ok, ".", "text/plain", delay_us_);
  }

  // Counted in the server's in-flight requests (the knee's load) from the
  // arrival of a delayed request until its delay ends or its client leaves.
  void leave_flight(std::int64_t now) {
    in_flight_ = false;
    srv_.leave_flight(now - start_us_);
  }

  // While the delay runs nothing reads the socket; wait for it to become
  // readable. Data is a pipelined request (left for later); end of stream or an
  // error means the client is gone, so its delay is cancelled.
  void watch_peer() {
    socket_.async_wait(tcp::socket::wait_read, [s = self()](beast::error_code ec) {
      if (ec == asio::error::operation_aborted || !s->delaying_) return;
      if (!ec) {
        char c;
        ssize_t n = ::recv(s->socket_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) return;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return s->watch_peer();
      }
      s->srv_.counters.abandoned.fetch_add(1, std::memory_order_relaxed);
      s->delaying_ = false;
      s->timer_.cancel();
      s->close();
    });
  }

  void inject_fault() {
    if (fault_ == Fault::drop) {
      srv_.counters.injected_drops.fetch_add(1, std::memory_order_relaxed);
      return close();
    }
    srv_.counters.injected_errors.fetch_add(1, std::memory_order_relaxed);
    reply_error(http::status::service_unavailable, "injected error (--error-rate)", false);
  }

  // /add?prime=N: the database write and the latency run side by side; the
  // answer goes out when both are done. An injected fault skips the write.
  void handle_prime() {
    fault_ = srv_.roll_fault(req_, parser_->attempt());
    pending_ = fault_ == Fault::none ? 2 : 1;
    db_result_ = {};
    db_result_.ok = true;
    delay_us_ = srv_.save_latency_us(req_);
    timer_.expires_after(std::chrono::microseconds(delay_us_));
    timer_.async_wait([s = self()](beast::error_code) { s->prime_step(); });
    if (fault_ != Fault::none) return;
    srv_.db->save(req_.prime, [s = self()](DbResult r) {
      asio::post(s->socket_.get_executor(), [s, r = std::move(r)]() mutable {
        s->db_result_ = std::move(r);
        s->prime_step();
      });
    });
  }

  void prime_step() {
    if (--pending_ > 0) return;
    if (fault_ != Fault::none) return inject_fault();
    if (!db_result_.ok) return answer(db_error_answer(db_result_));
    reply(http::status::ok, ".", "text/plain", delay_us_);
  }

  void handle_primes(bool reset) {
    auto done = [s = self()](DbResult r) {
      asio::post(s->socket_.get_executor(), [s, r = std::move(r)] { s->answer(primes_answer(r)); });
    };
    if (!reset) return srv_.db->stats(done);
    srv_.db->reset([this, done](DbResult r) {
      if (!r.ok) return done(std::move(r));
      srv_.db->stats(done);
    });
  }

  void reply_error(http::status status, const std::string& reason, bool close_after) {
    if (close_after) keep_alive_ = false;
    body_.assign(reason).push_back('\n');
    reply(status, body_, "text/plain");
  }

  void answer(const RouteAnswer& a) { reply(a.status, a.body, a.content_type); }

  // The answer goes into a buffer the session keeps (see response.hpp).
  void reply(http::status status, std::string_view body, std::string_view content_type,
             std::int64_t delay_us = -1) {
    write_response(out_, {version_, static_cast<int>(status), keep_alive_, content_type, delay_us}, body);
    wait_on_peer();  // a peer that stops reading its answers is timed out too
    asio::async_write(socket_, asio::buffer(out_), beast::bind_front_handler(&Session::on_write, self()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    peer_answered();
    release_timeline();
    if (ec || !keep_alive_) return close();
    do_read();
  }

  // A /timeline copy is given back once written (or the peer is gone).
  void release_timeline() {
    if (!holds_timeline_) return;
    holds_timeline_ = false;
    testbed::release_timeline(srv_);
    std::string().swap(out_);  // not kept as the session's buffer
  }

  void close() {
    if (in_flight_) leave_flight(now_us());
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    socket_.close(ignored);
  }

  ServerState& srv_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::string target_;  // RequestHead copies the target here
  std::optional<RequestHead> parser_;
  Routed req_;
  asio::steady_timer timer_;
  std::string out_;
  std::string body_;
  std::int64_t start_us_ = 0;
  std::int64_t delay_us_ = 0;  // the current request's delay (or save latency)
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool delaying_ = false;
  bool in_flight_ = false;       // counted in the server's in-flight requests
  bool holds_timeline_ = false;  // out_ holds a /timeline copy counted in timeline_readers
  Fault fault_ = Fault::none;
  int pending_ = 0;
  std::int64_t served_ = 0;  // requests this connection has carried
  DbResult db_result_;
};

}  // namespace

void start_session(ServerState& state, tcp::socket socket) {
  std::make_shared<Session>(state, std::move(socket))->start();
}

}  // namespace testbed
