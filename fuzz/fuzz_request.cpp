// libFuzzer target: whatever bytes a client sends, the server's request
// reading must end in a request it routes or a failure it can answer, without
// crashes, leaks, undefined behaviour or out-of-bounds reads (run under ASan
// and UBSan). Built and run by scripts/fuzz.sh.
//
// The input is fed to the same parser the server uses in pieces of varying
// size, as a socket would deliver it; every request it completes is routed
// with the server's own route_request (route_post for a POST and its body),
// which also exercises the query,
// percent-decoding and number parsing; and every answer is written with the
// server's own response writer and read back by Beast's parser, which must
// find exactly the status and body that were written.
#include "common/delay_dist.hpp"
#include "common/query.hpp"
#include "server/request.hpp"
#include "server/response.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// Writes the answer the server would send and parses it back as a client does.
void check_answer(unsigned version, int status, bool keep_alive, std::string_view body) {
  std::string wire;
  testbed::write_response(wire, {version, status, keep_alive, "text/plain"}, body);
  boost::beast::http::response_parser<boost::beast::http::string_body> p;
  boost::beast::error_code ec;
  p.eager(true);
  std::size_t used = p.put(boost::asio::buffer(wire), ec);
  check(!ec && p.is_done() && used == wire.size());
  check(p.get().result_int() == static_cast<unsigned>(status) && p.get().body() == body);
  check(p.get().keep_alive() == keep_alive);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace testbed;
  if (size == 0) return 0;
  // The first byte picks the piece size, so partial reads are explored too.
  std::size_t piece = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  std::string target_store;
  RouteLimits limits;
  Routed routed;
  std::size_t offset = 0;
  std::string pending;  // what a connection's buffer would hold
  for (int requests = 0; requests < 16;) {
    RequestHead head(target_store);
    for (;;) {
      boost::beast::error_code ec;
      std::size_t used = head.put(boost::asio::buffer(pending), ec);
      check(used <= pending.size());
      pending.erase(0, used);
      if (ec == boost::beast::http::error::need_more || (!ec && !head.is_done() && used == 0)) {
        if (offset >= input.size()) return 0;  // the peer has nothing more to say
        std::size_t n = std::min(piece, input.size() - offset);
        pending.append(input.substr(offset, n));
        offset += n;
        continue;
      }
      if (ec) {
        ParseFailure f = parse_failure(ec, head, pending);
        check(f.status >= 400 && f.status <= 505 && !f.reason.empty());
        check_answer(11, f.status, false, f.reason);
        return 0;  // the server answers and closes
      }
      if (head.is_done()) break;
    }
    ++requests;
    const bool post = head.method() == boost::beast::http::verb::post;
    check(head.body().size() <= kBodyLimit && (post || head.body().empty()));
    Route r = post ? route_post(head.target(), head.body(), limits, routed)
                   : route_request(head.method() == boost::beast::http::verb::get, head.target(), limits, routed);
    check(head.target().size() <= kTargetLimit);
    if (r == Route::rejected) {
      check(routed.status >= 400 && routed.status < 500 && !routed.error.empty());
      check_answer(head.version() == 10 ? 10 : 11, routed.status, head.keep_alive(), routed.error);
    } else if (r == Route::add_delay) {
      check(routed.delay_ms >= 0 && routed.delay_ms <= limits.max_delay_ms);
      // Whatever distribution it asked for, with any seed, the draw is finite
      // (never the INT64_MIN of a NaN) and within the maximum, and a pareto's
      // within its cap; a median of 0 is 0 for the shapes that scale it.
      const std::int64_t max_us = limits.max_delay_ms * 1000;
      const std::uint64_t seed = size * 0x9E3779B97F4A7C15ull ^ data[0];
      std::int64_t us = draw_delay_us(routed.dist, routed.delay_ms, seed, request_key(routed.query), max_us);
      check(us >= 0 && us <= max_us);
      if (routed.dist.shape == DelayShape::pareto)
        check(static_cast<double>(us) <= routed.dist.cap * static_cast<double>(routed.delay_ms) * 1000.0 + 1);
      if (routed.delay_ms == 0) check(us == 0);
      check(head.attempt() >= 1);
    } else if (r == Route::add_prime) {
      check(routed.prime >= 0);
    } else if (r == Route::add_post) {
      // The body echoed in the JSON answer must come back out of a JSON parser
      // whole; here, that its answer is framed right whatever the body holds.
      check(routed.delay_ms >= 0 && routed.delay_ms <= limits.max_delay_ms);
      std::string answer;
      post_answer(answer, head.body(), routed.delay_ms * 1000);
      check(answer.size() >= head.body().size() + 20);
      check_answer(11, 200, true, answer);
    }
    if (!head.keep_alive()) return 0;
  }
  return 0;
}
