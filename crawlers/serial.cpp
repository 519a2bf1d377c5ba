// Model 1, serial (the book's Example 8-3): one request at a time, in order,
// over one keep-alive connection. Every delay is paid in full, one after the
// other: N requests take N * delay.
#include "crawlers/crawl.hpp"
#include "crawlers/http_client.hpp"

namespace testbed {

void crawl_serial(const CrawlJob& job, Recorder& rec) {
  boost::asio::io_context ioc;
  SyncClient client(ioc, job.endpoints, job.host_header);
  for (std::size_t i = 0; i < job.targets.size(); ++i) {
    rec.start(i);
    HttpResult r = client.get(job.targets[i]);  // blocks for the whole delay
    if (r.status)
      rec.finish(i, r.status, r.bytes);
    else
      rec.fail(i, r.error);
  }
}

}  // namespace testbed
