#include "server/state.hpp"

#include "common/csv.hpp"

#include <sys/resource.h>

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

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
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
      limits{config.default_delay_ms, config.max_delay_ms},
      idle(config.read_timeout_ms),
      timeline(config.timeline_capacity, config.timeline_max_bytes),
      db(std::make_unique<PrimeDb>(config.db_path, config.db_lock_wait_ms)) {}

Fault ServerState::roll_fault() {
  if (config.error_rate <= 0 && config.drop_rate <= 0) return Fault::none;
  std::uint64_t n = fault_draws_.fetch_add(1, std::memory_order_relaxed);
  double u = static_cast<double>(splitmix64(config.seed ^ splitmix64(n)) >> 11) * 0x1p-53;
  if (u < config.drop_rate) return Fault::drop;
  if (u < config.drop_rate + config.error_rate) return Fault::error;
  return Fault::none;
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
          counters.timeline_readers_refused.load()};
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
