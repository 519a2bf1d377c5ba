#include "server/state.hpp"

#include "common/csv.hpp"
#include "common/delay_dist.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <random>

namespace testbed {

namespace {

// Next to the timeline when that is (or will be) a regular file; a timeline
// sent to a device such as /dev/null puts no database into /dev.
std::string default_db_path(const std::string& timeline_path) {
  std::error_code ec;
  auto status = std::filesystem::status(timeline_path, ec);
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) return "primes.sqlite";
  auto dir = std::filesystem::path(timeline_path).parent_path();
  return (dir / "primes.sqlite").string();
}

// What the open-files limit leaves for connections.
std::size_t connections_allowed() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 1 << 20;
  auto limit = static_cast<std::size_t>(rl.rlim_cur);
  return limit > kReservedFiles ? limit - kReservedFiles : 1;
}

ServerConfig resolved(ServerConfig c) {
  if (c.db_path.empty()) c.db_path = default_db_path(c.timeline_path);
  std::size_t allowed = connections_allowed();
  if (c.max_connections == 0) {
    c.max_connections = allowed;
  } else if (c.max_connections > allowed) {
    // Beyond the limit a newcomer could not even be accepted to be told 503.
    std::cerr << "delayserver: warning: --max-connections " << c.max_connections << " is more than the "
              << "open-files limit allows (" << allowed << " after " << kReservedFiles
              << " kept for the listener, the database, the timeline and refusals); using " << allowed
              << '\n';
    c.max_connections = allowed;
  }
  if (c.seed == 0) c.seed = std::random_device{}() | 1;
  return c;
}

}  // namespace

ServerState::ServerState(ServerConfig c)
    : config(resolved(std::move(c))),
      limits{config.default_delay_ms, config.max_delay_ms, config.delay_dist},
      idle(config.read_timeout_ms),
      timeline(config.timeline_capacity, config.timeline_max_bytes),
      db(std::make_unique<PrimeDb>(config.db_path, config.db_lock_wait_ms)) {}

// The draws' streams (unit_draw): the delay's use 1 and 2, a fault's 16 and up.
constexpr std::uint64_t kFaultStream = 16;

Fault ServerState::roll_fault(const Routed& req, int attempt) const {
  if (config.error_rate <= 0 && config.drop_rate <= 0) return Fault::none;
  double u =
      unit_draw(config.seed, request_key(req.query), kFaultStream + static_cast<std::uint64_t>(attempt));
  if (u < config.drop_rate) return Fault::drop;
  if (u < config.drop_rate + config.error_rate) return Fault::error;
  return Fault::none;
}

std::int64_t ServerState::enter_flight(const Routed& req) {
  std::uint64_t others = counters.in_flight.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t peak = counters.peak_in_flight.load(std::memory_order_relaxed);
  while (others + 1 > peak &&
         !counters.peak_in_flight.compare_exchange_weak(peak, others + 1, std::memory_order_relaxed)) {
  }
  const std::int64_t max_us = config.max_delay_ms * 1000;
  if (req.dist.shape == DelayShape::fixed && req.dist.knee == 0) return req.delay_ms * 1000;
  std::int64_t us = draw_delay_us(req.dist, req.delay_ms, config.seed, request_key(req.query), max_us);
  if (req.dist.knee > 0)
    us = std::llround(std::min(static_cast<double>(max_us),
                               static_cast<double>(us) * (1 + static_cast<double>(others) / req.dist.knee)));
  return us;
}

std::int64_t ServerState::save_latency_us(const Routed& req) const {
  if (config.db_latency_dist.shape == DelayShape::fixed) return config.db_latency_ms * 1000;
  return draw_delay_us(config.db_latency_dist, config.db_latency_ms, config.seed, request_key(req.query),
                       std::max(config.max_delay_ms, config.db_latency_ms) * 1000);
}

ServerStats ServerState::stats() const {
  return {counters.connections.load(),
          counters.accepted.load(),
          counters.refused.load(),
          counters.read_timeouts.load(),
          counters.abandoned.load(),
          counters.injected_errors.load(),
          counters.injected_drops.load(),
          counters.timeline_readers.load(),
          counters.timeline_readers_refused.load(),
          counters.in_flight.load(),
          counters.peak_in_flight.load(),
          counters.held_us.load(),
          counters.tls_handshakes.load(),
          counters.tls_resumed.load(),
          counters.tls_failures.load()};
}

long long ServerState::flush(std::string* error) {
  std::string err;
  std::size_t rows = 0;
  std::string csv = timeline.to_csv(&rows);
  if (!write_file_atomic(config.timeline_path, csv, &err)) {
    if (error) *error = err;
    return -1;
  }
  return static_cast<long long>(rows);
}

}  // namespace testbed
