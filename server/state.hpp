#pragma once
// What every connection of one server shares: the configuration, the counters
// /stats reports, the idle clock and registry, the fault dice, the timeline
// and the database. The lifecycle (server.cpp) owns it; sessions use it.
#include "server/config.hpp"
#include "server/idle.hpp"
#include "server/prime_db.hpp"
#include "server/request.hpp"
#include "server/timeline_store.hpp"

#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace testbed {

struct Counters {
  std::atomic<std::uint64_t> connections{0}, accepted{0}, refused{0}, read_timeouts{0}, abandoned{0},
      injected_errors{0}, injected_drops{0}, timeline_readers{0}, timeline_readers_refused{0}, in_flight{0},
      peak_in_flight{0}, held_us{0}, tls_handshakes{0}, tls_resumed{0}, tls_failures{0};
};

enum class Fault { none, error, drop };

// Descriptors kept out of the connection cap: the listener, standard streams,
// the event loop's own, the database and its journal files, a timeline being
// written, and the socket a refused newcomer needs to be told 503.
constexpr std::size_t kReservedFiles = 32;

struct ServerState {
  // Resolves the config's defaults (database path, connection cap, seed) and
  // opens the database; throws std::runtime_error with a reason.
  explicit ServerState(ServerConfig c);

  // --error-rate / --drop-rate for this request on this attempt: a pure
  // function of them and the seed (the request's URL by request_key).
  Fault roll_fault(const Routed& req, int attempt) const;
  // A delayed request arrives: how long it waits, in microseconds (its draw,
  // times the load factor of a knee), and it counts as in flight until
  // leave_flight().
  std::int64_t enter_flight(const Routed& req);
  // It has been held `held_us` (its arrival to the end of its delay, or to
  // its client leaving): the sum is the time integral of in_flight.
  void leave_flight(std::int64_t held_us) {
    counters.in_flight.fetch_sub(1, std::memory_order_relaxed);
    counters.held_us.fetch_add(static_cast<std::uint64_t>(held_us), std::memory_order_relaxed);
  }
  // A save's latency, in microseconds.
  std::int64_t save_latency_us(const Routed& req) const;
  ServerStats stats() const;
  // Writes the timeline to config.timeline_path: the number of rows written
  // (counted with the copy, whatever runs meanwhile), or -1 and a reason. The
  // rows stay in memory either way, for the next flush.
  long long flush(std::string* error);

  ServerConfig config;
  RouteLimits limits;
  Counters counters;
  Registry registry;
  IdleClock idle;
  TimelineStore timeline;
  std::unique_ptr<PrimeDb> db;
  // --tls: the context every connection's stream is made with (the lifecycle
  // owns it); nullptr: plain HTTP.
  boost::asio::ssl::context* tls = nullptr;
};

}  // namespace testbed
