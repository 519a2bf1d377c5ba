// Model 5, libcurl multi (tornado's CurlAsyncHTTPClient(max_clients=100),
// Example 8-6): libcurl does the HTTP and the connection cache; we keep at
// most `concurrency` transfers in the multi handle and refill a slot as soon
// as curl_multi_info_read() says its transfer is done.
//
// Like tornado, we drive curl with the multi_socket API from our own event
// loop (here a bare epoll): curl tells us which sockets to watch and when it
// wants a timeout, and we tell it which socket is ready. curl_multi_perform()
// would instead walk every transfer on every wake-up, which at C=100 costs more
// than the requests themselves. libcurl enforces each attempt's timeout; a
// failed attempt waits out its backoff outside the multi handle, then is added again.
//
// Open loop (--rate): a free slot whose next request is not yet due waits
// outside the multi handle; the loop's one wait (epoll, bounded by the
// timeout curl asks for through CURLMOPT_TIMERFUNCTION) is also bounded by
// when the next request is due, and adds it then. With every slot busy, a due
// request waits for the first to come free.
#include "client/http_client.hpp"
#include "crawlers/model.hpp"

#include "common/clock.hpp"

#include <curl/curl.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace testbed {

namespace {

// Every libcurl call is checked: a failure is an exception with curl's reason,
// and the owners below release whatever was set up.
void check(CURLMcode rc, const char* what) {
  if (rc != CURLM_OK) throw std::runtime_error(std::string(what) + ": " + curl_multi_strerror(rc));
}
void check(CURLcode rc, const char* what) {
  if (rc != CURLE_OK) throw std::runtime_error(std::string(what) + ": " + curl_easy_strerror(rc));
}

struct MultiCleanup {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct EasyCleanup {
  void operator()(CURL* e) const { curl_easy_cleanup(e); }
};
using MultiHandle = std::unique_ptr<CURLM, MultiCleanup>;
using EasyHandle = std::unique_ptr<CURL, EasyCleanup>;

// An epoll descriptor, closed when it goes.
class EpollFd {
 public:
  EpollFd() : fd_(epoll_create1(EPOLL_CLOEXEC)) {
    if (fd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  }
  ~EpollFd() { close(fd_); }
  EpollFd(const EpollFd&) = delete;
  EpollFd& operator=(const EpollFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

struct Transfer {
  EasyHandle easy;
  bool in_multi = false;
  bool fresh = false;  // CURLOPT_FRESH_CONNECT as set
  bool forbid = false; // CURLOPT_FORBID_REUSE as set
  std::size_t index = 0;
  int attempt = 0;
  std::int64_t retry_at_us = 0;  // waiting out a backoff until then
  std::int64_t bytes = 0;
  curl_socket_t fd = CURL_SOCKET_BAD;  // the connection curl gave this attempt (on_socket)
  std::int64_t delay_us = -1;          // X-Delay-Us of the answer
  // A retry's X-Attempt field (see format_get), set while it is retried.
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> attempt_field{nullptr, curl_slist_free_all};
  // The answer's header so far (see on_header), and why it was refused.
  std::uint32_t header_bytes = 0;
  bool has_length = false, has_coding = false;
  const char* refused = nullptr;
  // https: curl's own words for a failed handshake ("SSL certificate
  // problem: certificate has expired"), only with TLS.
  std::unique_ptr<char[]> tls_error;
};

bool starts_with_nocase(std::string_view line, std::string_view prefix) {
  return line.size() >= prefix.size() && strncasecmp(line.data(), prefix.data(), prefix.size()) == 0;
}

// CURLOPT_HEADERFUNCTION, one header line at a time: the edge cases go the way
// they go in every other model (kAnswerHeaderLimit in client/http_client.hpp),
// where libcurl alone would accept them: a header over 100 KiB in all, and
// Content-Length together with Transfer-Encoding, abort the transfer.
std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (starts_with_nocase(line, "HTTP/")) {  // a new answer's status line (after an interim one)
    t->header_bytes = 0;
    t->has_length = t->has_coding = false;
  }
  t->header_bytes += static_cast<std::uint32_t>(line.size());
  t->has_length |= starts_with_nocase(line, "content-length:");
  t->has_coding |= starts_with_nocase(line, "transfer-encoding:");
  if (t->header_bytes > kAnswerHeaderLimit) t->refused = "header limit exceeded";
  if (t->has_length && t->has_coding) t->refused = "Content-Length with Transfer-Encoding";
  if (starts_with_nocase(line, "x-delay-us:")) {
    std::string_view v = line.substr(11);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
    t->delay_us = parse_delay_us(v);
  }
  return t->refused ? 0 : line.size();  // 0: curl ends the transfer with CURLE_WRITE_ERROR
}

std::size_t count_body(char*, std::size_t size, std::size_t n, void* user) {
  static_cast<Transfer*>(user)->bytes += static_cast<std::int64_t>(size * n);
  return size * n;
}

}  // namespace

void prepare_curl() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw std::runtime_error("curl_global_init failed");
  });
}

namespace {

// The event loop curl is plugged into: an epoll set for the sockets curl asks
// us to watch, and the one timeout it asks for.
struct Loop {
  EpollFd epfd;
  std::int64_t timeout_at_us = -1;  // -1: curl wants no timeout
  static constexpr std::uint32_t kNotInSet = ~0u;
  std::vector<std::uint32_t> wanted;      // by fd: the events curl wants now (0: none)
  std::vector<std::uint32_t> registered;  // by fd: the events in the epoll set, or kNotInSet
  std::vector<std::int64_t> conn_id;      // by fd: next_connection_id() when curl opened it
  std::size_t open_sockets = 0;           // opened by curl and not closed yet

  // CURLMOPT_SOCKETFUNCTION: watch `s` for what curl says. curl stops watching
  // a kept-alive socket after every transfer and asks for it again with the
  // next one; taking it out of the epoll set and back (or changing its events
  // there) each time would cost system calls per request, so a socket curl
  // stops watching keeps its registration, and the set is only changed when
  // curl wants other events. A socket that reports an event nobody wants is
  // removed for real.
  //
  // It also notes which connection the transfer got: CURLINFO_ACTIVESOCKET
  // would tell, but curl 7.88 answers it by walking every connection.
  static int on_socket(CURL* easy, curl_socket_t s, int what, void* loop, void*) {
    auto* l = static_cast<Loop*>(loop);
    l->track(s);
    Transfer* t = nullptr;
    if (what != CURL_POLL_REMOVE && easy &&
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t)) == CURLE_OK && t)
      t->fd = s;
    std::uint32_t want = what == CURL_POLL_REMOVE ? 0u
                                                  : ((what & CURL_POLL_IN) ? EPOLLIN : 0u) |
                                                        ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    l->wanted[s] = want;
    std::uint32_t& have = l->registered[s];
    if (want == 0 || want == have) return 0;
    epoll_event ev{};
    ev.data.fd = s;
    ev.events = want;
    int op = have == kNotInSet ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(l->epfd.get(), op, s, &ev) != 0) return -1;
    have = want;
    return 0;
  }

  // CURLOPT_OPENSOCKETFUNCTION: the socket curl asks for, with the id every
  // model gives a connection it opens.
  static curl_socket_t on_open(void* loop, curlsocktype, curl_sockaddr* a) {
    auto* l = static_cast<Loop*>(loop);
    curl_socket_t s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (s == CURL_SOCKET_BAD) return s;
    l->track(s);
    l->conn_id[s] = next_connection_id();
    ++l->open_sockets;
    return s;
  }

  // CURLOPT_CLOSESOCKETFUNCTION: a closed socket leaves the epoll set by
  // itself; forget its registration, as its number will be reused.
  static int on_close(void* loop, curl_socket_t s) {
    auto* l = static_cast<Loop*>(loop);
    l->track(s);
    l->wanted[s] = 0;
    l->registered[s] = kNotInSet;
    --l->open_sockets;
    return close(s);
  }

  void track(curl_socket_t s) {
    if (static_cast<std::size_t>(s) < wanted.size()) return;
    wanted.resize(s + 1, 0);
    registered.resize(s + 1, kNotInSet);
    conn_id.resize(s + 1, 0);
  }

  // An event on a socket curl is not watching: drop it from the set for real.
  bool unwanted(int fd) {
    if (static_cast<std::size_t>(fd) < wanted.size() && wanted[fd] != 0) return false;
    epoll_ctl(epfd.get(), EPOLL_CTL_DEL, fd, nullptr);
    if (static_cast<std::size_t>(fd) < registered.size()) registered[fd] = kNotInSet;
    return true;
  }

  // CURLMOPT_TIMERFUNCTION: call socket_action(CURL_SOCKET_TIMEOUT) in this long.
  static int on_timer(CURLM*, long timeout_ms, void* loop) {
    auto* l = static_cast<Loop*>(loop);
    l->timeout_at_us = timeout_ms < 0 ? -1 : now_us() + timeout_ms * 1000;
    return 0;
  }
};

// Waits up to `wait_us` for events, to the microsecond where the kernel can
// (epoll_pwait2, Linux 5.11): a request due in 300 µs must not wait a whole
// millisecond. Where it cannot (an older kernel; valgrind, which does not
// know the call), in milliseconds, rounded up.
int wait_events(int epfd, std::vector<epoll_event>& events, std::int64_t wait_us) {
  static std::atomic<bool> fine_grained{true};
  const int max = static_cast<int>(events.size());
  if (fine_grained.load(std::memory_order_relaxed)) {
    const timespec wait{static_cast<time_t>(wait_us / 1'000'000),
                        static_cast<long>(wait_us % 1'000'000) * 1000};
    int n = epoll_pwait2(epfd, events.data(), max, &wait, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    fine_grained.store(false, std::memory_order_relaxed);
  }
  return epoll_wait(epfd, events.data(), max, static_cast<int>((wait_us + 999) / 1000));
}

// The URLs one event loop's multi handles take from, in order (one thread:
// no lock). A slot that comes free takes the next, whichever handle it is in:
// together the slots are one semaphore of the loop's concurrency.
struct UrlQueue {
  std::size_t next = 0;
  std::size_t total = 0;
};

// Looking for a connection to reuse, and on every curl_multi_remove_handle
// (to close a "connect only" connection), curl 7.88 walks every connection
// its multi handle caches: at C=9,000 in one handle that walk is most of the
// model's time. A loop with more slots than this spreads them over several
// multi handles on its one thread and one epoll set.
constexpr std::size_t kSlotsPerMulti = 512;

// https as the other models speak it: the same trust (--cacert, or the
// system's CAs), host check, opt-out and resumption.
void configure_tls(CURL* e, const TlsClientOptions& o) {
  if (!o.cacert.empty()) check(curl_easy_setopt(e, CURLOPT_CAINFO, o.cacert.c_str()), "CURLOPT_CAINFO");
  check(curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, o.insecure ? 0L : 1L), "CURLOPT_SSL_VERIFYPEER");
  check(curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, o.insecure ? 0L : 2L), "CURLOPT_SSL_VERIFYHOST");
  check(curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, o.resume ? 1L : 0L), "CURLOPT_SSL_SESSIONID_CACHE");
}

// The job's origins as curl takes them. Every URL is an origin plus a
// target: curl parses a URL given as text again for every transfer (and
// prints it back out); given as a parsed handle plus the request target, it
// skips both (71k instructions per request fall to 50k; the request on the
// wire is the same). Named hosts go with the addresses the front end
// resolved before the clock started (CURLOPT_RESOLVE), so curl resolves none.
struct CurlOrigins {
  explicit CurlOrigins(const CrawlJob& job) {
    for (const Origin& o : job.origins) {
      const std::string url = (o.tls ? "https://" : "http://") + o.host_header + "/";
      urls.emplace_back(curl_url(), &curl_url_cleanup);
      if (!urls.back() || curl_url_set(urls.back().get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK)
        throw std::runtime_error("curl cannot parse " + url);
      if (o.tls) tls = o.tls.client;
      if (const std::string entry = resolve_entry(o); !entry.empty()) {
        curl_slist* more = curl_slist_append(resolve.get(), entry.c_str());
        if (!more) throw std::runtime_error("curl_slist_append failed");
        resolve.release();
        resolve.reset(more);
      }
    }
  }
  std::vector<std::unique_ptr<CURLU, decltype(&curl_url_cleanup)>> urls;  // by origin
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> resolve{nullptr, curl_slist_free_all};
  TlsClient* tls = nullptr;  // the options every https origin shares

 private:
  // "name:port:addr,addr" for a named host; "" for an address.
  static std::string resolve_entry(const Origin& o) {
    const auto colon = o.host_header.rfind(':');
    const std::string host = o.host_header.substr(0, colon);
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    if (host.front() == '[' || !ec || o.endpoints.empty()) return "";
    std::string entry = o.host_header;
    for (std::size_t k = 0; k < o.endpoints.size(); ++k) {
      const auto a = o.endpoints[k].address();
      entry.append(k ? "," : ":")
          .append(a.is_v6() ? "[" : "")
          .append(a.to_string())
          .append(a.is_v6() ? "]" : "");
    }
    return entry;
  }
};

// One multi handle and its slots, driven by the loop in run_curl_loop.
class CurlMulti {
 public:
  CurlMulti(const CrawlJob& job, Recorder& rec, UrlQueue& queue, std::size_t slots,
            const CurlOrigins& origins, long host_cap, long idle_extra)
      : job_(job),
        rec_(rec),
        queue_(queue),
        origins_(origins),
        hint_fresh_(origins.urls.size() == 1 && host_cap == 0),
        owner_(curl_multi_init()),
        transfers_(slots) {
    if (!owner_) throw std::runtime_error("curl_multi_init failed");
    multi_ = owner_.get();
    long limit = static_cast<long>(std::max<std::size_t>(slots, 1));
    // Several hosts: more may wait idle for theirs (CrawlJob::idle_extra, as ConnectionPool's).
    const long total = limit + std::min(limit, idle_extra);
    check(curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, total), "CURLMOPT_MAX_TOTAL_CONNECTIONS");
    check(curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, host_cap > 0 ? host_cap : limit),
          "CURLMOPT_MAX_HOST_CONNECTIONS");  // --per-host: transfers beyond it wait in curl's queue
    check(curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, total),
          "CURLMOPT_MAXCONNECTS");  // keep all for reuse
    check(curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Loop::on_socket), "CURLMOPT_SOCKETFUNCTION");
    check(curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, &loop_), "CURLMOPT_SOCKETDATA");
    check(curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Loop::on_timer), "CURLMOPT_TIMERFUNCTION");
    check(curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, &loop_), "CURLMOPT_TIMERDATA");
    for (Transfer& t : transfers_) {
      t.easy.reset(curl_easy_init());
      if (!t.easy) throw std::runtime_error("curl_easy_init failed");
      CURL* e = t.easy.get();
      check(curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L), "CURLOPT_NOSIGNAL");  // no SIGALRM games per request
      check(curl_easy_setopt(e, CURLOPT_PROXY, ""), "CURLOPT_PROXY");  // never route loopback via $http_proxy
      check(curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L), "CURLOPT_TCP_NODELAY");
      check(curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1), "CURLOPT_HTTP_VERSION");
      check(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, count_body), "CURLOPT_WRITEFUNCTION");
      check(curl_easy_setopt(e, CURLOPT_WRITEDATA, &t), "CURLOPT_WRITEDATA");
      check(curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header), "CURLOPT_HEADERFUNCTION");
      check(curl_easy_setopt(e, CURLOPT_HEADERDATA, &t), "CURLOPT_HEADERDATA");
      check(curl_easy_setopt(e, CURLOPT_PRIVATE, &t), "CURLOPT_PRIVATE");
      check(curl_easy_setopt(e, CURLOPT_CURLU, origins.urls[0].get()), "CURLOPT_CURLU");
      if (origins.resolve)
        check(curl_easy_setopt(e, CURLOPT_RESOLVE, origins.resolve.get()), "CURLOPT_RESOLVE");
      check(curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &Loop::on_close), "CURLOPT_CLOSESOCKETFUNCTION");
      check(curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &Loop::on_open), "CURLOPT_OPENSOCKETFUNCTION");
      check(curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &loop_), "CURLOPT_OPENSOCKETDATA");
      check(curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, &loop_), "CURLOPT_CLOSESOCKETDATA");
      check(curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(job.timeout.count())),
            "CURLOPT_TIMEOUT_MS");
      if (origins.tls) {
        configure_tls(e, origins.tls->options());
        t.tls_error = std::make_unique<char[]>(CURL_ERROR_SIZE);
        check(curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.tls_error.get()), "CURLOPT_ERRORBUFFER");
      }
    }
    events_.resize(std::max<std::size_t>(slots, 1));
  }

  // On the way out (an exception too), every easy handle leaves the multi
  // handle before it is cleaned up; then the multi handle closes its
  // connections (telling the loop, which goes last).
  ~CurlMulti() {
    for (Transfer& t : transfers_)
      if (t.in_multi) curl_multi_remove_handle(multi_, t.easy.get());
    transfers_.clear();
    owner_.reset();
  }
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  int epoll_fd() const { return loop_.epfd.get(); }

  // Every slot takes its first URL, or waits for it to be due.
  void begin() {
    for (Transfer& t : transfers_) start_or_wait(t);
  }

  // Work in hand: transfers in curl, or failed attempts waiting to be retried.
  bool busy() const { return in_multi_ > 0 || !backing_off_.empty(); }
  bool has_idle() const { return !idle_.empty(); }
  // Open loop: the next URL is due and this handle has a free slot for it.
  void start_idle() {
    start(*idle_.back());
    idle_.pop_back();
  }

  // When this handle needs the loop next, by itself: curl's timeout or the
  // earliest retry; -1: only when one of its sockets is ready.
  std::int64_t wake_at() const {
    std::int64_t wake = loop_.timeout_at_us;
    for (const Transfer* t : backing_off_)
      if (wake < 0 || t->retry_at_us < wake) wake = t->retry_at_us;
    return wake;
  }

  // Waits up to `wait_us` for this handle's sockets, then does what is due:
  // curl's work on ready sockets and timeouts, and retries whose backoff is over.
  void step(std::int64_t wait_us) {
    int n = wait_events(loop_.epfd.get(), events_, wait_us);
    if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
    for (int k = 0; k < n; ++k) {
      if (loop_.unwanted(events_[k].data.fd)) continue;
      int flags = ((events_[k].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                  ((events_[k].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                  ((events_[k].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
      drive(events_[k].data.fd, flags);
    }
    if (loop_.timeout_at_us >= 0 && now_us() >= loop_.timeout_at_us) drive(CURL_SOCKET_TIMEOUT, 0);
    const std::int64_t now = now_us();
    for (std::size_t k = 0; k < backing_off_.size();) {
      if (backing_off_[k]->retry_at_us <= now) {
        submit(*backing_off_[k]);
        backing_off_[k] = backing_off_.back();
        backing_off_.pop_back();
      } else {
        ++k;
      }
    }
  }

 private:
  void submit(Transfer& t) {
    t.bytes = 0;
    t.delay_us = -1;
    // A retry says so (X-Attempt); the first attempt of the next URL does not.
    if (t.attempt > 0) {
      std::string field = "X-Attempt: " + std::to_string(t.attempt + 1);
      t.attempt_field.reset(curl_slist_append(nullptr, field.c_str()));
      if (!t.attempt_field) throw std::runtime_error("curl_slist_append failed");
      check(curl_easy_setopt(t.easy.get(), CURLOPT_HTTPHEADER, t.attempt_field.get()), "CURLOPT_HTTPHEADER");
    } else if (t.attempt_field) {
      check(curl_easy_setopt(t.easy.get(), CURLOPT_HTTPHEADER, nullptr), "CURLOPT_HTTPHEADER");
      t.attempt_field.reset();
    }
    t.refused = nullptr;
    t.fd = CURL_SOCKET_BAD;
    // Looking for a kept-alive connection to reuse, curl 7.88 walks every
    // connection to the host, busy or not. When every open connection has a
    // transfer, there is nothing to find: say so (a fresh connection; it is
    // still kept alive for the next).
    // With several hosts, or --per-host (transfers queued in curl for their
    // host count as added but hold no socket), the count says nothing: no hint.
    bool none_idle = hint_fresh_ && loop_.open_sockets <= in_multi_;
    if (none_idle != t.fresh) {
      check(curl_easy_setopt(t.easy.get(), CURLOPT_FRESH_CONNECT, none_idle ? 1L : 0L),
            "CURLOPT_FRESH_CONNECT");
      t.fresh = none_idle;
    }
    // The connection policy: curl picks which connection a transfer gets, so
    // a connection cannot be counted; every reuse-th transfer closes the one
    // it had (CURLOPT_FORBID_REUSE), which opens one connection per reuse
    // requests in all (close: every transfer).
    const bool last = job_.reuse > 0 && ++submitted_ % job_.reuse == 0;
    if (last != t.forbid) {
      check(curl_easy_setopt(t.easy.get(), CURLOPT_FORBID_REUSE, last ? 1L : 0L), "CURLOPT_FORBID_REUSE");
      t.forbid = last;
    }
    check(curl_multi_add_handle(multi_, t.easy.get()), "curl_multi_add_handle");  // asks for a 0 timeout
    t.in_multi = true;
    ++in_multi_;
  }

  void start(Transfer& t) {
    t.index = queue_.next++;
    t.attempt = 0;
    check(curl_easy_setopt(t.easy.get(), CURLOPT_REQUEST_TARGET, job_.targets[t.index].c_str()),
          "CURLOPT_REQUEST_TARGET");
    if (origins_.urls.size() > 1)  // --urls: this URL's origin
      check(curl_easy_setopt(t.easy.get(), CURLOPT_CURLU, origins_.urls[job_.origin_index(t.index)].get()),
            "CURLOPT_CURLU");
    rec_.start(t.index);
    submit(t);
  }

  // Open loop: a slot whose next URL is not due yet waits for it.
  void start_or_wait(Transfer& t) {
    if (queue_.next >= queue_.total) return;  // nothing left: the slot stays free
    if (job_.open_loop() && job_.due_us[queue_.next] > now_us())
      idle_.push_back(&t);
    else
      start(t);
  }

  // Finished transfers: record or schedule a retry, and refill the slot.
  void reap() {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
      HttpResult r;
      const Origin& to = job_.origin(t->index);
      if (msg->data.result == CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(t->easy.get(), CURLINFO_RESPONSE_CODE, &code);
        r.status = static_cast<int>(code);
        r.bytes = t->bytes;
        r.delay_us = t->delay_us;
        const curl_socket_t fd = t->fd;
        long connects = 0;
        curl_easy_getinfo(t->easy.get(), CURLINFO_NUM_CONNECTS, &connects);
        if (fd != CURL_SOCKET_BAD && static_cast<std::size_t>(fd) < loop_.conn_id.size())
          r.conn = loop_.conn_id[fd];
        r.opened = connects > 0;
        curl_off_t connect_us = 0;
        curl_off_t tls_done_us = 0;
        if (r.opened && curl_easy_getinfo(t->easy.get(), CURLINFO_CONNECT_TIME_T, &connect_us) == CURLE_OK)
          r.connect_us = connect_us;
        // https: the handshake, from connected to "app connected". Whether it
        // resumed, curl does not say.
        if (r.opened && to.tls &&
            curl_easy_getinfo(t->easy.get(), CURLINFO_APPCONNECT_TIME_T, &tls_done_us) == CURLE_OK &&
            tls_done_us > connect_us)
          r.tls_us = tls_done_us - connect_us;
      } else if (t->refused) {
        r.error = "request to " + to.host_header + ": " + t->refused;  // curl closes the connection
      } else if (const CURLcode rc = msg->data.result; rc == CURLE_PEER_FAILED_VERIFICATION ||
                                                       rc == CURLE_SSL_CONNECT_ERROR ||
                                                       rc == CURLE_SSL_CACERT_BADFILE) {
        r.error =
            "TLS handshake with " + to.host_header + ": " +
            (t->tls_error && t->tls_error[0] ? t->tls_error.get() : curl_easy_strerror(rc)) +
            (rc == CURLE_PEER_FAILED_VERIFICATION ? " (--cacert FILE to trust it, --insecure not to check)"
                                                  : "");
      } else if (msg->data.result == CURLE_OPERATION_TIMEDOUT) {
        r.error = timeout_error(job_.timeout, to.host_header);  // worded as the other models do
      } else {
        // Worded as the other models do, from the system's error when there is
        // one; curl's own message carries timings that would split one cause
        // into many lines of the summary.
        long os_errno = 0;
        curl_easy_getinfo(t->easy.get(), CURLINFO_OS_ERRNO, &os_errno);
        bool connecting = msg->data.result == CURLE_COULDNT_CONNECT;
        r.error = os_errno ? std::string(connecting ? "connect " : "request to ") + to.host_header + ": " +
                                 std::strerror(static_cast<int>(os_errno))
                           : "curl " + to.host_header + ": " + curl_easy_strerror(msg->data.result);
        r.refused = connecting && os_errno == ECONNREFUSED;
      }
      check(curl_multi_remove_handle(multi_, t->easy.get()), "curl_multi_remove_handle");
      t->in_multi = false;
      --in_multi_;
      if (rec_.try_again(t->index, r, t->attempt)) {
        t->retry_at_us = now_us() + retry_backoff(t->attempt++, t->index).count() * 1000;
        backing_off_.push_back(t);
      } else {
        start_or_wait(*t);
      }
    }
  }

  // One step of curl's work, then whatever it finished is reaped at once and
  // its slot's next request started right away (curl asks for a timeout of 0
  // for it), rather than after every other ready socket has been served.
  void drive(curl_socket_t fd, int flags) {
    int running = 0;
    check(curl_multi_socket_action(multi_, fd, flags, &running), "curl_multi_socket_action");
    reap();
    while (loop_.timeout_at_us >= 0 && loop_.timeout_at_us <= now_us()) {
      loop_.timeout_at_us = -1;
      check(curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running), "curl_multi_socket_action");
      reap();
    }
  }

  const CrawlJob& job_;
  Recorder& rec_;
  UrlQueue& queue_;
  const CurlOrigins& origins_;
  const bool hint_fresh_;  // CURLOPT_FRESH_CONNECT when no connection is idle (one host, no cap)
  Loop loop_;  // before the handles: it outlives them (they close sockets through it)
  MultiHandle owner_;
  CURLM* multi_ = nullptr;
  std::vector<Transfer> transfers_;
  std::size_t in_multi_ = 0;            // transfers curl is working on
  std::int64_t submitted_ = 0;          // attempts added to the multi handle
  std::vector<Transfer*> idle_;         // open loop: free slots waiting for the next due URL
  std::vector<Transfer*> backing_off_;  // failed attempts waiting to be retried
  std::vector<epoll_event> events_;
};

// One event loop fetching URLs [share.begin, share.end) at share.concurrency,
// with ceil(concurrency / kSlotsPerMulti) multi handles. A multi handle belongs
// to one thread, so --loops L runs L of these side by side.
void run_curl_loop(const CrawlJob& job, Recorder& rec, const LoopShare& share) {
  UrlQueue queue{share.begin, share.end};
  const std::size_t slots = std::min<std::size_t>(share.concurrency, share.end - share.begin);
  const CurlOrigins origins(job);
  const std::size_t count = std::max<std::size_t>(1, (slots + kSlotsPerMulti - 1) / kSlotsPerMulti);
  std::vector<std::unique_ptr<CurlMulti>> multis;
  for (std::size_t k = 0; k < count; ++k) {
    // --per-host shared out as the slots are; each handle needs one at least.
    const long cap =
        share.per_host > 0 ? std::max<long>(1, share.per_host / count + (k < share.per_host % count)) : 0;
    multis.push_back(
        std::make_unique<CurlMulti>(job, rec, queue, slots / count + (k < slots % count), origins, cap,
                                    static_cast<long>(share.idle_extra) / static_cast<long>(count)));
  }
  for (auto& m : multis) m->begin();

  // With several handles, one epoll set holds theirs: the loop sleeps on it,
  // and steps the handles whose sockets are ready or whose time has come.
  std::unique_ptr<EpollFd> outer;
  std::vector<epoll_event> ready(count);
  if (count > 1) {
    outer = std::make_unique<EpollFd>();
    for (std::size_t k = 0; k < count; ++k) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = k;
      if (epoll_ctl(outer->get(), EPOLL_CTL_ADD, multis[k]->epoll_fd(), &ev) != 0)
        throw std::runtime_error(std::string("epoll_ctl: ") + std::strerror(errno));
    }
  }
  std::vector<char> woken(count, 0);
  auto idle_slot = [&]() -> CurlMulti* {
    for (auto& m : multis)
      if (m->has_idle()) return m.get();
    return nullptr;
  };
  for (;;) {
    bool busy = false;
    std::int64_t wake = -1;
    for (auto& m : multis) {
      busy |= m->busy();
      std::int64_t w = m->wake_at();
      if (w >= 0 && (wake < 0 || w < wake)) wake = w;
    }
    const bool waiting = queue.next < queue.total && idle_slot();  // open loop: a slot for the next due URL
    if (!busy && !waiting) break;
    if (waiting && (wake < 0 || job.due_us[queue.next] < wake)) wake = job.due_us[queue.next];
    // Sleep until a socket is ready, curl's timeout, the next retry, or the
    // next request is due.
    const std::int64_t wait_us =
        wake < 0 ? 1'000'000 : std::clamp<std::int64_t>(wake - now_us(), 0, 1'000'000);
    if (count == 1) {
      multis[0]->step(wait_us);
    } else {
      int n = wait_events(outer->get(), ready, wait_us);
      if (n < 0 && errno != EINTR)
        throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
      for (int k = 0; k < n; ++k) woken[ready[k].data.u64] = 1;
      const std::int64_t now = now_us();
      for (std::size_t k = 0; k < count; ++k) {
        const std::int64_t w = multis[k]->wake_at();
        if (woken[k] || (w >= 0 && w <= now)) multis[k]->step(0);
        woken[k] = 0;
      }
    }
    const std::int64_t now = now_us();
    while (queue.next < queue.total && job.open_loop() && job.due_us[queue.next] <= now) {
      CurlMulti* m = idle_slot();
      if (!m) break;
      m->start_idle();
    }
  }
}

}  // namespace

void crawl_curl(const CrawlJob& job, Recorder& rec) {
  prepare_curl();  // already done by run_crawl, before its clock
  run_event_loops(job, [&](const LoopShare& share) { run_curl_loop(job, rec, share); });
}

}  // namespace testbed
