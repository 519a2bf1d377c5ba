#include "client/sync_client.hpp"

#include "common/clock.hpp"

#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>

namespace testbed {

namespace http = boost::beast::http;

namespace {

boost::system::error_code from_errno(int err) { return {err, boost::system::system_category()}; }

}  // namespace

SyncClient::SyncClient(std::vector<tcp::endpoint> endpoints, std::string host_header,
                       std::chrono::milliseconds timeout, std::int64_t reuse, const TlsTarget* tls)
    : endpoints_(std::move(endpoints)),
      host_(std::move(host_header)),
      timeout_(timeout),
      reuse_(reuse),
      tls_(tls && *tls ? tls : nullptr) {
  // OpenSSL writes to the socket itself, without MSG_NOSIGNAL: a server
  // that has gone would raise SIGPIPE and end the process, not the request.
  if (tls_) {
    static const bool pipe_ignored = std::signal(SIGPIPE, SIG_IGN) != SIG_ERR;
    (void)pipe_ignored;
  }
}

SyncClient::~SyncClient() { close(); }

void SyncClient::close() {
  if (ssl_) {
    // No close_notify: the connection is dropped either way. Said to be shut
    // down, so that OpenSSL does not take its session for a broken one and
    // spoil it for resumption.
    SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl_);
  }
  ssl_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// Waits until the socket is ready for `events` or the deadline (0: none) passes.
int SyncClient::wait_for(short events, std::int64_t deadline_us) {
  for (;;) {
    int wait_ms = -1;
    if (deadline_us) {
      std::int64_t left = deadline_us - now_us();
      if (left <= 0) return ETIMEDOUT;
      wait_ms = static_cast<int>(std::min<std::int64_t>((left + 999) / 1000, 1 << 30));
    }
    pollfd p{fd_, events, 0};
    int n = ::poll(&p, 1, wait_ms);
    if (n > 0) return 0;  // ready, or an error the next call will report
    if (n < 0 && errno != EINTR) return errno;
  }
}

int SyncClient::open_connection(std::int64_t deadline_us) {
  int err = ECONNREFUSED;
  buffer_.clear();
  const std::int64_t began = now_us();
  for (const auto& ep : endpoints_) {  // each address in turn, as async_connect does
    fd_ = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return errno;  // out of descriptors: say so, do not try the next address
    err = ::connect(fd_, ep.data(), static_cast<socklen_t>(ep.size())) == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      err = wait_for(POLLOUT, deadline_us);
      socklen_t len = sizeof err;
      if (err == 0 && ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    }
    if (err == 0) {
      int one = 1;
      ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      conn_id_ = next_connection_id();
      opened_ = true;
      carried_ = 0;
      connect_us_ = now_us() - began;
      return tls_ ? handshake(deadline_us) : 0;
    }
    close();
    if (err == ETIMEDOUT) return err;
  }
  return err;
}

int SyncClient::tls_wait(int ret, std::int64_t deadline_us) {
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
      return wait_for(POLLIN, deadline_us);
    case SSL_ERROR_WANT_WRITE:
      return wait_for(POLLOUT, deadline_us);
    case SSL_ERROR_SYSCALL:
      if (errno != 0) return errno;
      [[fallthrough]];
    default: {
      const unsigned long e = ERR_get_error();
      ERR_clear_error();
      tls_error_ = describe_tls_error({static_cast<int>(e), boost::asio::error::get_ssl_category()},
                                      SSL_get_verify_result(ssl_));
      return kTlsFailed;
    }
  }
}

int SyncClient::handshake(std::int64_t deadline_us) {
  const std::int64_t began = now_us();
  ssl_ = SSL_new(tls_->client->context().native_handle());
  if (!ssl_ || !SSL_set_fd(ssl_, fd_) || !tls_->client->prepare(ssl_, tls_->host, &tls_error_)) {
    if (tls_error_.empty()) tls_error_ = "cannot start TLS";
    close();
    return kTlsFailed;
  }
  for (;;) {
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_connect(ssl_);
    if (ret == 1) break;
    if (int err = tls_wait(ret, deadline_us)) {
      if (err != kTlsFailed) tls_error_ = from_errno(err).message();
      close();
      return err == ETIMEDOUT ? err : kTlsFailed;
    }
  }
  tls_us_ = now_us() - began;
  resumed_ = SSL_session_reused(ssl_) == 1;
  return 0;
}

int SyncClient::send_all(std::int64_t deadline_us) {
  std::string_view left = request_;
  while (ssl_ && !left.empty()) {
    ERR_clear_error();
    errno = 0;
    const int n = SSL_write(ssl_, left.data(), static_cast<int>(left.size()));
    if (n > 0) {
      left.remove_prefix(static_cast<std::size_t>(n));
    } else if (int err = tls_wait(n, deadline_us)) {
      return err;
    }
  }
  while (!left.empty()) {
    ssize_t n = ::send(fd_, left.data(), left.size(), MSG_NOSIGNAL);
    if (n > 0) {
      left.remove_prefix(static_cast<std::size_t>(n));
    } else if (errno == EAGAIN || errno == EINTR) {
      if (int err = wait_for(POLLOUT, deadline_us)) return err;
    } else {
      return errno;
    }
  }
  return 0;
}

int SyncClient::read_answer(std::int64_t deadline_us, bool& got_nothing) {
  got_nothing = true;
  response_.emplace();
  for (;;) {
    // Parse what is buffered; an interim answer (1xx but 101) is skipped.
    while (buffer_.size() > 0) {
      std::size_t used = response_->put(buffer_.data(), parse_error_);
      buffer_.consume(used);
      if (parse_error_ == http::error::need_more) break;
      if (parse_error_) return -1;
      if (!response_->is_done()) continue;
      int status = response_->status();
      if (status / 100 != 1 || status == 101) return 0;
      response_.emplace();
    }
    const std::int64_t n = receive(deadline_us);
    if (n > 0) {
      got_nothing = false;
    } else if (n == 0) {  // the server closed the connection
      if (got_nothing) {
        parse_error_ = http::error::end_of_stream;
        return -1;
      }
      response_->put_eof(parse_error_);
      return parse_error_ ? -1 : 0;
    } else {
      return n == kReceiveTlsFailed ? kTlsFailed : static_cast<int>(-n);
    }
  }
}

std::int64_t SyncClient::receive(std::int64_t deadline_us) {
  auto space = buffer_.prepare(16 * 1024);
  if (ssl_) {
    // What OpenSSL holds already is read without a wait: try first, wait when told.
    for (;;) {
      ERR_clear_error();
      errno = 0;
      const int n = SSL_read(ssl_, space.data(), static_cast<int>(space.size()));
      if (n > 0) {
        buffer_.commit(static_cast<std::size_t>(n));
        return n;
      }
      const int why = SSL_get_error(ssl_, n);
      // A close_notify, or the peer's FIN without one (the answer's length
      // says whether anything was lost; a truncated answer fails its parse).
      if (why == SSL_ERROR_ZERO_RETURN || (why == SSL_ERROR_SYSCALL && errno == 0) ||
          (why == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
        ERR_clear_error();
        return 0;
      }
      if (int err = tls_wait(n, deadline_us)) return err == kTlsFailed ? kReceiveTlsFailed : -err;
    }
  }
  for (;;) {
    if (int err = wait_for(POLLIN, deadline_us)) return -err;
    ssize_t n = ::recv(fd_, space.data(), space.size(), 0);
    if (n > 0) {
      buffer_.commit(static_cast<std::size_t>(n));
      return n;
    }
    if (n == 0) return 0;
    if (errno != EAGAIN && errno != EINTR) return -errno;
  }
}

HttpResult SyncClient::get(const std::string& target, int attempt) {
  const std::int64_t deadline = timeout_.count() > 0 ? now_us() + timeout_.count() * 1000 : 0;
  HttpResult r;
  opened_ = false;
  for (int fresh = 0; fresh < 2; ++fresh) {
    bool reused = fd_ >= 0;
    if (!reused) {
      if (int err = open_connection(deadline)) {
        r.error = err == ETIMEDOUT    ? timeout_error(timeout_, host_)
                  : err == kTlsFailed ? "TLS handshake with " + host_ + ": " + tls_error_
                                      : describe_error("connect", from_errno(err), host_);
        r.refused = err == ECONNREFUSED;
        return r;
      }
    }
    request_.clear();
    format_get(request_, target, host_, attempt, reuse_ > 0 && carried_ + 1 >= reuse_);
    ++carried_;
    bool got_nothing = true;
    int err = send_all(deadline);
    if (!err) err = read_answer(deadline, got_nothing);
    if (err == 0) {
      r.status = response_->status();
      r.bytes = response_->body_bytes();
      r.delay_us = response_->delay_us();
      r.conn = conn_id_;
      r.opened = opened_;
      r.connect_us = opened_ ? connect_us_ : 0;
      r.tls_us = opened_ ? tls_us_ : 0;
      r.resumed = opened_ && resumed_;
      // As take_answer(): kept only if kept alive, nothing came beyond the
      // answer, and the policy lets it carry another request.
      if (!response_->keep_alive() || buffer_.size() > 0 || (reuse_ > 0 && carried_ >= reuse_)) close();
      return r;
    }
    close();
    if (err == ETIMEDOUT) {
      r.error = timeout_error(timeout_, host_);
      return r;
    }
    if (err == kTlsFailed) {
      r.error = "request to " + host_ + ": " + tls_error_;
      return r;
    }
    auto ec = err == -1 ? parse_error_ : from_errno(err);
    // The server had closed our idle connection before the request reached it.
    if (reused && got_nothing &&
        (err == -1 ? is_stale_connection_error(ec) : err == ECONNRESET || err == EPIPE))
      continue;
    r.error = describe_error("request to", ec, host_);
    return r;
  }
  return r;
}

}  // namespace testbed
