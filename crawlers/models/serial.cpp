// Model 1, serial (the book's Example 8-3): one request at a time, in order,
// over one keep-alive connection. Every delay is paid in full, one after the
// other: N requests take N * delay.
#include "client/sync_client.hpp"
#include "crawlers/crawl.hpp"

namespace testbed {

void crawl_serial(const CrawlJob& job, Recorder& rec) {
  SyncClient client(job.endpoints, job.host_header, job.timeout);
  for (std::size_t i = 0; i < job.targets.size(); ++i)
    fetch_blocking(client, job, rec, i);  // blocks for the delay (and any retries)
}

}  // namespace testbed
