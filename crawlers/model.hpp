#pragma once
// What a concurrency model sees, and all its author needs to read: the job
// (the URLs to fetch and how) and the recorder each request reports to. Both
// cover exactly the URLs this model runs, numbered 0..size()-1: a shard of
// crawl-mpi or a batch of --batched arrives as a job of its own, so a model
// fetches every URL it is given and cannot reach any other. The front end
// (crawl.hpp) builds them; a model is one file of crawlers/models/ and one
// row of the table in crawlers/models.cpp.
//
// To write one, read in this order: this header; models/serial.cpp (the
// shortest: a loop over the job); models/coroutine.cpp (an event-loop model
// with run_event_loops and the async client of client/http_client.hpp); the
// table in models.cpp, where its row goes.
#include "client/sync_client.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace testbed {

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
  std::int64_t work_us = 0;      // --work: the CPU time of the work done on its answer
  std::int64_t connect_us = 0;   // the time its last attempt spent opening a connection; 0: reused
  std::int64_t tls_us = 0;       // https: the time that connection's TLS handshake took; 0: reused or plain
  bool resumed = false;          // that handshake resumed a session
  std::uint32_t origin = 0;      // --urls: its host's place among the list's (in order of first appearance)
  std::uint16_t worker = 0;      // the model's thread that handled its answer (set_worker; 0: the only one)
};

// Where requests go: one scheme, host and port.
struct Origin {
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;  // resolved before the clock starts
  std::string host_header;                                // "host:port"
  TlsTarget tls;  // https: the client's TLS context and the host to check (plain HTTP: empty)
};

struct CrawlJob {
  // Every origin the job's URLs go to: one for the delay server's URLs,
  // those of the list for crawl --urls. A connection belongs to one origin.
  std::span<const Origin> origins;
  // --urls: targets[i] goes to origins[origin_of[i]]; empty: all to origins[0].
  std::span<const std::uint32_t> origin_of;
  std::span<const std::string> targets;  // "/add?name=...&delay=...&abcdefghij": every URL to fetch
  // Open loop: when targets[i] is due (now_us() clock); empty for the closed
  // loop. A model never sends a request before it is due, and sends it as
  // soon after as a slot is free.
  std::span<const std::int64_t> due_us;
  int concurrency = 1;
  int loops = 1;
  int threads = 1;  // a pool model (mn): the OS threads its tasks run on
  int retries = 0;
  std::chrono::milliseconds timeout{0};  // per attempt
  // The connection policy (crawl --connection): a connection carries this
  // many requests, the last saying "Connection: close"; 0: keep-alive.
  std::int64_t reuse = 0;
  // coroutine (crawl --spawn-all): a task for every URL at once, bounded by
  // a pool of `concurrency` connections; its record starts with the task.
  bool spawn_all = false;
  // --per-host: at most this many connections to one origin at once (so as
  // many requests in flight to it); 0: no cap but the concurrency.
  int per_host = 0;
  // Several origins: how many connections, beyond one a slot, may wait idle
  // for their origins (at most the concurrency, within the open-files limit).
  std::int64_t idle_extra = 0;

  std::size_t size() const { return targets.size(); }
  std::uint32_t origin_index(std::size_t i) const { return origin_of.empty() ? 0 : origin_of[i]; }
  const Origin& origin(std::size_t i) const { return origins[origin_index(i)]; }
  bool open_loop() const { return !due_us.empty(); }
  // URLs [begin, end) of this job as a job of their own (a batch).
  CrawlJob part(std::size_t begin, std::size_t end) const;
};

// The part of a job one event loop runs: URLs [begin, end) at `concurrency`.
struct LoopShare {
  std::size_t begin = 0;
  std::size_t end = 0;
  int concurrency = 1;
  int per_host = 0;             // its share of --per-host (at least 1 when there is one; 0: none)
  std::int64_t idle_extra = 0;  // its share of the job's idle_extra
};

// Splits the job's URLs, the concurrency and the per-host cap evenly over job.loops event loops and
// runs `loop` for each share on its own thread (a single loop runs on the
// calling thread). Rethrows the first exception a loop threw.
void run_event_loops(const CrawlJob& job, const std::function<void(const LoopShare&)>& loop);

// The calling thread is the model's `k`-th (from 0) of those that handle
// answers: a loop's, a worker's, a pool thread's. Each record says which
// handled its answer (and so did its --work); a thread that never says is 0.
// run_event_loops says it for each loop.
void set_worker(int k);

// Blocks the calling thread until now_us() reaches `at_us` (the blocking
// models' way to wait for a request's time).
void sleep_until_us(std::int64_t at_us);

class RecordLog;  // the front end's: owns the records (crawl.hpp)

// Where a model reports each request of its job. Each index is written by
// exactly one request at a time, so records need no lock; only errors take one.
class Recorder {
 public:
  std::size_t size() const { return size_; }
  // The first attempt of request i begins.
  void start(std::size_t i);
  // Attempt `attempt` (0-based) of request i ended with `r`. True: the
  // request is not done; wait retry_backoff(attempt, i) and try again (the
  // RetryPolicy of both clients decides). False: it is settled and recorded
  // (any status but 200 counts as a failure). With --work, an answer's work
  // is done here, on the calling thread (the one that handled the answer),
  // before the request counts as done.
  bool try_again(std::size_t i, const HttpResult& r, int attempt);

 private:
  friend class RecordLog;
  Recorder(RecordLog* log, RequestRecord* records, std::size_t size)
      : log_(log), records_(records), size_(size) {}
  void finish(std::size_t i, int status, std::int64_t bytes);
  void fail(std::size_t i, std::string_view error);

  RecordLog* log_;
  RequestRecord* records_;
  std::size_t size_;
};

// Request i with retries over a blocking client (the serial and thread
// models). `started`: its clock already runs (it waited for the client).
void fetch_blocking(SyncClient& client, const CrawlJob& job, Recorder& rec, std::size_t i,
                    bool started = false);

// A blocking client for the job's origin `o` (its addresses, Host, TLS,
// timeout and connection policy).
std::unique_ptr<SyncClient> make_client(const CrawlJob& job, std::uint32_t o);

// The blocking clients of one thread of a blocking model, one per origin,
// each opened when a request first goes there (requests.Session's pool for
// one thread).
class SyncClients {
 public:
  explicit SyncClients(const CrawlJob& job) : job_(job), clients_(job.origins.size()) {}
  SyncClient& for_origin(std::uint32_t o);

 private:
  const CrawlJob& job_;
  std::vector<std::unique_ptr<SyncClient>> clients_;
};

// A model is one function: fetch every URL of the job, report each to the recorder.
using ModelFn = void (*)(const CrawlJob&, Recorder&);

// One row of the model table (crawlers/models.cpp), the one list of models:
// `crawl --list-models` prints it and every script asks it.
struct ModelEntry {
  const char* name;
  ModelFn fn;
  const char* mirrors;           // what it stands for in the book
  const char* bounded_by;        // what keeps it at --concurrency requests in flight
  bool one_in_flight = false;    // serial: one request at a time whatever --concurrency says
  bool event_loops = false;      // runs on event loops, so --loops can give it more than one
  void (*prepare)() = nullptr;   // one-time library set-up, run before the clock starts
  bool tells_resumption = true;  // https: it can say whether a handshake resumed (libcurl cannot)
  bool pool = false;             // its tasks run on a pool of --threads OS threads (mn)
};
const std::vector<ModelEntry>& models();              // in the book's order
const ModelEntry* find_model(std::string_view name);  // nullptr: no such model

}  // namespace testbed
