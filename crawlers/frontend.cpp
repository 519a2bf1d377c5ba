// The shared front end: checks the settings, prepares the job (every URL and
// the resolved endpoint, before the clock starts), runs and times the model.
// Nothing here knows how a model schedules its requests.
#include "crawlers/crawl.hpp"

#include "client/http_client.hpp"
#include "common/clock.hpp"

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace testbed {

void run_event_loops(const CrawlJob& job, const std::function<void(const LoopShare&)>& loop) {
  const std::size_t n = job.end - job.begin;
  const std::size_t loops = std::max<std::size_t>(
      1, std::min({static_cast<std::size_t>(job.loops), static_cast<std::size_t>(job.concurrency), n}));
  std::vector<LoopShare> shares(loops);
  for (std::size_t k = 0; k < loops; ++k) {
    shares[k].begin = job.begin + n * k / loops;
    shares[k].end = job.begin + n * (k + 1) / loops;
    shares[k].concurrency = static_cast<int>(job.concurrency / loops + (k < job.concurrency % loops));
  }
  if (loops == 1) return loop(shares[0]);
  std::vector<std::exception_ptr> failures(loops);
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < loops; ++k)
    threads.emplace_back([&, k] {
      try {
        loop(shares[k]);
      } catch (...) {
        failures[k] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& f : failures)
    if (f) std::rethrow_exception(f);
}

void sleep_until_us(std::int64_t at_us) {
  for (std::int64_t left; (left = at_us - now_us()) > 0;)
    std::this_thread::sleep_for(std::chrono::microseconds(left));
}

std::vector<std::int64_t> arrival_schedule(const CrawlConfig& c) {
  std::vector<std::int64_t> due;
  if (c.rate <= 0) return due;
  const double limit_us = c.duration_s > 0 ? c.duration_s * 1e6 : -1;
  const auto wanted = static_cast<std::size_t>(std::max<std::int64_t>(c.num, 0));
  std::mt19937_64 rng(c.seed ^ 0x6f70656e6c6f6f70ull);  // its own stream, apart from the URLs'
  std::exponential_distribution<double> gap(c.rate / 1e6);
  double t = 0;
  for (std::size_t i = 0;; ++i) {
    // Each due time from the start, never by adding up rounded gaps: no drift.
    if (c.arrivals == Arrivals::constant) t = static_cast<double>(i) * 1e6 / c.rate;
    if (limit_us >= 0 ? t >= limit_us : due.size() >= wanted) break;
    due.push_back(std::llround(t));
    if (c.arrivals == Arrivals::poisson) t += gap(rng);
  }
  return due;
}

std::int64_t effective_timeout_ms(const CrawlConfig& c) {
  if (c.timeout_ms) return c.timeout_ms;
  // The longest delay the server may give (beyond p99.999 for a lognormal,
  // the cap for a pareto, the knee's factor with all of ours in flight), and 10 s.
  const DelayDist& d = c.delay_dist;
  double longest = static_cast<double>(c.delay_ms);
  if (d.shape == DelayShape::uniform) longest *= 1 + d.spread;
  if (d.shape == DelayShape::lognormal) longest *= std::exp(4.5 * d.sigma);
  if (d.shape == DelayShape::pareto) longest *= d.cap;
  if (d.knee > 0) longest *= 1 + c.concurrency / d.knee;
  return static_cast<std::int64_t>(std::ceil(longest)) + 10'000;
}

namespace {

// The book's URLs: BASE/add?name=NAME&delay=MS&<10 random lowercase letters>;
// the random tail defeats any cache between crawler and server.
std::vector<std::string> make_targets(const CrawlConfig& cfg, const BaseUrl& base, const std::string& name) {
  std::mt19937_64 rng(cfg.seed);
  std::uniform_int_distribution<int> letter('a', 'z');
  std::string prefix = base.prefix + "/add?name=";
  percent_encode(name, prefix);
  prefix += "&delay=" + std::to_string(cfg.delay_ms) + delay_query(cfg.delay_dist) + "&";
  std::vector<std::string> targets(static_cast<std::size_t>(cfg.num));
  for (auto& t : targets) {
    t.reserve(prefix.size() + 10);
    t = prefix;
    for (int k = 0; k < 10; ++k) t.push_back(static_cast<char>(letter(rng)));
  }
  return targets;
}

// A value of /proc/self/status ("Threads:", "VmRSS:", ...), 0 if missing:
// one open and read, no stdio, as the monitor reads it 200 times a second.
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

// One thread beside the crawl: it samples the process's thread count every
// 5 ms (the kernel keeps no peak of it), and with --progress prints
// "[model] done/total" on stderr, each second on a terminal or every 5 s in a
// log. The peak it reports counts the calling thread and those the model
// starts: not itself, nor threads the process had before (in the tests, the
// server's). What it costs itself (CPU, context switches) is kept apart, for
// the run's cost to leave out.
class RunMonitor {
 public:
  RunMonitor(bool progress, const std::string& model, const Recorder& rec, std::size_t total) {
    const std::int64_t others = proc_status("Threads:") - 1;  // all but the calling thread
    peak_threads_ = 1;
    thread_ = std::thread([this, others, progress, model, &rec, total] {
      const bool tty = isatty(2);
      const char* lead = tty ? "\r" : "";
      const char* tail = tty ? "" : "\n";
      const auto every = std::chrono::seconds(tty ? 1 : 5);
      auto next_print = std::chrono::steady_clock::now() + every;
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, std::chrono::milliseconds(5), [this] { return done_; })) {
        peak_threads_ = std::max(peak_threads_, proc_status("Threads:") - 1 - others);
        if (progress && std::chrono::steady_clock::now() >= next_print) {
          std::fprintf(stderr, "%s[%s] %zu/%zu requests%s", lead, model.c_str(), rec.completed(), total,
                       tail);
          next_print += every;
        }
      }
      if (progress)
        std::fprintf(stderr, "%s[%s] %zu/%zu requests\n", lead, model.c_str(), rec.completed(), total);
      getrusage(RUSAGE_THREAD, &own_);
    });
  }
  ~RunMonitor() { stop(); }
  // Ends the monitor; the highest thread count it saw, itself not counted.
  std::int64_t stop() {
    if (thread_.joinable()) {
      {
        std::lock_guard lock(mu_);
        done_ = true;
      }
      cv_.notify_one();
      thread_.join();
    }
    return peak_threads_;
  }
  // After stop(): the monitor thread's own usage.
  const rusage& own() const { return own_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::int64_t peak_threads_ = 0;
  rusage own_{};
  std::thread thread_;
};

// The server's held_us from its /stats (the time integral of the requests it
// held in its delay), -1 if it cannot be read within 2 s: not a delayserver,
// or gone.
std::int64_t server_held_us(const CrawlJob& job) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(2));  // a deadline for all three steps
  http::request<http::empty_body> req(http::verb::get, job.base.prefix + "/stats", 11);
  req.set(http::field::host, job.host_header);
  req.set(http::field::connection, "close");
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  std::int64_t held = -1;
  stream.async_connect(job.endpoints.front(), [&](beast::error_code ec) {
    if (ec) return;
    http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
      if (ec) return;
      http::async_read(stream, buffer, res, [&](beast::error_code ec, std::size_t) {
        if (ec || res.result_int() != 200) return;
        auto j = nlohmann::json::parse(res.body(), nullptr, false);
        if (!j.is_discarded() && j.contains("held_us") && j["held_us"].is_number_unsigned())
          held = j["held_us"].get<std::int64_t>();
      });
    });
  });
  ioc.run();
  return held;
}

double cpu_seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

// Every model holds one socket per request in flight: a concurrency the
// open-files limit cannot hold is refused before anything starts, rather than
// failing halfway. (crawl raises the soft limit to the hard one first.)
void check_open_files(std::int64_t in_flight) {
  constexpr std::int64_t kReserved = 16;  // standard streams, event loops, the timeline
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return;
  auto limit = static_cast<std::int64_t>(rl.rlim_cur);
  if (in_flight + kReserved <= limit) return;
  throw std::invalid_argument("--concurrency " + std::to_string(in_flight) + " needs about " +
                              std::to_string(in_flight + kReserved) +
                              " open files (a socket per request in flight); the open-files limit is " +
                              std::to_string(limit) + " (ulimit -n): at most --concurrency " +
                              std::to_string(std::max<std::int64_t>(1, limit - kReserved)) + " here");
}

}  // namespace

void check_crawl_config(const CrawlConfig& config) {
  const ModelEntry* model = find_model(config.model);
  if (!model) throw std::invalid_argument("unknown model '" + config.model + "'");
  if (config.num < 0) throw std::invalid_argument("--num cannot be negative");
  if (config.delay_ms < 0) throw std::invalid_argument("--delay cannot be negative");
  if (config.concurrency < 1) throw std::invalid_argument("--concurrency must be at least 1");
  if (config.retries < 0) throw std::invalid_argument("--retries cannot be negative");
  if (config.loops < 1) throw std::invalid_argument("--loops must be at least 1");
  if (config.loops > 1 && !model->event_loops) {
    std::string names;
    for (const auto& m : models())
      if (m.event_loops) names += (names.empty() ? "" : ", ") + std::string(m.name);
    throw std::invalid_argument("--loops applies to the event-loop models only (" + names + ")");
  }
  if (config.timeout_ms < 0) throw std::invalid_argument("--timeout-ms cannot be negative");
  if (!(config.rate >= 0 && config.rate <= 1e6))
    throw std::invalid_argument("--rate must be within 0..1000000 per second");
  if (config.duration_s < 0) throw std::invalid_argument("--duration cannot be negative");
  if (config.duration_s > 0 && config.rate == 0) throw std::invalid_argument("--duration needs --rate");
  if (config.rate > 0 && config.loops > 1)
    throw std::invalid_argument("--rate runs one event loop (--loops 1): the schedule is one sequence");
  if (config.rate > 0 && config.batched)
    throw std::invalid_argument(
        "--rate and --batched do not go together: batches wait for answers, an open loop does not");
  if (config.shard_begin < 0 || (config.shard_end >= 0 && config.shard_end < config.shard_begin))
    throw std::invalid_argument("a shard is a range of URLs: begin " + std::to_string(config.shard_begin) +
                                ", end " + std::to_string(config.shard_end));
  if (config.batched && !model->event_loops) {
    std::string names;
    for (const auto& m : models())
      if (m.event_loops) names += (names.empty() ? "" : ", ") + std::string(m.name);
    throw std::invalid_argument("--batched applies to the event-loop models only (" + names + ")");
  }
  check_open_files(model->one_in_flight ? 1
                   : config.rate > 0    ? config.concurrency
                                        : std::min<std::int64_t>(config.concurrency, config.num));
  std::string error;
  if (!parse_base_url(config.url, &error)) throw std::invalid_argument(error);
}

CrawlSummary run_crawl(const CrawlConfig& config) {
  check_crawl_config(config);
  const ModelEntry* model = find_model(config.model);
  std::string error;
  auto base = parse_base_url(config.url, &error);
  if (!base) throw std::invalid_argument(error);

  CrawlSummary s;
  s.config = config;
  if (s.config.name.empty()) s.config.name = config.model;
  CrawlJob job;
  job.model = config.model;
  job.base = *base;
  job.host_header = base->authority;
  if (s.config.seed == 0) s.config.seed = std::random_device{}() | 1;  // reported, so a run can be repeated
  std::vector<std::int64_t> schedule = arrival_schedule(s.config);
  if (s.config.rate > 0) s.config.num = static_cast<std::int64_t>(schedule.size());
  job.targets = make_targets(s.config, *base, s.config.name);
  job.begin = std::min<std::size_t>(static_cast<std::size_t>(config.shard_begin), job.targets.size());
  job.end = config.shard_end < 0
                ? job.targets.size()
                : std::min<std::size_t>(static_cast<std::size_t>(config.shard_end), job.targets.size());
  job.concurrency = config.concurrency;
  job.loops = config.loops;
  job.retries = config.retries;
  job.timeout = std::chrono::milliseconds(effective_timeout_ms(config));
  job.endpoints = resolve(*base);  // a bad host name is one clear error, before the clock starts

  if (model->prepare) model->prepare();
  // Open loop: what the server held before (to measure its mean in flight).
  const std::int64_t held0 = schedule.empty() ? -1 : server_held_us(job);

  const std::size_t lo = job.begin, hi = job.end;  // this run's URLs (the batches move job's)
  Recorder rec(job.targets.size(), job.retries);
  // The run's cost, from the kernel's accounting of this process.
  RunCost& cost = s.cost;
  cost.rss_before_kib = proc_status("VmRSS:");
  const std::int64_t connections0 = connections_opened();
  RunMonitor monitor(config.progress, config.model, rec, hi - lo);
  rusage r0{}, r1{};
  if (config.start_at_us > 0) sleep_until_us(config.start_at_us);
  getrusage(RUSAGE_SELF, &r0);
  double t0 = mono_seconds();
  s.started_us = now_us();
  if (!schedule.empty()) {
    // The first request is due now; the rest follow the schedule from here.
    job.due_us = std::move(schedule);
    const std::int64_t start = now_us();
    for (auto& d : job.due_us) d += start;
  }
  try {
    if (!config.batched) {
      model->fn(job, rec);
    } else {
      // AsyncBatcher: the model runs one batch of `concurrency` URLs to its
      // end (every request answered), then the next.
      const std::size_t batch = static_cast<std::size_t>(config.concurrency);
      for (std::size_t b = lo; b < hi; b += batch) {
        job.begin = b;
        job.end = std::min(hi, b + batch);
        model->fn(job, rec);
      }
    }
  } catch (const std::exception& e) {
    // Out of threads, memory or the like: what was measured is still reported
    // and written, and what was not done is failed with the reason.
    s.stopped_early = e.what();
    rec.fail_unsettled(s.stopped_early, lo, hi);
  }
  s.seconds = mono_seconds() - t0;
  s.ended_us = now_us();
  getrusage(RUSAGE_SELF, &r1);
  cost.peak_threads = monitor.stop();
  const rusage& m = monitor.own();  // the monitor's own share is not the model's
  cost.cpu_user_seconds = cpu_seconds(r1.ru_utime) - cpu_seconds(r0.ru_utime) - cpu_seconds(m.ru_utime);
  cost.cpu_system_seconds = cpu_seconds(r1.ru_stime) - cpu_seconds(r0.ru_stime) - cpu_seconds(m.ru_stime);
  cost.peak_rss_kib = proc_status("VmHWM:");  // the kernel's high-water mark, as VmRSS before
  cost.voluntary_switches = r1.ru_nvcsw - r0.ru_nvcsw - m.ru_nvcsw;
  cost.involuntary_switches = r1.ru_nivcsw - r0.ru_nivcsw - m.ru_nivcsw;
  cost.connections_opened = connections_opened() - connections0;
  const auto& all = rec.records();
  s.records.assign(all.begin() + static_cast<std::ptrdiff_t>(lo),
                   all.begin() + static_cast<std::ptrdiff_t>(hi));
  s.first_index = lo;
  for (std::size_t i = lo; i < hi && i < job.due_us.size(); ++i)
    s.records[i - lo].intended_us = job.due_us[i];
  if (held0 >= 0 && s.seconds > 0) {
    const std::int64_t held1 = server_held_us(job);
    if (held1 >= held0) s.server_mean_in_flight = static_cast<double>(held1 - held0) / (s.seconds * 1e6);
  }
  s.errors = rec.errors();
  for (const auto& r : s.records) {
    s.retries += std::max(0, r.attempts - 1);
    if (r.status == 200)
      s.bytes += r.bytes;
    else
      ++s.failed;
  }
  return s;
}

}  // namespace testbed
