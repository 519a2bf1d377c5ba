// Model 2, OS threads (the "many OS threads" baseline the chapter sets gevent
// against; the only preemptive model): the serial crawler's blocking loop,
// run by --concurrency threads at once. Each worker owns one keep-alive
// connection and takes the next URL from a shared counter, so at most
// `concurrency` requests are ever in flight. Each thread costs a kernel task,
// a stack and a context switch per request: what greenlets avoid.
//
// Open loop (--rate): the shared counter is the dispatcher. A free worker
// takes the next request and sleeps until it is due; with every worker busy,
// a due request waits for the first to come free (at most `concurrency` in
// flight), and that wait counts in its latency.
#include "client/sync_client.hpp"
#include "crawlers/model.hpp"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

namespace testbed {

void crawl_threads(const CrawlJob& job, Recorder& rec) {
  const std::size_t total = job.size();
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    SyncClient client(job.endpoints, job.host_header, job.timeout, job.reuse, &job.tls);
    for (std::size_t i; (i = next.fetch_add(1)) < total;) {
      if (job.open_loop()) sleep_until_us(job.due_us[i]);
      fetch_blocking(client, job, rec, i);
    }
  };
  std::size_t n = std::min<std::size_t>(job.concurrency, total);
  std::vector<std::thread> pool;
  pool.reserve(n);
  try {
    for (std::size_t t = 0; t < n; ++t) pool.emplace_back(worker);
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
