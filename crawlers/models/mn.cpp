// Model 7, M:N (Go's goroutines, Java's virtual threads, Tokio's
// multi-threaded runtime): many light tasks over a pool of --threads OS
// threads (default: one a core), where any thread runs any task that is
// ready. The tasks are C++20 coroutines, as in models/coroutine.cpp, but the
// one io_context they run on is run by every thread of the pool: when an
// answer arrives, whichever thread is free handles it (and does its --work),
// so a thread never idles while another has answers waiting. `--loops N` is
// the other design, N loops with the URLs dealt out up front (Seastar,
// Pingora): a loop whose share is done idles while another's answers queue.
//
// A task per slot, not per URL: `concurrency` tasks, each taking the next URL
// from a shared counter until none is left (Go's worker pool: `for i := 0;
// i < C; i++ { go worker(jobs) }`). Each keeps its own connection to every
// host it has met, as a goroutine keeps its http.Client's, so a request takes
// no lock and no semaphore hand-off (which cost the coroutine model its
// recovery in the spike stage), and no task frame is made per URL.
//
// What it mirrors and what it does not:
// - Any thread runs any ready task: as Go, Loom and Tokio. But the ready
//   tasks wait in asio's one shared queue (one lock, taken by every thread
//   for every completion), as Go's run queue was before 1.1; Go's and
//   Tokio's schedulers keep a queue per thread and steal from another's only
//   when their own is empty, which spares that lock. Its price shows as CPU
//   per 1k next to one loop's.
// - A task is never run by two threads at once: each runs on a strand of its
//   own (Tokio's guarantee for a task), and so does its deadline.
// - No preemption: a task runs until it awaits, as in Tokio (Go preempts a
//   goroutine after 10 ms, Loom does not). A long --work holds its thread.
// - The I/O is epoll's through asio's reactor, which one free thread at a
//   time waits on, as Go's netpoller is polled by an idle thread.
//
// Timeouts: each task keeps one timer for the deadline of its attempt. Arming
// it for every request would put a timer in the shared queue's heap each
// time; instead an attempt only moves the deadline on, and the timer, when
// it fires, closes the connection if the deadline has passed or sleeps on
// to the new one: it fires about once a timeout, not once a request.
//
// --per-host: the connections to each host are shared by the tasks, at most
// per_host of them, through a channel that holds the idle ones (a task whose
// host has them all busy waits on it, as on a Go channel).
//
// Open loop (--rate): as in the threads model, a free task takes the next
// request and waits (a timer) until it is due; with every task busy a due
// request waits for the first to come free, and that wait is in its latency.
#include "client/http_client.hpp"
#include "common/clock.hpp"
#include "crawlers/model.hpp"

#include <boost/asio/experimental/concurrent_channel.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

namespace testbed {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::awaitable;
using asio::use_awaitable;

namespace {

using Strand = asio::strand<asio::io_context::executor_type>;

// --per-host: the idle connections to one host, at most `cap` in all; a null
// one is a connection not made yet. Thread-safe (the channel is).
using HostChannel = asio::experimental::concurrent_channel<void(beast::error_code, AsyncConnection*)>;

struct Crawl {
  const CrawlJob& job;
  Recorder& rec;
  asio::io_context& ioc;
  std::atomic<std::size_t> next{0};  // the next URL a free task takes
  // --per-host: a channel per host, and every connection made for them.
  std::vector<std::unique_ptr<HostChannel>> hosts;
  std::mutex made_mu;
  std::vector<std::unique_ptr<AsyncConnection>> made;
};

// One task (a slot): its strand, its connections, the deadline of its attempt.
struct Task {
  explicit Task(Crawl& c) : crawl(c), strand(asio::make_strand(c.ioc)), deadline(strand), due(strand),
                   own(c.job.origins.size()) {}
  Crawl& crawl;
  Strand strand;
  asio::steady_timer deadline;  // runs on the strand: closes `current` once its deadline has passed
  bool deadline_waiting = false;
  asio::steady_timer due;                             // open loop: until the next request is due
  std::vector<std::unique_ptr<AsyncConnection>> own;  // without --per-host: by host
  AsyncConnection* current = nullptr;                 // the connection of the attempt under way
};

void watch_deadline(Task& t);

// The attempt on `conn` has until now + the timeout. The timer is started
// only when none waits; one that waits wakes at an earlier deadline and
// sleeps on to this one.
void arm(Task& t, AsyncConnection& conn) {
  conn.timed_out = false;
  t.current = &conn;
  if (t.crawl.job.timeout.count() <= 0) return;
  conn.deadline_us = now_us() + t.crawl.job.timeout.count() * 1000;
  if (!t.deadline_waiting) watch_deadline(t);
}

void watch_deadline(Task& t) {
  t.deadline_waiting = true;
  const std::int64_t left = t.current->deadline_us - now_us();
  t.deadline.expires_after(std::chrono::microseconds(std::max<std::int64_t>(left, 0)));
  t.deadline.async_wait([&t](beast::error_code ec) {
    t.deadline_waiting = false;
    AsyncConnection* c = t.current;
    if (ec || !c || c->deadline_us == 0) return;  // cancelled, or no attempt under way: arm() starts it again
    if (now_us() < c->deadline_us) return watch_deadline(t);  // moved on since: sleep on
    c->deadline_us = 0;
    c->timed_out = true;
    beast::error_code ignored;
    c->socket.close(ignored);
  });
}

// The task's own connection to host `o` (made when first needed).
AsyncConnection& own_connection(Task& t, std::uint32_t o) {
  Crawl& c = t.crawl;
  if (!t.own[o])
    t.own[o] = std::make_unique<AsyncConnection>(c.ioc.get_executor(), c.job.reuse, &c.job.origins[o].tls);
  return *t.own[o];
}

// --per-host: one of host `o`'s connections, once one is idle.
awaitable<AsyncConnection*> shared_connection(Task& t, std::uint32_t o) {
  Crawl& c = t.crawl;
  const Origin& to = c.job.origins[o];
  AsyncConnection* conn = co_await c.hosts[o]->async_receive(use_awaitable);
  if (conn) co_return conn;
  auto fresh = std::make_unique<AsyncConnection>(c.ioc.get_executor(), c.job.reuse, &to.tls);
  conn = fresh.get();
  std::lock_guard lock(c.made_mu);
  c.made.push_back(std::move(fresh));
  co_return conn;
}

void give_back(Task& t, std::uint32_t o, AsyncConnection& conn) {
  // The channel holds every connection of its host: there is always room.
  if (!t.crawl.hosts.empty()) t.crawl.hosts[o]->try_send(beast::error_code{}, &conn);
}

// Request i, with its retries, on a connection of its host.
awaitable<void> fetch(Task& t, std::size_t i) {
  Crawl& c = t.crawl;
  c.rec.start(i);  // with --per-host, the wait for a connection is part of its latency
  const std::uint32_t o = c.job.origin_index(i);
  const Origin& to = c.job.origins[o];
  AsyncConnection& conn = c.hosts.empty() ? own_connection(t, o) : *co_await shared_connection(t, o);
  for (int attempt = 0;; ++attempt) {
    arm(t, conn);
    HttpResult r = co_await async_get(conn, to.endpoints, to.host_header, c.job.targets[i], attempt);
    conn.deadline_us = 0;
    if (conn.timed_out) r.error = timeout_error(c.job.timeout, to.host_header);
    if (!c.rec.try_again(i, r, attempt)) break;
    asio::steady_timer pause(t.strand, retry_backoff(attempt, i));
    co_await pause.async_wait(use_awaitable);
  }
  t.current = nullptr;
  give_back(t, o, conn);
}

// One slot: the next URL until there are none, then its connections close.
awaitable<void> run_task(Task& t) {
  Crawl& c = t.crawl;
  for (std::size_t i; (i = c.next.fetch_add(1, std::memory_order_relaxed)) < c.job.size();) {
    if (c.job.open_loop()) {
      if (const std::int64_t wait = c.job.due_us[i] - now_us(); wait > 0) {
        t.due.expires_after(std::chrono::microseconds(wait));
        co_await t.due.async_wait(use_awaitable);
      }
    }
    co_await fetch(t, i);
  }
  t.deadline.cancel();
  for (auto& conn : t.own) {
    beast::error_code ignored;
    if (conn) conn->socket.close(ignored);
  }
}

// The pool: every thread runs the one io_context, the calling thread too.
void run_pool(asio::io_context& ioc, int threads) {
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads - 1));
  auto join = [&] {
    for (auto& th : pool) th.join();
  };
  try {
    for (int k = 1; k < threads; ++k)
      pool.emplace_back([&ioc, k] {
        set_worker(k);
        ioc.run();
      });
  } catch (const std::system_error& e) {
    // Out of threads: those started stop, and the front end fails the
    // requests not done with this reason.
    ioc.stop();
    join();
    throw std::runtime_error("could not start pool thread " + std::to_string(pool.size() + 1) + " of " +
                             std::to_string(threads) + " (" + e.what() + ")");
  }
  set_worker(0);
  ioc.run();
  join();
}

}  // namespace

void crawl_mn(const CrawlJob& job, Recorder& rec) {
  const std::size_t tasks = std::min<std::size_t>(static_cast<std::size_t>(job.concurrency), job.size());
  const int threads = std::max(1, job.threads);
  asio::io_context ioc(threads);
  Crawl c{job, rec, ioc, {}, {}, {}, {}};
  if (job.per_host > 0)
    for (std::size_t o = 0; o < job.origins.size(); ++o) {
      auto& ch = c.hosts.emplace_back(std::make_unique<HostChannel>(ioc, job.per_host));
      for (int k = 0; k < job.per_host; ++k) ch->try_send(beast::error_code{}, nullptr);
    }
  std::vector<std::unique_ptr<Task>> slots;
  slots.reserve(tasks);
  std::mutex failed_mu;
  std::exception_ptr failure;
  for (std::size_t k = 0; k < tasks; ++k) {
    Task& t = *slots.emplace_back(std::make_unique<Task>(c));
    asio::co_spawn(t.strand, run_task(t), [&](std::exception_ptr e) {
      if (!e) return;
      // A task that threw may have left its deadline waiting: it goes now, so
      // that the pool's run does not wait the timeout out.
      asio::post(t.strand, [&t] { t.deadline.cancel(); });
      std::lock_guard lock(failed_mu);
      if (!failure) failure = e;
      c.next.store(job.size());  // the other tasks take no more
    });
  }
  run_pool(ioc, threads);
  for (auto& conn : c.made) {
    beast::error_code ignored;
    conn->socket.close(ignored);
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace testbed
