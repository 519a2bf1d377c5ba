// Model 5, libcurl multi (tornado's CurlAsyncHTTPClient(max_clients=100),
// Example 8-6): libcurl does the HTTP and the connection cache; we keep at
// most `concurrency` transfers in the multi handle and refill a slot as soon
// as curl_multi_info_read() says its transfer is done. The event loop is
// curl_multi_poll(), as in curl's docs/examples/multi-poll.c. libcurl enforces
// each attempt's timeout; a failed attempt waits out its backoff outside the
// multi handle and is then added again.
#include "crawlers/crawl.hpp"
#include "crawlers/http_client.hpp"

#include "common/clock.hpp"

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
  int attempt = 0;
  std::int64_t retry_at_us = 0;  // waiting out a backoff until then
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
    curl_easy_setopt(t.easy, CURLOPT_TIMEOUT_MS, static_cast<long>(job.timeout.count()));
  }

  const std::string origin = "http://" + job.host_header;
  std::size_t next = 0;
  auto submit = [&](Transfer& t) {
    t.bytes = 0;
    t.error[0] = '\0';
    curl_multi_add_handle(multi, t.easy);
  };
  auto start = [&](Transfer& t) {
    t.index = next++;
    t.attempt = 0;
    t.url.assign(origin).append(job.targets[t.index]);  // reuses the slot's capacity
    curl_easy_setopt(t.easy, CURLOPT_URL, t.url.c_str());
    rec.start(t.index);
    submit(t);
  };
  for (Transfer& t : transfers) start(t);

  std::vector<Transfer*> backing_off;  // failed attempts waiting to be retried
  int running = static_cast<int>(slots);
  while (running > 0 || !backing_off.empty()) {
    if (CURLMcode mc = curl_multi_perform(multi, &running); mc != CURLM_OK)
      throw std::runtime_error(std::string("curl_multi_perform: ") + curl_multi_strerror(mc));
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
      HttpResult r;
      if (msg->data.result == CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
        r.status = static_cast<int>(code);
        r.bytes = t->bytes;
      } else if (msg->data.result == CURLE_OPERATION_TIMEDOUT) {
        r.error = timeout_error(job.timeout, job.host_header);  // worded as the other models do
      } else {
        r.error = "curl " + job.host_header + ": " +
                  (t->error[0] ? t->error : curl_easy_strerror(msg->data.result));
      }
      curl_multi_remove_handle(multi, t->easy);
      if (rec.settle(t->index, r, t->attempt, job.retries)) {
        t->retry_at_us = now_us() + retry_backoff(t->attempt++, t->index).count() * 1000;
        backing_off.push_back(t);
      } else if (next < total) {
        start(*t);
        ++running;  // so the loop performs once more even if this was the last one running
      }
    }
    // Resubmit the retries whose backoff is over; sleep no longer than the next one.
    int wait_ms = 1000;
    std::int64_t now = now_us();
    for (std::size_t k = 0; k < backing_off.size();) {
      Transfer* t = backing_off[k];
      if (t->retry_at_us <= now) {
        submit(*t);
        ++running;
        backing_off[k] = backing_off.back();
        backing_off.pop_back();
      } else {
        wait_ms = std::min<int>(wait_ms, static_cast<int>((t->retry_at_us - now + 999) / 1000));
        ++k;
      }
    }
    if (running > 0 || !backing_off.empty()) curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr);
  }

  for (Transfer& t : transfers) curl_easy_cleanup(t.easy);
  curl_multi_cleanup(multi);
}

}  // namespace testbed
