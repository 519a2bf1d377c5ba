#include "crawlers/cost_meter.hpp"

#include "client/http_client.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include <fcntl.h>
#include <unistd.h>

namespace testbed {
namespace {

// A value of /proc/self/status ("Threads:", "VmRSS:", ...), 0 if missing:
// one open and read, no stdio, as the sampler reads it 200 times a second.
std::int64_t proc_status(const char* key) {
  int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* at = std::strstr(buf, key);
  return at ? std::strtoll(at + std::strlen(key), nullptr, 10) : 0;
}

double cpu_seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

}  // namespace

CostMeter::CostMeter(bool progress, const std::string& model, const RecordLog& log, bool resources)
    : progress_(progress), model_(model), log_(log), resources_(resources) {
  cost_.rss_before_kib = proc_status("VmRSS:");
  connections_before_ = connections_opened();
  other_threads_ = proc_status("Threads:") - 1;
}

CostMeter::~CostMeter() { stop_sampler(); }

void CostMeter::sample() {
  const bool progress = progress_;
  const std::string& model = model_;
  const RecordLog& log = log_;
  const std::size_t total = log.size();
  const bool tty = isatty(2);
  const char* lead = tty ? "\r" : "";
  const char* tail = tty ? "" : "\n";
  const auto every = std::chrono::seconds(tty ? 1 : 5);
  auto next_print = std::chrono::steady_clock::now() + every;
  std::optional<ResourceProbe> probe;
  if (resources_) {
    probe.emplace();
    series_.rows.reserve(4096);
    take_row(*probe);
    if (!probe->problem().empty())  // said once; the run goes on without those cells
      std::fprintf(stderr, "crawl: resources: %s (those cells stay empty)\n", probe->problem().c_str());
  }
  {
    std::lock_guard lock(mu_);
    sampling_ = true;  // start() waits for this: the first row is before the first request
  }
  cv_.notify_all();
  // With rows, one every 10 ms, whose thread count is the peak's sample.
  const auto tick = std::chrono::microseconds(probe ? ResourceProbe::kEveryUs : ResourceProbe::kEveryUs / 2);
  auto next = std::chrono::steady_clock::now() + tick;
  std::unique_lock lock(mu_);
  // Behind (a busy machine): the next tick is from now, no burst to catch up.
  while (!cv_.wait_until(lock, next, [this] { return done_; })) {
    const std::int64_t threads = probe ? take_row(*probe).threads : proc_status("Threads:") - 1;
    peak_threads_ = std::max(peak_threads_, threads - other_threads_);
    if (progress && std::chrono::steady_clock::now() >= next_print) {
      std::fprintf(stderr, "%s[%s] %zu/%zu requests%s", lead, model.c_str(), log.completed(), total, tail);
      next_print += every;
    }
    next = std::max(next + tick, std::chrono::steady_clock::now());
  }
  if (progress)
    std::fprintf(stderr, "%s[%s] %zu/%zu requests\n", lead, model.c_str(), log.completed(), total);
  if (probe) {
    take_row(*probe);  // the run's end
    series_.problem = probe->problem();
  }
  getrusage(RUSAGE_THREAD, &own_);
  if (probe && series_.rows.size() > 1) {
    const double span = static_cast<double>(series_.rows.back().time_us - series_.rows.front().time_us) / 1e6;
    series_.rows_cpu_pct = probe->own_cpu_seconds() / span * 100;
    series_.sampler_cpu_pct = (cpu_seconds(own_.ru_utime) + cpu_seconds(own_.ru_stime)) / span * 100;
  }
}

// A row, with the connections the crawl has opened since the run began.
const ResourceRow& CostMeter::take_row(ResourceProbe& probe) {
  return series_.rows.emplace_back(probe.take(connections_opened() - connections_before_));
}

std::int64_t CostMeter::stop_sampler() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  return peak_threads_;
}

// The sampler lives inside the window [start, end] that it is subtracted
// from: started after the first getrusage, ended before the second.
void CostMeter::start() {
  getrusage(RUSAGE_SELF, &start_);
  thread_ = std::thread([this] { sample(); });
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return sampling_; });
}

RunCost CostMeter::stop() {
  cost_.peak_threads = stop_sampler();
  rusage end{};
  getrusage(RUSAGE_SELF, &end);
  const rusage& m = own_;  // the sampler's own share is not the model's
  const rusage& s = start_;
  // The kernel splits a thread's and the process's time into user and system
  // separately, from samples: the thread's split can exceed the process's
  // share by a tick. No share of CPU is negative.
  cost_.cpu_user_seconds =
      std::max(0.0, cpu_seconds(end.ru_utime) - cpu_seconds(s.ru_utime) - cpu_seconds(m.ru_utime));
  cost_.cpu_system_seconds =
      std::max(0.0, cpu_seconds(end.ru_stime) - cpu_seconds(s.ru_stime) - cpu_seconds(m.ru_stime));
  cost_.peak_rss_kib = proc_status("VmHWM:");  // the kernel's high-water mark, as VmRSS before
  cost_.voluntary_switches = std::max<std::int64_t>(0, end.ru_nvcsw - s.ru_nvcsw - m.ru_nvcsw);
  cost_.involuntary_switches = std::max<std::int64_t>(0, end.ru_nivcsw - s.ru_nivcsw - m.ru_nivcsw);
  cost_.connections_opened = connections_opened() - connections_before_;
  return cost_;
}

}  // namespace testbed
