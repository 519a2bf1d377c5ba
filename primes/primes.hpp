#pragma once
// The prime-saving client (the book's "Database Example"): a CPU-bound prime
// search whose every prime must be saved to a slow database over HTTP,
// done four ways:
//   noio     compute only (the lower bound)
//   serial   one blocking save per prime: the CPU waits out every latency
//   batched  the book's AsyncBatcher: collect --batch primes, save them
//            concurrently, wait for all, carry on computing
//   async    keep computing while saves are in flight (at most --concurrency),
//            wait for the last ones at the end
#include "common/query.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace testbed {

// A save's default limit: far longer than the server's default wait for a
// locked database (10 s) plus its latency, so a slow save is not cut short.
constexpr std::int64_t kDefaultSaveTimeoutMs = 30'000;

// Trial division like the book's check_prime, but right about 0, 1 and 2.
bool check_prime(std::int64_t n);

struct PrimesConfig {
  std::string mode = "async";
  std::int64_t max_number = 8192;  // numbers below this are probed
  std::string url = "http://127.0.0.1:8080";
  int batch = 100;
  int concurrency = 4096;       // enough for every prime below 2^15 in one round trip
  int retries = 0;              // extra attempts per failed save, with backoff
  std::int64_t timeout_ms = 0;  // per attempt, as crawl's; 0: kDefaultSaveTimeoutMs
};

// One span of the compute thread's time or of one save, for the call graph.
struct PrimeSpan {
  enum class Kind { compute, save };
  Kind kind;
  std::int64_t start_us;
  std::int64_t end_us;
  std::int64_t value;  // the prime saved (saves only)
  int status;          // HTTP status of the last attempt, 0 for none (saves only)
};

struct PrimesSummary {
  PrimesConfig config;
  std::int64_t primes = 0;  // found
  std::int64_t saved = 0;   // answered 200
  std::int64_t failed = 0;  // not saved after every retry
  double seconds = 0;
  double compute_seconds = 0;      // time the compute thread spent computing
  std::vector<std::int64_t> lost;  // the values of failed saves
  std::map<std::string, std::int64_t> errors;
  std::vector<PrimeSpan> spans;
};

const std::vector<std::string>& prime_modes();

// Throws std::invalid_argument on a bad config, std::runtime_error on a bad host.
PrimesSummary run_primes(const PrimesConfig& config);

// kind,start,end,value,status
std::string primes_timeline_csv(const PrimesSummary& s);
nlohmann::json to_json(const PrimesSummary& s);

}  // namespace testbed
