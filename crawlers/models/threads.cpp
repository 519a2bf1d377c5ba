// Model 2, thread pool (gevent's "blocking code, many workers", Example 8-4):
// the serial crawler's blocking loop, run by --concurrency OS threads at once.
// Each worker owns one keep-alive connection and takes the next URL from a
// shared counter, so at most `concurrency` requests are ever in flight.
#include "client/http_client.hpp"
#include "crawlers/crawl.hpp"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace testbed {

void crawl_threads(const CrawlJob& job, Recorder& rec) {
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    SyncClient client(job.endpoints, job.host_header, job.timeout);
    for (std::size_t i; (i = next.fetch_add(1)) < job.targets.size();) fetch_blocking(client, job, rec, i);
  };
  std::size_t n = std::min<std::size_t>(job.concurrency, job.targets.size());
  std::vector<std::thread> pool;
  pool.reserve(n);
  for (std::size_t t = 0; t < n; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
}

}  // namespace testbed
