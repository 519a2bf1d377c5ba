#pragma once
// The blocking client of the serial and thread models (and the serial prime
// saver): `requests.get(url, timeout=...)` in C++. One keep-alive socket and
// nothing else (no event loop of its own, so a thread costs one descriptor),
// each wait a poll() bounded by what is left of the attempt's timeout.
#include "client/http_client.hpp"

#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace testbed {

class SyncClient {
 public:
  // A zero timeout: no limit. `reuse` > 0: a connection carries that many
  // requests, the last saying "Connection: close" (crawl --connection).
  // `tls`: https (OpenSSL on the same non-blocking socket); it must outlive the client.
  SyncClient(std::vector<tcp::endpoint> endpoints, std::string host_header,
             std::chrono::milliseconds timeout, std::int64_t reuse = 0, const TlsTarget* tls = nullptr);
  ~SyncClient();
  SyncClient(const SyncClient&) = delete;
  SyncClient& operator=(const SyncClient&) = delete;

  // One GET, its answer's status and body length (interim answers skipped, as
  // async_read_answer does), or why there is none. A kept-alive connection the
  // server closed meanwhile is reopened once.
  // `attempt` (from 0) is sent as X-Attempt on retries (see format_get).
  HttpResult get(const std::string& target, int attempt = 0);

 private:
  // 0, or an errno (ETIMEDOUT once the deadline has passed), or kTlsFailed
  // with tls_error_ set.
  int open_connection(std::int64_t deadline_us);
  static constexpr int kTlsFailed = -2;
  // https: the handshake on fd_; 0, ETIMEDOUT or kTlsFailed.
  int handshake(std::int64_t deadline_us);
  // Waits out what an OpenSSL call on ssl_ returned `ret` for (a read or a
  // write the socket must allow first): 0 to call it again, else an error.
  int tls_wait(int ret, std::int64_t deadline_us);
  // Reads what has arrived into buffer_: > 0 bytes, 0 at the end of the
  // stream, or -(an error).
  // -(an errno), or kReceiveTlsFailed with tls_error_ set.
  std::int64_t receive(std::int64_t deadline_us);
  static constexpr std::int64_t kReceiveTlsFailed = -(std::int64_t{1} << 40);
  int send_all(std::int64_t deadline_us);
  int wait_for(short events, std::int64_t deadline_us);
  // 0 with response_ complete; an errno; or -1 with parse_error_ set.
  int read_answer(std::int64_t deadline_us, bool& got_nothing);
  void close();

  std::vector<tcp::endpoint> endpoints_;
  std::string host_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::int64_t conn_id_ = 0;  // next_connection_id() of fd_
  bool opened_ = false;       // fd_ was opened during the current get()
  std::int64_t reuse_ = 0;    // requests a connection carries; 0: no limit
  std::int64_t carried_ = 0;  // requests sent on fd_
  std::int64_t connect_us_ = 0;  // how long opening fd_ took
  const TlsTarget* tls_ = nullptr;
  SSL* ssl_ = nullptr;           // https: fd_'s TLS
  std::int64_t tls_us_ = 0;      // how long its handshake took
  bool resumed_ = false;         // it resumed a session
  std::string tls_error_;
  std::string request_;
  boost::beast::flat_buffer buffer_;
  std::optional<ResponseHead> response_;
  boost::beast::error_code parse_error_;
};

}  // namespace testbed
