// What a crawl leaves behind, formatting only: the client timeline CSV (and
// reading one back), the JSON summary, the model table. Every figure comes
// from summarize() (metrics.cpp); nothing here computes one.
#include "crawlers/output.hpp"

#include "common/csv.hpp"
#include "common/version.hpp"

#include <charconv>
#include <map>

namespace testbed {

std::string timeline_csv(const CrawlRun& run, const std::vector<int>* ranks) {
  std::string out =
      "model,index,start,end,bytes,status,attempts,conn,opened,delay,intended,work_us,connect_us,"
      "tls_us,resumed,origin,worker";
  out += ranks ? ",rank\n" : "\n";
  out.reserve(out.size() + run.records.size() * 64);
  for (std::size_t i = 0; i < run.records.size(); ++i) {
    const RequestRecord& r = run.records[i];
    append_csv_field(out, run.config.model);
    out.push_back(',');
    append_int(out, static_cast<std::int64_t>(run.first_index + i * run.index_stride));
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
    out.push_back(',');
    append_int(out, r.work_us);
    out.push_back(',');
    append_int(out, r.connect_us);
    out.push_back(',');
    append_int(out, r.tls_us);
    out.push_back(',');
    out.push_back(r.resumed ? '1' : '0');
    out.push_back(',');
    append_int(out, r.origin);
    out.push_back(',');
    append_int(out, r.worker);
    if (ranks) {
      out.push_back(',');
      append_int(out, (*ranks)[i]);
    }
    out.push_back('\n');
  }
  return out;
}

namespace {

template <class T>
bool parse_int(const std::string& text, T& out) {
  auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

// One row of a timeline into `r`; false and the column at fault.
bool parse_record(const std::vector<std::string>& row, const std::map<std::string, std::size_t>& col,
                  RequestRecord& r, std::string& bad) {
  auto field = [&](const char* name) -> const std::string& { return row[col.at(name)]; };
  auto seconds = [&](const char* name, std::int64_t& us, bool may_be_empty) {
    if (may_be_empty && field(name).empty()) return true;
    auto v = parse_seconds_us(field(name));
    if (v) us = *v;
    return v.has_value();
  };
  const char* at = "start";
  bool ok =
      seconds("start", r.start_us, false) && (at = "end", seconds("end", r.end_us, false)) &&
      (at = "bytes", parse_int(field("bytes"), r.bytes)) &&
      (at = "status", parse_int(field("status"), r.status)) &&
      (at = "attempts", parse_int(field("attempts"), r.attempts)) &&
      // conn, opened and connect_us may be empty: a client whose library
      // hides its connections (the Python models) leaves them so.
      (at = "conn", field("conn").empty() || parse_int(field("conn"), r.conn)) &&
      (at = "opened", field("opened").empty() || field("opened") == "0" || field("opened") == "1") &&
      (at = "delay", seconds("delay", r.delay_us, true)) &&
      (at = "intended", seconds("intended", r.intended_us, true)) &&
      (at = "work_us", !col.count("work_us") || parse_int(field("work_us"), r.work_us)) &&  // older: none
      (at = "connect_us", !col.count("connect_us") || field("connect_us").empty() ||
                              parse_int(field("connect_us"), r.connect_us)) &&
      // tls_us and resumed: older timelines have neither; a client
      // whose library hides its handshakes leaves them empty.
      (at = "tls_us",
       !col.count("tls_us") || field("tls_us").empty() || parse_int(field("tls_us"), r.tls_us)) &&
      (at = "resumed", !col.count("resumed") || field("resumed").empty() || field("resumed") == "0" ||
                           field("resumed") == "1") &&
      // origin: older timelines have none (one host).
      (at = "origin",
       !col.count("origin") || field("origin").empty() || parse_int(field("origin"), r.origin)) &&
      // worker: older timelines, and the Python models', have none.
      (at = "worker",
       !col.count("worker") || field("worker").empty() || parse_int(field("worker"), r.worker));
  r.opened = field("opened") == "1";
  r.resumed = col.count("resumed") && field("resumed") == "1";
  if (!ok) bad = at;
  return ok;
}

}  // namespace

bool read_timeline_csv(std::string_view csv, CrawlRun& run, std::string* error) {
  std::vector<std::vector<std::string>> rows;
  if (!parse_csv(csv, rows, error)) return false;
  auto fail = [&](const std::string& why) {
    if (error) *error = why;
    return false;
  };
  if (rows.empty()) return fail("no header row");
  std::map<std::string, std::size_t> col;
  for (std::size_t k = 0; k < rows[0].size(); ++k) col[rows[0][k]] = k;
  for (const char* name : {"model", "index", "start", "end", "bytes", "status", "attempts", "conn", "opened",
                           "delay", "intended"})
    if (!col.count(name)) return fail(std::string("no '") + name + "' column");
  std::vector<RequestRecord> by_index(run.records);
  std::vector<bool> seen(by_index.size(), true);
  for (std::size_t line = 1; line < rows.size(); ++line) {
    const auto& row = rows[line];
    const std::string where = "row " + std::to_string(line + 1) + ": ";
    if (row.size() != rows[0].size()) return fail(where + "not as many fields as the header");
    const std::string& model = row[col["model"]];
    if (run.config.model.empty()) run.config.model = model;
    if (model != run.config.model)
      return fail(where + "model '" + model + "' in a timeline of '" + run.config.model + "'");
    std::size_t index = 0;
    if (!parse_int(row[col["index"]], index)) return fail(where + "index is not a request's number");
    if (index >= static_cast<std::size_t>(kMaxRequests))
      return fail(where + "index " + std::to_string(index) + " is past the most requests a run holds (" +
                  std::to_string(kMaxRequests) + ")");
    if (index >= by_index.size()) {
      by_index.resize(index + 1);
      seen.resize(index + 1, false);
    }
    if (seen[index]) return fail(where + "request " + std::to_string(index) + " is there twice");
    std::string bad;
    if (!parse_record(row, col, by_index[index], bad)) return fail(where + "'" + bad + "' is not valid");
    seen[index] = true;
  }
  for (std::size_t i = 0; i < seen.size(); ++i)
    if (!seen[i]) return fail("request " + std::to_string(i) + " is missing (indexes must run from 0)");
  run.records = std::move(by_index);
  return true;
}

namespace {

nlohmann::json to_json(const Percentiles& p) {
  if (p.count == 0) return nullptr;
  return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}, {"p99.9", p.p999}, {"max", p.max}};
}

template <class T>
nlohmann::json or_null(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// --rate-profile: each window of the run, and the recovery after a spike.
void add_over_time(const OpenLoopFigures& f, const CrawlRun& run, nlohmann::json& out) {
  const RateProfile& p = run.config.profile;
  out["rate_profile"] = p.any() ? nlohmann::json(p.spec) : nlohmann::json(nullptr);
  if (!p.any()) return;
  nlohmann::json windows = nlohmann::json::array();
  for (const auto& w : f.over_time)
    windows.push_back({{"t", w.start_s},
                       {"due", w.due},
                       {"p50_from_due_ms", w.from_due_ms.count ? nlohmann::json(w.from_due_ms.p50) : nullptr},
                       {"p99_from_due_ms", w.from_due_ms.count ? nlohmann::json(w.from_due_ms.p99) : nullptr},
                       {"in_flight", w.in_flight},
                       {"backlog", w.backlog}});
  out["window_ms"] = f.window_ms;
  out["over_time"] = std::move(windows);
  out["peak_backlog"] = f.peak_backlog;
  out["spike_end_s"] = p.spike_end_s >= 0 ? nlohmann::json(p.spike_end_s) : nlohmann::json(nullptr);
  out["recovery_s"] = or_null(f.recovery_s);
  out["recovery_from"] = f.recovery_from.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.recovery_from);
}

nlohmann::json to_json(const OpenLoopFigures& f, const CrawlRun& run) {
  const CrawlConfig& c = run.config;
  nlohmann::json out = {
      {"rate_per_s", c.rate},
      {"arrivals", c.arrivals == Arrivals::poisson ? "poisson" : "constant"},
      {"duration_s", c.duration_s > 0 ? nlohmann::json(c.duration_s) : nlohmann::json(nullptr)},
      {"achieved_rate_per_s", or_null(f.achieved_rate_per_s)},
      {"late_over_1ms", f.late_over_1ms},
      {"kept_up", f.kept_up},
      {"send_lag_ms", to_json(f.send_lag_ms)},
      {"latency_from_due_ms", to_json(f.latency_from_due_ms)},
      {"service_ms", to_json(f.service_ms)},
      {"littles_law_in_flight", f.littles_law_in_flight},
      {"capacity_per_s", or_null(f.capacity_per_s)},
      {"server_mean_in_flight",
       run.server_mean_in_flight >= 0 ? nlohmann::json(run.server_mean_in_flight) : nlohmann::json(nullptr)},
  };
  add_over_time(f, run, out);
  return out;
}

nlohmann::json to_json(const std::optional<RunCost>& k, const std::optional<double>& cpu_ms_per_1k,
                       const std::optional<double>& rss_kib_per_slot) {
  if (!k) return nullptr;
  return {
      {"rss_kib_per_slot", rss_kib_per_slot.value_or(0.0)},
      {"cpu_user_seconds", k->cpu_user_seconds},
      {"cpu_system_seconds", k->cpu_system_seconds},
      {"cpu_ms_per_1k", cpu_ms_per_1k.value_or(0.0)},
      {"peak_rss_kib", k->peak_rss_kib},
      {"rss_growth_kib", k->peak_rss_kib - k->rss_before_kib},
      {"voluntary_switches", k->voluntary_switches},
      {"involuntary_switches", k->involuntary_switches},
      {"peak_threads", k->peak_threads},
      {"connections_opened", k->connections_opened},
  };
}

// --resources: how many rows, how often, and what taking them cost.
nlohmann::json to_json(const std::optional<ResourceSeries>& r) {
  if (!r) return nullptr;
  return {{"rows", r->rows.size()},
          {"every_ms", ResourceProbe::kEveryUs / 1000},
          {"rows_cpu_pct", r->rows_cpu_pct},
          {"sampler_cpu_pct", r->sampler_cpu_pct},
          {"problem", r->problem.empty() ? nlohmann::json(nullptr) : nlohmann::json(r->problem)}};
}

}  // namespace

namespace {

nlohmann::json to_json(const WorkFigures& w) {
  nlohmann::json by_worker = nlohmann::json::array();
  for (const auto& k : w.by_worker)
    by_worker.push_back({{"worker", k.worker}, {"answers", k.answers}, {"cpu_seconds", k.cpu_seconds}});
  return {{"spec", w.spec},
          {"cpu_seconds", w.cpu_seconds},
          {"per_request_us", to_json(w.per_request_us)},
          {"threads", w.threads},
          {"bound_seconds", w.bound_seconds},
          {"by_worker", by_worker},
          {"busiest_share", w.busiest_share}};
}

}  // namespace

nlohmann::json to_json(const CrawlSummary& s) {
  const CrawlRun& run = s.run;
  const CrawlConfig& c = run.config;
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [msg, n] : run.errors) errors[msg] = n;
  return {
      {"model", c.model},
      {"name", c.name},
      {"url", c.urls_file.empty() ? nlohmann::json(c.url) : nlohmann::json(nullptr)},  // --urls: the file's
      {"urls_file", c.urls_file.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.urls_file)},
      {"per_host", c.per_host},
      {"num", c.num},
      {"concurrency", s.concurrency},
      {"delay_ms", c.delay_ms},
      {"bytes", s.bytes},
      {"seconds", run.seconds},
      {"seconds_from", run.seconds_from},
      {"failed", s.failed},
      {"loops", c.loops},
      {"threads", c.threads > 0 ? nlohmann::json(c.threads) : nlohmann::json(nullptr)},  // a pool model's
      {"retries", s.retries},
      {"max_retries", c.retries},
      {"timeout_ms", s.timeout_ms},
      {"delay_dist", delay_spec(c.delay_dist)},
      {"batched", c.batched},
      {"spawn_all", c.spawn_all},
      {"ideal_seconds", or_null(s.ideal_seconds)},
      {"ideal_from", s.ideal_from},
      {"efficiency", or_null(s.efficiency)},
      {"answered", s.answered},
      {"batched_ideal_seconds", or_null(s.batched_ideal_seconds)},
      {"delay_given_ms", to_json(s.delay_given_ms)},
      {"errors", errors},
      {"stopped_early",
       run.stopped_early.empty() ? nlohmann::json(nullptr) : nlohmann::json(run.stopped_early)},
      {"latency_ms", to_json(s.latency_ms)},
      {"overhead_us", to_json(s.overhead_us)},
      {"overhead_us_spectrum", s.overhead_us.spectrum},
      {"cost", to_json(run.cost, s.cpu_ms_per_1k, s.rss_kib_per_slot)},
      {"resources", to_json(run.resources)},
      {"open_loop", s.open_loop ? to_json(*s.open_loop, run) : nlohmann::json(nullptr)},
      {"work", s.work ? to_json(*s.work) : nlohmann::json(nullptr)},
      {"connection", connection_spec_text(c.reuse)},
      {"connect_us", to_json(s.connect_us)},
      {"tls_us", to_json(s.tls_us)},
      {"tls_resumed", s.tls_resumed >= 0 ? nlohmann::json(s.tls_resumed) : nlohmann::json(nullptr)},
      {"seed", c.seed},
      {"version", version_line("crawl")},
  };
}

bool run_from_json(const nlohmann::json& j, CrawlRun& run, std::string* error) {
  try {
    CrawlConfig& c = run.config;
    c.model = j.at("model").get<std::string>();
    c.name = j.at("name").get<std::string>();
    if (const auto& u = j.at("url"); u.is_string()) c.url = u.get<std::string>();  // null: --urls
    if (const auto& f = j.value("urls_file", nlohmann::json()); f.is_string())
      c.urls_file = f.get<std::string>();
    c.per_host = j.value("per_host", 0);
    c.num = j.at("num").get<std::int64_t>();
    c.concurrency = j.at("concurrency").get<int>();
    c.delay_ms = j.at("delay_ms").get<std::int64_t>();
    c.loops = j.at("loops").get<int>();
    if (const auto& t = j.value("threads", nlohmann::json()); t.is_number_integer()) c.threads = t.get<int>();
    c.retries = j.at("max_retries").get<int>();
    c.batched = j.at("batched").get<bool>();
    c.spawn_all = j.value("spawn_all", false);  // older runs: none
    c.seed = j.at("seed").get<std::uint64_t>();
    std::string why;
    auto dist = parse_delay_spec(j.at("delay_dist").get<std::string>(), &why);
    if (!dist) throw std::invalid_argument("delay_dist: " + why);
    c.delay_dist = *dist;
    if (j.contains("connection")) {
      auto reuse = parse_connection_spec(j.at("connection").get<std::string>(), &why);
      if (!reuse) throw std::invalid_argument("connection: " + why);
      c.reuse = *reuse;
    }
    if (const auto& w = j.value("work", nlohmann::json()); w.is_object()) {
      auto work = parse_work_spec(w.at("spec").get<std::string>(), &why);
      if (work) c.work = *work;  // "from the timeline": none given
    }
    if (const auto& o = j.at("open_loop"); !o.is_null()) {
      c.rate = o.at("rate_per_s").get<double>();
      c.arrivals = o.at("arrivals").get<std::string>() == "poisson" ? Arrivals::poisson : Arrivals::constant;
      c.duration_s = o.at("duration_s").is_null() ? 0 : o.at("duration_s").get<double>();
      if (const auto& p = o.value("rate_profile", nlohmann::json()); p.is_string()) {
        auto profile = parse_rate_profile(p.get<std::string>(), &why);
        if (!profile) throw std::invalid_argument("rate_profile: " + why);
        c.profile = *profile;  // the rate stays the run's mean, as recorded
      }
      run.server_mean_in_flight =
          o.at("server_mean_in_flight").is_null() ? -1 : o.at("server_mean_in_flight").get<double>();
    }
    run.seconds = j.at("seconds").get<double>();
    run.seconds_from = j.value("seconds_from", "clock");
    if (j.contains("mpi")) run.processes = j.at("mpi").at("ranks").get<int>();
    for (const auto& [msg, n] : j.at("errors").items()) run.errors[msg] = n.get<std::int64_t>();
    if (!j.at("stopped_early").is_null()) run.stopped_early = j.at("stopped_early").get<std::string>();
    if (const auto& k = j.at("cost"); !k.is_null()) {
      RunCost cost;
      cost.cpu_user_seconds = k.at("cpu_user_seconds").get<double>();
      cost.cpu_system_seconds = k.at("cpu_system_seconds").get<double>();
      cost.peak_rss_kib = k.at("peak_rss_kib").get<std::int64_t>();
      cost.rss_before_kib = cost.peak_rss_kib - k.at("rss_growth_kib").get<std::int64_t>();
      cost.voluntary_switches = k.at("voluntary_switches").get<std::int64_t>();
      cost.involuntary_switches = k.at("involuntary_switches").get<std::int64_t>();
      cost.peak_threads = k.at("peak_threads").get<std::int64_t>();
      cost.connections_opened = k.at("connections_opened").get<std::int64_t>();
      run.cost = cost;
    }
    return true;
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return false;
  }
}

namespace {

// The number at `path` in a summary, if it holds one.
std::optional<double> number_at(const nlohmann::json& j, const nlohmann::json::json_pointer& path) {
  if (!j.contains(path)) return std::nullopt;
  const auto& v = j.at(path);
  if (!v.is_number()) return std::nullopt;
  return v.get<double>();
}

}  // namespace

nlohmann::json compare_json(const nlohmann::json& base, const nlohmann::json& other) {
  using ptr = nlohmann::json::json_pointer;
  static const std::pair<const char*, const char*> figures[] = {
      {"efficiency", "/efficiency"},         {"seconds", "/seconds"},
      {"overhead_p50_us", "/overhead_us/p50"}, {"overhead_p99_us", "/overhead_us/p99"},
      {"cpu_ms_per_1k", "/cost/cpu_ms_per_1k"}, {"peak_rss_kib", "/cost/peak_rss_kib"},
      {"peak_threads", "/cost/peak_threads"}};
  auto model = [](const nlohmann::json& j) {
    return j.contains("model") && j["model"].is_string() ? j["model"].get<std::string>() : std::string();
  };
  nlohmann::json out = {{"base", model(base)}, {"other", model(other)}};
  nlohmann::json ratios = nlohmann::json::object();
  for (const auto& [name, path] : figures) {
    const auto b = number_at(base, ptr(path)), o = number_at(other, ptr(path));
    ratios[name] = b && o && *b != 0 ? nlohmann::json(*o / *b) : nlohmann::json(nullptr);
  }
  out["ratios"] = ratios;
  return out;
}

nlohmann::json models_json() {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : models())
    out.push_back({{"name", m.name},
                   {"mirrors", m.mirrors},
                   {"bounded_by", m.bounded_by},
                   {"one_in_flight", m.one_in_flight},
                   {"event_loops", m.event_loops},
                   {"pool", m.pool},
                   {"tells_resumption", m.tells_resumption}});
  return out;
}

}  // namespace testbed
