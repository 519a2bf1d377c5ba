#include "server/routes.hpp"

#include <nlohmann/json.hpp>

namespace testbed {

namespace http = boost::beast::http;

RouteAnswer stats_answer(const ServerState& srv) {
  const ServerStats st = srv.stats();
  nlohmann::json j = {{"connections", st.connections},
                      {"accepted", st.accepted},
                      {"refused", st.refused},
                      {"read_timeouts", st.read_timeouts},
                      {"abandoned", st.abandoned},
                      {"injected_errors", st.injected_errors},
                      {"injected_drops", st.injected_drops},
                      {"timeline_rows", srv.timeline.size()},
                      {"timeline_bytes", srv.timeline.bytes()},
                      {"timeline_max_bytes", srv.config.timeline_max_bytes},
                      {"timeline_dropped", srv.timeline.dropped()},
                      {"timeline_readers", st.timeline_readers},
                      {"timeline_readers_max", kMaxTimelineReaders},
                      {"timeline_readers_refused", st.timeline_readers_refused},
                      {"in_flight", st.in_flight},
                      {"peak_in_flight", st.peak_in_flight},
                      {"held_us", st.held_us},
                      {"tls", srv.tls != nullptr},
                      {"tls_handshakes", st.tls_handshakes},
                      {"tls_resumed", st.tls_resumed},
                      {"tls_failures", st.tls_failures},
                      {"seed", srv.config.seed},
                      {"delay_dist", delay_spec(srv.config.delay_dist)},
                      {"db_latency_dist", delay_spec(srv.config.db_latency_dist)}};
  return {http::status::ok, j.dump() + "\n", "application/json"};
}

RouteAnswer flush_answer(ServerState& srv) {
  std::string err;
  long long n = srv.flush(&err);
  if (n < 0) return {http::status::internal_server_error, err + "\n"};
  std::string body = "flushed " + std::to_string(n) + " rows to " + srv.config.timeline_path;
  if (auto dropped = srv.timeline.dropped())
    body += " (" + std::to_string(dropped) + " more were not kept: --timeline-capacity " +
            std::to_string(srv.config.timeline_capacity) + ", --timeline-max-bytes " +
            std::to_string(srv.config.timeline_max_bytes) + ")";
  return {http::status::ok, body + "\n"};
}

RouteAnswer timeline_answer(ServerState& srv, bool& counted) {
  auto& readers = srv.counters.timeline_readers;
  counted = readers.fetch_add(1, std::memory_order_relaxed) < kMaxTimelineReaders;
  if (!counted) {
    readers.fetch_sub(1, std::memory_order_relaxed);
    srv.counters.timeline_readers_refused.fetch_add(1, std::memory_order_relaxed);
    return {http::status::service_unavailable, "the timeline is being sent to " +
                                                   std::to_string(kMaxTimelineReaders) +
                                                   " readers already; try again shortly\n"};
  }
  return {http::status::ok, srv.timeline.to_csv(), "text/csv"};
}

void release_timeline(ServerState& srv) {
  srv.counters.timeline_readers.fetch_sub(1, std::memory_order_relaxed);
}

RouteAnswer primes_answer(const DbResult& r) {
  if (!r.ok) return db_error_answer(r);
  nlohmann::json j = {{"count", r.count}, {"sum", r.sum}};
  return {http::status::ok, j.dump() + "\n", "application/json"};
}

RouteAnswer db_error_answer(const DbResult& r) {
  return {r.locked ? http::status::service_unavailable : http::status::internal_server_error, r.error + "\n"};
}

}  // namespace testbed
