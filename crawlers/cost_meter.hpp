#pragma once
// What a run costs the crawl process, from the kernel's accounting: CPU,
// context switches, resident memory, threads (sampled), connections opened.
// The front end's: it brackets the model's run with it.
#include "common/resources.hpp"
#include "crawlers/crawl.hpp"

#include <sys/resource.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace testbed {

class CostMeter {
 public:
  // Notes the memory, threads and connections before the run. With
  // `resources`, the sampler also takes a ResourceRow every 10 ms.
  CostMeter(bool progress, const std::string& model, const RecordLog& log, bool resources = false);
  ~CostMeter();
  CostMeter(const CostMeter&) = delete;
  CostMeter& operator=(const CostMeter&) = delete;

  // The run starts now: CPU and switches count from here, and one thread
  // starts beside the run: it samples the process's thread count every 5 ms
  // (the kernel keeps no peak of it; with `resources`, every 10 ms, in a
  // row) and, with `progress`, prints "[model] done/total" on stderr each
  // second on a terminal or every 5 s in a log. Returns once the sampler has
  // started (and taken its first row: the series starts before the run).
  void start();
  // The run has ended: what it cost. The sampler's own share (its CPU and
  // switches) is left out, and so are threads the process had before.
  RunCost stop();
  // After stop(): the rows taken (none without `resources`).
  ResourceSeries take_resources() { return std::move(series_); }

 private:
  void sample();
  const ResourceRow& take_row(ResourceProbe& probe);
  std::int64_t stop_sampler();

  const bool progress_;
  const std::string model_;
  const RecordLog& log_;
  RunCost cost_;
  std::int64_t connections_before_ = 0;
  std::int64_t other_threads_ = 0;  // the process's threads but the calling one, before the run
  rusage start_{};
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool sampling_ = false;  // the sampler has started (and taken its first row)
  std::int64_t peak_threads_ = 1;
  rusage own_{};  // the sampler's own usage, once it has ended
  const bool resources_;
  ResourceSeries series_;
  std::thread thread_;
};

}  // namespace testbed
