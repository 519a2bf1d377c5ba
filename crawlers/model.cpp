// What the models call: the recorder, the blocking fetch with retries, the
// split over event loops, the sleep until a request is due.
#include "crawlers/model.hpp"

#include "common/clock.hpp"
#include "crawlers/crawl.hpp"

#include <algorithm>
#include <cassert>
#include <exception>
#include <thread>

namespace testbed {

CrawlJob CrawlJob::part(std::size_t begin, std::size_t end) const {
  CrawlJob p = *this;
  p.targets = targets.subspan(begin, end - begin);
  if (!origin_of.empty()) p.origin_of = origin_of.subspan(begin, end - begin);
  if (open_loop()) p.due_us = due_us.subspan(begin, end - begin);
  return p;
}

namespace {
thread_local std::uint16_t this_worker = 0;
}  // namespace

void set_worker(int k) { this_worker = static_cast<std::uint16_t>(k); }

void run_event_loops(const CrawlJob& job, const std::function<void(const LoopShare&)>& loop) {
  const std::size_t n = job.size();
  const std::size_t loops = std::max<std::size_t>(
      1, std::min({static_cast<std::size_t>(job.loops), static_cast<std::size_t>(job.concurrency), n}));
  std::vector<LoopShare> shares(loops);
  for (std::size_t k = 0; k < loops; ++k) {
    shares[k].begin = n * k / loops;
    shares[k].end = n * (k + 1) / loops;
    shares[k].concurrency = static_cast<int>(job.concurrency / loops + (k < job.concurrency % loops));
    shares[k].idle_extra = job.idle_extra / static_cast<std::int64_t>(loops);
    if (job.per_host > 0)  // the front end holds --per-host at --loops or more
      shares[k].per_host = std::max(1, static_cast<int>(job.per_host / loops + (k < job.per_host % loops)));
  }
  if (loops == 1) {
    set_worker(0);
    return loop(shares[0]);
  }
  std::vector<std::exception_ptr> failures(loops);
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < loops; ++k)
    threads.emplace_back([&, k] {
      set_worker(static_cast<int>(k));
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

void Recorder::start(std::size_t i) {
  assert(i < size_);
  records_[i].start_us = now_us();
}

bool Recorder::try_again(std::size_t i, const HttpResult& r, int attempt) {
  assert(i < size_);
  RequestRecord& rec = records_[i];
  rec.attempts = attempt + 1;
  rec.conn = r.conn;
  rec.opened = r.opened;
  rec.delay_us = r.delay_us;
  rec.connect_us = r.connect_us;
  rec.tls_us = r.tls_us;
  rec.resumed = r.resumed;
  rec.worker = this_worker;
  if (log_->retry_.again(r, attempt)) return true;
  if (r.status == 200 && log_->work_) {
    const auto at = static_cast<std::size_t>(records_ - log_->records_.data()) + i;
    rec.work_us = log_->spin_us_.empty() ? log_->work_->run(i) : log_->work_->run(i, log_->spin_us_[at]);
    if (log_->work_timeout_us_ > 0 && rec.work_us > log_->work_timeout_us_) {
      fail(i, "timeout: the work on the answer took longer than --timeout-ms");
      return false;
    }
  }
  if (r.status)
    finish(i, r.status, r.bytes);
  else
    fail(i, r.error);
  return false;
}

void Recorder::finish(std::size_t i, int status, std::int64_t bytes) {
  RequestRecord& r = records_[i];
  r.end_us = now_us();
  r.status = status;
  r.bytes = bytes;
  if (status != 200) log_->count_error("HTTP status " + std::to_string(status));
  log_->completed_.fetch_add(1, std::memory_order_relaxed);
}

void Recorder::fail(std::size_t i, std::string_view error) {
  RequestRecord& r = records_[i];
  r.end_us = now_us();
  r.status = 0;
  r.bytes = 0;
  log_->count_error(std::string(error));
  log_->completed_.fetch_add(1, std::memory_order_relaxed);
}

void fetch_blocking(SyncClient& client, const CrawlJob& job, Recorder& rec, std::size_t i, bool started) {
  if (!started) rec.start(i);
  for (int attempt = 0;; ++attempt) {
    HttpResult r = client.get(job.targets[i], attempt);  // blocks for the whole delay
    if (!rec.try_again(i, r, attempt)) return;
    std::this_thread::sleep_for(retry_backoff(attempt, i));
  }
}

std::unique_ptr<SyncClient> make_client(const CrawlJob& job, std::uint32_t o) {
  const Origin& to = job.origins[o];
  return std::make_unique<SyncClient>(to.endpoints, to.host_header, job.timeout, job.reuse, &to.tls);
}

SyncClient& SyncClients::for_origin(std::uint32_t o) {
  if (!clients_[o]) clients_[o] = make_client(job_, o);
  return *clients_[o];
}

void RecordLog::fail_unsettled(const std::string& why) {
  Recorder all = recorder(0, records_.size());
  for (std::size_t i = 0; i < records_.size(); ++i)
    if (records_[i].end_us == 0) all.fail(i, "not done: " + why);
}

void RecordLog::count_error(std::string error) {
  std::lock_guard lock(mu_);
  ++errors_[std::move(error)];
}

std::map<std::string, std::int64_t> RecordLog::errors() const {
  std::lock_guard lock(mu_);
  return errors_;
}

}  // namespace testbed
