// Model 5, libcurl multi (tornado's CurlAsyncHTTPClient(max_clients=100),
// Example 8-6): libcurl does the HTTP and the connection cache; we keep at
// most `concurrency` transfers in the multi handle and refill a slot as soon
// as curl_multi_info_read() says its transfer is done. The event loop is
// curl_multi_poll(), as in curl's docs/examples/multi-poll.c.
#include "crawlers/crawl.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace testbed {

namespace {

struct Transfer {
  CURL* easy = nullptr;
  std::size_t index = 0;
  std::int64_t bytes = 0;
  std::string url;
  char error[CURL_ERROR_SIZE] = {};
};

std::size_t count_body(char*, std::size_t size, std::size_t n, void* user) {
  static_cast<Transfer*>(user)->bytes += static_cast<std::int64_t>(size * n);
  return size * n;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw std::runtime_error("curl_global_init failed");
  });
}

}  // namespace

void crawl_curl(const CrawlJob& job, Recorder& rec) {
  global_init();
  const std::size_t total = job.targets.size();
  const std::size_t slots = std::min<std::size_t>(job.concurrency, total);
  CURLM* multi = curl_multi_init();
  if (!multi) throw std::runtime_error("curl_multi_init failed");
  long limit = static_cast<long>(std::max<std::size_t>(slots, 1));
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, limit);
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, limit);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, limit);  // keep every connection for reuse

  std::vector<Transfer> transfers(slots);
  for (Transfer& t : transfers) {
    t.easy = curl_easy_init();
    if (!t.easy) throw std::runtime_error("curl_easy_init failed");
    curl_easy_setopt(t.easy, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM games per request
    curl_easy_setopt(t.easy, CURLOPT_PROXY, "");     // never route loopback via $http_proxy
    curl_easy_setopt(t.easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(t.easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(t.easy, CURLOPT_WRITEFUNCTION, count_body);
    curl_easy_setopt(t.easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(t.easy, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(t.easy, CURLOPT_ERRORBUFFER, t.error);
  }

  const std::string origin = "http://" + job.host_header;
  std::size_t next = 0;
  auto start = [&](Transfer& t) {
    t.index = next++;
    t.bytes = 0;
    t.error[0] = '\0';
    t.url.assign(origin).append(job.targets[t.index]);  // reuses the slot's capacity
    curl_easy_setopt(t.easy, CURLOPT_URL, t.url.c_str());
    rec.start(t.index);
    curl_multi_add_handle(multi, t.easy);
  };
  for (Transfer& t : transfers) start(t);

  int running = static_cast<int>(slots);
  while (running > 0) {
    if (CURLMcode mc = curl_multi_perform(multi, &running); mc != CURLM_OK)
      throw std::runtime_error(std::string("curl_multi_perform: ") + curl_multi_strerror(mc));
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
      if (msg->data.result == CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
        rec.finish(t->index, static_cast<int>(code), t->bytes);
      } else {
        std::string why = t->error[0] ? t->error : curl_easy_strerror(msg->data.result);
        rec.fail(t->index, "curl " + job.host_header + ": " + why);
      }
      curl_multi_remove_handle(multi, t->easy);
      if (next < total) {
        start(*t);
        ++running;  // so the loop performs once more even if this was the last one running
      }
    }
    if (running > 0) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }

  for (Transfer& t : transfers) curl_easy_cleanup(t.easy);
  curl_multi_cleanup(multi);
}

}  // namespace testbed
