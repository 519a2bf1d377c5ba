// What the models report to: each request's start, every attempt's outcome,
// and the retry decision (one policy for every model, see client/retry.hpp).
#include "crawlers/crawl.hpp"

#include "client/http_client.hpp"
#include "common/clock.hpp"

#include <algorithm>
#include <thread>

namespace testbed {

void Recorder::start(std::size_t i) { records_[i].start_us = now_us(); }

bool Recorder::settle(std::size_t i, const HttpResult& r, int attempt) {
  RequestRecord& rec = records_[i];
  rec.attempts = attempt + 1;
  rec.conn = r.conn;
  rec.opened = r.opened;
  rec.delay_us = r.delay_us;
  if (retry_.again(r, attempt)) return true;
  if (r.status)
    finish(i, r.status, r.bytes);
  else
    fail(i, r.error);
  return false;
}

void fetch_blocking(SyncClient& client, const CrawlJob& job, Recorder& rec, std::size_t i) {
  rec.start(i);
  for (int attempt = 0;; ++attempt) {
    HttpResult r = client.get(job.targets[i], attempt);  // blocks for the whole delay
    if (!rec.settle(i, r, attempt)) return;
    std::this_thread::sleep_for(retry_backoff(attempt, i));
  }
}

void Recorder::fail_unsettled(const std::string& why, std::size_t begin, std::size_t end) {
  for (std::size_t i = begin; i < std::min(end, records_.size()); ++i)
    if (records_[i].end_us == 0) fail(i, "not done: " + why);
}

void Recorder::finish(std::size_t i, int status, std::int64_t bytes) {
  RequestRecord& r = records_[i];
  r.end_us = now_us();
  r.status = status;
  r.bytes = bytes;
  if (status != 200) count_error("HTTP status " + std::to_string(status));
  completed_.fetch_add(1, std::memory_order_relaxed);
}

void Recorder::fail(std::size_t i, std::string_view error) {
  RequestRecord& r = records_[i];
  r.end_us = now_us();
  r.status = 0;
  r.bytes = 0;
  count_error(std::string(error));
  completed_.fetch_add(1, std::memory_order_relaxed);
}

void Recorder::count_error(std::string error) {
  std::lock_guard lock(mu_);
  ++errors_[std::move(error)];
}

std::map<std::string, std::int64_t> Recorder::errors() const {
  std::lock_guard lock(mu_);
  return errors_;
}

}  // namespace testbed
