#pragma once
// The prime-saving client (the book's "Database Example"): a CPU-bound prime
// search whose every prime must be saved to a slow database over HTTP, done
// in one of the modes of the mode table (prime_modes(), primes --list-modes):
// noio (compute only), serial, batched (the book's AsyncBatcher) and async.
#include "common/query.hpp"
#include "common/tls.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
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
  TlsClientOptions tls;         // https: --cacert, --insecure
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

struct PrimesSummary;
struct SaveLoop;  // what a mode's loop works with (primes.cpp)

// One row of the mode table (primes.cpp), the one list of prime modes:
// `primes --list-modes` prints it, and benchmark.sh, bench/ and plots/ ask it.
struct PrimeMode {
  const char* name;
  const char* mirrors;          // what it stands for in the book
  const char* waits;            // when the compute thread waits for the database
  bool saves;                   // false: compute only (noio, the lower bound)
  bool one_at_a_time;           // every save waits out its latency alone (serial): slow at scale
  bool computes_while_saving;   // keeps computing while saves are in flight (async)
  void (*loop)(SaveLoop& run);  // the compute loop with this mode's saves
  // The setting that caps its saves in flight (a socket each) and its flag;
  // none for one at a time. With P primes, ceil(P / cap) latencies must pass
  // one after another at best (P for one at a time): the bound is the compute
  // time plus those; for a mode that computes while it saves, the longer of
  // the compute plus one latency (the last prime's save) and those.
  int PrimesConfig::*in_flight = nullptr;
  const char* in_flight_flag = nullptr;
};
const std::vector<PrimeMode>& prime_modes();
const PrimeMode* find_prime_mode(std::string_view name);  // nullptr: no such mode
nlohmann::json prime_modes_json();  // every row with its properties, for --list-modes --json

struct PrimesSummary {
  PrimesConfig config;
  std::int64_t primes = 0;  // found
  std::int64_t saved = 0;   // answered 200
  std::int64_t failed = 0;  // not saved after every retry
  double seconds = 0;
  double compute_seconds = 0;  // time the compute thread spent computing
  // The server's latency for a save (median of X-Delay-Us on the answered
  // ones, ms; -1: none answered), and the best the mode could do with it:
  // the compute time plus the latencies that must pass one after another
  // (-1 when the latency is unknown).
  double save_latency_ms = -1;
  double bound_seconds = -1;
  std::vector<std::int64_t> lost;  // the values of failed saves
  std::map<std::string, std::int64_t> errors;
  std::vector<PrimeSpan> spans;
};

// Throws std::invalid_argument on a bad config, std::runtime_error on a bad host.
PrimesSummary run_primes(const PrimesConfig& config);

// kind,start,end,value,status
std::string primes_timeline_csv(const PrimesSummary& s);
nlohmann::json to_json(const PrimesSummary& s);

}  // namespace testbed
