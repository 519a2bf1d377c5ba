// The delay server. One Session per connection reads a request, waits on a
// timer (never a sleeping thread), answers, and reads the next one, so
// pipelined requests are answered in order and keep-alive is the default.
//
// Guarding against bad peers without a timer per request: each session notes
// the sweep tick at which it started waiting on its peer, and one sweeper timer
// closes those that have waited longer than --read-timeout-ms. While a delay
// runs, the session watches its socket so a client that leaves is noticed and
// its delay cancelled.
#include "server/server.hpp"

#include "common/clock.hpp"
#include "common/csv.hpp"
#include "server/prime_db.hpp"
#include "server/request.hpp"
#include "server/timeline_store.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

namespace testbed {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kReadBufferLimit = 64 * 1024;  // pipelined requests waiting their turn

std::string default_db_path(const std::string& timeline_path) {
  auto dir = std::filesystem::path(timeline_path).parent_path();
  return (dir / "primes.sqlite").string();
}

std::size_t default_max_connections() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 16384;
  return rl.rlim_cur > 128 ? static_cast<std::size_t>(rl.rlim_cur) - 64 : 64;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

enum class Fault { none, error, drop };

// What the registry and the sweeper need of a session.
class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  virtual asio::any_io_executor executor() = 0;
  virtual void on_sweep() = 0;  // on the session's executor: close if it waited too long
  std::atomic<std::uint32_t> waiting_since{0};  // sweep tick; 0: not waiting on the peer
  SessionBase* prev = nullptr;
  SessionBase* next = nullptr;
};

// Every open session, for the sweeper. Touched on connect and close only.
class Registry {
 public:
  void add(SessionBase* s) {
    std::lock_guard lock(mu_);
    s->next = head_;
    if (head_) head_->prev = s;
    head_ = s;
  }
  void remove(SessionBase* s) {
    std::lock_guard lock(mu_);
    if (s->prev) s->prev->next = s->next; else head_ = s->next;
    if (s->next) s->next->prev = s->prev;
  }
  template <class F>
  void for_each(F f) {
    std::lock_guard lock(mu_);
    for (SessionBase* s = head_; s; s = s->next) f(*s);
  }

 private:
  std::mutex mu_;
  SessionBase* head_ = nullptr;
};

struct Counters {
  std::atomic<std::uint64_t> connections{0}, accepted{0}, refused{0}, read_timeouts{0},
      abandoned{0}, injected_errors{0}, injected_drops{0};
};

}  // namespace

struct DelayServer::Impl {
  explicit Impl(ServerConfig c)
      : config(std::move(c)),
        ioc(config.threads),
        acceptor(ioc),
        signals(ioc),
        sweeper(ioc),
        timeline(config.timeline_capacity) {
    if (config.db_path.empty()) config.db_path = default_db_path(config.timeline_path);
    if (config.max_connections == 0) config.max_connections = default_max_connections();
    if (config.seed == 0) config.seed = std::random_device{}() | 1;
    if (config.read_timeout_ms > 0) {
      // Four sweeps per timeout: a slow peer is closed between 1 and 1.25 timeouts.
      sweep_period = std::chrono::milliseconds(std::clamp<std::int64_t>(config.read_timeout_ms / 4, 5, 1000));
      timeout_ticks = static_cast<std::uint32_t>(
          (config.read_timeout_ms + sweep_period.count() - 1) / sweep_period.count());
    }
    limits.default_delay_ms = config.default_delay_ms;
    limits.max_delay_ms = config.max_delay_ms;
    std::string body = "too many connections (" + std::to_string(config.max_connections) + ")\n";
    busy_reply = "HTTP/1.1 503 Service Unavailable\r\nServer: delayserver\r\nContent-Type: "
                 "text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                 "\r\nConnection: close\r\n\r\n" + body;
    db = std::make_unique<PrimeDb>(config.db_path);
    boost::system::error_code ec;
    auto address = asio::ip::make_address(config.bind, ec);
    if (ec) throw std::runtime_error("bad --bind address '" + config.bind + "': " + ec.message());
    tcp::endpoint ep(address, config.port);
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(ep, ec);
    if (ec)
      throw std::runtime_error("cannot listen on " + config.bind + ":" +
                               std::to_string(config.port) + ": " + ec.message());
    acceptor.listen(asio::socket_base::max_listen_connections);
    port = acceptor.local_endpoint().port();
  }

  void do_accept();
  void refuse(tcp::socket& socket);
  void sweep();

  Fault roll_fault() {
    if (config.error_rate <= 0 && config.drop_rate <= 0) return Fault::none;
    std::uint64_t n = fault_draws.fetch_add(1, std::memory_order_relaxed);
    double u = static_cast<double>(splitmix64(config.seed ^ splitmix64(n)) >> 11) * 0x1p-53;
    if (u < config.drop_rate) return Fault::drop;
    if (u < config.drop_rate + config.error_rate) return Fault::error;
    return Fault::none;
  }
  ServerStats stats() const {
    return {counters.connections.load(),   counters.accepted.load(),
            counters.refused.load(),       counters.read_timeouts.load(),
            counters.abandoned.load(),     counters.injected_errors.load(),
            counters.injected_drops.load()};
  }
  std::uint32_t now_tick() const { return tick.load(std::memory_order_relaxed); }
  bool timed_out(std::uint32_t since) const {
    return timeout_ticks && since && now_tick() - since >= timeout_ticks;
  }

  long long flush(std::string* error) {
    std::string err;
    std::string csv = timeline.to_csv();
    if (!write_file_atomic(config.timeline_path, csv, &err)) {
      if (error) *error = err;
      return -1;
    }
    return static_cast<long long>(timeline.size());
  }
  void shutdown() {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    signals.cancel(ignored);
    sweeper.cancel();
    std::string err;
    if (flush(&err) < 0) std::cerr << "delayserver: flush on exit failed: " << err << '\n';
    ioc.stop();
  }

  ServerConfig config;
  RouteLimits limits;
  std::string busy_reply;
  // Sessions outlive nothing below ioc: they are destroyed with its handlers.
  Counters counters;
  Registry registry;
  std::atomic<std::uint32_t> tick{1};
  std::chrono::milliseconds sweep_period{0};
  std::uint32_t timeout_ticks = 0;  // 0: no read timeout
  std::atomic<std::uint64_t> fault_draws{0};
  asio::io_context ioc;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  asio::steady_timer sweeper;
  std::uint16_t port = 0;
  TimelineStore timeline;
  std::unique_ptr<PrimeDb> db;
  std::unique_ptr<asio::steady_timer> accept_retry;
};

namespace {

class Session : public SessionBase {
 public:
  Session(DelayServer::Impl& srv, tcp::socket socket)
      : srv_(srv), socket_(std::move(socket)), buffer_(kReadBufferLimit),
        timer_(socket_.get_executor()) {
    srv_.registry.add(this);
  }
  ~Session() override {
    srv_.registry.remove(this);
    srv_.counters.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() { do_read(); }

  asio::any_io_executor executor() override { return socket_.get_executor(); }

  void on_sweep() override {
    if (!srv_.timed_out(waiting_since.load(std::memory_order_relaxed))) return;  // moved on
    srv_.counters.read_timeouts.fetch_add(1, std::memory_order_relaxed);
    close();  // the pending read or write ends with operation_aborted
  }

 private:
  std::shared_ptr<Session> self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  void wait_on_peer() { waiting_since.store(srv_.now_tick(), std::memory_order_relaxed); }
  void peer_answered() { waiting_since.store(0, std::memory_order_relaxed); }

  void do_read() {
    parser_.emplace(target_);
    wait_on_peer();
    http::async_read(socket_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, self()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    peer_answered();
    if (!ec) return handle();
    // A request we refuse gets an answer and then the connection is closed;
    // anything else (the peer left, a timeout, a reset) just ends it.
    bool refused = parser_->reject_status() != 0 ||
                   (ec.category() == http::make_error_code(http::error::bad_method).category() &&
                    ec != http::error::end_of_stream && ec != http::error::partial_message);
    if (!refused) return close();
    ParseFailure f = parse_failure(ec, *parser_);
    version_ = 11;
    reply_error(static_cast<http::status>(f.status), f.reason, true);
  }

  void handle() {
    version_ = parser_->version();
    keep_alive_ = parser_->keep_alive();
    if (version_ != 10 && version_ != 11) {
      version_ = 11;
      return reply_error(http::status::http_version_not_supported, "only HTTP/1.0 and 1.1", true);
    }
    switch (route_request(parser_->method() == http::verb::get, target_, srv_.limits, req_)) {
      case Route::add_delay: return start_delay();
      case Route::add_prime: return handle_prime();
      case Route::flush: return handle_flush();
      case Route::health: return reply(http::status::ok, "ok\n", "text/plain");
      case Route::timeline: return reply(http::status::ok, srv_.timeline.to_csv(), "text/csv");
      case Route::primes: return handle_primes(false);
      case Route::primes_reset: return handle_primes(true);
      case Route::stats: return handle_stats();
      case Route::rejected:
        return reply_error(static_cast<http::status>(req_.status), req_.error, false);
    }
  }

  void handle_flush() {
    std::string err;
    long long n = srv_.flush(&err);
    if (n < 0) return reply_error(http::status::internal_server_error, err, false);
    body_ = "flushed " + std::to_string(n) + " rows to " + srv_.config.timeline_path;
    if (auto dropped = srv_.timeline.dropped())
      body_ += " (" + std::to_string(dropped) + " more were not kept: --timeline-capacity " +
               std::to_string(srv_.config.timeline_capacity) + ")";
    body_ += "\n";
    reply(http::status::ok, body_, "text/plain");
  }

  // /add?name=N&delay=MS: wait on a timer, answer, record the span.
  void start_delay() {
    start_us_ = now_us();
    fault_ = srv_.roll_fault();
    if (req_.delay_ms == 0 && fault_ == Fault::none) return finish_delay();
    delaying_ = true;
    timer_.expires_after(std::chrono::milliseconds(req_.delay_ms));
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
    if (fault_ != Fault::none) return inject_fault();
    srv_.timeline.add(req_.name, start_us_, now_us());
    reply(http::status::ok, ".", "text/plain");
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
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
          return s->watch_peer();
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
    fault_ = srv_.roll_fault();
    pending_ = fault_ == Fault::none ? 2 : 1;
    db_result_ = {};
    db_result_.ok = true;
    timer_.expires_after(std::chrono::milliseconds(srv_.config.db_latency_ms));
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
    if (!db_result_.ok)
      return reply_error(http::status::internal_server_error, db_result_.error, false);
    reply(http::status::ok, ".", "text/plain");
  }

  void handle_primes(bool reset) {
    auto done = [s = self()](DbResult r) {
      asio::post(s->socket_.get_executor(), [s, r = std::move(r)] {
        if (!r.ok) return s->reply_error(http::status::internal_server_error, r.error, false);
        std::string body = "{\"count\":" + std::to_string(r.count) +
                           ",\"sum\":" + std::to_string(r.sum) + "}\n";
        s->reply(http::status::ok, body, "application/json");
      });
    };
    if (!reset) return srv_.db->stats(done);
    srv_.db->reset([this, done](DbResult r) {
      if (!r.ok) return done(std::move(r));
      srv_.db->stats(done);
    });
  }

  void handle_stats() {
    const ServerStats st = srv_.stats();
    auto field = [this](const char* key, std::uint64_t v, bool first = false) {
      body_ += first ? "{\"" : ",\"";
      body_ += key;
      body_ += "\":";
      append_int(body_, static_cast<std::int64_t>(v));
    };
    body_.clear();
    field("connections", st.connections, true);
    field("accepted", st.accepted);
    field("refused", st.refused);
    field("read_timeouts", st.read_timeouts);
    field("abandoned", st.abandoned);
    field("injected_errors", st.injected_errors);
    field("injected_drops", st.injected_drops);
    field("timeline_rows", srv_.timeline.size());
    field("timeline_dropped", srv_.timeline.dropped());
    body_ += "}\n";
    reply(http::status::ok, body_, "application/json");
  }

  void reply_error(http::status status, const std::string& reason, bool close_after) {
    if (close_after) keep_alive_ = false;
    body_.assign(reason).push_back('\n');
    reply(status, body_, "text/plain");
  }

  // Serializes the response into a buffer the session keeps, so steady-state
  // keep-alive traffic reuses its capacity instead of allocating.
  void reply(http::status status, std::string_view body, std::string_view content_type) {
    out_.clear();
    out_.append(version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    append_int(out_, static_cast<int>(status));
    out_.push_back(' ');
    out_.append(http::obsolete_reason(status));
    out_.append("\r\nServer: delayserver\r\nContent-Type: ");
    out_.append(content_type);
    out_.append("\r\nContent-Length: ");
    append_int(out_, static_cast<std::int64_t>(body.size()));
    if (status == http::status::method_not_allowed) out_.append("\r\nAllow: GET");
    if (!keep_alive_)
      out_.append("\r\nConnection: close");
    else if (version_ == 10)
      out_.append("\r\nConnection: keep-alive");
    out_.append("\r\n\r\n");
    out_.append(body);
    wait_on_peer();  // a peer that stops reading its answers is timed out too
    asio::async_write(socket_, asio::buffer(out_),
                      beast::bind_front_handler(&Session::on_write, self()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    peer_answered();
    if (ec || !keep_alive_) return close();
    do_read();
  }

  void close() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    socket_.close(ignored);
  }

  DelayServer::Impl& srv_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::string target_;  // RequestHead copies the target here
  std::optional<RequestHead> parser_;
  Routed req_;
  asio::steady_timer timer_;
  std::string out_;
  std::string body_;
  std::int64_t start_us_ = 0;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool delaying_ = false;
  Fault fault_ = Fault::none;
  int pending_ = 0;
  DbResult db_result_;
};

}  // namespace

void DelayServer::Impl::refuse(tcp::socket& socket) {
  // Over the cap: a short answer the peer can read, then close. The write is
  // tiny and the socket fresh, so it does not block.
  counters.refused.fetch_add(1, std::memory_order_relaxed);
  boost::system::error_code ignored;
  socket.write_some(asio::buffer(busy_reply), ignored);
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

void DelayServer::Impl::do_accept() {
  // With --threads > 1 each connection gets its own strand, so a session's
  // handlers (read, timer, database callback, write) never run concurrently.
  // One thread needs no strand, and skipping it saves a hop per completion.
  auto ex = config.threads > 1 ? asio::any_io_executor(asio::make_strand(ioc))
                               : asio::any_io_executor(ioc.get_executor());
  acceptor.async_accept(ex, [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors and the like: say so, back off, keep serving.
      std::cerr << "delayserver: accept failed: " << ec.message() << '\n';
      accept_retry = std::make_unique<asio::steady_timer>(ioc, std::chrono::milliseconds(50));
      accept_retry->async_wait([this](beast::error_code) { do_accept(); });
      return;
    }
    if (counters.connections.load(std::memory_order_relaxed) >= config.max_connections) {
      refuse(socket);
    } else {
      counters.connections.fetch_add(1, std::memory_order_relaxed);
      counters.accepted.fetch_add(1, std::memory_order_relaxed);
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(*this, std::move(socket))->start();
    }
    do_accept();
  });
}

void DelayServer::Impl::sweep() {
  if (!timeout_ticks) return;
  sweeper.expires_after(sweep_period);
  sweeper.async_wait([this](beast::error_code ec) {
    if (ec) return;
    tick.fetch_add(1, std::memory_order_relaxed);
    registry.for_each([this](SessionBase& s) {
      if (!timed_out(s.waiting_since.load(std::memory_order_relaxed))) return;
      // The registry's lock keeps `s` alive here; a session already being
      // destroyed gives an empty lock() and is skipped.
      if (auto alive = s.weak_from_this().lock())
        asio::post(alive->executor(), [alive] { alive->on_sweep(); });
    });
    sweep();
  });
}

DelayServer::DelayServer(ServerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {
  impl_->do_accept();
  impl_->sweep();
}

DelayServer::~DelayServer() = default;

std::uint16_t DelayServer::port() const { return impl_->port; }
const ServerConfig& DelayServer::config() const { return impl_->config; }
TimelineStore& DelayServer::timeline() { return impl_->timeline; }
PrimeDb& DelayServer::db() { return *impl_->db; }
long long DelayServer::flush(std::string* error) { return impl_->flush(error); }

ServerStats DelayServer::stats() const { return impl_->stats(); }

void DelayServer::handle_signals() {
  impl_->signals.add(SIGINT);
  impl_->signals.add(SIGTERM);
  impl_->signals.async_wait([this](beast::error_code ec, int) {
    if (!ec) impl_->shutdown();
  });
}

void DelayServer::run() {
  std::vector<std::thread> extra;
  for (int i = 1; i < impl_->config.threads; ++i) extra.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : extra) t.join();
}

void DelayServer::stop() {
  asio::post(impl_->ioc, [this] { impl_->shutdown(); });
}

}  // namespace testbed
