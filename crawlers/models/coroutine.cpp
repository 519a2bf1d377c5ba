// Model 4, C++20 coroutines (asyncio + aiohttp, Example 8-8): each URL is a
// task that awaits its request as if it were blocking code. As in the book,
// a semaphore of `concurrency` bounds how many run at once; we acquire it
// before spawning, so no more than `concurrency` task frames ever exist even
// for 100k URLs. Finished tasks hand their connection back to a small pool,
// so connections are reused (keep-alive) rather than opened per URL. A failed
// attempt is retried after a backoff; one sweeper enforces the timeouts.
//
// --spawn-all, the later editions' pattern (asyncio.TaskGroup, bounded only by
// aiohttp's TCPConnector(limit=C)): every task is spawned at once and starts
// its request's clock, then waits for one of C pooled connections; the
// semaphore stands for the pool's limit.
//
// --urls: the pool keeps connections by host; --per-host caps them, and a
// task whose host is at its cap waits (holding its permit) for one of them.
//
// Open loop (--rate): the loop that spawns the tasks sleeps on a timer until
// the next request is due (asyncio.sleep), then waits for a permit; with
// every permit taken, a due request waits for one, and that wait counts in
// its latency.
#include "client/http_client.hpp"
#include "common/clock.hpp"
#include "crawlers/conn_pool.hpp"
#include "crawlers/model.hpp"

#include <memory>
#include <vector>

namespace testbed {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::awaitable;
using asio::use_awaitable;

namespace {

// asyncio.Semaphore for one event-loop thread: waiters park on a timer that
// never expires; release() wakes one of them by cancelling its wait.
class AsyncSemaphore {
 public:
  AsyncSemaphore(asio::any_io_executor ex, std::size_t count)
      : wakeup_(ex, asio::steady_timer::time_point::max()), count_(count) {}

  awaitable<void> acquire() {
    while (count_ == 0) {
      beast::error_code ec;
      co_await wakeup_.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    --count_;
  }
  void release() {
    ++count_;
    wakeup_.cancel_one();
  }

 private:
  asio::steady_timer wakeup_;
  std::size_t count_;
};

struct Crawl {
  const CrawlJob& job;
  const LoopShare& share;
  Recorder& rec;
  AsyncSemaphore semaphore;
  DeadlineSweeper sweeper;
  ConnectionPool pool;      // aiohttp's TCPConnector: connections kept alive, by host
  std::size_t spawned = 0;  // tasks started so far
  std::size_t taken = 0;    // tasks that have taken a connection
  AsyncSemaphore finished;  // --spawn-all: one permit a finished task
};

// The task for one URL: runs while holding one semaphore permit (with
// --spawn-all it is spawned first, starts its clock, and waits for one).
awaitable<void> fetch(Crawl& c, std::size_t i) {
  auto ex = co_await asio::this_coro::executor;
  c.rec.start(i);
  if (c.job.spawn_all) co_await c.semaphore.acquire();  // a connection of the pool
  const std::uint32_t o = c.job.origin_index(i);
  AsyncConnection* taken;
  while (!(taken = c.pool.take(o))) {  // --per-host: its host's connections are all busy
    beast::error_code ec;
    co_await c.pool.async_wait(o, asio::redirect_error(use_awaitable, ec));
  }
  AsyncConnection& conn = *taken;
  const Origin& to = c.job.origins[o];
  ++c.taken;
  for (int attempt = 0;; ++attempt) {
    c.sweeper.arm(conn);
    HttpResult r = co_await async_get(conn, to.endpoints, to.host_header, c.job.targets[i], attempt);
    c.sweeper.disarm(conn);
    if (conn.timed_out) r.error = timeout_error(c.sweeper.timeout(), to.host_header);
    if (!c.rec.try_again(i, r, attempt)) break;
    asio::steady_timer pause(ex, retry_backoff(attempt, i));  // then try again
    co_await pause.async_wait(use_awaitable);
  }
  // Once every URL's task has a connection, nobody will reuse this one: close
  // it now, while other tasks still wait, rather than all of them at the end.
  if (c.taken == c.share.end - c.share.begin) {
    beast::error_code ignored;
    conn.socket.close(ignored);
  }
  c.pool.give_back(conn);
  c.semaphore.release();
  if (c.job.spawn_all) c.finished.release();
}

// --spawn-all: every task at once, as a TaskGroup does; the group ends when
// the last task has.
awaitable<void> spawn_all(Crawl& c) {
  auto ex = co_await asio::this_coro::executor;
  for (std::size_t i = c.share.begin; i < c.share.end; ++i) asio::co_spawn(ex, fetch(c, i), asio::detached);
  c.spawned = c.share.end - c.share.begin;
  for (std::size_t k = 0; k < c.spawned; ++k) co_await c.finished.acquire();
}

awaitable<void> crawl_all(Crawl& c) {
  auto ex = co_await asio::this_coro::executor;
  c.sweeper.start();
  if (c.job.spawn_all) {
    co_await spawn_all(c);
    c.sweeper.stop();
    co_return;
  }
  asio::steady_timer due(ex);
  for (std::size_t i = c.share.begin; i < c.share.end; ++i) {
    if (c.job.open_loop()) {
      if (const std::int64_t wait = c.job.due_us[i] - now_us(); wait > 0) {
        due.expires_after(std::chrono::microseconds(wait));
        co_await due.async_wait(use_awaitable);
      }
    }
    co_await c.semaphore.acquire();  // `async with semaphore:`
    asio::co_spawn(ex, fetch(c, i), asio::detached);
    ++c.spawned;
    // While permits are free acquire() never suspends; yield now and then so
    // the first tasks send their requests while later ones are still being
    // started (at C10K this spreads the work instead of opening 10000
    // connections before the first request goes out).
    if (c.spawned % 64 == 0) co_await asio::post(ex, use_awaitable);
  }
  // Like awaiting as_completed() to the end: holding every permit means every
  // task has finished.
  for (int k = 0; k < c.share.concurrency; ++k) co_await c.semaphore.acquire();
  c.sweeper.stop();
}

}  // namespace

// One asyncio event loop: a thread running one io_context. With --loops L
// (an extension for C10K-sized runs) there are L of them, each with its share.
void crawl_coroutine(const CrawlJob& job, Recorder& rec) {
  run_event_loops(job, [&](const LoopShare& share) {
    asio::io_context ioc(1);
    Crawl c{job,
            share,
            rec,
            AsyncSemaphore(ioc.get_executor(), static_cast<std::size_t>(share.concurrency)),
            DeadlineSweeper(ioc.get_executor(), job.timeout),
            ConnectionPool(ioc.get_executor(), job, share, c.sweeper),
            0,
            0,
            AsyncSemaphore(ioc.get_executor(), 0)};
    std::exception_ptr failure;
    asio::co_spawn(ioc, crawl_all(c), [&](std::exception_ptr e) { failure = e; });
    ioc.run();
    if (failure) std::rethrow_exception(failure);
  });
}

}  // namespace testbed
