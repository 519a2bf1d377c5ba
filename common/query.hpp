#pragma once
// Query strings and numbers as the server and clients read them: strict, so a
// bad value is reported instead of being half-parsed.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace testbed {

// Splits "path?query" at the first '?'.
struct Target {
  std::string_view path;
  std::string_view query;
};
Target split_target(std::string_view target);

// Percent-decodes `in` ('+' is a space) into `out`; false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out);

// Percent-encodes everything but unreserved characters (RFC 3986).
void percent_encode(std::string_view in, std::string& out);

// Looks up `key` in an undecoded query; the raw value, or nullopt if absent.
// A bare key ("...&abcdefghij") has an empty value. A repeated key: the last
// value wins, as in tornado's get_argument (the book's server).
std::optional<std::string_view> query_param(std::string_view query, std::string_view key);

// Parses a non-negative decimal integer that fits in int64; error text on failure.
enum class IntError { ok, empty, not_integer, negative, overflow };
IntError parse_nonneg_int(std::string_view s, std::int64_t& out);
const char* describe(IntError e);

// A base URL such as http://127.0.0.1:8080 or http://[::1]:8080 (only plain http).
struct BaseUrl {
  std::string host;  // to resolve: a name, or an address (IPv6 without brackets)
  std::string port;
  std::string authority;  // the Host header: "host:port", IPv6 in brackets
  std::string prefix;     // path before /add, without a trailing slash
  bool tls = false;       // https://
  std::string origin() const { return (tls ? "https://" : "http://") + authority; }
};
std::optional<BaseUrl> parse_base_url(std::string_view url, std::string* error);

// One URL to fetch as it is (crawl --urls): its origin (prefix left empty)
// and the request target, "/path?query" ("/" for an empty path). A fragment
// is never sent and is dropped; a user part is refused (no credentials are sent).
struct RequestUrl {
  BaseUrl origin;
  std::string target;
};
std::optional<RequestUrl> parse_request_url(std::string_view url, std::string* error);

}  // namespace testbed
