#pragma once
// The connections of one event loop, for the event-loop models (greenlet,
// callback, coroutine), as aiohttp's TCPConnector keeps them: each open to
// one origin, kept alive for the next request there. A request takes an idle
// connection to its origin, else a new one. At most `limit` (the loop's
// slots) are busy at once, and with several origins as many more may wait
// idle for theirs (CrawlJob::idle_extra, within the open-files limit): past
// those a request takes an idle one to another origin instead, which is
// closed and turned to its own. One origin never needs more than `limit`. With --per-host, a request whose
// origin has per_host connections, all busy, gets none: it waits (async_wait) and takes again. One thread: no
// locks.
#include "client/http_client.hpp"
#include "crawlers/model.hpp"

#include <memory>
#include <vector>

namespace testbed {

class ConnectionPool {
 public:
  // Each connection made is watched by `sweeper`; both must outlive the pool.
  ConnectionPool(boost::asio::any_io_executor ex, const CrawlJob& job, const LoopShare& share,
                 DeadlineSweeper& sweeper);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A connection to origin `o` for one request (and its retries); nullptr
  // when `o` is at its --per-host cap: async_wait(o), then take again.
  AsyncConnection* take(std::uint32_t o);
  // The request is done with it; wakes a request waiting for its origin.
  void give_back(AsyncConnection& conn);
  const Origin& origin(const AsyncConnection& conn) const { return job_.origins[conn.origin]; }

  // Completes (with operation_aborted) when a connection to `o` comes back.
  template <class Token>
  auto async_wait(std::uint32_t o, Token&& token) {
    return wakeups_[o].async_wait(std::forward<Token>(token));
  }

 private:
  AsyncConnection* turn_idle_to(std::uint32_t o);

  boost::asio::any_io_executor ex_;
  const CrawlJob& job_;
  std::size_t limit_;  // the loop's slots (no more than its URLs): connections busy at most
  std::size_t most_;   // connections at most, busy or idle (limit_ and the loop's share of idle_extra)
  int per_host_;       // its share of --per-host; 0: none
  DeadlineSweeper& sweeper_;
  std::vector<std::unique_ptr<AsyncConnection>> all_;  // every connection made
  std::vector<std::vector<AsyncConnection*>> idle_;    // by origin
  std::vector<int> made_;                              // connections turned to each origin
  std::size_t idle_count_ = 0;
  std::uint32_t cursor_ = 0;                        // where the search for another's idle one goes on
  std::vector<boost::asio::steady_timer> wakeups_;  // --per-host: a never-expiring timer per origin
};

}  // namespace testbed
