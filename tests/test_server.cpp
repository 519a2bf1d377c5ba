// The delay server over real loopback sockets.
#include "common/clock.hpp"
#include "common/delay_dist.hpp"
#include "common/query.hpp"
#include "server/request.hpp"
#include "server/timeline_store.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include <filesystem>

using namespace testbed;
using test::http_get;

TEST_CASE("a request waits at least the delay it asked for and is recorded", "[server]") {
  test::TestServer srv;
  double t0 = mono_seconds();
  auto r = http_get(srv.port(), "/add?name=slow&delay=150&abcdefghij");
  double elapsed = mono_seconds() - t0;
  CHECK(r.status == 200);
  CHECK(r.body == ".");
  CHECK(r.delay_us == "150000");  // what it was given, as the timeline's delay column says too
  CHECK(elapsed >= 0.150);
  auto rows = test::parse_csv(http_get(srv.port(), "/timeline").body);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0] == std::vector<std::string>{"name", "start", "end", "delay"});
  CHECK(rows[1][0] == "slow");
  CHECK(std::stod(rows[1][2]) - std::stod(rows[1][1]) >= 0.150);
  CHECK(rows[1][3] == "0.150000");
}

namespace {

// A target and what its 400 must say.
struct BadTarget {
  const char* target;
  const char* reason;
};

// Each target gets a 400 whose reason says `reason`.
void expect_400s(const test::TestServer& srv, std::initializer_list<BadTarget> cases) {
  for (const BadTarget& c : cases) {
    INFO(c.target);
    auto r = http_get(srv.port(), c.target);
    CHECK(r.status == 400);
    CHECK_THAT(r.body, Catch::Contains(c.reason));
  }
}

}  // namespace

TEST_CASE("bad input gets a 400 with a reason and records nothing", "[server]") {
  test::TestServer srv;
  expect_400s(srv, {
                       {"/add?delay=10", "missing name"},
                       {"/add?name=x&delay=abc", "not an integer"},
                       {"/add?name=x&delay=1.5", "not an integer"},
                       {"/add?name=x&delay=", "empty"},
                       {"/add?name=x&delay=-3", "negative"},
                       {"/add?name=x&delay=99999999999999999999", "too large"},
                       {"/add?name=x&delay=60001", "over the maximum"},
                       {"/add?name=bad%zzname&delay=1", "percent-encoding"},
                       {"/add?prime=abc", "not an integer"},
                       {"/add?prime=-7", "negative"},
                   });
  CHECK(srv.server().timeline().size() == 0);
  // Unknown query keys are ignored, as the book's random tail needs.
  CHECK(http_get(srv.port(), "/add?name=x&delay=1&zzzz&q=1").status == 200);
  CHECK(srv.server().timeline().size() == 1);
}

TEST_CASE("bad delay distributions get a 400 naming the parameter", "[server][dist]") {
  test::TestServer srv;
  expect_400s(srv, {
                       {"/add?name=x&delay=10&dist=weibull", "bad dist 'weibull'"},
                       {"/add?name=x&delay=10&dist=lognormal&sigma=-1", "bad sigma '-1'"},
                       {"/add?name=x&delay=10&dist=lognormal&sigma=", "bad sigma '': not a number"},
                       {"/add?name=x&delay=10&dist=uniform&spread=2", "bad spread '2'"},
                       {"/add?name=x&delay=10&dist=pareto&alpha=0", "bad alpha '0'"},
                       {"/add?name=x&delay=10&dist=pareto&cap=0.1", "bad cap '0.1'"},
                       {"/add?name=x&delay=10&knee=0", "bad knee '0'"},
                       {"/add?name=x&delay=10&sigma=0.5", "sigma: it applies to dist=lognormal only"},
                       {"/add?name=x&delay=10&dist=uniform&alpha=2", "alpha: it applies to dist=pareto only"},
                   });
  CHECK(srv.server().timeline().size() == 0);
}

TEST_CASE("a drawn delay is the same for the same URL and seed, and the timeline says which",
          "[server][dist]") {
  auto delays = [](std::uint64_t seed, const std::vector<std::string>& targets) {
    ServerConfig cfg;
    cfg.seed = seed;
    cfg.delay_dist = *parse_delay_spec("lognormal:sigma=0.8", nullptr);  // for requests without dist=
    test::TestServer srv(cfg);
    std::vector<std::string> out;
    for (const auto& t : targets) {
      auto r = http_get(srv.port(), t);
      REQUIRE(r.status == 200);
      out.push_back(r.delay_us);
    }
    // The timeline's delay column holds what the answers said, in seconds.
    auto rows = test::parse_csv(http_get(srv.port(), "/timeline").body);
    REQUIRE(rows.size() == targets.size() + 1);
    for (std::size_t i = 0; i < targets.size(); ++i)
      CHECK(std::llround(std::stod(rows[i + 1][3]) * 1e6) == std::stoll(out[i]));
    return out;
  };
  const std::vector<std::string> targets = {
      "/add?name=a&delay=20&one", "/add?name=b&delay=20&two", "/add?name=a&delay=20&dist=uniform&one",
      "/add?name=a&delay=20&dist=fixed&one", "/add?name=zzz&delay=20&one"};
  auto first = delays(11, targets);
  CHECK(first == delays(11, targets));
  CHECK(first[0] != first[1]);  // another URL, another draw
  CHECK(first[3] == "20000");   // dist=fixed: exactly the delay, as before
  CHECK(first[4] == first[0]);  // the name is not part of the URL's identity
  CHECK(delays(12, targets)[0] != first[0]);
  const auto u = std::stoll(first[2]);  // uniform with the default spread 0.5
  CHECK(u >= 10'000);
  CHECK(u <= 30'000);
}

TEST_CASE("a save's latency follows --db-latency-dist, per prime", "[server][dist]") {
  auto latency = [](std::uint64_t seed, int prime) {
    ServerConfig cfg;
    cfg.seed = seed;
    cfg.db_latency_ms = 10;
    cfg.db_latency_dist = *parse_delay_spec("pareto:alpha=1,cap=3", nullptr);
    test::TestServer srv(cfg);
    auto r = http_get(srv.port(), "/add?prime=" + std::to_string(prime));
    REQUIRE(r.status == 200);
    return std::stoll(r.delay_us);
  };
  auto seven = latency(3, 7);
  CHECK(latency(3, 7) == seven);
  std::set<long long> seen;
  for (int p : {7, 11, 13, 17, 19, 23, 29, 31}) seen.insert(latency(3, p));
  CHECK(seen.size() > 4);  // they vary, within the cap
  for (auto us : seen) CHECK(us <= 30'000);
}

TEST_CASE("unknown paths get 404 and other methods 405 and other versions 505", "[server]") {
  test::TestServer srv;
  CHECK(http_get(srv.port(), "/nope").status == 404);
  CHECK(http_get(srv.port(), "/health").status == 200);
  // POST is taken by /add alone (the later editions' server); other methods nowhere.
  for (const char* request : {"DELETE /add?name=x HTTP/1.1\r\n", "POST /health HTTP/1.1\r\n"}) {
    INFO(request);
    std::string reply = test::raw_exchange(
        srv.port(), std::string(request) + "Host: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    CHECK_THAT(reply, Catch::StartsWith("HTTP/1.1 405"));
    CHECK_THAT(reply, Catch::Contains("Allow: GET"));
  }
  std::string v2 = test::raw_exchange(srv.port(), "GET /health HTTP/2.0\r\nHost: x\r\n\r\n");
  CHECK_THAT(v2, Catch::StartsWith("HTTP/1.1 505"));
  std::string garbage = test::raw_exchange(srv.port(), "\x01\x02 nonsense\r\n\r\n");
  CHECK_THAT(garbage, Catch::Contains(" 400 "));
  CHECK(http_get(srv.port(), "/health").status == 200);  // still serving
}

TEST_CASE("flush writes one row per request and quotes hostile names", "[server]") {
  test::TestServer srv;
  const std::vector<std::string> names = {"plain",    "a,b",     "say \"hi\"", "two\nlines",
                                          "cr\rhere", "ünïcødé", " spaced "};
  for (const auto& n : names) {
    std::string enc;
    percent_encode(n, enc);
    REQUIRE(http_get(srv.port(), "/add?name=" + enc + "&delay=1").status == 200);
  }
  // The client cannot choose where the file goes.
  auto other = srv.dir().path / "elsewhere.csv";
  auto r = http_get(srv.port(), "/add?flush=True&file=" + other.string());
  CHECK(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains("flushed 7 rows"));
  CHECK_FALSE(std::filesystem::exists(other));
  auto rows = test::read_csv(srv.server().config().timeline_path);
  REQUIRE(rows.size() == names.size() + 1);
  for (std::size_t i = 0; i < names.size(); ++i) {
    REQUIRE(rows[i + 1].size() == 4);
    CHECK(rows[i + 1][0] == names[i]);
    CHECK(std::stod(rows[i + 1][2]) >= std::stod(rows[i + 1][1]));
  }
}

TEST_CASE("pipelined requests are answered in order on one connection", "[server]") {
  test::TestServer srv;
  std::string two =
      "GET /add?name=first&delay=120 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /add?name=second&delay=10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  std::string out = test::raw_exchange(srv.port(), two);
  auto first = out.find("HTTP/1.1 200");
  REQUIRE(first != std::string::npos);
  CHECK(out.find("HTTP/1.1 200", first + 1) != std::string::npos);
  auto rows = test::parse_csv(http_get(srv.port(), "/timeline").body);
  REQUIRE(rows.size() == 3);
  CHECK(rows[1][0] == "first");
  CHECK(rows[2][0] == "second");
  CHECK(std::stod(rows[2][1]) >= std::stod(rows[1][2]));  // second started after first ended
}

TEST_CASE("HTTP/1.0 is answered in kind and closed unless kept alive", "[server]") {
  test::TestServer srv;
  std::string out = test::raw_exchange(srv.port(), "GET /add?name=old&delay=1 HTTP/1.0\r\n\r\n");
  CHECK_THAT(out, Catch::StartsWith("HTTP/1.0 200"));
  CHECK_THAT(out, Catch::EndsWith("\r\n\r\n."));  // and the server closed: raw_exchange returned
  std::string kept = test::raw_exchange(srv.port(),
                                        "GET /add?name=a&delay=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                        "GET /add?name=b&delay=1 HTTP/1.0\r\n\r\n");
  CHECK_THAT(kept, Catch::Contains("Connection: keep-alive"));
  CHECK(kept.find("HTTP/1.0 200", kept.find("HTTP/1.0 200") + 1) != std::string::npos);
}

TEST_CASE("oversized headers get 431", "[server]") {
  test::TestServer srv;
  std::string huge = "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  CHECK_THAT(test::raw_exchange(srv.port(), huge), Catch::StartsWith("HTTP/1.1 431"));
  CHECK(http_get(srv.port(), "/health").status == 200);
}

TEST_CASE("a server past its timeline capacity serves on and says how much it dropped", "[server]") {
  ServerConfig cfg;
  cfg.timeline_capacity = 2;
  test::TestServer srv(cfg);
  for (int i = 0; i < 5; ++i) CHECK(http_get(srv.port(), "/add?name=x&delay=0").status == 200);
  auto r = http_get(srv.port(), "/add?flush=True");
  CHECK_THAT(r.body, Catch::Contains("flushed 2 rows"));
  CHECK_THAT(r.body, Catch::Contains("3 more were not kept"));
  CHECK_THAT(http_get(srv.port(), "/stats").body, Catch::Contains("\"timeline_dropped\":3"));
}

TEST_CASE("the timeline store counts rows beyond its capacity as dropped", "[server]") {
  TimelineStore store(2, std::size_t{1} << 30);
  store.add("a", 1, 2, 0);
  store.add("b", 3, 4, 0);
  store.add("c", 5, 6, 0);
  CHECK(store.size() == 2);
  CHECK(store.dropped() == 1);
  CHECK(test::parse_csv(store.to_csv()).size() == 3);
}

TEST_CASE("the timeline store keeps every row and name across its chunks", "[server]") {
  TimelineStore store(200'000, std::size_t{1} << 30);
  const std::string giant(3 << 20, 'g');  // bigger than a name chunk
  std::string name;
  for (int i = 0; i < 150'000; ++i) {
    name = i == 70'000 ? giant : "n";
    if (i != 70'000) name += std::to_string(i);
    store.add(name, i, i + 1, 0);
  }
  CHECK(store.size() == 150'000);
  auto rows = test::parse_csv(store.to_csv());
  REQUIRE(rows.size() == 150'001);
  CHECK(rows[1][0] == "n0");
  CHECK(rows[70'001][0] == giant);
  CHECK(rows[70'002][0] == "n70001");
  CHECK(rows[150'000][0] == "n149999");
  CHECK(rows[150'000][1] == "0.149999");
}

TEST_CASE("a repeated query key: the last value is the one served and recorded", "[server]") {
  test::TestServer srv;
  CHECK(test::http_get(srv.port(), "/add?name=first&delay=5000&name=last&delay=0").status == 200);
  auto rows = test::parse_csv(test::http_get(srv.port(), "/timeline").body);
  REQUIRE(rows.size() == 2);
  CHECK(rows[1][0] == "last");
  CHECK(std::stod(rows[1][2]) - std::stod(rows[1][1]) < 1.0);  // delay=0, not 5000
}

TEST_CASE("the route table is what the server routes by and what --help lists", "[server][routes]") {
  test::TestServer srv;
  RouteLimits limits;
  std::set<Route> seen;
  for (const auto& r : route_table()) {
    INFO(r.form);
    seen.insert(r.route);
    Routed out;
    // Every form routes to its own row (a concrete request for the forms with placeholders).
    std::string target = r.form;
    if (r.route == Route::add_delay) target = "/add?name=x&delay=0";
    if (r.route == Route::add_prime) target = "/add?prime=7";
    CHECK(route_request(true, target, limits, out) == r.route);
    CHECK(test::http_get(srv.port(), target).status == 200);
  }
  CHECK(seen.size() == route_table().size());  // one row a route
  Routed out;
  CHECK(route_request(true, "/nowhere", limits, out) == Route::rejected);
  CHECK(out.status == 404);

  FILE* p = popen((std::string(DELAYSERVER_BIN) + " --help").c_str(), "r");
  REQUIRE(p);
  std::string help;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) help.append(buf, n);
  CHECK(pclose(p) == 0);
  for (const auto& r : route_table()) CHECK_THAT(help, Catch::Contains(std::string("GET ") + r.form));
}

namespace {

// A POST of `body` to `target` on its own connection: the whole answer.
std::string post(std::uint16_t port, const std::string& target, const std::string& body,
                 const std::string& framing = "") {
  std::string head = "POST " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  head += framing.empty() ? "Content-Length: " + std::to_string(body.size()) + "\r\n" : framing;
  return test::raw_exchange(port, head + "\r\n" + body, 5000);
}

}  // namespace

TEST_CASE("POST /add answers as the later editions' server: the body back in JSON after the delay",
          "[server][post]") {
  test::TestServer srv;
  const std::string hash = "$2b$04$abcdefghijklmnopqrstuu\"quoted\"\\back\x01";
  double t0 = mono_seconds();
  std::string reply = post(srv.port(), "/add", hash);
  CHECK(mono_seconds() - t0 >= 0.100);  // the later server's asyncio.sleep(0.1)
  CHECK_THAT(reply, Catch::StartsWith("HTTP/1.1 200"));
  CHECK_THAT(reply, Catch::Contains("Content-Type: application/json"));
  CHECK_THAT(reply, Catch::Contains("X-Delay-Us: 100000"));
  CHECK_THAT(reply, Catch::EndsWith(
                        "\r\n\r\n{\"result\": \"$2b$04$abcdefghijklmnopqrstuu\\\"quoted\\\"\\\\back\\u0001\", "
                        "\"t\": 0.100000}"));
  // A delay and a name of its own, an empty body; both recorded in the timeline.
  CHECK_THAT(post(srv.port(), "/add?name=saver&delay=5", ""), Catch::EndsWith("{\"result\": \"\", \"t\": 0.005000}"));
  // The absolute form, as a proxy sends it, routes by its path and query too.
  CHECK_THAT(post(srv.port(), "http://x/add?name=proxied&delay=1", "p"),
             Catch::EndsWith("{\"result\": \"p\", \"t\": 0.001000}"));
  auto rows = test::parse_csv(http_get(srv.port(), "/timeline").body);
  REQUIRE(rows.size() == 4);
  CHECK(rows[1][0] == "post");
  CHECK(rows[2][0] == "saver");
  CHECK(rows[2][3] == "0.005000");
  CHECK(rows[3][0] == "proxied");
}

TEST_CASE("bad POST bodies and targets get a 4xx with the reason, and the server goes on", "[server][post]") {
  test::TestServer srv;
  struct Case {
    std::string target, body, framing, status, reason;
  };
  const std::vector<Case> cases = {
      {"/add", std::string(kBodyLimit + 1, 'a'), "", "413", "POST body larger than 4096 bytes"},
      {"/add", "", "Content-Length: 99999999999\r\n", "413", "POST body larger than 4096 bytes"},
      {"/add", "5\r\nhello\r\n0\r\n\r\n", "Transfer-Encoding: chunked\r\n", "411", "needs a Content-Length"},
      {"/add", "\xff\xfe", "", "400", "not UTF-8"},
      {"/add", "\xed\xa0\x80", "", "400", "not UTF-8"},  // a surrogate
      {"/add", "\xc0\xaf", "", "400", "not UTF-8"},      // an overlong '/'
      {"/add?prime=7", "x", "", "400", "name= and delay= only, not 'prime'"},
      {"/add?delay=abc", "x", "", "400", "bad delay"},
      {"/primes", "x", "", "405", "POST is taken by /add only"},
      {"http://x/health", "x", "", "405", "POST is taken by /add only"},
      {"ht!tp:/bad", "x", "", "400", "bad request target"},
  };
  for (const auto& c : cases) {
    INFO(c.target << " " << c.reason);
    std::string reply = post(srv.port(), c.target, c.body, c.framing);
    CHECK_THAT(reply, Catch::StartsWith("HTTP/1.1 " + c.status));
    CHECK_THAT(reply, Catch::Contains(c.reason));
  }
  CHECK_THAT(post(srv.port(), "/add?delay=0", std::string(kBodyLimit, 'a')), Catch::StartsWith("HTTP/1.1 200"));
  auto rows = test::parse_csv(http_get(srv.port(), "/timeline").body);
  CHECK(rows.size() == 2);  // the one good POST alone
}
