#pragma once
// What a program sees of a crawl (crawl, crawl-mpi, the tests), in the order
// the data flows:
//   1. the settings (CrawlConfig), checked by check_crawl_config;
//   2. measure_crawl: builds the job, runs the model while measuring it, and
//      returns what was measured (CrawlRun: the records, the errors, the cost);
//   3. summarize: one pure function from a CrawlRun to every derived number
//      (CrawlSummary). crawl, crawl-mpi's merge and `crawl summarize` of a
//      timeline all call it, so each figure has one definition.
// Formatting (JSON, CSV, the text line) is output.hpp's; what a model sees is
// model.hpp's.
#include "client/http_client.hpp"
#include "common/delay_dist.hpp"
#include "common/rate_profile.hpp"
#include "common/resources.hpp"
#include "common/work.hpp"
#include "crawlers/model.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace testbed {

// How an open-loop crawl's requests are spaced: exactly 1/rate apart, or as a
// Poisson process of that rate (exponential gaps, drawn from --seed).
enum class Arrivals { constant, poisson };

// The most requests one run holds: each takes about 160 bytes (its URL, its
// record, its due time) before the first is sent.
constexpr std::int64_t kMaxRequests = 20'000'000;
// The most OS threads a pool model (mn) takes for its tasks.
constexpr int kMaxPoolThreads = 1024;
// The lowest --rate taken (one request in 1000 s): anything lower is a typo.
constexpr double kMinRate = 0.001;

// --num when --urls is given and --num is not: once through the list.
constexpr std::int64_t kNumFromList = -1;

struct CrawlConfig {
  std::string model = "serial";
  std::string url = "http://127.0.0.1:8080";
  std::string name;  // empty: the model's name
  // --urls: fetch this file's URLs as they are (http and https, any hosts), in
  // order, going round the list again while --num asks for more; instead of
  // the delay server's /add URLs made from url, name and delay.
  std::string urls_file;
  std::int64_t num = 500;       // kNumFromList (--urls only): the list's length
  std::int64_t delay_ms = 100;  // the median when delay_dist varies it
  DelayDist delay_dist;         // sent in every URL (fixed: nothing sent, the book's URLs)
  int concurrency = 100;
  // Fire `concurrency` requests, wait for all of them, fire the next ones
  // (the book's AsyncBatcher), instead of keeping every slot busy.
  bool batched = false;
  // coroutine: spawn a task for every URL at once, bounded only by a pool of
  // `concurrency` connections (the later editions' TaskGroup over aiohttp's
  // TCPConnector(limit=C)); a request's clock starts when its task does, so
  // its wait for a connection counts in its latency.
  bool spawn_all = false;
  bool progress = false;        // print done/total on stderr while running
  bool resources = false;       // --resources: the run's ResourceRows, every 10 ms
  std::uint64_t seed = 0;       // for the random URL tails; 0 picks one
  int loops = 1;                // event-loop models (the table's event_loops): loops, one thread each
  // A pool model (the table's pool: mn): the OS threads its tasks run on;
  // 0: one a core (filled in when it runs; other models leave it 0).
  int threads = 0;
  int retries = 0;              // extra attempts for a failed or timed-out request
  std::int64_t timeout_ms = 0;  // per attempt; 0: the delay plus 10 s
  // CPU work on every answer (common/work.hpp), on the thread that handled
  // it, before the request counts as done; the same for every model.
  WorkSpec work;
  // The connection policy (--connection): a connection carries this many
  // requests, then is closed; 0: keep-alive (the default), 1: close.
  std::int64_t reuse = 0;
  // https: --cacert, --insecure, --tls-resume.
  TlsClientOptions tls;
  // --per-host: at most this many connections to one host (scheme, name and
  // port) at once, and so as many requests in flight to it; 0: no cap but
  // --concurrency.
  int per_host = 0;
  // Open loop: requests are due at `rate` per second whatever the answers do
  // (concurrency stays the cap on those in flight; a due request waits for a
  // slot, and that wait is part of its latency). 0: closed loop, the book's.
  double rate = 0;
  Arrivals arrivals = Arrivals::constant;
  double duration_s = 0;  // > 0: as many requests as are due within it (instead of num)
  // --rate-profile: the rate changes over the run as this says (rate is then
  // its mean, set by apply_rate_profile); none: `rate` throughout.
  RateProfile profile;
  // One share of a crawl spread over processes (crawl-mpi): of the `num`
  // URLs (the same list everywhere, from the same seed), fetch only
  // [shard_begin, shard_end); -1: to the last. With a stride, only every
  // stride-th of them from shard_begin: an open loop's one schedule dealt
  // out, request i to rank i mod R.
  std::int64_t shard_begin = 0;
  std::int64_t shard_end = -1;
  std::int64_t shard_stride = 1;
  // > 0: wait until now_us() reaches this before the clock starts (the
  // ranks of crawl-mpi start together); an open loop's due times count
  // from it, the same instant on every rank.
  std::int64_t start_at_us = 0;
};

// Throws std::invalid_argument, saying why, if the config cannot run.
void check_crawl_config(const CrawlConfig& config);

// A --urls file: its origins (each scheme, host and port once, in the order
// they first appear) and, line by line, each URL's target and origin.
struct UrlList {
  std::vector<BaseUrl> origins;
  std::vector<std::string> targets;      // "/path?query"
  std::vector<std::uint32_t> origin_of;  // targets[i] goes to origins[origin_of[i]]
};
// One http:// or https:// URL a line; blank lines and lines starting with #
// are skipped. Throws std::invalid_argument naming the file and the line of
// the first bad URL, or saying that the file holds none.
UrlList read_url_list(const std::string& path);

// --rate-profile: the profile, and `rate` its mean over the run (over
// --duration, or the profile's own length without one), so that everything
// that asks whether a crawl is an open loop finds one.
void apply_rate_profile(CrawlConfig& c, RateProfile profile);

// The per-attempt timeout a config asks for (--timeout-ms, or the delay plus 10 s).
std::int64_t effective_timeout_ms(const CrawlConfig& c);

// When each request of an open-loop crawl is due, as offsets from the first
// (µs): every 1/rate, or Poisson gaps drawn from the seed; `num` of them, or
// as many as fall within duration_s when that is set.
std::vector<std::int64_t> arrival_schedule(const CrawlConfig& c);

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

// What was measured: the records and what only the running process could see.
struct CrawlRun {
  CrawlConfig config;                          // as run: the seed and the name filled in
  std::vector<RequestRecord> records;          // records[i] is URL first_index + i
  std::size_t first_index = 0;                 // a shard's records start at its first
  std::size_t index_stride = 1;                // and are every stride-th URL from it
  std::map<std::string, std::int64_t> errors;  // message -> requests that failed with it
  // Set when the model ran out of something (threads, memory) and stopped:
  // why. The requests it never finished are failed with this reason.
  std::string stopped_early;
  double seconds = 0;  // wall time of the whole run
  // How `seconds` was taken: "clock", around the model's run; "ranks"
  // (crawl-mpi), the first rank's start to the last rank's end in rank 0's
  // clock; "timeline" (a timeline summarized alone), first start to last end.
  std::string seconds_from = "clock";
  std::int64_t started_us = 0, ended_us = 0;  // now_us() when the clock started and stopped
  std::optional<RunCost> cost;                // absent when summarizing a timeline alone
  std::optional<ResourceSeries> resources;    // --resources: what the process spent over time
  // The processes that shared the crawl (crawl-mpi's ranks), each with its
  // share of the slots: a model with one request in flight had this many.
  int processes = 1;
  // Open loop: the server's mean number of requests in flight over the run,
  // from its /stats (held_us before and after); -1 if it could not be read.
  double server_mean_in_flight = -1;
};

// The records of one run and the errors its requests met. The front end
// hands a model a Recorder over its part; the records stay here.
class RecordLog {
 public:
  RecordLog(std::size_t n, int retries) : records_(n), retry_(retries) {}
  // --work: done on every answer; work that takes longer than `timeout_us`
  // fails its request as a timeout. `work` must outlive the log. An uneven
  // spin: `spin_us[i]` is record i's (drawn before the clock starts).
  void set_work(const Work* work, std::int64_t timeout_us, std::vector<std::int64_t> spin_us = {}) {
    work_ = work;
    work_timeout_us_ = timeout_us;
    spin_us_ = std::move(spin_us);
  }
  // A view of records [begin, end), numbered from 0, for one model run.
  Recorder recorder(std::size_t begin, std::size_t end) {
    return Recorder(this, records_.data() + begin, end - begin);
  }
  // The model stopped early: every request not settled yet fails with `why`.
  // Call only once the model's threads have all ended.
  void fail_unsettled(const std::string& why);
  std::size_t size() const { return records_.size(); }
  std::size_t completed() const { return completed_.load(std::memory_order_relaxed); }
  std::vector<RequestRecord>& records() { return records_; }
  std::map<std::string, std::int64_t> errors() const;

 private:
  friend class Recorder;
  void count_error(std::string error);

  std::vector<RequestRecord> records_;
  std::atomic<std::size_t> completed_{0};
  const Work* work_ = nullptr;
  std::int64_t work_timeout_us_ = 0;
  std::vector<std::int64_t> spin_us_;  // an uneven spin's, by record
  RetryPolicy retry_;
  mutable std::mutex mu_;
  std::map<std::string, std::int64_t> errors_;
};

// Every URL a crawl of these settings fetches (--num from --seed, with
// --name, --delay, --delay-dist, --url), whole ("http://host:port/add?..."),
// for a client written elsewhere to fetch the very same (crawl
// --print-urls; the Python models). Throws std::invalid_argument.
std::vector<std::string> crawl_urls(CrawlConfig cfg);

// Builds the job, runs the model, measures it. Throws std::invalid_argument
// on a bad config (and what resolving the URL throws).
CrawlRun measure_crawl(const CrawlConfig& config);

// Exact percentiles of every value (all the records are in memory: no
// histogram, no estimate); count 0 when there are none.
struct Percentiles {
  std::size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  std::vector<std::pair<double, double>> spectrum;  // (quantile, value) from 0 (min) to 1 (max)
};
Percentiles percentiles(std::vector<double> values);

// An open loop's figures: latency from when a request was due (what a user of
// the service sees) against service time from its send (what a closed-loop
// tool reports), how late the sends were, and Little's law.
struct OpenLoopFigures {
  std::optional<double> achieved_rate_per_s;  // sends a second, first to last
  std::int64_t late_over_1ms = 0;
  bool kept_up = false;  // at most 1% of the requests sent more than 1 ms after they were due
  Percentiles send_lag_ms, latency_from_due_ms, service_ms;
  double littles_law_in_flight = 0;      // rate x mean delay: in flight to carry the rate
  std::optional<double> capacity_per_s;  // the most `concurrency` slots carry with these delays
  // --rate-profile: the run in windows of `window_ms` (100 ms; wider for a
  // run of over 10,000 of them), from the first request's due time.
  struct Window {
    double start_s = 0;          // from the first due time
    std::int64_t due = 0;        // requests due in it
    Percentiles from_due_ms;     // the latency from due of those answered
    std::int64_t in_flight = 0;  // at its end: sent, not yet ended
    std::int64_t backlog = 0;    // at its end: due, not yet sent
  };
  double window_ms = 0;
  std::vector<Window> over_time;
  std::int64_t peak_backlog = 0;  // the most due and not yet sent at a window's end
  // A spike: how long after the peak ends until the p99 latency from due is
  // back within 10% of the delay (and stays there); none if it never is
  // within the run. `recovery_from` says which, or why there is none.
  std::optional<double> recovery_s;
  std::string recovery_from;
};

// --work: what the work cost and the bound it sets.
struct WorkFigures {
  std::string spec;                   // as given ("spin:us=250"; "from the timeline" when unknown)
  double cpu_seconds = 0;             // every answer's work, summed
  Percentiles per_request_us;         // each answered request's
  int threads = 1;                    // those the model can do it on, at most the cores (per process)
  double bound_seconds = 0;           // cpu_seconds spread over `threads`: no run can be shorter
  // Each of the model's threads that handled answers (RequestRecord::worker,
  // summed over processes): how many, and the work it did on them. Static
  // shards leave some with more; a pool whose idle threads take any ready
  // task evens them out.
  struct Worker {
    int worker = 0;
    std::int64_t answers = 0;
    double cpu_seconds = 0;
  };
  std::vector<Worker> by_worker;
  double busiest_share = 0;  // the busiest worker's cpu_seconds over all of them (1/threads: even)
};

// Every derived number of a run, computed once, here.
struct CrawlSummary {
  CrawlRun run;
  int concurrency = 0;  // in effect: one a process for a model with one request in flight (serial)
  std::int64_t bytes = 0, failed = 0;
  std::int64_t answered = 0;  // requests with a 200 answer
  std::int64_t retries = 0;   // extra attempts made, over all requests
  std::int64_t timeout_ms = 0;
  // The ideal time (see ideal_seconds) of these requests' delays, from the
  // server's answers (X-Delay-Us) or, where a request has none, the median
  // asked; with --work, the larger of that and the work's bound. --urls asks
  // for no delay: absent unless every request's answer said its delay.
  std::optional<double> ideal_seconds;
  std::string ideal_from = "server";
  // ideal / seconds; none without an ideal, or when no request was answered (failures that end at
  // once would make a run of refusals look faster than ideal).
  std::optional<double> efficiency;
  std::optional<double> batched_ideal_seconds;
  Percentiles delay_given_ms, latency_ms;
  Percentiles overhead_us;  // latency less the delay the server gave: what the model added
  Percentiles connect_us;   // of the requests that opened their connection: the time it took
  Percentiles tls_us;       // https: of those, the time their TLS handshake took
  // https: how many of those handshakes resumed a session; -1: the model
  // cannot tell (the table's tells_resumption).
  std::int64_t tls_resumed = 0;
  std::optional<OpenLoopFigures> open_loop;
  std::optional<double> cpu_ms_per_1k;  // CPU (user + system) per 1000 requests of --num
  // The resident memory the run added (peak less before), per slot of the
  // concurrency in effect: what a waiting request costs, at a large C.
  std::optional<double> rss_kib_per_slot;
  std::optional<WorkFigures> work;      // with --work, or a timeline that holds some
};

// The one derivation: records + config + measured cost in, every figure out.
CrawlSummary summarize(CrawlRun run);

// measure_crawl, then summarize: what crawl does.
inline CrawlSummary run_crawl(const CrawlConfig& config) { return summarize(measure_crawl(config)); }

// The ideal time of a crawl whose requests take `delays_us` in index order:
// what a perfect semaphore of `slots` would take, each slot starting the next
// request the moment its last one ends, nothing lost in between. A scheduler
// that cannot know a delay before its request is answered can do no better.
// With one fixed delay it is the book's ceil(num / slots) * delay.
// In an open loop request i also cannot start before `due_us[i]` (offsets
// from the first, in order), so the ideal is when the last one could end.
// With --per-host (`per_host` > 0) request i also takes one of its host's
// `per_host` slots (`hosts[i]`: its host's number), the earliest free.
double ideal_seconds(const std::vector<std::int64_t>& delays_us, int slots,
                     const std::vector<std::int64_t>& due_us = {},
                     const std::vector<std::uint32_t>& hosts = {}, int per_host = 0);
// The same for the batched pattern: each batch of `slots` lasts as long as
// its longest delay.
double batched_ideal_seconds(const std::vector<std::int64_t>& delays_us, int slots);

}  // namespace testbed
