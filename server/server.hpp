#pragma once
// delayserver: the book's tornado server, rebuilt on Boost.Beast.
//   GET /add?name=NAME&delay=MS   wait MS ms on a timer, answer ".", record the span
//   GET /add?flush=True           write the recorded timeline to the configured file
//   GET /add?prime=N              store N in the SQLite database, answer after the latency
//   GET /health                   readiness for scripts
//   GET /timeline                 the recorded timeline as CSV, without writing a file
//   GET /primes[?reset=True]      what the database holds (count, sum), or empty it
#include <cstdint>
#include <memory>
#include <string>

namespace testbed {

struct ServerConfig {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: pick a free port (see DelayServer::port())
  int threads = 1;
  std::string timeline_path = "delayserver-timeline.csv";
  std::string db_path;  // empty: primes.sqlite next to the timeline file
  std::int64_t db_latency_ms = 50;
  std::int64_t max_delay_ms = 60'000;
  std::size_t timeline_capacity = 10'000'000;
  std::int64_t default_delay_ms = 1024;  // the book's default
};

class PrimeDb;
class TimelineStore;

class DelayServer {
 public:
  // Binds and listens; throws std::runtime_error with a readable reason on failure.
  explicit DelayServer(ServerConfig config);
  ~DelayServer();
  DelayServer(const DelayServer&) = delete;
  DelayServer& operator=(const DelayServer&) = delete;

  std::uint16_t port() const;
  const ServerConfig& config() const;

  // Stop on SIGINT/SIGTERM (flushing the timeline first). Call before run().
  void handle_signals();
  // Runs the event loop on config.threads threads; returns after stop().
  void run();
  // Thread-safe: stop accepting, flush the timeline, end run().
  void stop();

  // Writes the timeline to config.timeline_path; the row count, or -1 and a reason.
  long long flush(std::string* error);

  TimelineStore& timeline();
  PrimeDb& db();

  struct Impl;  // defined in server.cpp (its sessions use it)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace testbed
