#pragma once
// The answers of the routes that need no timer: what each says, from the
// server's shared state. A session (session.cpp) reads the request, calls
// one of these, and writes the answer; the delay and the save, which wait,
// stay in the session's state machine.
#include "server/prime_db.hpp"
#include "server/state.hpp"

#include <boost/beast/http/status.hpp>

#include <string>

namespace testbed {

struct RouteAnswer {
  boost::beast::http::status status = boost::beast::http::status::ok;
  std::string body;
  const char* content_type = "text/plain";
};

// /stats: the counters as JSON.
RouteAnswer stats_answer(const ServerState& srv);
// /add?flush=True: the timeline written to --timeline, and how many rows.
RouteAnswer flush_answer(ServerState& srv);
// /timeline: the whole timeline as CSV. The copy lives until the peer has
// read it, so at most kMaxTimelineReaders are held at once: `counted` says
// whether this one is (the session gives it back with release_timeline());
// beyond them, a 503 to try again.
RouteAnswer timeline_answer(ServerState& srv, bool& counted);
void release_timeline(ServerState& srv);
// /primes: what the database holds; or why the database could not say: a
// database still locked by another process after the wait is a 503 (try
// again later: the clients' retry policy does), any other failure a 500.
RouteAnswer primes_answer(const DbResult& r);
RouteAnswer db_error_answer(const DbResult& r);

}  // namespace testbed
