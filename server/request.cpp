#include "server/request.hpp"

#include "common/query.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <optional>

namespace testbed {

namespace http = boost::beast::http;

namespace {
constexpr const char* kPostTooLarge = "POST body larger than 4096 bytes";
static_assert(kBodyLimit == 4096, "kPostTooLarge names the limit");
}  // namespace

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

void RequestHead::on_field_impl(http::field f, string_view name, string_view value, error_code& ec) {
  if (f == http::field::host) ++host_fields_;
  if (f == http::field::transfer_encoding) transfer_encoding_ = true;
  if (f == http::field::connection)
    for (auto token : http::token_list(value))
      if (boost::beast::iequals(token, "close")) close_ = true;
  if (f == http::field::unknown && boost::beast::iequals(name, "X-Attempt")) {
    std::int64_t n = 0;
    if (parse_nonneg_int({value.data(), value.size()}, n) != IntError::ok || n < 1 || n > 1'000'000) {
      reject_status_ = 400;
      reject_reason_ = "bad X-Attempt: expected an attempt number 1..1000000";
      ec = http::error::bad_value;
      return;
    }
    attempt_ = static_cast<int>(n);
  }
}

// The framing must be exactly RFC 9112's, or a body could be read as the next
// request (smuggling). Beyond that, only a POST takes a body, of a length said
// up front and small: refuse any other as soon as the header says one
// follows, rather than wait for bytes a client may never send.
void RequestHead::on_header_impl(error_code& ec) {
  auto refuse = [&](int status, const char* reason) {
    reject_status_ = status;
    reject_reason_ = reason;
    ec = http::error::bad_transfer_encoding;
  };
  // RFC 9112 6.3: a request whose final transfer coding is not chunked has no
  // reliable length: 400, and close. (Beast frames it as having no body, so
  // whatever follows would be taken for a new request.)
  if (transfer_encoding_ && !chunked())
    return refuse(400, "Transfer-Encoding whose final coding is not chunked (RFC 9112 6.3)");
  // RFC 9112 3.2: exactly one Host in HTTP/1.1 (at most one in 1.0).
  if (host_fields_ > 1) return refuse(400, "more than one Host field (RFC 9112 3.2)");
  if (host_fields_ == 0 && version_ == 11) return refuse(400, "HTTP/1.1 request without Host (RFC 9112 3.2)");
  if (method_ == http::verb::post) {
    if (chunked()) return refuse(411, "a POST body needs a Content-Length (chunked bodies are not taken)");
    if (content_length().value_or(0) > kBodyLimit) {
      reject_status_ = 413;
      reject_reason_ = kPostTooLarge;
      ec = http::error::body_limit;
    }
    return;
  }
  if (chunked() || content_length().value_or(0) > 0) {
    reject_status_ = 413;
    ec = http::error::unexpected_body;
  }
}

std::size_t leading_empty_lines(std::string_view data) {
  std::size_t at = 0;
  for (int lines = 0; lines < 2; ++lines) {
    if (data.substr(at, 2) == "\r\n")
      at += 2;
    else if (data.substr(at, 1) == "\n")
      at += 1;
    else
      break;
  }
  if (at == 0 || at >= data.size() || data[at] == '\r' || data[at] == '\n') return 0;
  return at;
}

void RequestHead::on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code& ec) {
  if (method_ == http::verb::post && length && *length <= kBodyLimit) {
    body_.reserve(static_cast<std::size_t>(*length));
    return;
  }
  reject_status_ = 413;
  ec = http::error::unexpected_body;
}

std::size_t RequestHead::on_body_impl(string_view body, error_code& ec) {
  if (method_ != http::verb::post || body_.size() + body.size() > kBodyLimit) {
    reject_status_ = 413;
    ec = http::error::unexpected_body;
    return 0;
  }
  body_.append(body.data(), body.size());
  return body.size();
}

void RequestHead::on_chunk_header_impl(std::uint64_t, string_view, error_code& ec) {
  ec = http::error::unexpected_body;
}

std::size_t RequestHead::on_chunk_body_impl(std::uint64_t, string_view, error_code& ec) {
  ec = http::error::unexpected_body;
  return 0;
}

namespace {

// "METHOD SP target SP HTTP/d.d CRLF", one space each, as RFC 9112 3 has it.
bool request_line_well_formed(std::string_view unread) {
  std::string_view line = unread.substr(0, unread.find("\r\n"));
  if (line.size() == unread.size()) return false;
  auto sp1 = line.find(' ');
  auto sp2 = line.rfind(' ');
  if (sp1 == 0 || sp1 == std::string_view::npos || sp2 <= sp1 + 1) return false;
  std::string_view version = line.substr(sp2 + 1);
  return line.substr(sp1 + 1, sp2 - sp1 - 1).find(' ') == std::string_view::npos && version.size() == 8 &&
         version.substr(0, 5) == "HTTP/" && std::isdigit(static_cast<unsigned char>(version[5])) &&
         version[6] == '.' && std::isdigit(static_cast<unsigned char>(version[7]));
}

}  // namespace

ParseFailure parse_failure(const boost::beast::error_code& ec, const RequestHead& head,
                           std::string_view unread) {
  if (head.reject_status() == 414)
    return {414, "request target longer than " + std::to_string(kTargetLimit) + " bytes"};
  // Beast checks a length past its own limit before the header is ours to see.
  if (ec == http::error::body_limit && head.method() == http::verb::post) return {413, kPostTooLarge};
  if (head.reject_status() == 413 || ec == http::error::body_limit)
    return {413, head.reject_reason() ? head.reject_reason() : "request bodies are not accepted (but POST /add's)"};
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    // No end of the request line within the limit: the target is the problem.
    if (!head.has_request_line())
      return {414, "request line longer than " + std::to_string(kHeaderLimit) + " bytes"};
    return {431, "request header larger than " + std::to_string(kHeaderLimit) + " bytes"};
  }
  if (head.reject_reason()) return {head.reject_status(), head.reject_reason()};
  // Say what is wrong. A version that is not of the form HTTP/x.y is a
  // malformed request line (400); a well-formed one other than 1.0 and 1.1
  // parses, and gets its 505 when it is routed.
  if (ec == http::error::bad_method) return {400, "malformed request line: bad method"};
  if (ec == http::error::bad_target) return {400, "malformed request line: bad target"};
  if (ec == http::error::bad_version) {
    if (request_line_well_formed(unread)) return {505, "only HTTP/1.0 and 1.1"};
    auto lf = unread.find('\n');
    if (lf != std::string_view::npos && (lf == 0 || unread[lf - 1] != '\r'))
      return {400, "malformed request: bad line ending (expected CRLF)"};
    return {400, "malformed request line: bad version (expected HTTP/1.0 or HTTP/1.1 after one space)"};
  }
  if (ec == http::error::bad_line_ending) return {400, "malformed request: bad line ending (expected CRLF)"};
  if (ec == http::error::bad_field) return {400, "malformed header field name"};
  if (ec == http::error::bad_value) return {400, "malformed header field value"};
  if (ec == http::error::bad_content_length) return {400, "bad Content-Length"};
  if (ec == http::error::multiple_content_length) return {400, "conflicting Content-Length fields"};
  if (ec == http::error::bad_transfer_encoding)
    return {400, "bad Transfer-Encoding (repeated, or together with Content-Length)"};
  return {400, "malformed request: " + ec.message()};
}

const std::vector<RouteInfo>& route_table() {
  // clang-format off
  static const std::vector<RouteInfo> table = {
      {Route::add_delay, "/add", "/add?name=NAME&delay=MS[&dist=...]",
       "wait MS ms on a timer (or a draw of dist=), answer \".\", record the span"},
      {Route::flush, "/add", "/add?flush=True", "write the recorded timeline to --timeline"},
      {Route::add_prime, "/add", "/add?prime=N", "store N in the SQLite database, answer after the latency"},
      {Route::health, "/health", "/health", "readiness, for scripts"},
      {Route::timeline, "/timeline", "/timeline", "the recorded timeline as CSV, without writing a file"},
      {Route::primes, "/primes", "/primes", "what the database holds (count, sum) as JSON"},
      {Route::primes_reset, "/primes", "/primes?reset=True", "empty the database, then the same"},
      {Route::stats, "/stats", "/stats", "connection, fault and in-flight counters as JSON"},
  };
  // clang-format on
  return table;
}

std::string routes_help() {
  std::size_t width = 0;
  for (const auto& r : route_table()) width = std::max(width, std::string_view(r.form).size());
  std::string out;
  for (const auto& r : route_table())
    out += "\n  GET " + std::string(r.form) + std::string(width + 2 - std::string_view(r.form).size(), ' ') +
           r.what;
  return out + "\n  POST /add[?name=NAME&delay=MS] with a body of at most 4096 bytes of UTF-8 text:\n" +
         "       wait MS ms (default 100), answer JSON {\"result\": BODY, \"t\": SECONDS} (the book's\n" +
         "       later editions' server, for their workload.py)";
}

namespace {

Route reject(Routed& out, int status, std::string reason) {
  out.status = status;
  out.error = std::move(reason);
  return out.route = Route::rejected;
}

bool is_true(std::optional<std::string_view> v) { return v && *v == "True"; }

constexpr const char* kBadTarget = "bad request target (neither /path nor an absolute URI)";

// A target's path and query: the origin form's, or the absolute form's (RFC
// 9112 3.2.2: a server must accept a proxy's "GET http://host/add?...
// HTTP/1.1"; its path and query route it). False if it is neither.
bool target_parts(std::string_view target, Target& t) {
  t = split_target(target);
  if (target.empty() || target[0] == '/') return true;
  auto url = boost::urls::parse_absolute_uri(target);
  if (!url) return false;
  t.path = url->encoded_path();
  if (t.path.empty()) t.path = "/";
  t.query = url->encoded_query();
  return true;
}

// /add: what its query asks for (a delay, a save, a flush), checked.
Route route_add(std::string_view query, const RouteLimits& limits, Routed& out) {
  // One pass over the query for every key /add reads (the last value of a
  // repeated key wins, as in query_param); a bare key has an empty value.
  std::optional<std::string_view> flush, prime, raw_name, raw_delay;
  std::optional<std::string_view> dist_values[std::size(kDelayParams)];
  for (std::string_view q = query; !q.empty();) {
    auto amp = q.find('&');
    std::string_view param = q.substr(0, amp);
    auto eq = param.find('=');
    std::string_view key = param.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    if (key == "name")
      raw_name = value;
    else if (key == "delay")
      raw_delay = value;
    else if (key == "prime")
      prime = value;
    else if (key == "flush")
      flush = value;
    else
      for (std::size_t k = 0; k < std::size(kDelayParams); ++k)
        if (key == kDelayParams[k]) dist_values[k] = value;
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }

  if (is_true(flush)) return out.route = Route::flush;
  if (prime) {
    IntError e = parse_nonneg_int(*prime, out.prime);
    if (e != IntError::ok) return reject(out, 400, "bad prime '" + std::string(*prime) + "': " + describe(e));
    out.query = query;
    return out.route = Route::add_prime;
  }
  if (!raw_name) return reject(out, 400, "missing name");
  out.name.clear();
  if (!percent_decode(*raw_name, out.name)) return reject(out, 400, "bad percent-encoding in name");
  out.delay_ms = limits.default_delay_ms;
  if (raw_delay) {
    IntError e = parse_nonneg_int(*raw_delay, out.delay_ms);
    if (e != IntError::ok)
      return reject(out, 400, "bad delay '" + std::string(*raw_delay) + "': " + describe(e));
    if (out.delay_ms > limits.max_delay_ms)
      return reject(out, 400,
                    "bad delay " + std::to_string(out.delay_ms) + ": over the maximum of " +
                        std::to_string(limits.max_delay_ms) + " ms");
  }
  // The distribution: the request's parameters over the server's default.
  out.dist = limits.default_dist;
  unsigned given = 0;
  for (std::size_t k = 0; k < std::size(kDelayParams); ++k) {
    if (!dist_values[k]) continue;
    if (!set_delay_param(out.dist, kDelayParams[k], *dist_values[k], &out.error))
      return reject(out, 400, std::move(out.error));
    given |= 1u << k;  // delay_param_bit(kDelayParams[k])
  }
  if (given && !check_delay_dist(out.dist, given, &out.error)) return reject(out, 400, std::move(out.error));
  out.query = query;
  return out.route = Route::add_delay;
}

}  // namespace

Route route_request(bool is_get, std::string_view target, const RouteLimits& limits, Routed& out) {
  out.status = 200;
  out.error.clear();
  if (!is_get) return reject(out, 405, "only GET is supported (and POST on /add)");
  Target t;
  if (!target_parts(target, t)) return reject(out, 400, kBadTarget);
  const RouteInfo* known = nullptr;  // the first row of the path; its query picks among the rest
  for (const auto& r : route_table())
    if (t.path == r.path) {
      known = &r;
      break;
    }
  if (!known) return reject(out, 404, "no route " + std::string(t.path));
  if (known->route == Route::primes)
    return out.route = is_true(query_param(t.query, "reset")) ? Route::primes_reset : Route::primes;
  if (known->route != Route::add_delay) return out.route = known->route;

  return route_add(t.query, limits, out);
}

namespace {

// Whether `text` is well-formed UTF-8 (no overlongs, surrogates or code
// points past U+10FFFF).
bool valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > text.size()) return false;
    std::uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(text[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    static constexpr std::uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

}  // namespace

Route route_post(std::string_view target, std::string_view body, const RouteLimits& limits, Routed& out) {
  out.status = 200;
  out.error.clear();
  Target t;
  if (!target_parts(target, t)) return reject(out, 400, kBadTarget);
  if (t.path != "/add") return reject(out, 405, "POST is taken by /add only; this path answers GET");
  if (!valid_utf8(body)) return reject(out, 400, "POST body is not UTF-8 text (it is echoed in JSON)");
  for (std::string_view q = t.query; !q.empty();) {  // name= and delay= only: no draws, no faults
    const auto amp = q.find('&');
    const std::string_view key = q.substr(0, std::min(amp, q.find('=')));
    if (key != "name" && key != "delay")
      return reject(out, 400, "POST /add takes name= and delay= only, not '" + std::string(key) + "'");
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  Routed q;
  std::string query = "name=post&delay=" + std::to_string(kPostDelayMs);  // the later server's 0.1 s
  if (!t.query.empty()) query.append("&").append(t.query.data(), t.query.size());  // the last value wins
  if (route_add(query, limits, q) != Route::add_delay) return reject(out, 400, q.error);
  out.name = std::move(q.name);
  out.delay_ms = q.delay_ms;
  out.dist = DelayDist{};  // fixed: the delay asked for, no draw
  out.query = {};
  return out.route = Route::add_post;
}

void post_answer(std::string& out, std::string_view body, std::int64_t delay_us) {
  out.assign("{\"result\": \"");
  static const char hex[] = "0123456789abcdef";
  for (char ch : body) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      out.append("\\u00").push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
    } else {
      out.push_back(ch);
    }
  }
  out.append("\", \"t\": ");
  out.append(std::to_string(static_cast<double>(delay_us) / 1e6));
  out.append("}");
}

}  // namespace testbed
