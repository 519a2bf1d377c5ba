// The model table: the one list of concurrency models. Adding a model is one
// file in crawlers/models/ plus its row here (the declaration goes with it).
// `crawl --list-models` prints this table; benchmark.sh, bench/ and plots/
// ask it instead of naming models themselves.
#include "crawlers/model.hpp"

namespace testbed {

void crawl_serial(const CrawlJob& job, Recorder& rec);     // models/serial.cpp
void crawl_threads(const CrawlJob& job, Recorder& rec);    // models/threads.cpp
void crawl_greenlet(const CrawlJob& job, Recorder& rec);   // models/greenlet.cpp
void crawl_callback(const CrawlJob& job, Recorder& rec);   // models/callback.cpp
void crawl_coroutine(const CrawlJob& job, Recorder& rec);  // models/coroutine.cpp
void crawl_curl(const CrawlJob& job, Recorder& rec);       // models/curl.cpp
void prepare_curl();                                       // models/curl.cpp
void crawl_mn(const CrawlJob& job, Recorder& rec);         // models/mn.cpp

const std::vector<ModelEntry>& models() {
  // In the order the book presents them; greenlet (gevent) after the OS
  // threads that stand for "blocking code, many workers"; then what the
  // book does not have: M:N tasks over a pool of threads.
  static const std::vector<ModelEntry> table = {
      {"serial", crawl_serial, "Example 8-3: requests.get in a loop", "one request at a time",
       /*one_in_flight=*/true},
      {"threads", crawl_threads, "the 'many OS threads' baseline: blocking code, preemptive threads",
       "--concurrency OS threads"},
      {"greenlet", crawl_greenlet,
       "gevent (Example 8-4): a greenlet per URL, blocking-style code on one loop",
       "a semaphore, one greenlet per URL", false, true},
      {"callback", crawl_callback, "tornado callbacks (Example 8-7)", "--concurrency handler chains", false,
       /*event_loops=*/true},
      {"coroutine", crawl_coroutine, "asyncio + aiohttp (Example 8-8)", "an async semaphore", false, true},
      {"curl", crawl_curl, "tornado's CurlAsyncHTTPClient(max_clients=100) (Example 8-6)",
       "transfers in the curl multi handle", false, true, prepare_curl, /*tells_resumption=*/false},
      {"mn", crawl_mn,
       "Go's goroutines, Java's virtual threads, Tokio: light tasks over a pool of --threads OS threads, "
       "any thread running any ready task",
       "--concurrency tasks", false, false, nullptr, true, /*pool=*/true},
  };
  return table;
}

const ModelEntry* find_model(std::string_view name) {
  for (const auto& m : models())
    if (name == m.name) return &m;
  return nullptr;
}

}  // namespace testbed
