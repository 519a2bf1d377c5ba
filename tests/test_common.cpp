#include "common/csv.hpp"
#include "common/delay_dist.hpp"
#include "common/query.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

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
  CHECK_FALSE(parse_base_url("ftp://x", &err));
  auto s = parse_base_url("https://[::1]/p", &err);
  REQUIRE(s);
  CHECK(s->tls);
  CHECK(s->host == "::1");
  CHECK(s->authority == "[::1]:443");
  CHECK(s->origin() == "https://[::1]:443");
  CHECK_FALSE(p->tls);
  CHECK_FALSE(parse_base_url("http://x:99999", &err));
  CHECK_FALSE(parse_base_url("http://:80", &err));
}

TEST_CASE("delay specs parse, print back, and name the bad parameter", "[common][dist]") {
  std::string err;
  auto d = parse_delay_spec("lognormal:sigma=0.6,knee=200", &err);
  REQUIRE(d);
  CHECK(d->shape == DelayShape::lognormal);
  CHECK(d->sigma == 0.6);
  CHECK(d->knee == 200);
  CHECK(delay_spec(*d) == "lognormal:sigma=0.6,knee=200");
  CHECK(delay_query(*d) == "&dist=lognormal&sigma=0.6&knee=200");
  CHECK(parse_delay_spec(delay_spec(*d), &err) == d);
  CHECK(delay_query(*parse_delay_spec("fixed", &err)).empty());  // the book's URLs, unchanged
  CHECK(parse_delay_spec("pareto:alpha=2,cap=5", &err)->cap == 5);
  CHECK(parse_delay_spec("uniform", &err)->spread == 0.5);
  struct Bad {
    const char* spec;
    const char* reason;
  };
  for (auto [spec, reason] :
       {Bad{"weibull", "bad dist 'weibull'"}, Bad{"lognormal:sigma=0", "bad sigma '0'"},
        Bad{"lognormal:sigma=abc", "bad sigma 'abc': not a number"},
        Bad{"uniform:spread=1.5", "bad spread '1.5'"}, Bad{"pareto:cap=0.5", "bad cap '0.5'"},
        Bad{"pareto:alpha=-1", "bad alpha '-1'"}, Bad{"fixed:knee=0", "bad knee '0'"},
        Bad{"uniform:sigma=0.5", "sigma: it applies to dist=lognormal only"},
        Bad{"lognormal:sigma", "expected name=value"},
        Bad{"lognormal:mu=1", "unknown delay parameter 'mu'"}}) {
    INFO(spec);
    err.clear();
    CHECK_FALSE(parse_delay_spec(spec, &err));
    CHECK_THAT(err, Catch::Contains(reason));
  }
}

TEST_CASE("delays are drawn from the seed and the URL, with the median asked for", "[common][dist]") {
  // The key leaves out the name (each model sends its own) and nothing else.
  CHECK(request_key("name=serial&delay=100&abcdefghij") ==
        request_key("name=coroutine&delay=100&abcdefghij"));
  CHECK(request_key("name=a&delay=100&abcdefghij") != request_key("name=a&delay=100&abcdefghik"));
  CHECK(request_key("name=a&delay=100&x") != request_key("name=a&delay=101&x"));

  auto draws = [](const DelayDist& d, std::uint64_t seed) {
    std::vector<std::int64_t> out;
    for (int i = 0; i < 20'001; ++i)
      out.push_back(draw_delay_us(d, 100, seed, request_key("delay=100&u" + std::to_string(i)), 60'000'000));
    return out;
  };
  auto median = [](std::vector<std::int64_t> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return static_cast<double>(v[v.size() / 2]);
  };
  DelayDist fixed;
  for (auto us : draws(fixed, 1)) CHECK(us == 100'000);

  DelayDist logn = *parse_delay_spec("lognormal:sigma=0.6", nullptr);
  auto a = draws(logn, 1);
  CHECK(a == draws(logn, 1));  // a pure function of seed and key
  CHECK(a != draws(logn, 2));
  CHECK(median(a) == Approx(100'000).epsilon(0.03));
  double mean = 0;
  for (auto us : a) mean += static_cast<double>(us) / static_cast<double>(a.size());
  CHECK(mean == Approx(100'000 * std::exp(0.6 * 0.6 / 2)).epsilon(0.03));  // 119.7 ms

  DelayDist uni = *parse_delay_spec("uniform:spread=0.2", nullptr);
  auto u = draws(uni, 1);
  CHECK(*std::min_element(u.begin(), u.end()) >= 80'000);
  CHECK(*std::max_element(u.begin(), u.end()) <= 120'000);
  CHECK(median(u) == Approx(100'000).epsilon(0.03));

  DelayDist par = *parse_delay_spec("pareto:alpha=1.5,cap=10", nullptr);
  auto p = draws(par, 1);
  CHECK(*std::max_element(p.begin(), p.end()) == 1'000'000);  // the cap, reached by the tail
  CHECK(median(p) == Approx(100'000).epsilon(0.03));
  // Beyond the median the tail is long: P(X > 4 * median) = 4^-1.5 / 2 = 6.25%.
  auto over = std::count_if(p.begin(), p.end(), [](auto us) { return us > 400'000; });
  CHECK(static_cast<double>(over) / static_cast<double>(p.size()) == Approx(0.0625).epsilon(0.15));

  // No draw exceeds the server's maximum.
  CHECK(draw_delay_us(par, 100, 1, 7, 150'000) <= 150'000);
}

TEST_CASE("the farthest tails stay within the maximum", "[common][dist]") {
  DelayDist wide = *parse_delay_spec("lognormal:sigma=5", nullptr);
  DelayDist heavy = *parse_delay_spec("pareto:alpha=0.001,cap=1000", nullptr);
  for (std::uint64_t key = 0; key < 20'000; ++key) {
    for (const DelayDist& d : {wide, heavy}) {
      std::int64_t us = draw_delay_us(d, 60'000, 1, key, 60'000'000);
      CHECK(us >= 0);
      CHECK(us <= 60'000'000);
    }
  }
}
