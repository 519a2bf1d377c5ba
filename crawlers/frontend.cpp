// The front end: checks the settings, plans the job before the clock starts
// (every URL of this run, the schedule, the resolved endpoint), runs the
// model while measuring it, and returns what was measured. Nothing here knows
// how a model schedules its requests, and nothing here derives a figure
// (summarize does, in metrics.cpp).
#include "crawlers/crawl.hpp"

#include "client/http_client.hpp"
#include "common/cli.hpp"
#include "common/clock.hpp"
#include "common/query.hpp"
#include "crawlers/cost_meter.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

#include <sys/resource.h>

namespace testbed {

void apply_rate_profile(CrawlConfig& c, RateProfile profile) {
  c.profile = std::move(profile);
  c.rate = mean_rate(c.profile, c.duration_s > 0 ? c.duration_s : c.profile.end_s());
}

std::vector<std::int64_t> arrival_schedule(const CrawlConfig& c) {
  std::vector<std::int64_t> due;
  if (c.profile.any()) return due_times(c.profile, c.duration_s, static_cast<std::size_t>(kMaxRequests) + 1);
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
  // A far tail of a long median could pass what a clock can hold: no further.
  return static_cast<std::int64_t>(std::min(std::ceil(longest) + 10'000, static_cast<double>(kMaxSettingMs)));
}

namespace {

// The book's URLs: BASE/add?name=NAME&delay=MS&<10 random lowercase letters>;
// the random tail defeats any cache between crawler and server. The list of
// all `num` comes from the seed; this run keeps [lo, hi) of it (a shard).
std::vector<std::string> make_targets(const CrawlConfig& cfg, const BaseUrl& base, std::size_t lo,
                                      std::size_t hi) {
  std::mt19937_64 rng(cfg.seed);
  std::uniform_int_distribution<int> letter('a', 'z');
  std::string prefix = base.prefix + "/add?name=";
  percent_encode(cfg.name, prefix);
  prefix += "&delay=" + std::to_string(cfg.delay_ms) + delay_query(cfg.delay_dist) + "&";
  std::vector<std::string> targets(hi - lo);
  for (std::size_t i = 0; i < hi; ++i) {
    if (i < lo) {  // another shard's URL: its letters are drawn all the same, to stay in step
      for (int k = 0; k < 10; ++k) letter(rng);
      continue;
    }
    std::string& t = targets[i - lo];
    t.reserve(prefix.size() + 10);
    t = prefix;
    for (int k = 0; k < 10; ++k) t.push_back(static_cast<char>(letter(rng)));
  }
  return targets;
}

// "--FLAG must be ..." unless `v` is a time the clocks can hold (see kMaxSettingMs).
void check_ms(const char* flag, std::int64_t v) {
  if (v < 0) throw std::invalid_argument(std::string("--") + flag + " cannot be negative");
  if (v > kMaxSettingMs)
    throw std::invalid_argument(std::string("--") + flag + " " + std::to_string(v) +
                                " is over the longest time a setting may name, " +
                                std::to_string(kMaxSettingMs) + " ms (about 31 years)");
}

// --rate, --arrivals, --duration: an open loop that can be scheduled and held.
void check_open_loop(const CrawlConfig& config) {
  if (config.profile.any()) {
    if (config.profile.needs_duration && config.duration_s <= 0)
      throw std::invalid_argument("--rate-profile " + config.profile.spec + " runs for --duration: give it");
    if (config.rate <= 0)
      throw std::invalid_argument("--rate-profile " + config.profile.spec + " sends no request");
    if (config.arrivals == Arrivals::poisson)
      throw std::invalid_argument("--rate-profile places every request exactly: not with --arrivals poisson");
  }
  if (!(config.rate == 0 || (config.rate >= kMinRate && config.rate <= 1e6)))
    throw std::invalid_argument("--rate must be 0 (a closed loop) or within 0.001..1000000 per second");
  if (!std::isfinite(config.duration_s) || config.duration_s < 0)
    throw std::invalid_argument("--duration must be a finite number of seconds, not negative");
  if (config.duration_s > 0 && config.rate == 0) throw std::invalid_argument("--duration needs --rate");
  if (config.duration_s > 0 && config.rate * config.duration_s > static_cast<double>(kMaxRequests))
    throw std::invalid_argument("--rate " + std::to_string(config.rate) + " for --duration " +
                                std::to_string(config.duration_s) + " s is more requests than a run holds (" +
                                std::to_string(kMaxRequests) +
                                ": each takes memory before the first is sent)");
  if (config.rate > 0 && config.loops > 1)
    throw std::invalid_argument("--rate runs one event loop (--loops 1): the schedule is one sequence");
  if (config.rate > 0 && config.batched)
    throw std::invalid_argument(
        "--rate and --batched do not go together: batches wait for answers, an open loop does not");
}

std::string models_where(bool ModelEntry::*flag) {
  std::string names;
  for (const auto& m : models())
    if (m.*flag) names += (names.empty() ? "" : ", ") + std::string(m.name);
  return names;
}
std::string event_loop_models() { return models_where(&ModelEntry::event_loops); }
std::string pool_models() { return models_where(&ModelEntry::pool); }

}  // namespace

void check_crawl_config(const CrawlConfig& config) {
  const ModelEntry* model = find_model(config.model);
  if (!model) throw std::invalid_argument("unknown model '" + config.model + "'");
  if (config.num < 0 && !(config.num == kNumFromList && !config.urls_file.empty()))
    throw std::invalid_argument("--num cannot be negative");
  if (config.per_host < 0) throw std::invalid_argument("--per-host cannot be negative");
  if (config.per_host > 0 && config.per_host < config.loops)
    throw std::invalid_argument("--per-host " + std::to_string(config.per_host) + " is less than the " +
                                std::to_string(config.loops) +
                                " --loops: each loop needs a connection to every host");
  if (config.num > kMaxRequests)
    throw std::invalid_argument("--num " + std::to_string(config.num) +
                                " is more requests than a run holds (" + std::to_string(kMaxRequests) +
                                ": each takes memory before the first is sent)");
  check_ms("delay", config.delay_ms);
  check_ms("timeout-ms", config.timeout_ms);
  if (config.concurrency < 1) throw std::invalid_argument("--concurrency must be at least 1");
  if (config.retries < 0) throw std::invalid_argument("--retries cannot be negative");
  if (config.loops < 1) throw std::invalid_argument("--loops must be at least 1");
  if (config.loops > 1 && !model->event_loops)
    throw std::invalid_argument("--loops applies to the event-loop models only (" + event_loop_models() +
                                ")");
  if (config.threads < 0 || config.threads > kMaxPoolThreads)
    throw std::invalid_argument("--threads must be within 0.." + std::to_string(kMaxPoolThreads) +
                                " (0: one a core)");
  if (config.threads > 0 && !model->pool)
    throw std::invalid_argument("--threads applies to the pool models only (" + pool_models() +
                                "); the threads model runs --concurrency threads");
  if (config.batched && !model->event_loops)
    throw std::invalid_argument("--batched applies to the event-loop models only (" + event_loop_models() +
                                ")");
  if (config.spawn_all && config.model != "coroutine")
    throw std::invalid_argument("--spawn-all applies to the coroutine model only");
  if (config.spawn_all && (config.batched || config.rate > 0))
    throw std::invalid_argument("--spawn-all spawns every task at once: not with --batched or --rate");
  check_open_loop(config);
  if (config.shard_begin < 0 || (config.shard_end >= 0 && config.shard_end < config.shard_begin))
    throw std::invalid_argument("a shard is a range of URLs: begin " + std::to_string(config.shard_begin) +
                                ", end " + std::to_string(config.shard_end));
  if (config.shard_stride < 1)
    throw std::invalid_argument("a shard's stride is at least 1, not " + std::to_string(config.shard_stride));
  // Every model holds one socket per request in flight.
  require_open_files(model->one_in_flight ? 1
                     : config.rate > 0 || config.num == kNumFromList
                         ? config.concurrency
                         : std::min<std::int64_t>(config.concurrency, config.num),
                     "--concurrency", "a socket per request in flight");
  std::string error;
  if (config.urls_file.empty() && !parse_base_url(config.url, &error)) throw std::invalid_argument(error);
}

namespace {

// Everything a run needs that is built before the clock starts.
struct Plan {
  BaseUrl base;                    // the delay server's (--urls: the list's first origin)
  std::unique_ptr<TlsClient> tls;  // https: the context every connection uses
  std::vector<Origin> origins;     // where the URLs go, resolved
  std::vector<std::uint32_t> origin_of;  // --urls: each URL's origin
  std::vector<std::string> targets;  // this run's URLs: [first, first + size) of the crawl's
  std::vector<std::int64_t> due_us;  // open loop: their offsets in the schedule (times once started)
  std::size_t first = 0;
  CrawlJob job;  // over origins, targets and due_us
};

// --urls: this run's URLs (`mine`, of the crawl's, which goes round the list
// as many times as --num asks); the list's origins are the plan's.
void plan_url_list(Plan& p, UrlList list, const std::vector<std::size_t>& mine) {
  const std::size_t n = list.targets.size();
  p.targets.resize(mine.size());
  p.origin_of.resize(mine.size());
  for (std::size_t k = 0; k < mine.size(); ++k) {
    p.targets[k] = list.targets[mine[k] % n];
    p.origin_of[k] = list.origin_of[mine[k] % n];
  }
  p.base = list.origins.front();
  for (const BaseUrl& b : list.origins) p.origins.push_back({{}, b.authority, {}});
}

// Resolves every origin (a bad host name is one clear error, before the clock
// starts) and gives the https ones the one TLS context.
void resolve_origins(Plan& p, const CrawlConfig& cfg, const std::vector<BaseUrl>& bases) {
  for (std::size_t o = 0; o < bases.size(); ++o) {
    p.origins[o].endpoints = resolve(bases[o]);
    if (!bases[o].tls) continue;
    if (!p.tls) p.tls = std::make_unique<TlsClient>(cfg.tls);  // an unreadable --cacert is said now
    p.origins[o].tls = {p.tls.get(), bases[o].host};
  }
}

// Fills in what the settings leave open (recorded in the run, so that it can
// be repeated): the seed, the name, and an open loop's count of requests.
Plan plan_crawl(CrawlConfig& cfg) {
  Plan p;
  std::optional<UrlList> list;
  if (!cfg.urls_file.empty()) {
    list = read_url_list(cfg.urls_file);
    if (cfg.num == kNumFromList) cfg.num = static_cast<std::int64_t>(list->targets.size());
  } else {
    std::string error;
    auto base = parse_base_url(cfg.url, &error);
    if (!base) throw std::invalid_argument(error);
    p.base = *base;
  }
  if (cfg.name.empty()) cfg.name = cfg.model;
  if (find_model(cfg.model)->pool && cfg.threads == 0)
    cfg.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (cfg.seed == 0) cfg.seed = std::random_device{}() | 1;
  std::vector<std::int64_t> schedule = arrival_schedule(cfg);
  if (schedule.size() > static_cast<std::size_t>(kMaxRequests))
    throw std::invalid_argument("--rate-profile " + cfg.profile.spec +
                                " is more requests than a run holds (" + std::to_string(kMaxRequests) + ")");
  if (cfg.rate > 0) cfg.num = static_cast<std::int64_t>(schedule.size());
  const auto num = static_cast<std::size_t>(cfg.num);
  const std::size_t lo = std::min(static_cast<std::size_t>(cfg.shard_begin), num);
  const std::size_t hi =
      cfg.shard_end < 0 ? num : std::clamp(static_cast<std::size_t>(cfg.shard_end), lo, num);
  p.first = lo;
  // The URLs of the crawl this run fetches: [lo, hi), or every stride-th of them.
  const auto stride = static_cast<std::size_t>(std::max<std::int64_t>(1, cfg.shard_stride));
  std::vector<std::size_t> mine;
  for (std::size_t i = lo; i < hi; i += stride) mine.push_back(i);
  const std::vector<BaseUrl> bases = list ? list->origins : std::vector<BaseUrl>{p.base};
  if (list) {
    plan_url_list(p, std::move(*list), mine);
  } else {
    std::vector<std::string> all = make_targets(cfg, p.base, lo, hi);
    if (stride == 1) {
      p.targets = std::move(all);
    } else {
      p.targets.reserve(mine.size());
      for (std::size_t i : mine) p.targets.push_back(std::move(all[i - lo]));
    }
    p.origins.push_back({{}, p.base.authority, {}});
  }
  for (std::size_t i : mine)
    if (i < schedule.size()) p.due_us.push_back(schedule[i]);
  resolve_origins(p, cfg, bases);
  p.job.origins = p.origins;
  if (p.origins.size() > 1) p.job.origin_of = p.origin_of;
  p.job.targets = p.targets;
  p.job.due_us = p.due_us;
  p.job.concurrency = cfg.concurrency;
  p.job.loops = cfg.loops;
  p.job.threads = std::max(1, cfg.threads);
  p.job.retries = cfg.retries;
  p.job.timeout = std::chrono::milliseconds(effective_timeout_ms(cfg));
  p.job.reuse = cfg.reuse;
  p.job.spawn_all = cfg.spawn_all;
  p.job.per_host = cfg.per_host;
  if (p.origins.size() > 1)
    p.job.idle_extra = std::min<std::int64_t>(cfg.concurrency, spare_open_files(cfg.concurrency));
  return p;
}

// Runs the model over the whole job, or (--batched, the book's AsyncBatcher)
// over one batch of `concurrency` URLs at a time, each to its end. A model
// that stops early (out of threads, memory) leaves what it measured, and what
// it did not do is failed with its reason.
void run_model(const ModelEntry& model, const CrawlConfig& cfg, const CrawlJob& job, RecordLog& log,
               CrawlRun& run) {
  try {
    const std::size_t n = job.size();
    const std::size_t batch =
        cfg.batched ? static_cast<std::size_t>(cfg.concurrency) : std::max<std::size_t>(n, 1);
    for (std::size_t b = 0; b < n; b += batch) {
      const std::size_t e = std::min(n, b + batch);
      Recorder rec = log.recorder(b, e);
      model.fn(job.part(b, e), rec);
    }
  } catch (const std::exception& e) {
    run.stopped_early = e.what();
    log.fail_unsettled(run.stopped_early);
  }
}

// The server's held_us from its /stats (the time integral of the requests it
// held in its delay), -1 if it cannot be read within 2 s: not a delayserver,
// or gone.
std::int64_t server_held_us(const Plan& p) {
  const Origin& server = p.origins.front();
  auto text = fetch_text(server.endpoints, server.host_header, p.base.prefix + "/stats",
                         std::chrono::seconds(2), &server.tls);
  if (!text) return -1;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.contains("held_us") || !j["held_us"].is_number_unsigned()) return -1;
  return j["held_us"].get<std::int64_t>();
}

// An uneven --work: each request's spin, drawn from the crawl's seed and
// its URL's query, so that every model (and every rank) does the same work
// on the same request; empty for even work.
std::vector<std::int64_t> uneven_spins(const Work& work, std::uint64_t seed, const CrawlJob& job) {
  std::vector<std::int64_t> out;
  if (!work.spec().uneven()) return out;
  out.reserve(job.size());
  for (const std::string& t : job.targets) out.push_back(work.spin_us_for(seed, request_key(split_target(t).query)));
  return out;
}

}  // namespace

std::vector<std::string> crawl_urls(CrawlConfig cfg) {
  if (cfg.num < 0 || cfg.num > kMaxRequests)
    throw std::invalid_argument("--num must be within 0.." + std::to_string(kMaxRequests));
  if (cfg.seed == 0) throw std::invalid_argument("--print-urls needs --seed: a list no run can repeat is no use");
  if (cfg.name.empty()) throw std::invalid_argument("--print-urls needs --name (or --model)");
  std::string error;
  auto base = parse_base_url(cfg.url, &error);
  if (!base) throw std::invalid_argument(error);
  const auto num = static_cast<std::size_t>(cfg.num);
  std::vector<std::string> urls = make_targets(cfg, *base, 0, num);
  for (auto& u : urls) u = base->origin() + u;
  return urls;
}

CrawlRun measure_crawl(const CrawlConfig& config) {
  check_crawl_config(config);
  const ModelEntry& model = *find_model(config.model);
  CrawlRun run;
  run.config = config;
  Plan plan = plan_crawl(run.config);
  if (model.prepare) model.prepare();
  // Open loop: what the server held before (to measure its mean in flight).
  // (--urls: no one server to ask.)
  const std::int64_t held0 = plan.job.open_loop() && config.urls_file.empty() ? server_held_us(plan) : -1;

  RecordLog log(plan.job.size(), config.retries);
  const Work work(config.work);  // a spin calibrated, a bcrypt setting made: before the clock
  if (config.work.any())
    log.set_work(&work, effective_timeout_ms(config) * 1000, uneven_spins(work, run.config.seed, plan.job));
  CostMeter meter(config.progress, config.model, log, config.resources);
  if (config.start_at_us > 0) sleep_until_us(config.start_at_us);
  meter.start();
  const double t0 = mono_seconds();
  run.started_us = now_us();
  // The first is due now, the rest follow; crawl-mpi's ranks count from the
  // instant they share, so that their requests are due as one schedule's.
  const std::int64_t zero = config.start_at_us > 0 ? config.start_at_us : run.started_us;
  for (auto& d : plan.due_us) d += zero;
  run_model(model, run.config, plan.job, log, run);
  run.seconds = mono_seconds() - t0;
  run.ended_us = now_us();
  run.cost = meter.stop();
  if (config.resources) run.resources = meter.take_resources();

  run.first_index = plan.first;
  run.index_stride = static_cast<std::size_t>(std::max<std::int64_t>(1, config.shard_stride));
  run.records = std::move(log.records());
  for (std::size_t i = 0; i < plan.due_us.size(); ++i) run.records[i].intended_us = plan.due_us[i];
  for (std::size_t i = 0; i < plan.job.origin_of.size(); ++i) run.records[i].origin = plan.job.origin_of[i];
  run.errors = log.errors();
  if (held0 >= 0 && run.seconds > 0) {
    const std::int64_t held1 = server_held_us(plan);
    if (held1 >= held0) run.server_mean_in_flight = static_cast<double>(held1 - held0) / (run.seconds * 1e6);
  }
  return run;
}

}  // namespace testbed
