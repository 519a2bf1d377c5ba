// What a crawl leaves behind: the client timeline CSV and the JSON summary,
// with every derived figure (the ideal time, the efficiency) computed here once
// for every script to read.
#include "crawlers/crawl.hpp"

#include "common/csv.hpp"
#include "common/version.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>

namespace testbed {

double ideal_seconds(const std::vector<std::int64_t>& delays_us, int slots,
                     const std::vector<std::int64_t>& due_us) {
  if (delays_us.empty() || slots <= 0) return 0;
  // When each slot is free next, earliest first: request i goes to the
  // earliest, which is then busy for its delay.
  std::priority_queue<std::int64_t, std::vector<std::int64_t>, std::greater<>> free_at;
  for (int k = 0; k < slots && static_cast<std::size_t>(k) < delays_us.size(); ++k) free_at.push(0);
  std::int64_t end = 0;
  for (std::size_t i = 0; i < delays_us.size(); ++i) {
    const std::int64_t d = delays_us[i];
    const std::int64_t due = i < due_us.size() ? due_us[i] - due_us.front() : 0;
    std::int64_t t = std::max(free_at.top(), due) + d;
    free_at.pop();
    free_at.push(t);
    end = std::max(end, t);
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

std::string timeline_csv(const CrawlSummary& s, const std::vector<int>* ranks) {
  std::string out = "model,index,start,end,bytes,status,attempts,conn,opened,delay,intended";
  out += ranks ? ",rank\n" : "\n";
  out.reserve(out.size() + s.records.size() * 64);
  for (std::size_t i = 0; i < s.records.size(); ++i) {
    const RequestRecord& r = s.records[i];
    append_csv_field(out, s.config.model);
    out.push_back(',');
    append_int(out, static_cast<std::int64_t>(s.first_index + i));
    out.push_back(',');
    append_seconds(out, r.start_us);
    out.push_back(',');
    append_seconds(out, r.end_us);
    out.push_back(',');
    append_int(out, r.bytes);
    out.push_back(',');
    append_int(out, r.status);
    out.push_back(',');
    append_int(out, r.attempts);
    out.push_back(',');
    append_int(out, r.conn);
    out.push_back(',');
    out.push_back(r.opened ? '1' : '0');
    out.push_back(',');
    if (r.delay_us >= 0) append_seconds(out, r.delay_us);  // empty: the server did not say
    out.push_back(',');
    if (r.intended_us > 0) append_seconds(out, r.intended_us);  // empty: closed loop
    if (ranks) {
      out.push_back(',');
      append_int(out, (*ranks)[i]);
    }
    out.push_back('\n');
  }
  return out;
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

nlohmann::json to_json(const Percentiles& p) {
  if (p.count == 0) return nullptr;
  return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}, {"p99.9", p.p999}, {"max", p.max}};
}

}  // namespace

nlohmann::json to_json(const CrawlSummary& s) {
  const CrawlConfig& c = s.config;
  // A model with one request in flight (serial) has that whatever --concurrency says.
  const ModelEntry* model = find_model(c.model);
  int concurrency = model && model->one_in_flight ? 1 : c.concurrency;
  // The delays the requests were given, from the server's answers
  // (X-Delay-Us); a request without one (it failed, or another server) counts
  // with the delay it asked for, the median.
  std::vector<std::int64_t> delays_us(s.records.size(), c.delay_ms * 1000);
  std::size_t delays_said = 0;
  for (std::size_t i = 0; i < s.records.size(); ++i)
    if (s.records[i].delay_us >= 0) {
      delays_us[i] = s.records[i].delay_us;
      ++delays_said;
    }
  std::vector<std::int64_t> due_us;
  if (c.rate > 0)
    for (const RequestRecord& r : s.records) due_us.push_back(r.intended_us);
  double ideal = ideal_seconds(delays_us, concurrency, due_us);
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [msg, n] : s.errors) errors[msg] = n;
  // Every answered request: its latency, and what the model added to the
  // delay the server gave it (its overhead).
  std::vector<double> latency_ms, overhead_us, delay_ms;
  latency_ms.reserve(s.records.size());
  overhead_us.reserve(s.records.size());
  for (std::size_t i = 0; i < s.records.size(); ++i) {
    const RequestRecord& r = s.records[i];
    if (r.status != 200) continue;
    latency_ms.push_back(static_cast<double>(r.end_us - r.start_us) / 1000.0);
    overhead_us.push_back(static_cast<double>(r.end_us - r.start_us - delays_us[i]));
    delay_ms.push_back(static_cast<double>(delays_us[i]) / 1000.0);
  }
  const Percentiles overhead = percentiles(std::move(overhead_us));
  nlohmann::json open = nullptr;
  if (c.rate > 0 && !s.records.empty()) {
    // Latency from when a request was due (what a user of the service sees)
    // against service time from its send (what a closed-loop tool reports).
    std::vector<double> from_due_ms, service_ms, lag_ms;
    std::int64_t late = 0, first_send = INT64_MAX, last_send = 0;
    for (std::size_t i = 0; i < s.records.size(); ++i) {
      const RequestRecord& r = s.records[i];
      if (r.start_us == 0) continue;  // never sent (the model stopped early)
      const std::int64_t lag = r.start_us - r.intended_us;
      lag_ms.push_back(static_cast<double>(lag) / 1000.0);
      late += lag > 1000;
      first_send = std::min(first_send, r.start_us);
      last_send = std::max(last_send, r.start_us);
      if (r.status != 200) continue;
      from_due_ms.push_back(static_cast<double>(r.end_us - r.intended_us) / 1000.0);
      service_ms.push_back(static_cast<double>(r.end_us - r.start_us) / 1000.0);
    }
    const std::size_t sent = lag_ms.size();
    double mean_delay_s = 0;
    for (auto d : delays_us)
      mean_delay_s += static_cast<double>(d) / 1e6 / static_cast<double>(delays_us.size());
    open = {
        {"rate_per_s", c.rate},
        {"arrivals", c.arrivals == Arrivals::poisson ? "poisson" : "constant"},
        {"duration_s", c.duration_s > 0 ? nlohmann::json(c.duration_s) : nlohmann::json(nullptr)},
        {"achieved_rate_per_s", sent > 1 && last_send > first_send
                                    ? nlohmann::json(static_cast<double>(sent - 1) * 1e6 /
                                                     static_cast<double>(last_send - first_send))
                                    : nlohmann::json(nullptr)},
        {"late_over_1ms", late},
        // Kept up: at most 1% of the requests sent more than 1 ms after they were due.
        {"kept_up", late * 100 <= static_cast<std::int64_t>(s.records.size())},
        {"send_lag_ms", to_json(percentiles(std::move(lag_ms)))},
        {"latency_from_due_ms", to_json(percentiles(std::move(from_due_ms)))},
        {"service_ms", to_json(percentiles(std::move(service_ms)))},
        // Little's law: to carry `rate` requests a second that each take the
        // mean delay, this many must be in flight.
        {"littles_law_in_flight", c.rate * mean_delay_s},
        // The most `concurrency` slots can carry with these delays.
        {"capacity_per_s",
         mean_delay_s > 0 ? nlohmann::json(concurrency / mean_delay_s) : nlohmann::json(nullptr)},
        {"server_mean_in_flight",
         s.server_mean_in_flight >= 0 ? nlohmann::json(s.server_mean_in_flight) : nlohmann::json(nullptr)},
    };
  }
  const RunCost& k = s.cost;
  const double cpu = k.cpu_user_seconds + k.cpu_system_seconds;
  nlohmann::json cost = {
      {"cpu_user_seconds", k.cpu_user_seconds},
      {"cpu_system_seconds", k.cpu_system_seconds},
      {"cpu_ms_per_1k", c.num > 0 ? cpu * 1000.0 * 1000.0 / static_cast<double>(c.num) : 0.0},
      {"peak_rss_kib", k.peak_rss_kib},
      {"rss_growth_kib", k.peak_rss_kib - k.rss_before_kib},
      {"voluntary_switches", k.voluntary_switches},
      {"involuntary_switches", k.involuntary_switches},
      {"peak_threads", k.peak_threads},
      {"connections_opened", k.connections_opened},
  };
  return {
      {"model", c.model},
      {"name", c.name},
      {"url", c.url},
      {"num", c.num},
      {"concurrency", concurrency},
      {"delay_ms", c.delay_ms},
      {"bytes", s.bytes},
      {"seconds", s.seconds},
      {"failed", s.failed},
      {"loops", c.loops},
      {"retries", s.retries},
      {"max_retries", c.retries},
      {"timeout_ms", effective_timeout_ms(c)},
      {"delay_dist", delay_spec(c.delay_dist)},
      {"batched", c.batched},
      {"ideal_seconds", ideal},
      {"ideal_from", delays_said == s.records.size() ? "server"
                     : delays_said == 0              ? "requested"
                                                     : "server, requested where unanswered"},
      {"efficiency", s.seconds > 0 ? ideal / s.seconds : 0.0},
      {"batched_ideal_seconds",
       c.batched ? nlohmann::json(batched_ideal_seconds(delays_us, concurrency)) : nlohmann::json(nullptr)},
      {"delay_given_ms", to_json(percentiles(std::move(delay_ms)))},
      {"errors", errors},
      {"stopped_early", s.stopped_early.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.stopped_early)},
      {"latency_ms", to_json(percentiles(std::move(latency_ms)))},
      {"overhead_us", to_json(overhead)},
      {"overhead_us_spectrum", overhead.spectrum},
      {"cost", cost},
      {"open_loop", open},
      {"seed", c.seed},
      {"version", version_line("crawl")},
  };
}

}  // namespace testbed
