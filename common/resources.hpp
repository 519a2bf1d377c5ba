#pragma once
// What a process spends over time, taken from its own counters (crawl
// --resources, delayserver --resources): one row every 10 ms, written as CSV
// whose times line up with the timelines (Unix seconds, microseconds).
//
// Taking a row must not change what it measures: on these machines a thread
// just woken pays ~10 µs for each read of /proc, and some counters cost in
// proportion to the process (getrusage walks every thread, 3 ms at 10,000;
// counting /proc/self/fd walks every descriptor, 2 ms at 10,000). So each of
// the three reads is taken only while what it has cost so far is within its
// share of a core since the first row: 0.25% for RSS and threads, 0.35% for
// CPU and 0.15% for descriptors, 0.75% in all whatever the run (and the
// row's clock reads beside them, well under 1%). A read that
// was not taken leaves its cells empty; the next row with CPU covers the time
// since the last that had it. The first row has no CPU: it is where it starts.
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/resource.h>

namespace testbed {

struct ResourceRow {
  std::int64_t time_us = 0;                     // Unix µs
  std::int64_t rss_kib = -1;                    // -1: not read in this row (or /proc cannot be)
  std::int64_t threads = -1;                    // the process's, the sampler's own left out; -1 likewise
  std::int64_t fds = -1;                        // open descriptors; -1: not counted in this row
  bool has_cpu = false;                         // CPU and switches were taken in this row
  double user_pct = 0, system_pct = 0;          // % of one core since the last row that had them
  std::int64_t voluntary = 0, involuntary = 0;  // context switches, likewise
  // From the owner's own counters, free to read (-1: it keeps none): the
  // connections it opened (a crawl's connects in the run, a server's accepts)
  // and those open now (the server's).
  std::int64_t connections_opened = -1, connections_open = -1;
};

class ResourceProbe {
 public:
  static constexpr std::int64_t kEveryUs = 10'000;
  ResourceProbe();
  ~ResourceProbe();
  ResourceProbe(const ResourceProbe&) = delete;
  ResourceProbe& operator=(const ResourceProbe&) = delete;

  // A row for now, with the owner's connection counts. Called by one
  // thread, the sampler's.
  ResourceRow take(std::int64_t connections_opened = -1, std::int64_t connections_open = -1);
  // What taking rows has cost the calling thread so far, CPU seconds.
  double own_cpu_seconds() const { return own_cpu_s_; }
  // What could not be read ("" if all could), for its owner to say once.
  const std::string& problem() const { return problem_; }

 private:
  // A read's share of a core, and what it has cost so far.
  struct Budget {
    double share;
    double spent_s = 0;
  };
  void read_memory_and_threads(ResourceRow& row);
  void take_cpu(ResourceRow& row, double mono_s);
  void count_fds(ResourceRow& row);
  // /proc/self/statm, /proc/self/task and /proc/self/fd, kept open: a read
  // from 0 (or an fstat) is what they hold now
  int statm_fd_ = -1, task_fd_ = -1, fd_dir_ = -1;
  std::int64_t page_kib_ = 4;
  rusage last_{};
  double last_mono_s_ = 0;    // of the last getrusage; 0: none yet
  double first_mono_s_ = -1;  // the first row's time
  Budget memory_{0.0025}, cpu_{0.0035}, fds_{0.0015};
  double own_cpu_s_ = 0;
  std::string problem_;
};

// A run's rows and what taking them cost.
struct ResourceSeries {
  std::vector<ResourceRow> rows;
  // % of one core over the rows' span: what taking the rows cost, and the
  // sampling thread in all (its wake-ups too, which it has with or without rows)
  double rows_cpu_pct = 0;
  double sampler_cpu_pct = 0;
  std::string problem;  // what could not be read, or ""
};

// The CSV: a header row, then one row each.
const char* resource_csv_header();
void append_resource_csv(std::string& out, const ResourceRow& r);

// A thread that takes a row every 10 ms and appends the rows to a CSV file
// every second (delayserver --resources: a server runs until stopped, and a
// file written as it goes keeps what it measured if it is killed).
class ResourceRecorder {
 public:
  // What the owner counts of its connections: opened so far, open now.
  using Connections = std::function<std::pair<std::int64_t, std::int64_t>()>;
  // Opens `path` (truncated, with the header) and starts; throws
  // std::runtime_error naming the file if it cannot be written. A counter
  // that cannot be read is said once on stderr, as "PROGRAM: resources: ...".
  ResourceRecorder(const std::string& path, const std::string& program, Connections connections = {});
  // Stops, writes the last rows and closes.
  ~ResourceRecorder();
  ResourceRecorder(const ResourceRecorder&) = delete;
  ResourceRecorder& operator=(const ResourceRecorder&) = delete;

  // Stops and says what was written: rows, their cost, any problem. Once.
  std::string stop();

 private:
  void run();
  void flush(std::vector<ResourceRow>& rows);
  std::string path_, program_;
  Connections connections_;
  std::FILE* file_ = nullptr;
  std::string write_error_;
  std::size_t rows_written_ = 0;
  double rows_cpu_s_ = 0, first_s_ = 0, last_s_ = 0;  // the rows' cost and span
  std::string problem_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace testbed
