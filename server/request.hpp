#pragma once
// What the server reads off the wire, kept apart from the sockets so the tests
// and the fuzz target (fuzz/fuzz_request.cpp) can drive it with bare bytes:
//
//   RequestHead    a Beast parser that keeps only the method, the target and
//                  the version, in buffers it reuses: no allocation per request
//                  once warm. Bodies are refused, but a POST's of at most
//                  kBodyLimit bytes with a Content-Length (POST /add, the
//                  book's later editions' server).
//   parse_failure  the status and reason for a request the parser rejected.
//   route_request  the route and its checked arguments, from method and target.
#include "common/delay_dist.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace testbed {

constexpr std::size_t kHeaderLimit = 8 * 1024;  // request line + headers
constexpr std::size_t kTargetLimit = 4 * 1024;  // longer targets get 414
constexpr std::size_t kBodyLimit = 4 * 1024;    // a POST's body; larger gets 413

class RequestHead : public boost::beast::http::basic_parser<true> {
 public:
  // The target is copied into `target_store`, which the caller keeps across
  // requests so its capacity is reused (basic_parser itself cannot be reset).
  explicit RequestHead(std::string& target_store) : target_(target_store) {
    header_limit(kHeaderLimit);
    target_.clear();
  }

  boost::beast::http::verb method() const { return method_; }
  const std::string& target() const { return target_; }
  // A POST's body (empty for every other method: they may not have one).
  const std::string& body() const { return body_; }
  unsigned version() const { return version_; }
  // Whether the connection stays open after this request. Never with a
  // close option (RFC 9112 9.6: a server that receives one closes, whatever
  // else the field says; Beast alone keeps an HTTP/1.0 connection whose
  // field says "keep-alive, close").
  bool keep_alive() const { return !close_ && basic_parser::keep_alive(); }
  // A status this parser chose itself (400, 411, 413, 414); 0 if none.
  int reject_status() const { return reject_status_; }
  // Why, for the statuses that need a word more than the status (or null).
  const char* reject_reason() const { return reject_reason_; }
  // Whether the request line was complete (Beast parses it before the fields).
  bool has_request_line() const { return has_request_line_; }
  // The X-Attempt field a retrying client sends (2 for the first retry); 1
  // when absent. Faults are drawn per URL and attempt (delay_dist.hpp).
  int attempt() const { return attempt_; }

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;
  void on_request_impl(boost::beast::http::verb method, string_view, string_view target, int version,
                       error_code& ec) override;
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(boost::beast::http::field f, string_view, string_view, error_code&) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code& ec) override;
  std::size_t on_body_impl(string_view body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, string_view, error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) override;
  void on_finish_impl(error_code&) override {}

  boost::beast::http::verb method_ = boost::beast::http::verb::unknown;
  std::string& target_;
  std::string body_;  // a POST's only: GETs never allocate it
  unsigned version_ = 11;
  int reject_status_ = 0;
  const char* reject_reason_ = nullptr;
  int host_fields_ = 0;
  bool transfer_encoding_ = false;
  bool close_ = false;  // a close option in a Connection field
  bool has_request_line_ = false;
  int attempt_ = 1;
};

// RFC 9112 2.2: a server SHOULD ignore at least one empty line before a
// request line. How many leading bytes of `data` are such lines (at most two
// CRLF or LF lines), if a request line follows them; 0 if none or too many.
std::size_t leading_empty_lines(std::string_view data);

// Why a request could not be read, as an HTTP answer.
struct ParseFailure {
  int status = 400;
  std::string reason;
};
// `unread` is what the connection had buffered when the parser stopped (the
// request line is still there): Beast reports a well-formed version other
// than 1.0 and 1.1 (505) and a malformed request line (400) alike.
ParseFailure parse_failure(const boost::beast::error_code& ec, const RequestHead& head,
                           std::string_view unread);

enum class Route {
  add_delay,     // /add?name=N&delay=MS
  add_prime,     // /add?prime=N
  add_post,      // POST /add[?name=N&delay=MS], a body: the later editions' server
  flush,         // /add?flush=True
  health,        // /health
  timeline,      // /timeline
  primes,        // /primes
  primes_reset,  // /primes?reset=True
  stats,         // /stats
  rejected,      // `status` and `error` say why
};

// The route table, the one list of what the server answers: route_request
// knows its paths from it and `delayserver --help` prints it.
struct RouteInfo {
  Route route;
  const char* path;  // the path it is reached by
  const char* form;  // the request, as a client writes it
  const char* what;  // what the server does
};
const std::vector<RouteInfo>& route_table();
// The table as --help prints it: "  GET FORM  WHAT" a line.
std::string routes_help();

struct RouteLimits {
  std::int64_t default_delay_ms = 1024;
  std::int64_t max_delay_ms = 60'000;
  DelayDist default_dist;  // for a request that names no dist
};

struct Routed {
  Route route = Route::rejected;
  int status = 200;           // 400, 404 or 405 when rejected
  std::string name;           // add_delay: the decoded name (capacity reused)
  std::int64_t delay_ms = 0;  // add_delay: the median of `dist`
  DelayDist dist;             // add_delay: the request's, or the server's default
  // add_delay, add_prime: the query, for request_key() when a draw needs it
  // (a view of the target given to route_request: valid while that is).
  std::string_view query;
  std::int64_t prime = 0;
  std::string error;  // rejected: the reason
};

// Decides what a GET (or not) of `target` asks for; fills `out` and returns its route.
Route route_request(bool is_get, std::string_view target, const RouteLimits& limits, Routed& out);

// POST /add, as the book's later editions' server (08_concurrency/workload)
// answers it: wait `delay` ms (default kPostDelayMs, theirs), then answer
// JSON {"result": BODY, "t": SECONDS}. `body` must be UTF-8 text (it is
// echoed in a JSON string); anything else, or another path, is rejected.
constexpr std::int64_t kPostDelayMs = 100;
Route route_post(std::string_view target, std::string_view body, const RouteLimits& limits, Routed& out);
// The JSON answer to a POST /add, into `out`.
void post_answer(std::string& out, std::string_view body, std::int64_t delay_us);

}  // namespace testbed
