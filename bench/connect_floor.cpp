// The machine's floor for "N requests at once, each on a fresh connection":
// one thread of bare system calls (socket, connect, send; then epoll and recv),
// with none of the work a client does (no parser, no timeline, no coroutine).
// bench/peers.py runs it next to the primes saver and C10K, so their times
// can be read against what this kernel's loopback path allows at all.
//
//   connect-floor --port P --num N --delay MS   ->  one JSON line
//
// Every request is GET /add?name=floor&delay=MS; the answer's first bytes
// count as answered (the body is one byte).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "connect-floor: %s\nusage: connect-floor --port P --num N --delay MS\n", why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  long port = 0, num = 0, delay = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    char* end = nullptr;
    long v = std::strtol(argv[i + 1], &end, 10);
    if (*end) usage(("not a number: " + std::string(argv[i + 1])).c_str());
    if (k == "--port")
      port = v;
    else if (k == "--num")
      num = v;
    else if (k == "--delay")
      delay = v;
    else
      usage(("unknown option " + k).c_str());
  }
  if (argc % 2 == 0) usage("every option takes a value");
  if (port < 1 || port > 65535 || num < 1 || delay < 0) usage("--port, --num and --delay are required");
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  const std::string request =
      "GET /add?name=floor&delay=" + std::to_string(delay) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

  const auto t0 = std::chrono::steady_clock::now();
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) usage(std::strerror(errno));
  std::vector<int> fds;
  fds.reserve(num);
  std::vector<char> sent(num, 0), answered(num, 0);
  long sent_count = 0, answered_count = 0;
  double send_seconds = 0;
  for (long i = 0; i < num; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      std::fprintf(stderr, "connect-floor: socket %ld: %s\n", i, std::strerror(errno));
      return 1;
    }
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
      std::fprintf(stderr, "connect-floor: connect %ld: %s\n", i, std::strerror(errno));
      return 1;
    }
    // On loopback the handshake is usually over when connect returns, so the
    // request goes at once; if not, when the socket turns writable.
    fds.push_back(fd);
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      sent[i] = 1;
      ++sent_count;
    }
    epoll_event ev{};
    ev.events = sent[i] ? EPOLLIN : EPOLLOUT | EPOLLIN;
    ev.data.u64 = static_cast<std::uint64_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  if (sent_count == num) send_seconds = seconds_since(t0);
  std::vector<epoll_event> events(1024);
  char buf[4096];
  while (answered_count < num) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 30000);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // 30 s without an event: give up, report what came
    for (int k = 0; k < n; ++k) {
      auto i = static_cast<long>(events[k].data.u64);
      int fd = fds[i];
      if (!sent[i] && (events[k].events & EPOLLOUT)) {
        if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
          sent[i] = 1;
          if (++sent_count == num) send_seconds = seconds_since(t0);
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = events[k].data.u64;
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
        }
      }
      if (sent[i] && !answered[i] && (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        if (recv(fd, buf, sizeof buf, 0) > 0) {
          answered[i] = 1;
          ++answered_count;
          epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        }
      }
    }
  }
  const double seconds = seconds_since(t0);
  for (int fd : fds) close(fd);
  std::printf(
      "{\"num\": %ld, \"delay_ms\": %ld, \"sent\": %ld, \"answered\": %ld, \"send_seconds\": %.6f, "
      "\"seconds\": %.6f}\n",
      num, delay, sent_count, answered_count, send_seconds, seconds);
  return answered_count == num ? 0 : 1;
}
