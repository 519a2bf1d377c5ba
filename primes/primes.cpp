// The prime-saving client. The compute loop is the same in every mode; what
// differs is what it does with each prime it finds, and when it has to wait.
#include "primes/primes.hpp"

#include "client/sync_client.hpp"
#include "common/cli.hpp"
#include "common/clock.hpp"
#include "common/csv.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace testbed {

namespace asio = boost::asio;

bool check_prime(std::int64_t n) {
  if (n < 2) return false;
  if (n < 4) return true;
  if (n % 2 == 0) return false;
  for (std::int64_t i = 3; i * i <= n; i += 2)
    if (n % i == 0) return false;
  return true;
}

namespace {

// What the savers report, from whichever thread they run on, and the retry
// policy crawl uses too (client/http_client.hpp).
class SaveLog {
 public:
  explicit SaveLog(int retries) : retry_(retries) {}

  // One attempt at saving `value`. True: wait retry_backoff() and try again.
  // False: settled, saved or lost; `errors` counts each lost save once, by
  // its last failure, as crawl's `errors` counts each failed request.
  bool attempt(std::int64_t start, std::int64_t end, std::int64_t value, const HttpResult& r,
               int attempt_no) {
    bool again = retry_.again(r, attempt_no);
    std::lock_guard lock(mu_);
    spans_.push_back({PrimeSpan::Kind::save, start, end, value, r.status});
    if (r.status == 200) {
      ++saved_;
      if (r.delay_us >= 0) latencies_us_.push_back(r.delay_us);
    } else if (!again) {
      ++errors_[r.status ? "HTTP status " + std::to_string(r.status) : r.error];
      lost_.push_back(value);
    }
    return again;
  }
  void fill(PrimesSummary& s) {
    std::lock_guard lock(mu_);
    s.saved = saved_;
    s.failed = static_cast<std::int64_t>(lost_.size());
    std::sort(lost_.begin(), lost_.end());
    s.lost = lost_;
    s.errors = errors_;
    s.spans.insert(s.spans.end(), spans_.begin(), spans_.end());
    if (!latencies_us_.empty()) {
      auto mid = latencies_us_.begin() + static_cast<std::ptrdiff_t>(latencies_us_.size() / 2);
      std::nth_element(latencies_us_.begin(), mid, latencies_us_.end());
      s.save_latency_ms = static_cast<double>(*mid) / 1000.0;
    }
  }

 private:
  RetryPolicy retry_;
  std::mutex mu_;
  std::vector<PrimeSpan> spans_;
  std::map<std::string, std::int64_t> errors_;
  std::vector<std::int64_t> lost_;
  std::vector<std::int64_t> latencies_us_;  // of the answered saves, as the server gave them
  std::int64_t saved_ = 0;
};

struct Endpoint {
  std::vector<tcp::endpoint> endpoints;
  std::string host_header;
  std::string prefix;                     // base path + "/add?prime="
  std::chrono::milliseconds timeout{0};   // per attempt
  std::unique_ptr<TlsClient> tls_client;  // https
  TlsTarget tls;                          // over tls_client (plain: empty)
};

std::string save_target(const Endpoint& ep, std::int64_t value) {
  std::string t = ep.prefix;
  append_int(t, value);
  return t;
}

// serial: the book's save_prime_serial, a blocking request per prime.
class SerialSaver {
 public:
  SerialSaver(const Endpoint& ep, SaveLog& log)
      : ep_(ep), log_(log), client_(ep.endpoints, ep.host_header, ep.timeout, 0, &ep.tls) {}

  void save(std::int64_t value) {
    std::string target = save_target(ep_, value);
    for (int attempt = 0;; ++attempt) {
      std::int64_t start = now_us();
      HttpResult r = client_.get(target, attempt);
      if (!log_.attempt(start, now_us(), value, r, attempt)) return;
      std::this_thread::sleep_for(retry_backoff(attempt, static_cast<std::uint64_t>(value)));
    }
  }

 private:
  const Endpoint& ep_;
  SaveLog& log_;
  SyncClient client_;
};

// batched and async: saves run as coroutines on an event loop in a second
// thread, at most `concurrency` at once; the compute thread only hands over
// values, and waits only when it asks to (wait()).
class AsyncSaver {
 public:
  AsyncSaver(const Endpoint& ep, int concurrency, SaveLog& log)
      : ep_(ep),
        concurrency_(concurrency),
        log_(log),
        sweeper_(ioc_.get_executor(), ep.timeout),
        work_(asio::make_work_guard(ioc_)),
        thread_([this] { ioc_.run(); }) {
    asio::post(ioc_, [this] { sweeper_.start(); });
  }

  ~AsyncSaver() {
    wait();
    asio::post(ioc_, [this] { sweeper_.stop(); });
    work_.reset();
    thread_.join();
  }

  void save(std::int64_t value) {
    {
      std::lock_guard lock(mu_);
      ++outstanding_;
    }
    asio::post(ioc_, [this, value] {
      pending_.push_back(value);
      pump();
    });
  }

  // Blocks until every save handed over so far has been answered (or given up on).
  void wait() {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [this] { return outstanding_ == 0; });
  }

 private:
  void pump() {
    while (in_flight_ < concurrency_ && !pending_.empty()) {
      std::int64_t v = pending_.front();
      pending_.pop_front();
      ++in_flight_;
      asio::co_spawn(ioc_, save_one(v), asio::detached);
    }
  }

  asio::awaitable<void> save_one(std::int64_t value) {
    std::unique_ptr<AsyncConnection> conn;
    if (pool_.empty()) {
      conn = std::make_unique<AsyncConnection>(ioc_.get_executor(), 0, &ep_.tls);
      sweeper_.watch(*conn);  // it lives, in a save or the pool, until the saver goes
    } else {
      conn = std::move(pool_.back());
      pool_.pop_back();
    }
    std::string target = save_target(ep_, value);
    for (int attempt = 0;; ++attempt) {
      std::int64_t start = now_us();
      sweeper_.arm(*conn);
      HttpResult r = co_await async_get(*conn, ep_.endpoints, ep_.host_header, target, attempt);
      sweeper_.disarm(*conn);
      if (conn->timed_out) r.error = timeout_error(sweeper_.timeout(), ep_.host_header);
      if (!log_.attempt(start, now_us(), value, r, attempt)) break;
      asio::steady_timer pause(ioc_, retry_backoff(attempt, static_cast<std::uint64_t>(value)));
      co_await pause.async_wait(asio::use_awaitable);
    }
    pool_.push_back(std::move(conn));
    --in_flight_;
    pump();
    std::lock_guard lock(mu_);
    if (--outstanding_ == 0) idle_.notify_all();
  }

  const Endpoint& ep_;
  const int concurrency_;
  SaveLog& log_;
  asio::io_context ioc_{1};
  DeadlineSweeper sweeper_;  // each attempt's --timeout-ms
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  // Event-loop thread only:
  std::deque<std::int64_t> pending_;
  int in_flight_ = 0;
  std::vector<std::unique_ptr<AsyncConnection>> pool_;
  // Shared with the compute thread:
  std::mutex mu_;
  std::condition_variable idle_;
  std::int64_t outstanding_ = 0;
  std::thread thread_;  // last: starts after everything it uses exists
};

// Accounts for the compute thread's time: a compute span ends whenever the
// thread has to wait for the database and a new one starts when it resumes.
class ComputeClock {
 public:
  explicit ComputeClock(std::vector<PrimeSpan>& spans) : spans_(spans), mark_(now_us()) {}
  void pause() {
    std::int64_t now = now_us();
    if (now > mark_) spans_.push_back({PrimeSpan::Kind::compute, mark_, now, 0, 0});
    total_us_ += now - mark_;
    mark_ = now;
  }
  void resume() { mark_ = now_us(); }
  double seconds() const { return static_cast<double>(total_us_) / 1e6; }

 private:
  std::vector<PrimeSpan>& spans_;
  std::int64_t mark_;
  std::int64_t total_us_ = 0;
};

}  // namespace

// What a mode's loop works with; it records the end of its last save in t_end.
struct SaveLoop {
  const PrimesConfig& config;
  const Endpoint& ep;
  SaveLog& log;
  ComputeClock& clock;
  PrimesSummary& s;
  double t_end = 0;
};

namespace {

// noio: compute only, the lower bound.
void loop_noio(SaveLoop& run) {
  for (std::int64_t n = 0; n < run.config.max_number; ++n)
    if (check_prime(n)) ++run.s.primes;
  run.clock.pause();
  run.t_end = mono_seconds();
}

// serial: the book's save_prime_serial, a blocking request per prime.
void loop_serial(SaveLoop& run) {
  SerialSaver saver(run.ep, run.log);
  for (std::int64_t n = 0; n < run.config.max_number; ++n) {
    if (!check_prime(n)) continue;
    ++run.s.primes;
    run.clock.pause();
    saver.save(n);  // the CPU sits idle for the whole latency
    run.clock.resume();
  }
  run.t_end = mono_seconds();
}

// batched: the book's AsyncBatcher: collect --batch primes, save them at
// once, wait for all of them, carry on computing.
void loop_batched(SaveLoop& run) {
  AsyncSaver saver(run.ep, run.config.batch, run.log);
  int in_batch = 0;
  for (std::int64_t n = 0; n < run.config.max_number; ++n) {
    if (!check_prime(n)) continue;
    ++run.s.primes;
    saver.save(n);
    if (++in_batch == run.config.batch) {  // AsyncBatcher.flush()
      run.clock.pause();
      saver.wait();
      run.clock.resume();
      in_batch = 0;
    }
  }
  run.clock.pause();
  saver.wait();  // the last, partial batch
  run.t_end = mono_seconds();
}

// async: keep computing while saves are in flight (at most --concurrency),
// wait for the last ones at the end.
void loop_async(SaveLoop& run) {
  AsyncSaver saver(run.ep, run.config.concurrency, run.log);
  for (std::int64_t n = 0; n < run.config.max_number; ++n) {
    if (!check_prime(n)) continue;
    ++run.s.primes;
    saver.save(n);  // hand it over and keep computing
  }
  run.clock.pause();
  saver.wait();
  run.t_end = mono_seconds();
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return b > 0 ? (a + b - 1) / b : a; }

}  // namespace

const std::vector<PrimeMode>& prime_modes() {
  // clang-format off
  static const std::vector<PrimeMode> table = {
      {"noio", "the compute alone, no database (the lower bound)", "never", false, false, false, loop_noio},
      {"serial", "save_prime_serial: a blocking request per prime", "for every save", true, true, false,
       loop_serial},
      {"batched", "the book's AsyncBatcher: --batch saves at once, then wait for them all",
       "after every --batch primes, for the whole batch", true, false, false, loop_batched,
       &PrimesConfig::batch, "--batch"},
      {"async", "saves in flight while computing, at most --concurrency", "at the end, for the last saves",
       true, false, true, loop_async, &PrimesConfig::concurrency, "--concurrency"},
  };
  // clang-format on
  return table;
}

const PrimeMode* find_prime_mode(std::string_view name) {
  for (const auto& m : prime_modes())
    if (name == m.name) return &m;
  return nullptr;
}

nlohmann::json prime_modes_json() {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : prime_modes())
    out.push_back({{"name", m.name},
                   {"mirrors", m.mirrors},
                   {"waits", m.waits},
                   {"saves", m.saves},
                   {"one_at_a_time", m.one_at_a_time},
                   {"computes_while_saving", m.computes_while_saving}});
  return out;
}

namespace {

void check_primes_config(const PrimesConfig& config) {
  if (!find_prime_mode(config.mode)) {
    std::string names;
    for (const auto& m : prime_modes()) names += (names.empty() ? "" : ", ") + std::string(m.name);
    throw std::invalid_argument("unknown mode '" + config.mode + "' (" + names + ")");
  }
  if (config.max_number < 0) throw std::invalid_argument("--max-number cannot be negative");
  if (config.batch < 1) throw std::invalid_argument("--batch must be at least 1");
  if (config.concurrency < 1) throw std::invalid_argument("--concurrency must be at least 1");
  if (config.retries < 0) throw std::invalid_argument("--retries cannot be negative");
  if (config.timeout_ms < 0) throw std::invalid_argument("--timeout-ms cannot be negative");
  if (config.timeout_ms > kMaxSettingMs)
    throw std::invalid_argument("--timeout-ms is over the longest time a setting may name, " +
                                std::to_string(kMaxSettingMs) + " ms (about 31 years)");
  // A socket per save in flight: the mode's cap of them (one at a time: one).
  const PrimeMode& mode = *find_prime_mode(config.mode);
  if (mode.saves)
    require_open_files(mode.in_flight ? config.*mode.in_flight : 1,
                       mode.in_flight_flag ? mode.in_flight_flag : "--concurrency",
                       "a socket per save in flight");
}

// The best `mode` could do with the compute it needed and the latency the
// server gave (-1 when no save was answered): see PrimeMode.
double bound_seconds(const PrimeMode& mode, const PrimesSummary& s) {
  if (!mode.saves) return s.compute_seconds;
  if (s.save_latency_ms < 0) return -1;
  const double latency = s.save_latency_ms / 1000.0;
  const std::int64_t cap = mode.in_flight ? s.config.*mode.in_flight : 1;
  const double in_turn = static_cast<double>(ceil_div(s.primes, cap)) * latency;
  return mode.computes_while_saving ? std::max(s.compute_seconds + latency, in_turn)
                                    : s.compute_seconds + in_turn;
}

}  // namespace

PrimesSummary run_primes(const PrimesConfig& config) {
  check_primes_config(config);
  const PrimeMode& mode = *find_prime_mode(config.mode);
  std::string error;
  auto base = parse_base_url(config.url, &error);
  if (!base) throw std::invalid_argument(error);
  Endpoint ep;
  if (mode.saves) ep.endpoints = resolve(*base);
  ep.host_header = base->authority;
  if (base->tls && mode.saves) {
    ep.tls_client = std::make_unique<TlsClient>(config.tls);
    ep.tls = {ep.tls_client.get(), base->host};
  }
  ep.prefix = base->prefix + "/add?prime=";
  ep.timeout = std::chrono::milliseconds(config.timeout_ms ? config.timeout_ms : kDefaultSaveTimeoutMs);

  PrimesSummary s;
  s.config = config;
  SaveLog log(config.retries);
  const double t0 = mono_seconds();
  ComputeClock clock(s.spans);
  // The run ends when the last prime is saved: closing the savers' connections
  // afterwards (a thousand sockets at 8192) is teardown, not saving.
  SaveLoop run{config, ep, log, clock, s};
  mode.loop(run);
  s.seconds = run.t_end - t0;
  s.compute_seconds = clock.seconds();
  log.fill(s);
  s.bound_seconds = bound_seconds(mode, s);
  std::sort(s.spans.begin(), s.spans.end(),
            [](const PrimeSpan& a, const PrimeSpan& b) { return a.start_us < b.start_us; });
  return s;
}

std::string primes_timeline_csv(const PrimesSummary& s) {
  std::string out = "kind,start,end,value,status\n";
  for (const PrimeSpan& p : s.spans) {
    bool save = p.kind == PrimeSpan::Kind::save;
    out.append(save ? "save," : "compute,");
    append_seconds(out, p.start_us);
    out.push_back(',');
    append_seconds(out, p.end_us);
    out.push_back(',');
    if (save) append_int(out, p.value);
    out.push_back(',');
    if (save) append_int(out, p.status);
    out.push_back('\n');
  }
  return out;
}

nlohmann::json to_json(const PrimesSummary& s) {
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [msg, n] : s.errors) errors[msg] = n;
  return {
      {"mode", s.config.mode},
      {"max_number", s.config.max_number},
      {"primes", s.primes},
      {"saved", s.saved},
      {"failed", s.failed},
      {"lost", s.lost},
      {"seconds", s.seconds},
      {"compute_seconds", s.compute_seconds},
      {"save_latency_ms",
       s.save_latency_ms >= 0 ? nlohmann::json(s.save_latency_ms) : nlohmann::json(nullptr)},
      {"bound_seconds", s.bound_seconds >= 0 ? nlohmann::json(s.bound_seconds) : nlohmann::json(nullptr)},
      {"batch", s.config.batch},
      {"concurrency", s.config.concurrency},
      {"retries", s.config.retries},
      {"timeout_ms", s.config.timeout_ms ? s.config.timeout_ms : kDefaultSaveTimeoutMs},
      {"url", s.config.url},
      {"errors", errors},
  };
}

}  // namespace testbed
