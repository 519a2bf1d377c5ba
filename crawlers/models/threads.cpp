// Model 2, OS threads (the "many OS threads" baseline the chapter sets gevent
// against; the only preemptive model): the serial crawler's blocking loop,
// run by --concurrency threads at once. Each worker owns one keep-alive
// connection and takes the next URL from a shared counter, so at most
// `concurrency` requests are ever in flight. Each thread costs a kernel task,
// a stack and a context switch per request: what greenlets avoid. With
// --urls a worker keeps a connection per host it has met; with --per-host
// the threads share a capped pool per host instead.
//
// Open loop (--rate): the shared counter is the dispatcher. A free worker
// takes the next request and sleeps until it is due; with every worker busy,
// a due request waits for the first to come free (at most `concurrency` in
// flight), and that wait counts in its latency.
#include "client/sync_client.hpp"
#include "crawlers/model.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

namespace testbed {

namespace {

// --per-host: the connections to each origin, shared by the threads, at most
// per_host of them; a thread whose origin has them all busy blocks until one
// comes back (requests' HTTPAdapter(pool_maxsize=N, pool_block=True)). Only
// with the cap: without it each thread keeps its own, and takes no lock.
class SharedClients {
 public:
  explicit SharedClients(const CrawlJob& job) : job_(job), pools_(job.origins.size()) {}
  std::unique_ptr<SyncClient> take(std::uint32_t o) {
    Pool& p = pools_[o];
    std::unique_lock lock(p.mu);
    p.returned.wait(lock, [&] { return !p.idle.empty() || p.made < job_.per_host; });
    if (!p.idle.empty()) {
      auto c = std::move(p.idle.back());
      p.idle.pop_back();
      return c;
    }
    ++p.made;
    lock.unlock();
    return make_client(job_, o);
  }
  void give_back(std::uint32_t o, std::unique_ptr<SyncClient> c) {
    Pool& p = pools_[o];
    {
      std::lock_guard lock(p.mu);
      p.idle.push_back(std::move(c));
    }
    p.returned.notify_one();
  }

 private:
  struct Pool {
    std::mutex mu;
    std::condition_variable returned;
    std::vector<std::unique_ptr<SyncClient>> idle;
    int made = 0;
  };
  const CrawlJob& job_;
  std::vector<Pool> pools_;
};

}  // namespace

void crawl_threads(const CrawlJob& job, Recorder& rec) {
  const std::size_t total = job.size();
  std::atomic<std::size_t> next{0};
  std::optional<SharedClients> shared;
  if (job.per_host > 0) shared.emplace(job);
  auto worker = [&](int k) {
    set_worker(k);
    SyncClients own(job);
    for (std::size_t i; (i = next.fetch_add(1)) < total;) {
      if (job.open_loop()) sleep_until_us(job.due_us[i]);
      const std::uint32_t o = job.origin_index(i);
      if (!shared) {
        fetch_blocking(own.for_origin(o), job, rec, i);
        continue;
      }
      // The wait for a connection to its host is part of the request's latency.
      rec.start(i);
      std::unique_ptr<SyncClient> client = shared->take(o);
      fetch_blocking(*client, job, rec, i, /*started=*/true);
      shared->give_back(o, std::move(client));
    }
  };
  std::size_t n = std::min<std::size_t>(job.concurrency, total);
  std::vector<std::thread> pool;
  pool.reserve(n);
  try {
    for (std::size_t t = 0; t < n; ++t) pool.emplace_back(worker, static_cast<int>(t));
  } catch (const std::system_error& e) {
    // Out of threads (or memory for their stacks): the workers that run finish
    // the request they hold and take no more; the front end reports the rest
    // as not done, with this reason.
    next.store(total);
    for (auto& t : pool) t.join();
    throw std::runtime_error("could not start thread " + std::to_string(pool.size() + 1) + " of " +
                             std::to_string(n) + " (" + e.what() + ")");
  }
  for (auto& t : pool) t.join();
}

}  // namespace testbed
