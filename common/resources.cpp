#include "common/resources.hpp"

#include "common/clock.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace testbed {
namespace {

double thread_cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + t.tv_nsec / 1e9;
}

double cpu_s(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

}  // namespace

ResourceProbe::ResourceProbe() {
  auto open_or_say = [this](const char* path, int flags) {
    const int fd = ::open(path, flags | O_CLOEXEC);
    if (fd < 0 && problem_.empty()) problem_ = std::string("cannot read ") + path + ": " + std::strerror(errno);
    return fd;
  };
  statm_fd_ = open_or_say("/proc/self/statm", O_RDONLY);
  task_fd_ = open_or_say("/proc/self/task", O_RDONLY | O_DIRECTORY);
  fd_dir_ = open_or_say("/proc/self/fd", O_RDONLY | O_DIRECTORY);
  page_kib_ = ::sysconf(_SC_PAGESIZE) / 1024;
}

ResourceProbe::~ResourceProbe() {
  for (int fd : {statm_fd_, task_fd_, fd_dir_})
    if (fd >= 0) ::close(fd);
}

ResourceRow ResourceProbe::take(std::int64_t connections_opened, std::int64_t connections_open) {
  const double cpu0 = thread_cpu_s();
  ResourceRow row;
  row.time_us = now_us();
  row.connections_opened = connections_opened;
  row.connections_open = connections_open;
  const double mono = mono_seconds();
  if (first_mono_s_ < 0) first_mono_s_ = mono;
  // Each probe's cost is the thread's CPU clock across it (not the time it
  // took: a probe preempted by the run it measures would spend its budget
  // on waiting, and a short run under load would get no rows of it).
  double cpu = cpu0;
  auto probe = [&](Budget& b, auto&& take_it) {
    if (b.spent_s > b.share * (mono - first_mono_s_)) return;
    take_it();
    const double now = thread_cpu_s();
    b.spent_s += now - cpu;
    cpu = now;
  };
  if (statm_fd_ >= 0 || task_fd_ >= 0) probe(memory_, [&] { read_memory_and_threads(row); });
  probe(cpu_, [&] { take_cpu(row, mono); });
  if (fd_dir_ >= 0) probe(fds_, [&] { count_fds(row); });
  own_cpu_s_ += cpu - cpu0;
  return row;
}

// RSS from /proc/self/statm (its second field, in pages) and the threads
// from /proc/self/task's link count (2 + one a thread): each read in
// constant time, the first a short page, the second one fstat.
void ResourceProbe::read_memory_and_threads(ResourceRow& row) {
  if (statm_fd_ >= 0) {
    char buf[128];
    const ssize_t n = ::pread(statm_fd_, buf, sizeof buf - 1, 0);
    if (n > 0) {
      buf[n] = '\0';
      char* at = nullptr;
      std::strtoll(buf, &at, 10);  // the size, then the resident pages
      row.rss_kib = std::strtoll(at, nullptr, 10) * page_kib_;
    } else if (problem_.empty()) {
      problem_ = std::string("cannot read /proc/self/statm: ") + (n < 0 ? std::strerror(errno) : "empty");
    }
  }
  struct stat st {};
  if (task_fd_ >= 0 && ::fstat(task_fd_, &st) == 0 && st.st_nlink > 3)
    row.threads = static_cast<std::int64_t>(st.st_nlink) - 3;  // "." "..", and the sampler's own
}

// CPU and switches since the last row that had them (none in the first):
// getrusage sums every thread.
void ResourceProbe::take_cpu(ResourceRow& row, double mono) {
  rusage now{};
  getrusage(RUSAGE_SELF, &now);
  const double span = mono - last_mono_s_;
  if (last_mono_s_ == 0) {
    last_ = now;
    last_mono_s_ = mono;
  } else if (span > 0) {
    row.has_cpu = true;
    row.user_pct = std::max(0.0, cpu_s(now.ru_utime) - cpu_s(last_.ru_utime)) / span * 100;
    row.system_pct = std::max(0.0, cpu_s(now.ru_stime) - cpu_s(last_.ru_stime)) / span * 100;
    row.voluntary = std::max<std::int64_t>(0, now.ru_nvcsw - last_.ru_nvcsw);
    row.involuntary = std::max<std::int64_t>(0, now.ru_nivcsw - last_.ru_nivcsw);
    last_ = now;
    last_mono_s_ = mono;
  }
}

// The entries of /proc/self/fd, its own descriptor left out: read with one
// getdents64 buffer, no allocation, rewound each time.
void ResourceProbe::count_fds(ResourceRow& row) {
  alignas(8) char buf[32768];
  std::int64_t n = 0;
  bool ok = ::lseek(fd_dir_, 0, SEEK_SET) == 0;
  while (ok) {
    const long got = ::syscall(SYS_getdents64, fd_dir_, buf, sizeof buf);
    if (got < 0) ok = false;
    if (got <= 0) break;
    for (long at = 0; at < got;) {
      const auto* d = reinterpret_cast<const dirent64*>(buf + at);
      if (d->d_name[0] != '.') ++n;
      at += d->d_reclen;
    }
  }
  if (ok)
    row.fds = n - 1;
  else if (problem_.empty())
    problem_ = std::string("cannot count /proc/self/fd: ") + std::strerror(errno);
}

const char* resource_csv_header() {
  return "time,cpu_user_pct,cpu_system_pct,rss_kib,threads,fds,voluntary_switches,involuntary_switches,"
         "connections_opened,connections_open\n";
}

void append_resource_csv(std::string& out, const ResourceRow& r) {
  char line[320];
  auto opt = [](std::int64_t v, char* to, std::size_t size) {
    if (v >= 0)
      std::snprintf(to, size, "%lld", static_cast<long long>(v));
    else
      to[0] = '\0';
  };
  char rss[24], threads[24], fds[24], opened[24], open[24];
  opt(r.rss_kib, rss, sizeof rss);
  opt(r.threads, threads, sizeof threads);
  opt(r.fds, fds, sizeof fds);
  opt(r.connections_opened, opened, sizeof opened);
  opt(r.connections_open, open, sizeof open);
  const long long t = r.time_us;
  if (r.has_cpu)
    std::snprintf(line, sizeof line, "%lld.%06lld,%.2f,%.2f,%s,%s,%s,%lld,%lld,%s,%s\n", t / 1'000'000,
                  t % 1'000'000, r.user_pct, r.system_pct, rss, threads, fds,
                  static_cast<long long>(r.voluntary), static_cast<long long>(r.involuntary), opened, open);
  else
    std::snprintf(line, sizeof line, "%lld.%06lld,,,%s,%s,%s,,,%s,%s\n", t / 1'000'000, t % 1'000'000, rss,
                  threads, fds, opened, open);
  out += line;
}

ResourceRecorder::ResourceRecorder(const std::string& path, const std::string& program,
                                   Connections connections)
    : path_(path), program_(program), connections_(std::move(connections)) {
  file_ = std::fopen(path.c_str(), "w");
  if (!file_ || std::fputs(resource_csv_header(), file_) < 0 || std::fflush(file_) != 0)
    throw std::runtime_error("--resources: cannot write " + path + ": " + std::strerror(errno));
  thread_ = std::thread([this] { run(); });
}

ResourceRecorder::~ResourceRecorder() { stop(); }

void ResourceRecorder::run() {
  ResourceProbe probe;
  std::vector<ResourceRow> rows;
  rows.reserve(128);
  auto take = [&] {
    const auto [opened, open] = connections_ ? connections_() : std::pair<std::int64_t, std::int64_t>{-1, -1};
    rows.push_back(probe.take(opened, open));
  };
  first_s_ = mono_seconds();
  take();
  if (!probe.problem().empty())
    std::fprintf(stderr, "%s: resources: %s (those cells stay empty)\n", program_.c_str(),
                 probe.problem().c_str());
  const auto tick = std::chrono::microseconds(ResourceProbe::kEveryUs);
  auto next = std::chrono::steady_clock::now() + tick;
  std::unique_lock lock(mu_);
  while (!cv_.wait_until(lock, next, [this] { return done_; })) {
    take();
    if (rows.size() >= 100) flush(rows);  // a second's rows
    next = std::max(next + tick, std::chrono::steady_clock::now());
  }
  take();
  last_s_ = mono_seconds();
  rows_cpu_s_ = probe.own_cpu_seconds();
  flush(rows);
  problem_ = probe.problem();
}

void ResourceRecorder::flush(std::vector<ResourceRow>& rows) {
  std::string text;
  for (const ResourceRow& r : rows) append_resource_csv(text, r);
  if (write_error_.empty() && (std::fputs(text.c_str(), file_) < 0 || std::fflush(file_) != 0))
    write_error_ = std::string("cannot write ") + path_ + ": " + std::strerror(errno);
  if (write_error_.empty()) rows_written_ += rows.size();
  rows.clear();
}

std::string ResourceRecorder::stop() {
  if (!thread_.joinable()) return "";
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  cv_.notify_one();
  thread_.join();
  if (std::fclose(file_) != 0 && write_error_.empty())
    write_error_ = std::string("cannot write ") + path_ + ": " + std::strerror(errno);
  file_ = nullptr;
  char what[160];
  const double span = last_s_ - first_s_;
  std::snprintf(what, sizeof what, "%zu rows every %lld ms (taking them: %.2f%% of a core)", rows_written_,
                static_cast<long long>(ResourceProbe::kEveryUs / 1000),
                span > 0 ? rows_cpu_s_ / span * 100 : 0.0);
  std::string out = what;
  if (!problem_.empty()) out += "; " + problem_ + " (those cells are empty)";
  if (!write_error_.empty()) out += "; " + write_error_ + " (rows after it are lost)";
  return out;
}

}  // namespace testbed
