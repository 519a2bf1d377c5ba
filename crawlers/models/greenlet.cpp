// Model 3, greenlets (gevent, Example 8-4): stackful coroutines on one event
// loop. Each greenlet runs plain sequential code (connect, write, read) that
// looks blocking; every call that would wait on a socket takes `yield`, which
// parks the greenlet's whole stack and lets the loop run the others, as gevent
// does at every socket wait once the standard library is monkey-patched.
// (Boost.Asio's spawn on Boost.Context: one io_context, one thread.)
//
// As in the book, a greenlet is spawned for every URL up front, and a
// semaphore of `concurrency` bounds how many are inside `with semaphore:`.
// So every URL costs a stack for the whole crawl, not only while it is in
// flight: that is this model's price (see kStackBytes), and what
// `crawl --model greenlet` shows next to the coroutine model, which spawns a
// task only once it holds a permit. Connections are kept alive in a small
// pool (by host, with --urls; capped by --per-host) and handed from greenlet
// to greenlet; one sweeper enforces timeouts.
//
// Open loop (--rate): the main greenlet spawns each greenlet when its request
// is due, sleeping in between (gevent.sleep, a timer); a spawned greenlet
// that finds no permit free waits in the semaphore, and that wait counts in
// its latency.
#include "common/clock.hpp"
#include "crawlers/conn_pool.hpp"
#include "crawlers/model.hpp"

#include <boost/asio/spawn.hpp>
#include <boost/context/fixedsize_stack.hpp>

#include <memory>
#include <vector>

namespace testbed {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

// The stack each greenlet gets, allocated when it is spawned and kept until it
// ends. 64 KiB holds the calls below with room to spare (Asio and Beast keep
// an operation's state in the operation, not on the stack); only the pages a
// greenlet touches become resident, so its real cost is a few KiB, but that
// times N, not times C. Boost's default would be 128 KiB; gevent copies a
// greenlet's used stack slice to the heap on every switch instead.
constexpr std::size_t kStackBytes = 64 * 1024;

// gevent.lock.Semaphore: greenlets that find no permit park on a timer that
// never expires. release() hands its permit straight to the longest-waiting
// greenlet (cancelling its wait) rather than putting it back: the woken
// greenlet only runs later, and a permit put back meanwhile would go to a
// greenlet that just arrived (in an open loop, one spawned when its request
// fell due), sending the oldest to the back of the queue again and again.
class Semaphore {
 public:
  Semaphore(asio::any_io_executor ex, std::size_t count)
      : wakeup_(ex, asio::steady_timer::time_point::max()), count_(count) {}

  void acquire(asio::yield_context yield) {
    if (count_ > 0) {
      --count_;
      return;
    }
    ++waiting_;
    do {  // at least once: a permit handed out but not yet taken is another's
      beast::error_code ec;
      wakeup_.async_wait(yield[ec]);  // cancel_one() wakes the waiters in the order they came
    } while (handed_ == 0);
    --handed_;
    --waiting_;
  }
  void release() {
    if (waiting_ > handed_) {
      ++handed_;
      wakeup_.cancel_one();
    } else {
      ++count_;
    }
  }

 private:
  asio::steady_timer wakeup_;
  std::size_t count_;
  std::size_t waiting_ = 0;  // greenlets parked in acquire()
  std::size_t handed_ = 0;   // permits released to them, not yet taken
};

struct Crawl {
  const CrawlJob& job;
  Recorder& rec;
  Semaphore semaphore;
  DeadlineSweeper sweeper;
  ConnectionPool pool;      // kept alive, handed from greenlet to greenlet, by host
  std::size_t waiting = 0;  // greenlets not yet holding a connection
  std::size_t running = 0;  // greenlets not yet ended
};

// urllib2.urlopen(url).read(): one GET on `conn`, written as blocking code.
// A kept-alive connection the server has closed meanwhile is reopened once.
HttpResult urlopen(AsyncConnection& conn, const Origin& to, const std::string& target, int attempt,
                   asio::yield_context yield) {
  HttpResult r;
  begin_attempt(conn);
  for (int fresh = 0; fresh < 2; ++fresh) {
    beast::error_code ec;
    bool reused = conn.socket.is_open();
    if (!reused) {
      conn.buffer.clear();
      connecting(conn);
      asio::async_connect(conn.socket, to.endpoints, yield[ec]);  // yields until connected
      if (ec) {
        beast::error_code ignored;
        conn.socket.close(ignored);
        r.error = describe_error("connect", ec, to.host_header);
        r.refused = ec == asio::error::connection_refused;
        return r;
      }
      connected(conn);
      conn.socket.set_option(tcp::no_delay(true), ec);
      async_start_tls(conn, yield[ec]);  // yields for the handshake (https)
      if (ec) {
        r.error = describe_handshake_error(conn, ec, to.host_header);
        beast::error_code ignored;
        conn.socket.close(ignored);
        return r;
      }
    }
    format_request(conn, target, to.host_header, attempt);
    asio::async_write(conn.io, asio::buffer(conn.request), yield[ec]);
    if (!ec) async_read_answer(conn, yield[ec]);  // yields for the whole delay
    if (ec) {
      beast::error_code ignored;
      conn.socket.close(ignored);
      if (reused && is_stale_connection_error(ec)) continue;
      r.error = describe_error("request to", ec, to.host_header);
      return r;
    }
    return take_answer(conn);
  }
  return r;
}

// def download(url, semaphore):
//     with semaphore:
//         return urllib2.urlopen(url).read()
void download(Crawl& c, std::size_t i, asio::yield_context yield) {
  c.semaphore.acquire(yield);
  c.rec.start(i);
  const std::uint32_t o = c.job.origin_index(i);
  AsyncConnection* taken;
  while (!(taken = c.pool.take(o))) {  // --per-host: its host's connections are all busy
    beast::error_code ec;
    c.pool.async_wait(o, yield[ec]);
  }
  AsyncConnection& conn = *taken;
  --c.waiting;
  const Origin& to = c.job.origins[o];
  for (int attempt = 0;; ++attempt) {
    c.sweeper.arm(conn);
    HttpResult r = urlopen(conn, to, c.job.targets[i], attempt, yield);
    c.sweeper.disarm(conn);
    if (conn.timed_out) r.error = timeout_error(c.sweeper.timeout(), to.host_header);
    if (!c.rec.try_again(i, r, attempt)) break;
    asio::steady_timer pause(yield.get_executor(), retry_backoff(attempt, i));  // gevent.sleep
    pause.async_wait(yield);
  }
  // With no greenlet left waiting for a connection, nobody will reuse this
  // connection: close it now rather than all of them at the end.
  if (c.waiting == 0) {
    beast::error_code ignored;
    conn.socket.close(ignored);
  }
  c.pool.give_back(conn);
  c.semaphore.release();
  if (--c.running == 0) c.sweeper.stop();  // the last one: nothing left to time out
}

}  // namespace

// One gevent hub: a thread running one io_context. With --loops L there are
// L of them, each with its share of the URLs and of the concurrency.
void crawl_greenlet(const CrawlJob& job, Recorder& rec) {
  run_event_loops(job, [&](const LoopShare& share) {
    asio::io_context ioc(1);
    const std::size_t n = share.end - share.begin;
    // Every URL counts as waiting and running from the start, so neither
    // count can reach zero while greenlets are still being spawned.
    Crawl c{job,
            rec,
            Semaphore(ioc.get_executor(), static_cast<std::size_t>(share.concurrency)),
            DeadlineSweeper(ioc.get_executor(), job.timeout),
            ConnectionPool(ioc.get_executor(), job, share, c.sweeper),
            n,
            n};
    auto rethrow = [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);  // out of ioc.run(), to the caller
    };
    // The main greenlet:
    //   greenlets = [gevent.spawn(download, u, semaphore) for u in urls]
    // It gives the hub a turn every 64 spawns, so the first greenlets send
    // their requests while the rest (a stack each) are still being made;
    // gevent only starts them once the main greenlet waits.
    asio::spawn(
        ioc,
        [&](asio::yield_context main) {
          if (n > 0) c.sweeper.start();
          asio::steady_timer due(main.get_executor());
          for (std::size_t i = share.begin; i < share.end; ++i) {
            // Open loop: gevent.sleep() until the next request is due, then spawn it.
            if (job.open_loop()) {
              if (const std::int64_t wait = job.due_us[i] - now_us(); wait > 0) {
                due.expires_after(std::chrono::microseconds(wait));
                due.async_wait(main);
              }
            }
            asio::spawn(
                main.get_executor(), std::allocator_arg, boost::context::fixedsize_stack(kStackBytes),
                [&c, i](asio::yield_context yield) { download(c, i, yield); }, rethrow);
            if ((i - share.begin) % 64 == 63) asio::post(main);
          }
        },
        rethrow);
    // for response in gevent.iwait(greenlets): the loop runs until every
    // greenlet has ended.
    ioc.run();
  });
}

}  // namespace testbed
