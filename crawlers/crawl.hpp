#pragma once
// The crawler front end every concurrency model shares: the job (endpoint and
// every request target, prepared before the clock starts), the per-request
// recorder, and the summary. A model is one function: run the job, report each
// request to the recorder. The models live in crawlers/models/, one file each,
// and are listed in crawlers/models.cpp.
#include "client/sync_client.hpp"
#include "common/delay_dist.hpp"
#include "common/query.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace testbed {

// How an open-loop crawl's requests are spaced: exactly 1/rate apart, or as a
// Poisson process of that rate (exponential gaps, drawn from --seed).
enum class Arrivals { constant, poisson };

struct CrawlConfig {
  std::string model = "serial";
  std::string url = "http://127.0.0.1:8080";
  std::string name;  // empty: the model's name
  std::int64_t num = 500;
  std::int64_t delay_ms = 100;  // the median when delay_dist varies it
  DelayDist delay_dist;         // sent in every URL (fixed: nothing sent, the book's URLs)
  int concurrency = 100;
  // Fire `concurrency` requests, wait for all of them, fire the next ones
  // (the book's AsyncBatcher), instead of keeping every slot busy.
  bool batched = false;
  bool progress = false;        // print done/total on stderr while running
  std::uint64_t seed = 0;       // for the random URL tails; 0 picks one
  int loops = 1;                // event-loop models (the table's event_loops): loops, one thread each
  int retries = 0;              // extra attempts for a failed or timed-out request
  std::int64_t timeout_ms = 0;  // per attempt; 0: the delay plus 10 s
  // Open loop: requests are due at `rate` per second whatever the answers do
  // (concurrency stays the cap on those in flight; a due request waits for a
  // slot, and that wait is part of its latency). 0: closed loop, the book's.
  double rate = 0;
  Arrivals arrivals = Arrivals::constant;
  double duration_s = 0;  // > 0: as many requests as are due within it (instead of num)
  // One share of a crawl spread over processes (crawl-mpi): of the `num`
  // URLs (the same list everywhere, from the same seed), fetch only
  // [shard_begin, shard_end); -1: to the last.
  std::int64_t shard_begin = 0;
  std::int64_t shard_end = -1;
  // > 0: wait until now_us() reaches this before the clock starts (the
  // ranks of crawl-mpi start together).
  std::int64_t start_at_us = 0;
};

// One request's life as the client saw it. status 0: no HTTP answer.
struct RequestRecord {
  std::int64_t start_us = 0;
  std::int64_t end_us = 0;
  std::int64_t bytes = 0;
  int status = 0;
  int attempts = 0;
  std::int64_t intended_us = 0;  // open loop: when it was due (its send is start_us); 0: closed loop
  std::int64_t conn = 0;         // the connection of its last attempt (0: none answered)
  bool opened = false;           // opened for that attempt (ramp-up, reconnects)
  std::int64_t delay_us = -1;    // the delay the server gave its last answer (X-Delay-Us); -1: unknown
};

struct CrawlJob {
  std::string model;
  BaseUrl base;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;  // resolved before the clock starts
  std::string host_header;                                // "host:port"
  std::vector<std::string> targets;                       // "/add?name=...&delay=...&abcdefghij"
  std::size_t begin = 0, end = 0;                         // the URLs to fetch now: targets[begin, end)
  // Open loop: when request i is due (now_us() clock), set just before the
  // model runs; empty for the closed loop. A model never sends a request
  // before it is due, and sends it as soon after as a slot is free.
  std::vector<std::int64_t> due_us;
  int concurrency = 1;
  int loops = 1;
  int retries = 0;
  std::chrono::milliseconds timeout{0};  // per attempt
};

// The part of a job one event loop runs: URLs [begin, end) at `concurrency`.
struct LoopShare {
  std::size_t begin = 0;
  std::size_t end = 0;
  int concurrency = 1;
};

// Splits the job's URLs and the concurrency evenly over job.loops event loops and
// runs `loop` for each share on its own thread (a single loop runs on the
// calling thread). Rethrows the first exception a loop threw.
void run_event_loops(const CrawlJob& job, const std::function<void(const LoopShare&)>& loop);

inline bool open_loop(const CrawlJob& job) { return !job.due_us.empty(); }
// Blocks the calling thread until now_us() reaches `at_us` (the blocking
// models' way to wait for a request's time).
void sleep_until_us(std::int64_t at_us);

// The per-attempt timeout a config asks for (--timeout-ms, or the delay plus 10 s).
std::int64_t effective_timeout_ms(const CrawlConfig& c);

// Collects what the models report. Each index is written by exactly one
// request at a time, so records need no lock; only errors take one.
class Recorder {
 public:
  Recorder(std::size_t n, int retries) : records_(n), retry_(retries) {}

  // The first attempt of request i begins.
  void start(std::size_t i);
  // Attempt `attempt` (0-based) of request i ended with `r`. True: the model
  // should wait retry_backoff(attempt, i) and try again (the RetryPolicy of
  // both clients decides). False: the request is settled and recorded (any
  // status but 200 counts as a failure).
  bool settle(std::size_t i, const HttpResult& r, int attempt);

  // The model stopped early: every request of [begin, end) not settled yet
  // fails with `why`. Call only once the model's threads have all ended.
  void fail_unsettled(const std::string& why, std::size_t begin = 0, std::size_t end = SIZE_MAX);

  std::size_t completed() const { return completed_.load(std::memory_order_relaxed); }
  const std::vector<RequestRecord>& records() const { return records_; }
  std::map<std::string, std::int64_t> errors() const;

 private:
  void count_error(std::string error);
  void finish(std::size_t i, int status, std::int64_t bytes);
  void fail(std::size_t i, std::string_view error);
  std::vector<RequestRecord> records_;
  std::atomic<std::size_t> completed_{0};
  RetryPolicy retry_;
  mutable std::mutex mu_;
  std::map<std::string, std::int64_t> errors_;  // message -> requests that failed with it
};

// Request i with retries over a blocking client (the serial and thread models).
void fetch_blocking(SyncClient& client, const CrawlJob& job, Recorder& rec, std::size_t i);

// A model is one function: run the job, report every request to the recorder.
using ModelFn = void (*)(const CrawlJob&, Recorder&);

// One row of the model table (crawlers/models.cpp), the one list of models:
// `crawl --list-models` prints it and every script asks it.
struct ModelEntry {
  const char* name;
  ModelFn fn;
  const char* mirrors;          // what it stands for in the book
  const char* bounded_by;       // what keeps it at --concurrency requests in flight
  bool one_in_flight = false;   // serial: one request at a time whatever --concurrency says
  bool event_loops = false;     // runs on event loops, so --loops can give it more than one
  void (*prepare)() = nullptr;  // one-time library set-up, run before the clock starts
};
const std::vector<ModelEntry>& models();              // in the book's order
const ModelEntry* find_model(std::string_view name);  // nullptr: no such model
nlohmann::json models_json();  // every row with its properties, for --list-models --json

// What a run cost, from the kernel's accounting of the crawl process
// (getrusage, /proc/self/status), taken around the model's run.
struct RunCost {
  double cpu_user_seconds = 0;
  double cpu_system_seconds = 0;
  std::int64_t rss_before_kib = 0;        // resident memory just before the run
  std::int64_t peak_rss_kib = 0;          // the process's peak resident memory (VmHWM)
  std::int64_t voluntary_switches = 0;    // waits: a thread gave up the CPU
  std::int64_t involuntary_switches = 0;  // preemptions
  std::int64_t peak_threads = 0;          // the calling thread and the model's, sampled every 5 ms
  std::int64_t connections_opened = 0;
};

struct CrawlSummary {
  CrawlConfig config;
  std::int64_t bytes = 0;
  std::int64_t failed = 0;
  std::int64_t retries = 0;  // extra attempts made, over all requests
  double seconds = 0;
  std::map<std::string, std::int64_t> errors;
  std::vector<RequestRecord> records;
  // Set when the model ran out of something (threads, memory) and stopped:
  // why. The requests it never finished are failed with this reason.
  std::string stopped_early;
  RunCost cost;
  // Open loop: the server's mean number of requests in flight over the run,
  // from its /stats (held_us before and after); -1 if it could not be read.
  double server_mean_in_flight = -1;
  // records[i] is URL first_index + i (a shard's records start at its first).
  std::size_t first_index = 0;
  std::int64_t started_us = 0, ended_us = 0;  // now_us() when the clock started and stopped
};

// Throws std::invalid_argument, saying why, if the config cannot run.
void check_crawl_config(const CrawlConfig& config);

// Builds the job, runs the model, times it. Throws std::invalid_argument on a bad config.
CrawlSummary run_crawl(const CrawlConfig& config);

// Exact percentiles of every value (all the records are in memory: no
// histogram, no estimate); count 0 when there are none.
struct Percentiles {
  std::size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  std::vector<std::pair<double, double>> spectrum;  // (quantile, value) from 0 (min) to 1 (max)
};
Percentiles percentiles(std::vector<double> values);

// When each request of an open-loop crawl is due, as offsets from the first
// (µs): every 1/rate, or Poisson gaps drawn from the seed; `num` of them, or
// as many as fall within duration_s when that is set.
std::vector<std::int64_t> arrival_schedule(const CrawlConfig& c);

// Client timeline: model,index,start,end,bytes,status,attempts,conn,opened,delay,intended
// (and rank, when `ranks` gives each record's).
std::string timeline_csv(const CrawlSummary& s, const std::vector<int>* ranks = nullptr);
nlohmann::json to_json(const CrawlSummary& s);

// The ideal time of a crawl whose requests take `delays_us` in index order:
// what a perfect semaphore of `slots` would take, each slot starting the next
// request the moment its last one ends, nothing lost in between. A scheduler
// that cannot know a delay before its request is answered can do no better.
// With one fixed delay it is the book's ceil(num / slots) * delay.
// In an open loop request i also cannot start before `due_us[i]` (offsets
// from the first, in order), so the ideal is when the last one could end.
double ideal_seconds(const std::vector<std::int64_t>& delays_us, int slots,
                     const std::vector<std::int64_t>& due_us = {});
// The same for the batched pattern: each batch of `slots` lasts as long as
// its longest delay.
double batched_ideal_seconds(const std::vector<std::int64_t>& delays_us, int slots);

}  // namespace testbed
