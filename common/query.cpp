#include "common/query.hpp"

#include <boost/url/parse.hpp>

#include <charconv>
#include <limits>

namespace testbed {

Target split_target(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return true;
}

void percent_encode(std::string_view in, std::string& out) {
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : in) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
}

std::optional<std::string_view> query_param(std::string_view query, std::string_view key) {
  std::optional<std::string_view> found;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    std::string_view k = pair.substr(0, eq);
    if (k == key) found = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return found;
}

IntError parse_nonneg_int(std::string_view s, std::int64_t& out) {
  if (s.empty()) return IntError::empty;
  if (s.front() == '-') {
    // "-5" is negative; "-x" or "-" is not an integer at all.
    std::int64_t tmp;
    auto r = std::from_chars(s.data() + 1, s.data() + s.size(), tmp);
    bool digits = s.size() > 1 && r.ptr == s.data() + s.size();
    return digits || r.ec == std::errc::result_out_of_range ? IntError::negative : IntError::not_integer;
  }
  for (char c : s)
    if (c < '0' || c > '9') return IntError::not_integer;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  if (r.ec == std::errc::result_out_of_range) return IntError::overflow;
  if (r.ec != std::errc{} || r.ptr != s.data() + s.size()) return IntError::not_integer;
  return IntError::ok;
}

const char* describe(IntError e) {
  switch (e) {
    case IntError::ok:
      return "ok";
    case IntError::empty:
      return "empty";
    case IntError::not_integer:
      return "not an integer";
    case IntError::negative:
      return "negative";
    case IntError::overflow:
      return "too large";
  }
  return "invalid";
}

namespace {

// The scheme, host and port of a parsed http(s) URL into `b`; the reason if
// they cannot be fetched.
std::string read_origin(const boost::urls::url_view& u, std::string_view url, BaseUrl& b) {
  if (u.scheme_id() != boost::urls::scheme::http && u.scheme_id() != boost::urls::scheme::https)
    return "only http:// and https:// URLs are supported: '" + std::string(url) + "'";
  switch (u.host_type()) {
    case boost::urls::host_type::ipv6:
      b.host = u.host_address();
      break;  // without the brackets
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::name:
      b.host = u.host();
      break;
    default:
      return "unsupported host in URL: '" + std::string(url) + "'";
  }
  if (b.host.empty()) return "no host in URL: '" + std::string(url) + "'";
  b.tls = u.scheme_id() == boost::urls::scheme::https;
  b.port = b.tls ? "443" : "80";
  if (u.has_port()) {
    b.port = std::string(u.port());
    std::int64_t p = 0;
    if (parse_nonneg_int(b.port, p) != IntError::ok || p == 0 || p > 65535)
      return "bad port in URL: '" + b.port + "'";
  }
  // The Host header: the host as the URL spells it (IPv6 in brackets) and the port.
  b.authority = std::string(u.encoded_host()) + ":" + b.port;
  return "";
}

}  // namespace

std::optional<BaseUrl> parse_base_url(std::string_view url, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<BaseUrl> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  // A real URL parser (RFC 3986): bracketed IPv6 literals, percent-encoding
  // and every corner of the authority are its job, not ours.
  auto u = boost::urls::parse_uri(url);
  if (!u) return fail("not a URL: '" + std::string(url) + "' (" + u.error().message() + ")");
  if (u->has_userinfo() || u->has_query() || u->has_fragment())
    return fail("a base URL has no user, query or fragment: '" + std::string(url) + "'");
  BaseUrl b;
  if (std::string why = read_origin(*u, url, b); !why.empty()) return fail(why);
  std::string_view path = u->encoded_path();
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  b.prefix = std::string(path);
  return b;
}

std::optional<RequestUrl> parse_request_url(std::string_view url, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<RequestUrl> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  auto u = boost::urls::parse_uri(url);
  if (!u) return fail("not a URL: '" + std::string(url) + "' (" + u.error().message() + ")");
  if (u->has_userinfo())
    return fail("a URL with a user part: '" + std::string(url) + "' (no credentials are sent)");
  RequestUrl r;
  if (std::string why = read_origin(*u, url, r.origin); !why.empty()) return fail(why);
  r.target = u->encoded_path().empty() ? "/" : std::string(u->encoded_path());
  if (r.target.front() != '/') return fail("a path must start with '/': '" + std::string(url) + "'");
  if (u->has_query()) r.target.append("?").append(u->encoded_query());
  return r;
}

}  // namespace testbed
