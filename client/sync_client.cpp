#include "client/sync_client.hpp"

#include "common/clock.hpp"

#include <boost/beast/http/error.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace testbed {

namespace http = boost::beast::http;

namespace {

boost::system::error_code from_errno(int err) { return {err, boost::system::system_category()}; }

}  // namespace

SyncClient::SyncClient(std::vector<tcp::endpoint> endpoints, std::string host_header,
                       std::chrono::milliseconds timeout, std::int64_t reuse)
    : endpoints_(std::move(endpoints)), host_(std::move(host_header)), timeout_(timeout), reuse_(reuse) {}

SyncClient::~SyncClient() { close(); }

void SyncClient::close() {
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
      return 0;
    }
    close();
    if (err == ETIMEDOUT) return err;
  }
  return err;
}

int SyncClient::send_all(std::int64_t deadline_us) {
  std::string_view left = request_;
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
    if (int err = wait_for(POLLIN, deadline_us)) return err;
    auto space = buffer_.prepare(16 * 1024);
    ssize_t n = ::recv(fd_, space.data(), space.size(), 0);
    if (n > 0) {
      got_nothing = false;
      buffer_.commit(static_cast<std::size_t>(n));
    } else if (n == 0) {  // the server closed the connection
      if (got_nothing) {
        parse_error_ = http::error::end_of_stream;
        return -1;
      }
      response_->put_eof(parse_error_);
      return parse_error_ ? -1 : 0;
    } else if (errno != EAGAIN && errno != EINTR) {
      return errno;
    }
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
        r.error = err == ETIMEDOUT ? timeout_error(timeout_, host_)
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
