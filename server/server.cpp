// The delay server. One Session per connection reads a request, waits on a
// timer (never a sleeping thread), answers, and reads the next one, so
// pipelined requests are answered in order and keep-alive is the default.
#include "server/server.hpp"

#include "common/clock.hpp"
#include "common/csv.hpp"
#include "common/query.hpp"
#include "server/prime_db.hpp"
#include "server/timeline_store.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace testbed {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kHeaderLimit = 8 * 1024;     // request line + headers
constexpr std::size_t kReadBufferLimit = 64 * 1024;  // pipelined requests waiting their turn

std::string default_db_path(const std::string& timeline_path) {
  auto dir = std::filesystem::path(timeline_path).parent_path();
  return (dir / "primes.sqlite").string();
}

}  // namespace

struct DelayServer::Impl {
  explicit Impl(ServerConfig c)
      : config(std::move(c)),
        ioc(config.threads),
        acceptor(ioc),
        signals(ioc),
        timeline(config.timeline_capacity) {
    if (config.db_path.empty()) config.db_path = default_db_path(config.timeline_path);
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
    std::string err;
    if (flush(&err) < 0) std::cerr << "delayserver: flush on exit failed: " << err << '\n';
    ioc.stop();
  }

  ServerConfig config;
  asio::io_context ioc;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  std::uint16_t port = 0;
  TimelineStore timeline;
  std::unique_ptr<PrimeDb> db;
  std::unique_ptr<asio::steady_timer> accept_retry;
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(DelayServer::Impl& srv, tcp::socket socket)
      : srv_(srv), socket_(std::move(socket)), buffer_(kReadBufferLimit),
        timer_(socket_.get_executor()) {}

  void start() { do_read(); }

 private:
  void do_read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    http::async_read(socket_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted) return close();
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
      return reply_error(http::status::request_header_fields_too_large,
                         "request header larger than " + std::to_string(kHeaderLimit) + " bytes",
                         true);
    if (ec == http::error::bad_version)
      return reply_error(http::status::http_version_not_supported, "only HTTP/1.0 and 1.1", true);
    if (ec.category() == beast::http::make_error_code(http::error::bad_method).category())
      return reply_error(http::status::bad_request, "malformed request: " + ec.message(), true);
    if (ec) return close();  // the peer went away
    handle(parser_->get());
  }

  void handle(const http::request<http::empty_body>& req) {
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    if (version_ != 10 && version_ != 11)
      return reply_error(http::status::http_version_not_supported, "only HTTP/1.0 and 1.1", true);
    if (req.method() != http::verb::get)
      return reply_error(http::status::method_not_allowed, "only GET is supported", false);
    Target t = split_target(req.target());
    if (t.path == "/add") return handle_add(t.query);
    if (t.path == "/health") return reply(http::status::ok, "ok\n", "text/plain");
    if (t.path == "/timeline") return reply(http::status::ok, srv_.timeline.to_csv(), "text/csv");
    if (t.path == "/primes") return handle_primes(t.query);
    reply_error(http::status::not_found, "no route " + std::string(t.path), false);
  }

  void handle_add(std::string_view query) {
    if (auto flush = query_param(query, "flush"); flush && *flush == "True") {
      std::string err;
      long long n = srv_.flush(&err);
      if (n < 0) return reply_error(http::status::internal_server_error, err, false);
      return reply(http::status::ok,
                   "flushed " + std::to_string(n) + " rows to " + srv_.config.timeline_path + "\n",
                   "text/plain");
    }
    if (auto prime = query_param(query, "prime")) return handle_prime(*prime);

    auto raw_name = query_param(query, "name");
    if (!raw_name) return reply_error(http::status::bad_request, "missing name", false);
    if (!percent_decode(*raw_name, name_))
      return reply_error(http::status::bad_request, "bad percent-encoding in name", false);
    std::int64_t delay = srv_.config.default_delay_ms;
    if (auto raw_delay = query_param(query, "delay")) {
      IntError e = parse_nonneg_int(*raw_delay, delay);
      if (e != IntError::ok)
        return reply_error(http::status::bad_request,
                           "bad delay '" + std::string(*raw_delay) + "': " + describe(e), false);
      if (delay > srv_.config.max_delay_ms)
        return reply_error(http::status::bad_request,
                           "bad delay " + std::to_string(delay) + ": over the maximum of " +
                               std::to_string(srv_.config.max_delay_ms) + " ms",
                           false);
    }
    start_us_ = now_us();
    timer_.expires_after(std::chrono::milliseconds(delay));
    timer_.async_wait(beast::bind_front_handler(&Session::on_delay, shared_from_this()));
  }

  void on_delay(beast::error_code ec) {
    if (ec) return close();
    srv_.timeline.add(name_, start_us_, now_us());
    reply(http::status::ok, ".", "text/plain");
  }

  // /add?prime=N: the database write and the latency run side by side; the
  // answer goes out when both are done.
  void handle_prime(std::string_view raw) {
    std::int64_t value = 0;
    IntError e = parse_nonneg_int(raw, value);
    if (e != IntError::ok)
      return reply_error(http::status::bad_request,
                         "bad prime '" + std::string(raw) + "': " + describe(e), false);
    pending_ = 2;
    timer_.expires_after(std::chrono::milliseconds(srv_.config.db_latency_ms));
    timer_.async_wait([self = shared_from_this()](beast::error_code) { self->prime_step(); });
    srv_.db->save(value, [self = shared_from_this()](DbResult r) {
      asio::post(self->socket_.get_executor(), [self, r = std::move(r)]() mutable {
        self->db_result_ = std::move(r);
        self->prime_step();
      });
    });
  }

  void prime_step() {
    if (--pending_ > 0) return;
    if (!db_result_.ok)
      return reply_error(http::status::internal_server_error, db_result_.error, false);
    reply(http::status::ok, ".", "text/plain");
  }

  void handle_primes(std::string_view query) {
    auto reset = query_param(query, "reset");
    auto done = [self = shared_from_this()](DbResult r) {
      asio::post(self->socket_.get_executor(), [self, r = std::move(r)] {
        if (!r.ok) return self->reply_error(http::status::internal_server_error, r.error, false);
        std::string body = "{\"count\":" + std::to_string(r.count) +
                           ",\"sum\":" + std::to_string(r.sum) + "}\n";
        self->reply(http::status::ok, body, "application/json");
      });
    };
    if (reset && *reset == "True") {
      srv_.db->reset([this, done](DbResult r) {
        if (!r.ok) return done(std::move(r));
        srv_.db->stats(done);
      });
    } else {
      srv_.db->stats(done);
    }
  }

  void reply_error(http::status status, const std::string& reason, bool close_after) {
    if (close_after) keep_alive_ = false;
    reply(status, reason + "\n", "text/plain");
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
    asio::async_write(socket_, asio::buffer(out_),
                      beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
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
  std::optional<http::request_parser<http::empty_body>> parser_;
  asio::steady_timer timer_;
  std::string out_;
  std::string name_;
  std::int64_t start_us_ = 0;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  int pending_ = 0;
  DbResult db_result_;
};

}  // namespace

void DelayServer::Impl::do_accept() {
  // Each connection gets its own strand, so with --threads > 1 a session's
  // handlers (read, timer, database callback, write) never run concurrently.
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors and the like: say so, back off, keep serving.
      std::cerr << "delayserver: accept failed: " << ec.message() << '\n';
      accept_retry = std::make_unique<asio::steady_timer>(ioc, std::chrono::milliseconds(50));
      accept_retry->async_wait([this](beast::error_code) { do_accept(); });
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    std::make_shared<Session>(*this, std::move(socket))->start();
    do_accept();
  });
}

DelayServer::DelayServer(ServerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {
  impl_->do_accept();
}

DelayServer::~DelayServer() = default;

std::uint16_t DelayServer::port() const { return impl_->port; }
const ServerConfig& DelayServer::config() const { return impl_->config; }
TimelineStore& DelayServer::timeline() { return impl_->timeline; }
PrimeDb& DelayServer::db() { return *impl_->db; }
long long DelayServer::flush(std::string* error) { return impl_->flush(error); }

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
