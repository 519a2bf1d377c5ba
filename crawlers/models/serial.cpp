// Model 1, serial (the book's Example 8-3): one request at a time, in order,
// over one keep-alive connection (one per host with --urls). Every delay is paid in full, one after the
// other: N requests take N * delay.
//
// Open loop (--rate): the loop itself is the dispatcher. It sleeps until the
// next request is due, unless it is already late: one request in flight at
// most, so a delay longer than the gap between arrivals makes every later
// request late, and the wait counts in its latency from when it was due.
#include "client/sync_client.hpp"
#include "crawlers/model.hpp"

namespace testbed {

void crawl_serial(const CrawlJob& job, Recorder& rec) {
  SyncClients clients(job);
  for (std::size_t i = 0; i < job.size(); ++i) {
    if (job.open_loop()) sleep_until_us(job.due_us[i]);
    fetch_blocking(clients.for_origin(job.origin_index(i)), job, rec,
                   i);  // blocks for the delay (and any retries)
  }
}

}  // namespace testbed
