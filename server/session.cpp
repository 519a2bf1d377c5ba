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
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <optional>
#include <type_traits>

namespace testbed {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

namespace {

constexpr std::size_t kReadBufferLimit = 64 * 1024;  // pipelined requests waiting their turn

// Stream: tcp::socket, or TlsStream with --tls (a handshake first, and a
// close_notify before the close).
template <class Stream>
class Session : public SessionBase {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  Session(ServerState& srv, Stream stream)
      : srv_(srv), socket_(std::move(stream)), buffer_(kReadBufferLimit), timer_(socket_.get_executor()) {
    srv_.registry.add(this);
  }
  ~Session() override {
    if (in_flight_) leave_flight(now_us());
    release_timeline();
    srv_.registry.remove(this);
    srv_.counters.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() {
    if constexpr (kTls) {
      wait_on_peer();  // a handshake that stalls is timed out as a slow request is
      socket_.async_handshake(asio::ssl::stream_base::server,
                              beast::bind_front_handler(&Session::on_handshake, self()));
    } else {
      do_read();
    }
  }

  asio::any_io_executor executor() override { return socket_.get_executor(); }

  void on_sweep() override {
    if (!srv_.idle.timed_out(waiting_since.load(std::memory_order_relaxed))) return;  // moved on
    srv_.counters.read_timeouts.fetch_add(1, std::memory_order_relaxed);
    // The pending read, write or handshake ends with operation_aborted (no
    // close_notify: a TLS operation may be pending, and the peer is not listening).
    closing_ = true;
    close();
  }

 private:
  std::shared_ptr<Session> self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  tcp::socket& raw() { return beast::get_lowest_layer(socket_); }

  void on_handshake(beast::error_code ec) {
    peer_answered();
    Counters& n = srv_.counters;
    if (!ec) {
      n.tls_handshakes.fetch_add(1, std::memory_order_relaxed);
      if (SSL_session_reused(socket_.native_handle())) n.tls_resumed.fetch_add(1, std::memory_order_relaxed);
      return do_read();
    }
    if (ec == asio::error::operation_aborted) return;  // timed out: the sweep counted it
    n.tls_failures.fetch_add(1, std::memory_order_relaxed);
    // Plain HTTP to the TLS port: say so in plain HTTP, as nginx does. The
    // socket is fresh and the answer small, so the write does not block.
    if (ec.category() == asio::error::get_ssl_category() &&
        ERR_GET_REASON(ec.value()) == SSL_R_HTTP_REQUEST) {
      static const std::string answer = [] {
        std::string out;
        write_response(out, {11, 400, false, "text/plain"},
                       "this port speaks TLS: the request was plain HTTP (use https://)\n");
        return out;
      }();
      beast::error_code ignored;
      raw().write_some(asio::buffer(answer), ignored);
    }
    beast::error_code ignored;
    raw().shutdown(tcp::socket::shutdown_both, ignored);
    raw().close(ignored);
  }
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
    raw().cancel(ignored);  // ends watch_peer's wait
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
    raw().async_wait(tcp::socket::wait_read, [s = self()](beast::error_code ec) {
      if (ec == asio::error::operation_aborted || !s->delaying_) return;
      if (!ec) {
        char c;
        ssize_t n = ::recv(s->raw().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
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
    if constexpr (kTls) {
      // A close_notify first, unless the peer is gone or too slow (then the
      // sweep's close, or a second call, ends it): a client that reads to
      // the end sees a clean close, not a truncated stream.
      if (!closing_ && raw().is_open()) {
        closing_ = true;
        wait_on_peer();
        return socket_.async_shutdown([s = self()](beast::error_code) { s->close(); });
      }
    }
    raw().shutdown(tcp::socket::shutdown_send, ignored);
    raw().close(ignored);
  }

  ServerState& srv_;
  Stream socket_;
  bool closing_ = false;  // TLS: the close_notify is on its way
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
  if (state.tls)
    return std::make_shared<Session<TlsStream>>(state, TlsStream(std::move(socket), *state.tls))->start();
  std::make_shared<Session<tcp::socket>>(state, std::move(socket))->start();
}

}  // namespace testbed
