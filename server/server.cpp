// The delay server's lifecycle: listen, accept (or refuse beyond the cap),
// sweep idle peers, stop on a signal and write the timeline. What happens on
// one connection is session.cpp; the wire format of an answer is response.cpp.
#include "server/server.hpp"

#include "common/tls.hpp"
#include "server/response.hpp"
#include "server/session.hpp"
#include "server/state.hpp"

#include <boost/asio.hpp>

#include <iostream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace testbed {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

struct DelayServer::Impl {
  explicit Impl(ServerConfig c)
      : state(std::move(c)), ioc(state.config.threads), acceptor(ioc), signals(ioc), sweeper(ioc) {
    const ServerConfig& config = state.config;
    std::string body = "too many connections (" + std::to_string(config.max_connections) + ")\n";
    write_response(busy_reply, {11, 503, false, "text/plain"}, body);
    error_code ec;
    auto address = asio::ip::make_address(config.bind, ec);
    if (ec) throw std::runtime_error("bad --bind address '" + config.bind + "': " + ec.message());
    tcp::endpoint ep(address, config.port);
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(ep, ec);
    if (ec)
      throw std::runtime_error("cannot listen on " + config.bind + ":" + std::to_string(config.port) + ": " +
                               ec.message());
    acceptor.listen(asio::socket_base::max_listen_connections);
    port = acceptor.local_endpoint().port();
    if (config.tls) start_tls(config);
  }

  // --tls: the identity (--cert/--key, or made now) and the context.
  void start_tls(const ServerConfig& config) {
    if (!config.cert_path.empty()) {
      identity.cert_pem = read_pem_file(config.cert_path);
      identity.key_pem = read_pem_file(config.key_path);
      identity.description = config.cert_path;
    } else {
      CertOptions o;
      o.key = config.tls_key;
      if (config.bind != "127.0.0.1" && config.bind != "::1" && config.bind != "0.0.0.0" &&
          config.bind != "::")
        o.names.push_back(config.bind);
      identity = make_self_signed(o);
    }
    tls = make_server_context(identity);
    state.tls = tls.get();
  }

  void do_accept();
  void refuse(tcp::socket& socket);
  void sweep();
  void shutdown();

  // Sessions use `state` until their handlers are destroyed with `ioc`, so it
  // is declared (and so constructed) first and destroyed last.
  ServerState state;
  CertPair identity;                        // --tls
  std::unique_ptr<asio::ssl::context> tls;  // --tls: state.tls
  asio::io_context ioc;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  asio::steady_timer sweeper;
  std::unique_ptr<asio::steady_timer> accept_retry;
  std::string busy_reply;
  std::string exit_flush_error;  // set by shutdown() if the timeline could not be written
  std::uint16_t port = 0;
};

void DelayServer::Impl::refuse(tcp::socket& socket) {
  // Over the cap: a short answer the peer can read, then close. The write is
  // tiny and the socket fresh, so it does not block.
  state.counters.refused.fetch_add(1, std::memory_order_relaxed);
  error_code ignored;
  socket.write_some(asio::buffer(busy_reply), ignored);
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

void DelayServer::Impl::do_accept() {
  // With --threads > 1 each connection gets its own strand, so a session's
  // handlers (read, timer, database callback, write) never run concurrently.
  // One thread needs no strand, and skipping it saves a hop per completion.
  auto ex = state.config.threads > 1 ? asio::any_io_executor(asio::make_strand(ioc))
                                     : asio::any_io_executor(ioc.get_executor());
  acceptor.async_accept(ex, [this](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors and the like: say so, back off, keep serving.
      std::cerr << "delayserver: accept failed: " << ec.message() << '\n';
      accept_retry = std::make_unique<asio::steady_timer>(ioc, std::chrono::milliseconds(50));
      accept_retry->async_wait([this](error_code) { do_accept(); });
      return;
    }
    Counters& n = state.counters;
    if (n.connections.load(std::memory_order_relaxed) >= state.config.max_connections) {
      refuse(socket);
    } else {
      n.connections.fetch_add(1, std::memory_order_relaxed);
      n.accepted.fetch_add(1, std::memory_order_relaxed);
      socket.set_option(tcp::no_delay(true), ec);
      start_session(state, std::move(socket));
    }
    do_accept();
  });
}

void DelayServer::Impl::sweep() {
  if (!state.idle.enabled()) return;
  sweeper.expires_after(state.idle.period());
  sweeper.async_wait([this](error_code ec) {
    if (ec) return;
    state.idle.advance();
    state.registry.post_sweeps([this](std::uint32_t since) { return state.idle.timed_out(since); });
    sweep();
  });
}

void DelayServer::Impl::shutdown() {
  error_code ignored;
  acceptor.close(ignored);
  signals.cancel(ignored);
  sweeper.cancel();
  if (state.flush(&exit_flush_error) >= 0) exit_flush_error.clear();
  ioc.stop();
}

DelayServer::DelayServer(ServerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {
  impl_->do_accept();
  impl_->sweep();
}

DelayServer::~DelayServer() = default;

std::uint16_t DelayServer::port() const { return impl_->port; }
const CertPair* DelayServer::tls_identity() const { return impl_->tls ? &impl_->identity : nullptr; }
const ServerConfig& DelayServer::config() const { return impl_->state.config; }
TimelineStore& DelayServer::timeline() { return impl_->state.timeline; }
PrimeDb& DelayServer::db() { return *impl_->state.db; }
long long DelayServer::flush(std::string* error) { return impl_->state.flush(error); }
const std::string& DelayServer::exit_flush_error() const { return impl_->exit_flush_error; }
ServerStats DelayServer::stats() const { return impl_->state.stats(); }

void DelayServer::handle_signals() {
  impl_->signals.add(SIGINT);
  impl_->signals.add(SIGTERM);
  impl_->signals.add(SIGHUP);  // a closed terminal: stop as for SIGTERM, the timeline written
  impl_->signals.async_wait([this](error_code ec, int) {
    if (!ec) impl_->shutdown();
  });
}

void DelayServer::run() {
  std::vector<std::thread> extra;
  for (int i = 1; i < impl_->state.config.threads; ++i) extra.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : extra) t.join();
}

void DelayServer::stop() {
  asio::post(impl_->ioc, [this] { impl_->shutdown(); });
}

}  // namespace testbed
