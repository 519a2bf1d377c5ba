#include "server/request.hpp"

#include "common/query.hpp"

#include <boost/beast/http/error.hpp>

namespace testbed {

namespace http = boost::beast::http;

void RequestHead::on_request_impl(http::verb method, string_view, string_view target, int version,
                                  error_code& ec) {
  has_request_line_ = true;
  method_ = method;
  version_ = static_cast<unsigned>(version);
  if (target.size() > kTargetLimit) {
    reject_status_ = 414;
    ec = http::error::bad_target;
    return;
  }
  target_.assign(target.data(), target.size());
}

// Nothing here takes a body: refuse it as soon as the header says one follows,
// rather than waiting for bytes a client may never send.
void RequestHead::on_header_impl(error_code& ec) {
  if (chunked() || content_length().value_or(0) > 0) {
    reject_status_ = 413;
    ec = http::error::unexpected_body;
  }
}

void RequestHead::on_body_init_impl(const boost::optional<std::uint64_t>&, error_code& ec) {
  reject_status_ = 413;
  ec = http::error::unexpected_body;
}

std::size_t RequestHead::on_body_impl(string_view, error_code& ec) {
  ec = http::error::unexpected_body;
  return 0;
}

void RequestHead::on_chunk_header_impl(std::uint64_t, string_view, error_code& ec) {
  ec = http::error::unexpected_body;
}

std::size_t RequestHead::on_chunk_body_impl(std::uint64_t, string_view, error_code& ec) {
  ec = http::error::unexpected_body;
  return 0;
}

ParseFailure parse_failure(const boost::beast::error_code& ec, const RequestHead& head) {
  if (head.reject_status() == 414)
    return {414, "request target longer than " + std::to_string(kTargetLimit) + " bytes"};
  if (head.reject_status() == 413 || ec == http::error::body_limit)
    return {413, "request bodies are not accepted"};
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    // No end of the request line within the limit: the target is the problem.
    if (!head.has_request_line())
      return {414, "request line longer than " + std::to_string(kHeaderLimit) + " bytes"};
    return {431, "request header larger than " + std::to_string(kHeaderLimit) + " bytes"};
  }
  if (ec == http::error::bad_version) return {505, "only HTTP/1.0 and 1.1"};
  return {400, "malformed request: " + ec.message()};
}

namespace {

Route reject(Routed& out, int status, std::string reason) {
  out.status = status;
  out.error = std::move(reason);
  return out.route = Route::rejected;
}

bool is_true(std::optional<std::string_view> v) { return v && *v == "True"; }

}  // namespace

Route route_request(bool is_get, std::string_view target, const RouteLimits& limits, Routed& out) {
  out.status = 200;
  out.error.clear();
  if (!is_get) return reject(out, 405, "only GET is supported");
  Target t = split_target(target);
  if (t.path == "/health") return out.route = Route::health;
  if (t.path == "/timeline") return out.route = Route::timeline;
  if (t.path == "/stats") return out.route = Route::stats;
  if (t.path == "/primes")
    return out.route = is_true(query_param(t.query, "reset")) ? Route::primes_reset : Route::primes;
  if (t.path != "/add") return reject(out, 404, "no route " + std::string(t.path));

  if (is_true(query_param(t.query, "flush"))) return out.route = Route::flush;
  if (auto raw = query_param(t.query, "prime")) {
    IntError e = parse_nonneg_int(*raw, out.prime);
    if (e != IntError::ok) return reject(out, 400, "bad prime '" + std::string(*raw) + "': " + describe(e));
    return out.route = Route::add_prime;
  }
  auto raw_name = query_param(t.query, "name");
  if (!raw_name) return reject(out, 400, "missing name");
  out.name.clear();
  if (!percent_decode(*raw_name, out.name)) return reject(out, 400, "bad percent-encoding in name");
  out.delay_ms = limits.default_delay_ms;
  if (auto raw_delay = query_param(t.query, "delay")) {
    IntError e = parse_nonneg_int(*raw_delay, out.delay_ms);
    if (e != IntError::ok)
      return reject(out, 400, "bad delay '" + std::string(*raw_delay) + "': " + describe(e));
    if (out.delay_ms > limits.max_delay_ms)
      return reject(out, 400,
                    "bad delay " + std::to_string(out.delay_ms) + ": over the maximum of " +
                        std::to_string(limits.max_delay_ms) + " ms");
  }
  return out.route = Route::add_delay;
}

}  // namespace testbed
