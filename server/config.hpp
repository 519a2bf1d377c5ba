#pragma once
// delayserver's settings and what /stats reports: below every other server
// file, so that the shared state (state.hpp) and the sessions need nothing of
// the lifecycle (server.hpp) that starts them.
#include "common/delay_dist.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace testbed {

struct ServerConfig {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: pick a free port (see DelayServer::port())
  int threads = 1;
  std::string timeline_path = "delayserver-timeline.csv";
  std::string db_path;  // empty: primes.sqlite next to the timeline file
  std::int64_t db_latency_ms = 50;
  std::int64_t db_lock_wait_ms = 10'000;  // how long a save waits for another process's lock
  std::int64_t max_delay_ms = 60'000;
  std::size_t timeline_capacity = 10'000'000;             // rows
  std::size_t timeline_max_bytes = std::size_t{1} << 30;  // memory for rows and names
  std::int64_t default_delay_ms = 1024;                   // the book's default
  DelayDist delay_dist;       // for a request that names no dist= (common/delay_dist.hpp)
  DelayDist db_latency_dist;  // of each save's latency, db_latency_ms its median

  // Slow or idle peers: a request must arrive complete (and an answer be taken)
  // within this long of the connection becoming ready for it; 0: no limit.
  std::int64_t read_timeout_ms = 10'000;
  // Connections beyond this are answered 503 and closed; 0 (or more than the
  // open-files limit allows): the limit less kReservedFiles (32).
  std::size_t max_connections = 0;
  // > 0: a connection is closed after this many answers, the last one saying
  // `Connection: close`, so every client meets the same churn.
  std::int64_t max_requests_per_connection = 0;

  // Fault injection for /add requests, decided per request from `seed`, the
  // request's URL and its attempt (X-Attempt), so that the same URLs meet the
  // same faults in any order: error_rate answers 503 after the delay (nothing
  // recorded or saved), drop_rate closes the connection after the delay
  // without an answer. The delays' draws use the same seed.
  double error_rate = 0;
  double drop_rate = 0;
  std::uint64_t seed = 0;  // 0: pick one (see config())

  // TLS (--tls): every connection is https. The identity is --cert/--key, or
  // a self-signed certificate of `tls_key` (ecdsa or rsa) made at start.
  bool tls = false;
  std::string cert_path;
  std::string key_path;
  std::string tls_key = "ecdsa";
};

// What /stats reports.
struct ServerStats {
  std::uint64_t connections = 0;  // open now
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;                   // over max_connections
  std::uint64_t read_timeouts = 0;             // closed for being too slow
  std::uint64_t abandoned = 0;                 // the client left while its delay ran
  std::uint64_t injected_errors = 0;           // 503s from --error-rate
  std::uint64_t injected_drops = 0;            // closes from --drop-rate
  std::uint64_t timeline_readers = 0;          // /timeline answers being sent now
  std::uint64_t timeline_readers_refused = 0;  // 503s beyond kMaxTimelineReaders
  std::uint64_t in_flight = 0;                 // delayed requests held now
  std::uint64_t peak_in_flight = 0;            // and the most held at once
  std::uint64_t held_us = 0;                   // the time they were held, summed (in_flight's integral)
  std::uint64_t tls_handshakes = 0;            // --tls: handshakes completed
  std::uint64_t tls_resumed = 0;               // of which resumed a session
  std::uint64_t tls_failures = 0;              // handshakes that failed (plain HTTP, garbage, a bad version)
};

// /timeline answers a full copy of the timeline; at most this many are held
// in memory at once (a slow reader keeps its copy until it has read it), and
// a request beyond them gets a 503 to try again.
constexpr std::uint64_t kMaxTimelineReaders = 2;

}  // namespace testbed
