#include "common/csv.hpp"
#include "common/query.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

using namespace testbed;

TEST_CASE("CSV fields are quoted only when RFC 4180 needs it", "[common]") {
  std::string out;
  append_csv_field(out, "plain");
  out += ',';
  append_csv_field(out, "a,b");
  out += ',';
  append_csv_field(out, "say \"hi\"");
  out += ',';
  append_csv_field(out, "two\nlines");
  CHECK(out == "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"");
  auto rows = test::parse_csv(out + "\n");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0] == std::vector<std::string>{"plain", "a,b", "say \"hi\"", "two\nlines"});
}

TEST_CASE("times are written as seconds with microseconds", "[common]") {
  std::string out;
  append_seconds(out, 1700000000123456);
  CHECK(out == "1700000000.123456");
  out.clear();
  append_seconds(out, 5);
  CHECK(out == "0.000005");
}

TEST_CASE("integers are parsed strictly", "[common]") {
  std::int64_t v = -1;
  CHECK(parse_nonneg_int("1024", v) == IntError::ok);
  CHECK(v == 1024);
  CHECK(parse_nonneg_int("", v) == IntError::empty);
  CHECK(parse_nonneg_int("12a", v) == IntError::not_integer);
  CHECK(parse_nonneg_int("1.5", v) == IntError::not_integer);
  CHECK(parse_nonneg_int("+5", v) == IntError::not_integer);
  CHECK(parse_nonneg_int(" 5", v) == IntError::not_integer);
  CHECK(parse_nonneg_int("-5", v) == IntError::negative);
  CHECK(parse_nonneg_int("-", v) == IntError::not_integer);
  CHECK(parse_nonneg_int("9223372036854775807", v) == IntError::ok);
  CHECK(parse_nonneg_int("9223372036854775808", v) == IntError::overflow);
}

TEST_CASE("query parameters and percent-encoding", "[common]") {
  std::string_view q = "name=a%2Cb&delay=10&abcdefghij";
  CHECK(query_param(q, "name") == std::optional<std::string_view>("a%2Cb"));
  CHECK(query_param(q, "delay") == std::optional<std::string_view>("10"));
  CHECK(query_param(q, "abcdefghij") == std::optional<std::string_view>(""));
  CHECK_FALSE(query_param(q, "nam").has_value());
  // A repeated key: the last value wins, as tornado's get_argument has it.
  CHECK(query_param("name=a&delay=5&name=b", "name") == std::optional<std::string_view>("b"));
  CHECK(query_param("delay=5&delay", "delay") == std::optional<std::string_view>(""));
  std::string out;
  CHECK(percent_decode("a%2Cb+c", out));
  CHECK(out == "a,b c");
  CHECK_FALSE(percent_decode("bad%2", out));
  CHECK_FALSE(percent_decode("bad%zz", out));
  std::string enc;
  percent_encode("a,b \"c\"\n/é", enc);
  std::string back;
  REQUIRE(percent_decode(enc, back));
  CHECK(back == "a,b \"c\"\n/é");
  CHECK(enc.find_first_of(",\" \n/") == std::string::npos);
}

TEST_CASE("base URLs", "[common]") {
  std::string err;
  auto b = parse_base_url("http://127.0.0.1:8080", &err);
  REQUIRE(b);
  CHECK(b->host == "127.0.0.1");
  CHECK(b->port == "8080");
  CHECK(b->prefix.empty());
  auto p = parse_base_url("http://localhost/api/", &err);
  REQUIRE(p);
  CHECK(p->port == "80");
  CHECK(p->prefix == "/api");
  CHECK_FALSE(parse_base_url("https://x", &err));
  CHECK_FALSE(parse_base_url("http://x:99999", &err));
  CHECK_FALSE(parse_base_url("http://:80", &err));
}
