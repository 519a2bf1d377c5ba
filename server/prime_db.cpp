#include "server/prime_db.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <stdexcept>

namespace testbed {

PrimeDb::PrimeDb(const std::string& path, std::int64_t lock_wait_ms)
    : path_(path), lock_wait_ms_(lock_wait_ms) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("cannot open database " + path + ": " + msg);
  }
  // Another process (the sqlite3 shell, a backup) may hold the database locked
  // for a while: wait for it rather than fail every save at once.
  sqlite3_busy_timeout(db_, static_cast<int>(std::min<std::int64_t>(lock_wait_ms, INT32_MAX)));
  std::string err;
  // WAL + NORMAL: each commit is durable against a process crash, and cheap.
  if (!exec("PRAGMA journal_mode=WAL", err) || !exec("PRAGMA synchronous=NORMAL", err) ||
      !exec("CREATE TABLE IF NOT EXISTS primes(value INTEGER PRIMARY KEY)", err)) {
    sqlite3_close(db_);
    throw std::runtime_error("cannot prepare database " + path + ": " + err);
  }
  writer_ = std::thread([this] { writer_loop(); });
}

PrimeDb::~PrimeDb() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  writer_.join();  // drains the queue: every accepted save is committed or answered
  sqlite3_close(db_);
}

void PrimeDb::save(std::int64_t value, Callback done) { enqueue({Kind::save, value, std::move(done)}); }
void PrimeDb::stats(Callback done) { enqueue({Kind::stats, 0, std::move(done)}); }
void PrimeDb::reset(Callback done) { enqueue({Kind::reset, 0, std::move(done)}); }

void PrimeDb::fail_writes_for_testing(bool fail) {
  std::lock_guard lock(mu_);
  fail_writes_ = fail;
}

void PrimeDb::enqueue(Job job) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
}

bool PrimeDb::exec(const char* sql, std::string& error) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) == SQLITE_OK) return true;
  error = msg ? msg : sqlite3_errmsg(db_);
  sqlite3_free(msg);
  return false;
}

void PrimeDb::writer_loop() {
  std::deque<Job> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      batch.swap(queue_);
    }
    run_batch(batch);
    batch.clear();
  }
}

void PrimeDb::run_batch(std::deque<Job>& batch) {
  // A lock held by another process is waited out for up to lock_wait_ms_:
  // SQLite's busy handler waits inside each statement, and a transaction that
  // still meets a lock (SQLite does not always wait, for instance when waiting
  // could deadlock) is rolled back and tried again until the deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(lock_wait_ms_);
  std::vector<DbResult> results(batch.size());
  std::string error;
  bool locked = false;
  bool ok = try_batch(batch, results, error, locked);
  while (!ok && locked && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ok = try_batch(batch, results, error, locked);
  }
  // A save is answered only after its commit: a 200 means the prime is on disk.
  for (std::size_t i = 0; i < batch.size(); ++i) {
    results[i].ok = ok;
    results[i].locked = !ok && locked;
    if (!ok)
      results[i].error = locked ? "database is locked by another process (waited " +
                                      std::to_string(lock_wait_ms_) + " ms): " + error
                                : "database write failed: " + error;
    batch[i].done(std::move(results[i]));
  }
}

bool PrimeDb::try_batch(std::deque<Job>& batch, std::vector<DbResult>& results, std::string& error,
                        bool& locked) {
  bool fail;
  {
    std::lock_guard lock(mu_);
    fail = fail_writes_;
  }
  locked = false;
  if (fail) {
    error = "simulated write failure";
    return false;
  }
  // All saves of the batch go into one transaction; stats and resets run in
  // order. IMMEDIATE takes the write lock at the start, where waiting for it
  // is safe, rather than upgrading to it halfway.
  bool ok = exec("BEGIN IMMEDIATE", error);
  sqlite3_stmt* insert = nullptr;
  if (ok && sqlite3_prepare_v2(db_, "INSERT OR IGNORE INTO primes(value) VALUES(?)", -1, &insert, nullptr) !=
                SQLITE_OK) {
    ok = false;
    error = sqlite3_errmsg(db_);
  }
  for (std::size_t i = 0; ok && i < batch.size(); ++i) {
    Job& job = batch[i];
    if (job.kind == Kind::save) {
      sqlite3_bind_int64(insert, 1, job.value);
      if (sqlite3_step(insert) != SQLITE_DONE) {
        ok = false;
        error = sqlite3_errmsg(db_);
      }
      sqlite3_reset(insert);
    } else if (job.kind == Kind::reset) {
      ok = exec("DELETE FROM primes", error);
    } else {
      sqlite3_stmt* q = nullptr;
      if (sqlite3_prepare_v2(db_, "SELECT count(*), coalesce(sum(value), 0) FROM primes", -1, &q, nullptr) ==
              SQLITE_OK &&
          sqlite3_step(q) == SQLITE_ROW) {
        results[i].count = sqlite3_column_int64(q, 0);
        results[i].sum = sqlite3_column_int64(q, 1);
      } else {
        ok = false;
        error = sqlite3_errmsg(db_);
      }
      sqlite3_finalize(q);
    }
  }
  sqlite3_finalize(insert);
  if (ok) ok = exec("COMMIT", error);
  if (!ok) {
    int code = sqlite3_errcode(db_);
    locked = code == SQLITE_BUSY || code == SQLITE_LOCKED;
    std::string ignored;
    exec("ROLLBACK", ignored);
  }
  return ok;
}

}  // namespace testbed
