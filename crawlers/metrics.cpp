// Every derived figure of a crawl, computed here once from what was measured
// (the records, the settings, the cost): the counts, the ideal time and the
// efficiency, the percentiles, the overhead, the open loop's figures, the cost
// per request. crawl, crawl-mpi's merge and `crawl summarize` all call
// summarize(); the outputs only format what it returns.
#include "crawlers/crawl.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <queue>
#include <thread>

namespace testbed {

double ideal_seconds(const std::vector<std::int64_t>& delays_us, int slots,
                     const std::vector<std::int64_t>& due_us, const std::vector<std::uint32_t>& hosts,
                     int per_host) {
  if (delays_us.empty() || slots <= 0) return 0;
  // When each slot is free next, earliest first: request i goes to the
  // earliest, which is then busy for its delay.
  using Slots = std::priority_queue<std::int64_t, std::vector<std::int64_t>, std::greater<>>;
  Slots free_at;
  for (int k = 0; k < slots && static_cast<std::size_t>(k) < delays_us.size(); ++k) free_at.push(0);
  // --per-host: each host's own slots, made as its first request comes.
  const bool capped = per_host > 0 && hosts.size() == delays_us.size();
  std::vector<Slots> host_free_at;
  std::int64_t end = 0;
  for (std::size_t i = 0; i < delays_us.size(); ++i) {
    const std::int64_t d = delays_us[i];
    const std::int64_t due = i < due_us.size() ? due_us[i] - due_us.front() : 0;
    std::int64_t start = std::max(free_at.top(), due);
    Slots* host = nullptr;
    if (capped) {
      if (hosts[i] >= host_free_at.size()) host_free_at.resize(hosts[i] + 1);
      host = &host_free_at[hosts[i]];
      if (host->size() < static_cast<std::size_t>(per_host)) host->push(0);
      start = std::max(start, host->top());
      host->pop();
      host->push(start + d);
    }
    free_at.pop();
    free_at.push(start + d);
    end = std::max(end, start + d);
  }
  return static_cast<double>(end) / 1e6;
}

double batched_ideal_seconds(const std::vector<std::int64_t>& delays_us, int slots) {
  if (slots <= 0) return 0;
  std::int64_t total = 0;
  for (std::size_t b = 0; b < delays_us.size(); b += static_cast<std::size_t>(slots)) {
    auto first = delays_us.begin() + static_cast<std::ptrdiff_t>(b);
    auto last = delays_us.begin() + static_cast<std::ptrdiff_t>(std::min(delays_us.size(), b + slots));
    total += *std::max_element(first, last);
  }
  return static_cast<double>(total) / 1e6;
}

namespace {

// Nearest rank in sorted values: the smallest value with at least a fraction
// q of them at or below it.
double nearest_rank(const std::vector<double>& sorted, double q) {
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

// The quantiles of the overhead spectrum that latency.png draws, HDR-histogram
// style: ever closer to 1, where the tail is.
constexpr double kSpectrum[] = {0.0,  0.1,   0.25,  0.5,    0.75,   0.9, 0.95,
                                0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0};

}  // namespace

Percentiles percentiles(std::vector<double> values) {
  Percentiles p;
  if (values.empty()) return p;
  std::sort(values.begin(), values.end());
  auto at = [&](double q) { return nearest_rank(values, q); };
  for (double q : kSpectrum) p.spectrum.emplace_back(q, q == 0 ? values.front() : at(q));
  p.count = values.size();
  p.p50 = at(0.50);
  p.p90 = at(0.90);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = values.back();
  return p;
}

namespace {

// The delays the requests were given, from the server's answers
// (X-Delay-Us); a request without one (it failed, or another server) counts
// with the delay it asked for, the median, or (--urls, which asks for none)
// as unknown, -1. `said`: how many had one.
std::vector<std::int64_t> given_delays(const CrawlRun& run, std::size_t& said) {
  const bool asked = run.config.urls_file.empty();
  std::vector<std::int64_t> delays_us(run.records.size(), asked ? run.config.delay_ms * 1000 : -1);
  said = 0;
  for (std::size_t i = 0; i < run.records.size(); ++i)
    if (run.records[i].delay_us >= 0) {
      delays_us[i] = run.records[i].delay_us;
      ++said;
    }
  return delays_us;
}

// Where the ideal comes from, or why there is none.
std::string ideal_source(const CrawlRun& run, std::size_t said) {
  const std::size_t n = run.records.size();
  if (said == n) return "server";
  if (!run.config.urls_file.empty())
    return "none: " + std::to_string(n - said) + " of " + std::to_string(n) +
           " requests had no X-Delay-Us from their server, and --urls asks for no delay";
  return said == 0 ? "requested" : "server, requested where unanswered";
}

// How many of the sorted `times` are at or before `t`.
std::int64_t count_until(const std::vector<std::int64_t>& times, std::int64_t t) {
  return std::upper_bound(times.begin(), times.end(), t) - times.begin();
}

// --rate-profile: the run in windows from the first due time, each with the
// latency from due of the requests due in it and, at its end, those in flight
// and those due but not sent.
void windows_over_time(const CrawlRun& run, OpenLoopFigures& f) {
  std::vector<std::int64_t> due, sent, ended;
  for (const RequestRecord& r : run.records) {
    due.push_back(r.intended_us);
    if (r.start_us > 0) sent.push_back(r.start_us);
    if (r.end_us > 0) ended.push_back(r.end_us);
  }
  std::sort(due.begin(), due.end());
  std::sort(sent.begin(), sent.end());
  std::sort(ended.begin(), ended.end());
  const std::int64_t first = due.front();
  const std::int64_t last = std::max(due.back(), ended.empty() ? due.back() : ended.back());
  constexpr std::size_t kMostWindows = 10'000;
  const std::int64_t width = std::max<std::int64_t>(100'000, (last - first) / kMostWindows + 1);
  f.window_ms = static_cast<double>(width) / 1000.0;
  const auto count = static_cast<std::size_t>((last - first) / width + 1);
  std::vector<std::vector<double>> from_due(count);
  std::vector<std::int64_t> due_in(count, 0);
  for (const RequestRecord& r : run.records) {
    const auto w = static_cast<std::size_t>((r.intended_us - first) / width);
    ++due_in[w];
    if (r.status == 200) from_due[w].push_back(static_cast<double>(r.end_us - r.intended_us) / 1000.0);
  }
  f.over_time.resize(count);
  for (std::size_t w = 0; w < count; ++w) {
    OpenLoopFigures::Window& out = f.over_time[w];
    const std::int64_t end = first + static_cast<std::int64_t>(w + 1) * width - 1;
    out.start_s = static_cast<double>(w) * static_cast<double>(width) / 1e6;
    out.due = due_in[w];
    out.from_due_ms = percentiles(std::move(from_due[w]));
    out.in_flight = count_until(sent, end) - count_until(ended, end);
    out.backlog = count_until(due, end) - count_until(sent, end);
    f.peak_backlog = std::max(f.peak_backlog, out.backlog);
  }
}

// A spike: from the peak's end, how long until the p99 latency from due is
// back within 10% of the delay (`delay_ms`, the median given) and stays there.
void recovery_after_spike(double spike_end_s, double delay_ms, OpenLoopFigures& f) {
  if (delay_ms <= 0) {
    f.recovery_from = "no delay known to recover to";
    return;
  }
  const double bound = 1.1 * delay_ms;
  double back_at = spike_end_s;                   // the end of the last window past the bound
  const OpenLoopFigures::Window* last = nullptr;  // the last window with an answer, after the spike
  for (const auto& w : f.over_time) {
    const double w_end = w.start_s + f.window_ms / 1000.0;
    if (w_end <= spike_end_s || w.from_due_ms.count == 0) continue;
    last = &w;
    if (w.from_due_ms.p99 > bound) back_at = w_end;
  }
  if (!last) {
    f.recovery_from = "no request answered after the spike";
  } else if (last->from_due_ms.p99 > bound) {
    f.recovery_from = "p99 from due still over 1.1 x the delay at the end of the run";
  } else {
    f.recovery_s = back_at - spike_end_s;
    char text[96];
    std::snprintf(text, sizeof text, "p99 from due within 1.1 x the delay (%.1f ms) in every %.0f ms window",
                  bound, f.window_ms);
    f.recovery_from = text;
  }
}

OpenLoopFigures open_loop_figures(const CrawlRun& run, const std::vector<std::int64_t>& delays_us,
                                  int concurrency) {
  OpenLoopFigures f;
  std::vector<double> from_due_ms, service_ms, lag_ms;
  std::int64_t first_send = INT64_MAX, last_send = 0;
  for (const RequestRecord& r : run.records) {
    if (r.start_us == 0) continue;  // never sent (the model stopped early)
    const std::int64_t lag = r.start_us - r.intended_us;
    lag_ms.push_back(static_cast<double>(lag) / 1000.0);
    f.late_over_1ms += lag > 1000;
    first_send = std::min(first_send, r.start_us);
    last_send = std::max(last_send, r.start_us);
    if (r.status != 200) continue;
    from_due_ms.push_back(static_cast<double>(r.end_us - r.intended_us) / 1000.0);
    service_ms.push_back(static_cast<double>(r.end_us - r.start_us) / 1000.0);
  }
  const std::size_t sent = lag_ms.size();
  if (sent > 1 && last_send > first_send)
    f.achieved_rate_per_s = static_cast<double>(sent - 1) * 1e6 / static_cast<double>(last_send - first_send);
  f.kept_up = f.late_over_1ms * 100 <= static_cast<std::int64_t>(run.records.size());
  f.send_lag_ms = percentiles(std::move(lag_ms));
  f.latency_from_due_ms = percentiles(std::move(from_due_ms));
  f.service_ms = percentiles(std::move(service_ms));
  // The mean of the delays known (--urls: those the servers said).
  double sum_s = 0;
  std::size_t known = 0;
  for (auto d : delays_us)
    if (d >= 0) {
      sum_s += static_cast<double>(d) / 1e6;
      ++known;
    }
  const double mean_delay_s = known ? sum_s / static_cast<double>(known) : 0;
  f.littles_law_in_flight = run.config.rate * mean_delay_s;
  if (mean_delay_s > 0) f.capacity_per_s = concurrency / mean_delay_s;
  if (run.config.profile.any()) {
    windows_over_time(run, f);
    if (run.config.profile.spike_end_s >= 0) {
      std::vector<double> known;
      for (auto d : delays_us)
        if (d >= 0) known.push_back(static_cast<double>(d) / 1000.0);
      recovery_after_spike(run.config.profile.spike_end_s, percentiles(std::move(known)).p50, f);
    }
  }
  return f;
}

// The threads a model can do --work on: one for one request in flight, one a
// loop for the event-loop models, one a request in flight for the others
// (threads); at most the cores, in each process.
int work_threads(const ModelEntry* model, const CrawlConfig& c, int processes) {
  int threads = !model || model->one_in_flight ? 1
                : model->event_loops                ? c.loops
                : model->pool                       ? std::max(1, c.threads)
                                                    : c.concurrency;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, std::min(threads, cores)) * std::max(1, processes);
}

// What --work cost and the bound it sets; none when no request did any.
std::optional<WorkFigures> work_figures(const CrawlRun& run, const ModelEntry* model) {
  std::vector<double> per_request;
  std::int64_t total_us = 0;
  for (const RequestRecord& r : run.records)
    if (r.work_us > 0) {
      per_request.push_back(static_cast<double>(r.work_us));
      total_us += r.work_us;
    }
  if (!run.config.work.any() && per_request.empty()) return std::nullopt;
  WorkFigures w;
  w.spec = run.config.work.any() ? work_spec_text(run.config.work) : "from the timeline";
  w.cpu_seconds = static_cast<double>(total_us) / 1e6;
  w.per_request_us = percentiles(std::move(per_request));
  w.threads = work_threads(model, run.config, run.processes);
  w.bound_seconds = w.cpu_seconds / w.threads;
  std::map<int, WorkFigures::Worker> by;
  for (const RequestRecord& r : run.records)
    if (r.work_us > 0) {
      WorkFigures::Worker& k = by[r.worker];
      ++k.answers;
      k.cpu_seconds += static_cast<double>(r.work_us) / 1e6;
    }
  for (auto [worker, one] : by) {
    one.worker = worker;
    w.by_worker.push_back(one);
    if (w.cpu_seconds > 0) w.busiest_share = std::max(w.busiest_share, one.cpu_seconds / w.cpu_seconds);
  }
  return w;
}

}  // namespace

CrawlSummary summarize(CrawlRun run) {
  CrawlSummary s;
  const CrawlConfig& c = run.config;
  const ModelEntry* model = find_model(c.model);
  s.concurrency = model && model->one_in_flight ? run.processes : c.concurrency;
  s.timeout_ms = effective_timeout_ms(c);
  for (const RequestRecord& r : run.records) {
    s.retries += std::max(0, r.attempts - 1);
    if (r.status == 200) {
      s.bytes += r.bytes;
      ++s.answered;
    } else {
      ++s.failed;
    }
  }
  std::size_t said = 0;
  const std::vector<std::int64_t> delays_us = given_delays(run, said);
  s.ideal_from = ideal_source(run, said);
  const bool known = said == run.records.size() || c.urls_file.empty();  // every request's delay
  std::vector<std::int64_t> due_us;
  if (c.rate > 0)
    for (const RequestRecord& r : run.records) due_us.push_back(r.intended_us);
  s.work = work_figures(run, model);
  if (known) {
    std::vector<std::uint32_t> hosts;  // --per-host: each request's host
    if (c.per_host > 0)
      for (const RequestRecord& r : run.records) hosts.push_back(r.origin);
    s.ideal_seconds = ideal_seconds(delays_us, s.concurrency, due_us, hosts, c.per_host);
    if (s.work) s.ideal_seconds = std::max(*s.ideal_seconds, s.work->bound_seconds);
    if (s.answered > 0) s.efficiency = run.seconds > 0 ? *s.ideal_seconds / run.seconds : 0.0;
    if (c.batched) s.batched_ideal_seconds = batched_ideal_seconds(delays_us, s.concurrency);
  }
  // Every answered request: its latency, and what the model added to the
  // delay the server gave it (its overhead).
  std::vector<double> latency_ms, overhead_us, delay_ms, connect_us, tls_us;
  latency_ms.reserve(run.records.size());
  overhead_us.reserve(run.records.size());
  for (std::size_t i = 0; i < run.records.size(); ++i) {
    const RequestRecord& r = run.records[i];
    if (r.connect_us > 0) connect_us.push_back(static_cast<double>(r.connect_us));
    if (r.tls_us > 0) tls_us.push_back(static_cast<double>(r.tls_us));
    s.tls_resumed += r.resumed ? 1 : 0;
    if (r.status != 200) continue;
    latency_ms.push_back(static_cast<double>(r.end_us - r.start_us) / 1000.0);
    if (delays_us[i] < 0) continue;  // --urls: a server that did not say
    overhead_us.push_back(static_cast<double>(r.end_us - r.start_us - delays_us[i]));
    delay_ms.push_back(static_cast<double>(delays_us[i]) / 1000.0);
  }
  s.latency_ms = percentiles(std::move(latency_ms));
  s.overhead_us = percentiles(std::move(overhead_us));
  s.delay_given_ms = percentiles(std::move(delay_ms));
  s.connect_us = percentiles(std::move(connect_us));
  s.tls_us = percentiles(std::move(tls_us));
  if (model && !model->tells_resumption && s.tls_us.count > 0) s.tls_resumed = -1;
  if (c.rate > 0 && !run.records.empty()) s.open_loop = open_loop_figures(run, delays_us, s.concurrency);
  if (run.cost && c.num > 0)
    s.cpu_ms_per_1k =
        (run.cost->cpu_user_seconds + run.cost->cpu_system_seconds) * 1e6 / static_cast<double>(c.num);
  if (run.cost && s.concurrency > 0)
    s.rss_kib_per_slot = static_cast<double>(run.cost->peak_rss_kib - run.cost->rss_before_kib) / s.concurrency;
  s.run = std::move(run);
  return s;
}

}  // namespace testbed
