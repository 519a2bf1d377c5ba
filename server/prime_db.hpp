#pragma once
// The prime "database": a SQLite file with primes(value INTEGER PRIMARY KEY).
// One writer thread owns the connection and commits whatever has queued up in
// one transaction, so a burst of saves costs one fsync, and the network
// threads never wait on the disk.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct sqlite3;

namespace testbed {

struct DbResult {
  bool ok = true;
  bool locked = false;     // !ok because another process held the database locked throughout
  std::string error;       // set when !ok
  std::int64_t count = 0;  // for stats
  std::int64_t sum = 0;    // for stats (fits: values are int64 primes, sum checked)
};

class PrimeDb {
 public:
  // Opens (creating if needed) the database; throws std::runtime_error on failure.
  // A save waits up to `lock_wait_ms` for a lock another process holds
  // (SQLite's busy timeout, and the whole transaction retried within it).
  explicit PrimeDb(const std::string& path, std::int64_t lock_wait_ms = 10'000);
  ~PrimeDb();
  PrimeDb(const PrimeDb&) = delete;
  PrimeDb& operator=(const PrimeDb&) = delete;

  using Callback = std::function<void(DbResult)>;
  // Each callback runs on the writer thread: post it back to your executor.
  void save(std::int64_t value, Callback done);
  void stats(Callback done);
  void reset(Callback done);

  const std::string& path() const { return path_; }

  // Test hook: make every later write fail as a broken disk would.
  void fail_writes_for_testing(bool fail);

 private:
  enum class Kind { save, stats, reset };
  struct Job {
    Kind kind;
    std::int64_t value;
    Callback done;
  };
  void enqueue(Job job);
  void writer_loop();
  void run_batch(std::deque<Job>& batch);
  // One try at the batch's transaction: ok, or the error and whether it was a lock.
  bool try_batch(std::deque<Job>& batch, std::vector<DbResult>& results, std::string& error, bool& locked);
  bool exec(const char* sql, std::string& error);

  std::string path_;
  std::int64_t lock_wait_ms_;
  sqlite3* db_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  bool fail_writes_ = false;
  std::thread writer_;
};

}  // namespace testbed
