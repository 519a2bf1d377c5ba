// What a crawl leaves behind: the client timeline CSV and the JSON summary,
// with every derived figure (the ideal time, the efficiency) computed here once
// for every script to read.
#include "crawlers/crawl.hpp"

#include "common/csv.hpp"

namespace testbed {

double ideal_seconds(std::int64_t num, int concurrency, std::int64_t delay_ms) {
  if (num <= 0 || concurrency <= 0) return 0;
  return static_cast<double>((num + concurrency - 1) / concurrency) * delay_ms / 1000.0;
}

std::string timeline_csv(const CrawlSummary& s) {
  std::string out = "model,index,start,end,bytes,status,attempts\n";
  out.reserve(out.size() + s.records.size() * 64);
  for (std::size_t i = 0; i < s.records.size(); ++i) {
    const RequestRecord& r = s.records[i];
    append_csv_field(out, s.config.model);
    out.push_back(',');
    append_int(out, static_cast<std::int64_t>(i));
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
    out.push_back('\n');
  }
  return out;
}

nlohmann::json to_json(const CrawlSummary& s) {
  const CrawlConfig& c = s.config;
  // A model with one request in flight (serial) has that whatever --concurrency says.
  const ModelEntry* model = find_model(c.model);
  int concurrency = model && model->one_in_flight ? 1 : c.concurrency;
  double ideal = ideal_seconds(c.num, concurrency, c.delay_ms);
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [msg, n] : s.errors) errors[msg] = n;
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
      {"ideal_seconds", ideal},
      {"efficiency", s.seconds > 0 ? ideal / s.seconds : 0.0},
      {"errors", errors},
      {"stopped_early", s.stopped_early.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.stopped_early)},
  };
}

}  // namespace testbed
