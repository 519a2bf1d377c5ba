#pragma once
// delayserver: the book's tornado server, rebuilt on Boost.Beast. Its
// lifecycle: bind, run the event loop on --threads threads, stop (flushing the
// timeline). The routes are the table in request.hpp (route_table(), printed
// by delayserver --help); one connection's life is session.cpp.
#include "server/config.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace testbed {

struct CertPair;
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
  // --tls: the certificate and key it serves (made at start unless --cert); nullptr without TLS.
  const CertPair* tls_identity() const;
  const ServerConfig& config() const;  // with defaults resolved (db path, cap, seed)
  ServerStats stats() const;

  // Stop on SIGINT, SIGTERM or SIGHUP (writing the timeline first). Call before run().
  void handle_signals();
  // Runs the event loop on config.threads threads; returns after stop().
  void run();
  // Thread-safe: stop accepting, flush the timeline, end run().
  void stop();

  // Writes the timeline to config.timeline_path; the row count, or -1 and a reason.
  long long flush(std::string* error);
  // After run(): empty if the timeline was written at exit, else why not.
  const std::string& exit_flush_error() const;

  TimelineStore& timeline();
  PrimeDb& db();

  struct Impl;  // defined in server.cpp (its sessions use it)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace testbed
