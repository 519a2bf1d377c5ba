// crawl-mpi's plumbing between ranks (see mpi_ranks.hpp).
#include "crawlers/mpi_ranks.hpp"

#include "client/http_client.hpp"
#include "common/clock.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>
#include <type_traits>

namespace testbed {

namespace {
constexpr int kTagPing = 101;
constexpr int kTagPong = 102;
}  // namespace

// Waits for a non-blocking MPI call without spinning: a test every
// millisecond, and a run abandoned (every rank killed, exit 3) past the deadline.
void wait_request(MPI_Request& req, double deadline, const std::string& what, int rank) {
  for (;;) {
    int done = 0;
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) return;
    if (mono_seconds() > deadline) {
      std::fprintf(stderr,
                   "crawl-mpi: rank %d: %s: not every rank answered within --deadline; abandoning the run\n",
                   rank, what.c_str());
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

namespace {

// A ping-pong's wait: the peer is answering at once, so a sleep between tests
// would be the round trip measured; test without one, up to the deadline.
void wait_active(MPI_Request& req, double deadline, int rank) {
  for (unsigned k = 0;; ++k) {
    int done = 0;
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) return;
    if (k % 1024 == 1023 && mono_seconds() > deadline)
      wait_request(req, deadline, "measuring its clock", rank);
  }
}

}  // namespace

// Collective: rank 0 answers each other rank in turn, kClockRounds times. A
// rank waits for its turn asleep (a "go" from rank 0), so that only the two
// ranks measuring run: on a shared core a spinning third would stretch the
// round trips it is measured by.
ClockSample measure_clock(int rank, int size, double deadline) {
  constexpr int kTagGo = 103;
  ClockSample best;
  if (rank == 0) {
    for (int r = 1; r < size; ++r) {
      int go = 1;
      MPI_Send(&go, 1, MPI_INT, r, kTagGo, MPI_COMM_WORLD);
      for (int k = 0; k < kClockRounds; ++k) {
        std::int64_t ping = 0;
        MPI_Request req;
        MPI_Irecv(&ping, 1, MPI_INT64_T, r, kTagPing, MPI_COMM_WORLD, &req);
        if (k == 0)  // rank r may still be waking up to its "go"
          wait_request(req, deadline, "waiting for rank " + std::to_string(r) + " to measure its clock",
                       rank);
        else
          wait_active(req, deadline, rank);
        std::int64_t t = now_us();
        MPI_Send(&t, 1, MPI_INT64_T, r, kTagPong, MPI_COMM_WORLD);
      }
    }
    return best;
  }
  int go = 0;
  MPI_Request req;
  MPI_Irecv(&go, 1, MPI_INT, 0, kTagGo, MPI_COMM_WORLD, &req);
  wait_request(req, deadline, "waiting for its turn to measure its clock", rank);
  best.round_trip_us = INT64_MAX;
  for (int k = 0; k < kClockRounds; ++k) {
    std::int64_t t1 = now_us(), t0 = 0;
    MPI_Send(&t1, 1, MPI_INT64_T, 0, kTagPing, MPI_COMM_WORLD);
    MPI_Request pong;
    MPI_Irecv(&t0, 1, MPI_INT64_T, 0, kTagPong, MPI_COMM_WORLD, &pong);
    wait_active(pong, deadline, rank);
    std::int64_t t2 = now_us();
    if (t2 - t1 < best.round_trip_us) {
      best.round_trip_us = t2 - t1;
      best.offset_us = t0 - (t1 + t2) / 2;
    }
  }
  return best;
}

// Gathers each rank's bytes on rank 0 (in rank order), with the deadline.
std::vector<char> gather_bytes(const std::string& mine, int rank, int size, double deadline,
                               const std::string& what, std::vector<int>& counts) {
  int n = static_cast<int>(mine.size());
  counts.assign(size, 0);
  MPI_Request req;
  MPI_Igather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD, &req);
  wait_request(req, deadline, what + " (sizes)", rank);
  std::vector<int> displs(size, 0);
  std::size_t total = 0;
  for (int r = 0; r < size; ++r) {
    displs[r] = static_cast<int>(total);
    total += static_cast<std::size_t>(counts[r]);
  }
  std::vector<char> all(rank == 0 ? std::max<std::size_t>(total, 1) : 1);
  MPI_Igatherv(mine.data(), n, MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE, 0,
               MPI_COMM_WORLD, &req);
  wait_request(req, deadline, what, rank);
  return all;
}

// The address this rank's connections to the server leave from (a UDP
// socket connected to it says, sending nothing).
std::string source_address(const CrawlConfig& cfg) {
  if (!cfg.urls_file.empty()) return "";  // --urls: several hosts, no one route
  std::string err;
  auto base = parse_base_url(cfg.url, &err);
  if (!base) return "";
  try {
    auto eps = resolve(*base);
    if (eps.empty()) return "";
    auto ep = eps.front();
    int fd = socket(ep.protocol().family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "";
    std::string out;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (connect(fd, ep.data(), static_cast<socklen_t>(ep.size())) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      char buf[INET6_ADDRSTRLEN] = {};
      const void* a = ss.ss_family == AF_INET6
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&ss)->sin_addr);
      if (inet_ntop(ss.ss_family, a, buf, sizeof buf)) out = buf;
    }
    close(fd);
    return out;
  } catch (const std::exception&) {
    return "";
  }
}

// "RANK:VALUE" for the test-only options.
bool rank_value(const std::string& text, int& rank, std::int64_t& value) {
  auto colon = text.find(':');
  if (colon == std::string::npos) return false;
  try {
    std::size_t used = 0;
    rank = std::stoi(text.substr(0, colon), &used);
    if (used != colon) return false;
    value = std::stoll(text.substr(colon + 1), &used);
    return used == text.size() - colon - 1;
  } catch (const std::exception&) {
    return false;
  }
}

std::vector<std::string> split_urls(const std::string& list) {
  std::vector<std::string> out;
  std::size_t at = 0;
  for (;;) {
    auto comma = list.find(',', at);
    out.push_back(list.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) return out;
    at = comma + 1;
  }
}

Quiet::Quiet(bool on) {
  if (!on) return;
  std::fflush(stdout);
  std::fflush(stderr);
  std::cout.flush();
  std::FILE* f = std::tmpfile();  // unlinked already: gone with the process
  sink_ = f ? dup(fileno(f)) : -1;
  if (f) std::fclose(f);
  if (sink_ < 0) return;  // no temporary file: say it on every rank, then
  out_ = dup(1);
  err_ = dup(2);
  dup2(sink_, 1);
  dup2(sink_, 2);
}

void Quiet::restore() {
  if (out_ < 0) return;
  std::fflush(stdout);
  std::fflush(stderr);
  std::cout.flush();
  std::cerr.flush();
  dup2(out_, 1);
  dup2(err_, 2);
  close(out_);
  close(err_);
  out_ = err_ = -1;
}

std::string Quiet::captured() {
  if (sink_ < 0) return "";
  restore();
  std::string text;
  char buf[4096];
  for (off_t at = 0;;) {
    ssize_t n = pread(sink_, buf, sizeof buf, at);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    at += n;
  }
  return text;
}

Quiet::~Quiet() {
  restore();
  if (sink_ >= 0) close(sink_);
}

namespace {

// The first line where two identities differ, as "A against B".
std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream x(a), y(b);
  for (std::string p, q; std::getline(x, p) && std::getline(y, q);)
    if (p != q) return q + " against rank 0's " + p;
  return "a different crawl";
}

}  // namespace

std::optional<int> agree(int rank, int size, std::optional<int> early, const std::string& said,
                         const std::string& identity) {
  constexpr double kAgreeSeconds = 60;  // every rank is past its command line within this
  const std::string mine = std::to_string(early ? *early : -1) + "\n" + (early ? said : identity);
  std::vector<int> sizes;
  std::vector<char> all =
      gather_bytes(mine, rank, size, mono_seconds() + kAgreeSeconds, "agreeing on the crawl", sizes);
  int verdict = -1;  // -1: run; else the exit code of every rank
  std::string why;
  if (rank == 0) {
    verdict = early ? *early : -1;
    std::size_t at = static_cast<std::size_t>(sizes[0]);
    for (int r = 1; r < size && why.empty(); ++r) {
      const std::string theirs(all.data() + at, static_cast<std::size_t>(sizes[r]));
      at += static_cast<std::size_t>(sizes[r]);
      const int rc = std::stoi(theirs.substr(0, theirs.find('\n')));
      std::string text = theirs.substr(theirs.find('\n') + 1);
      // The same early exit everywhere (--help, --list-models, the same bad
      // flag) is agreement; so is the same run.
      if (early ? rc == *early : (rc == -1 && text == identity)) continue;
      verdict = 2;
      if (early && *early == 2) break;  // rank 0 has said what is wrong with its own line
      if (rc >= 0) {
        if (text.rfind("crawl-mpi: ", 0) == 0) text = text.substr(11);
        while (!text.empty() && text.back() == '\n') text.pop_back();
        why = "rank " + std::to_string(r) + " refused its command line: " + text.substr(0, text.find('\n'));
      } else {
        why = "rank " + std::to_string(r) + " was given another crawl than rank 0 (" +
              first_difference(mine.substr(mine.find('\n') + 1), text) + ")";
      }
      why += "; every rank must run the same command line and build";
    }
  }
  MPI_Request req;
  MPI_Ibcast(&verdict, 1, MPI_INT, 0, MPI_COMM_WORLD, &req);
  wait_request(req, mono_seconds() + kAgreeSeconds, "waiting for the ranks to agree", rank);
  if (!why.empty()) std::cerr << "crawl-mpi: " << why << std::endl;
  if (verdict == -1) return std::nullopt;
  return verdict;
}

double cpu_of(const rusage& r) {
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

Wait finish_together(int rank, int size, double deadline) {
  Wait w;
  rusage r0{}, r1{};
  getrusage(RUSAGE_SELF, &r0);
  const double t0 = mono_seconds();
  MPI_Request bar;
  MPI_Ibarrier(MPI_COMM_WORLD, &bar);
  wait_request(bar, deadline, "waiting for every rank to finish its crawl", rank);
  getrusage(RUSAGE_SELF, &r1);
  w.seconds = mono_seconds() - t0;
  w.cpu_seconds = cpu_of(r1) - cpu_of(r0);
  w.clock_after = measure_clock(rank, size, deadline);
  return w;
}

}  // namespace testbed
