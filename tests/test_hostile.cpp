// The server against hostile, slow, vanishing and too many clients, and its
// fault injection: every case gets an answer or a close, and the server keeps
// serving everyone else.
#include "server/request.hpp"
#include "server/timeline_store.hpp"
#include "support.hpp"

#include <boost/asio.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <thread>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace testbed;
using test::http_get;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::string status_line(const std::string& reply) { return reply.substr(0, reply.find("\r\n")); }

tcp::socket connect_to(asio::io_context& ioc, std::uint16_t port) {
  tcp::socket s(ioc);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  return s;
}

}  // namespace

TEST_CASE("hostile requests get the fitting 4xx or 5xx and the server keeps serving", "[hostile]") {
  test::TestServer srv;
  struct Case {
    std::string request;
    const char* status;
  };
  const std::string h = " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  const Case cases[] = {
      {"GET /add?name=x&delay=1" + h + "Content-Length: 5\r\n\r\nhello", "413"},
      {"GET /add?name=x&delay=1" + h + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "413"},
      {"GET /add?name=x&delay=1" + h + "Content-Length: 99999999999\r\n\r\n", "413"},
      {"GET /health" + h + "Content-Length: abc\r\n\r\n", "400"},
      {"GET /health" + h + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", "400"},
      {"GET /health" + h + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "400"},
      {"GET /add?name=" + std::string(5000, 'a') + h + "\r\n", "414"},
      {"GET /" + std::string(12000, 'b') + h + "\r\n", "414"},
      {"GET /health" + h + "X-Big: " + std::string(9000, 'c') + "\r\n\r\n", "431"},
      {std::string("GET /health HTTP/1.1\r\nHo\0st: x\r\n\r\n", 31), "400"},
      {"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", "505"},
      {"DELETE /add?name=x" + h + "\r\n", "405"},
      {"BREW /pot" + h + "\r\n", "405"},
      {"GET /add?name=%41%4" + h + "\r\n", "400"},
      {"GET /add?name=x&delay=12345678901234567890123" + h + "\r\n", "400"},
      {"GET /add?name=x&delay=0x10" + h + "\r\n", "400"},
      {"GET /add?prime=18446744073709551616" + h + "\r\n", "400"},
      {"\r\n\r\n\r\n", "400"},
  };
  for (const Case& c : cases) {
    INFO(c.request.substr(0, 80));
    std::string reply = test::raw_exchange(srv.port(), c.request);
    CHECK_THAT(status_line(reply), Catch::StartsWith("HTTP/1.1 " + std::string(c.status)));
  }
  CHECK(srv.server().timeline().size() == 0);
  CHECK(http_get(srv.port(), "/add?name=after&delay=1").status == 200);
}

TEST_CASE("random bytes get a 4xx or a close and never a crash", "[hostile]") {
  test::TestServer srv;
  std::mt19937 rng(7);
  int answered = 0;
  for (int i = 0; i < 200; ++i) {
    std::string junk(1 + rng() % 300, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng() % 256);
    if (i % 2) junk = "GET /" + junk;  // half of them get past the method
    junk += "\r\n\r\n";
    std::string reply = test::raw_exchange(srv.port(), junk, 2000);
    if (reply.empty()) continue;
    ++answered;
    INFO(reply);
    CHECK_THAT(reply, Catch::Matches("HTTP/1\\.[01] (4\\d\\d|505) [\\s\\S]*"));
  }
  CHECK(answered > 0);
  CHECK(http_get(srv.port(), "/health").status == 200);
}

TEST_CASE("a peer that sends half a request or idles is closed after the read timeout", "[hostile]") {
  ServerConfig cfg;
  cfg.read_timeout_ms = 200;
  test::TestServer srv(cfg);
  // The raw exchange would wait 5 s; the server must close well before.
  CHECK(test::raw_exchange(srv.port(), "GET /add?name=slow", 5000).empty());
  CHECK(srv.server().stats().read_timeouts == 1);
  // A kept-alive connection that goes quiet after its answer is closed too.
  std::string idle = test::raw_exchange(srv.port(), "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 5000);
  CHECK_THAT(idle, Catch::StartsWith("HTTP/1.1 200"));
  CHECK(srv.server().stats().read_timeouts == 2);
  CHECK(http_get(srv.port(), "/health").status == 200);
}

TEST_CASE("connections beyond the cap get a 503 and the cap frees up again", "[hostile]") {
  ServerConfig cfg;
  cfg.max_connections = 2;
  test::TestServer srv(cfg);
  asio::io_context ioc;
  {
    tcp::socket a = connect_to(ioc, srv.port());
    tcp::socket b = connect_to(ioc, srv.port());
    REQUIRE(test::wait_until([&] { return srv.server().stats().connections == 2; }));
    std::string third = test::raw_exchange(srv.port(), "", 3000);
    CHECK_THAT(third, Catch::StartsWith("HTTP/1.1 503"));
    CHECK_THAT(third, Catch::Contains("too many connections"));
    CHECK(srv.server().stats().refused == 1);
  }
  REQUIRE(test::wait_until([&] { return srv.server().stats().connections == 0; }));
  CHECK(http_get(srv.port(), "/health").status == 200);
}

TEST_CASE("a client that leaves mid-delay is noticed and nothing is recorded", "[hostile]") {
  test::TestServer srv;
  asio::io_context ioc;
  {
    tcp::socket s = connect_to(ioc, srv.port());
    asio::write(s, asio::buffer(std::string("GET /add?name=gone&delay=30000 HTTP/1.1\r\nHost: x\r\n\r\n")));
    REQUIRE(test::wait_until([&] { return srv.server().stats().connections == 1; }));
  }  // closed long before its 30 s delay
  REQUIRE(test::wait_until([&] { return srv.server().stats().abandoned == 1; }));
  CHECK(test::wait_until([&] { return srv.server().stats().connections == 0; }));
  CHECK(srv.server().timeline().size() == 0);
  // A pipelined request during a delay is not mistaken for a departure.
  std::string two =
      test::raw_exchange(srv.port(),
                         "GET /add?name=a&delay=150 HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /add?name=b&delay=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(two.find("HTTP/1.1 200", two.find("HTTP/1.1 200") + 1) != std::string::npos);
  CHECK(srv.server().stats().abandoned == 1);
}

TEST_CASE("injected errors and drops follow the seed and the URL, in any order, and record nothing",
          "[hostile][faults]") {
  // Outcome of URL i (D dropped, E 503, O answered), visiting the URLs in the
  // given order, with the given name and attempt.
  auto run = [](std::uint64_t seed, bool reverse, const std::string& name, int attempt) {
    ServerConfig cfg;
    cfg.error_rate = 0.3;
    cfg.drop_rate = 0.2;
    cfg.seed = seed;
    test::TestServer srv(cfg);
    std::string outcomes(200, '?');
    for (int k = 0; k < 200; ++k) {
      int i = reverse ? 199 - k : k;
      std::string field = attempt > 1 ? "X-Attempt: " + std::to_string(attempt) + "\r\n" : "";
      std::string r = test::raw_exchange(srv.port(), "GET /add?name=" + name + "&delay=1&url" +
                                                         std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n" +
                                                         field + "Connection: close\r\n\r\n");
      outcomes[i] = r.empty()                         ? 'D'
                    : r.rfind("HTTP/1.1 503", 0) == 0 ? 'E'
                    : r.rfind("HTTP/1.1 200", 0) == 0 ? 'O'
                                                      : '?';
    }
    auto st = srv.server().stats();
    auto n = [&](char c) {
      return static_cast<std::uint64_t>(std::count(outcomes.begin(), outcomes.end(), c));
    };
    CHECK(n('?') == 0);
    CHECK(st.injected_drops == n('D'));
    CHECK(st.injected_errors == n('E'));
    CHECK(srv.server().timeline().size() == n('O'));
    // Near the rates: 40 drops and 60 errors expected of 200.
    CHECK(n('D') > 15);
    CHECK(n('D') < 70);
    CHECK(n('E') > 30);
    CHECK(n('E') < 95);
    return outcomes;
  };
  std::string first = run(42, false, "f", 1);
  CHECK(run(42, true, "f", 1) == first);   // arrival order does not matter
  CHECK(run(42, false, "g", 1) == first);  // nor the name (every model sends its own)
  CHECK(run(43, false, "f", 1) != first);  // the seed does
  // A retry draws again: some URLs that failed their first attempt pass their second.
  std::string retry = run(42, false, "f", 2);
  CHECK(retry != first);
  int recovered = 0;
  for (int i = 0; i < 200; ++i) recovered += first[i] != 'O' && retry[i] == 'O';
  CHECK(recovered > 20);  // half of the ~100 that failed are expected to pass
}

TEST_CASE("a malformed X-Attempt is a 400 with the reason", "[hostile][faults]") {
  test::TestServer srv;
  for (const char* bad : {"0", "two", "-1", "9999999"}) {
    INFO(bad);
    std::string r =
        test::raw_exchange(srv.port(), std::string("GET /add?name=a&delay=0 HTTP/1.1\r\nHost: x\r\n"
                                                   "X-Attempt: ") +
                                           bad + "\r\n\r\n");
    CHECK(r.rfind("HTTP/1.1 400", 0) == 0);
    CHECK_THAT(r, Catch::Contains("bad X-Attempt"));
  }
  CHECK(srv.server().timeline().size() == 0);
}

TEST_CASE("an injected error on a prime saves nothing", "[hostile][faults]") {
  ServerConfig cfg;
  cfg.error_rate = 1;
  cfg.db_latency_ms = 1;
  test::TestServer srv(cfg);
  auto r = http_get(srv.port(), "/add?prime=7");
  CHECK(r.status == 503);
  CHECK_THAT(r.body, Catch::Contains("injected"));
  CHECK(http_get(srv.port(), "/primes").body == "{\"count\":0,\"sum\":0}\n");
}

TEST_CASE("stats reports the counters as JSON", "[hostile]") {
  test::TestServer srv;
  REQUIRE(http_get(srv.port(), "/add?name=a&delay=0").status == 200);
  auto r = http_get(srv.port(), "/stats");
  CHECK(r.status == 200);
  for (const char* key :
       {"\"connections\":1", "\"accepted\":2", "\"refused\":0", "\"read_timeouts\":0", "\"abandoned\":0",
        "\"injected_errors\":0", "\"injected_drops\":0", "\"timeline_rows\":1", "\"timeline_dropped\":0"}) {
    INFO(r.body);
    CHECK_THAT(r.body, Catch::Contains(key));
  }
}

TEST_CASE("route_request parses targets strictly", "[hostile]") {
  Routed out;
  RouteLimits limits;
  CHECK(route_request(true, "/add?name=a%20b&delay=5&xyz", limits, out) == Route::add_delay);
  CHECK(out.name == "a b");
  CHECK(out.delay_ms == 5);
  CHECK(route_request(true, "/add?name=a", limits, out) == Route::add_delay);
  CHECK(out.delay_ms == 1024);
  CHECK(route_request(true, "/add?prime=97", limits, out) == Route::add_prime);
  CHECK(out.prime == 97);
  CHECK(route_request(true, "/primes?reset=True", limits, out) == Route::primes_reset);
  CHECK(route_request(true, "/primes?reset=true", limits, out) == Route::primes);
  CHECK(route_request(false, "/health", limits, out) == Route::rejected);
  CHECK(out.status == 405);
  CHECK(route_request(true, "/nope", limits, out) == Route::rejected);
  CHECK(out.status == 404);
}

TEST_CASE("SIGTERM with requests in flight exits 0 with the timeline written", "[hostile][signals]") {
  test::TempDir dir;
  auto port_file = dir.path / "port";
  auto timeline = dir.path / "timeline.csv";
  std::string port_arg = port_file.string(), timeline_arg = timeline.string();
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    execl(DELAYSERVER_BIN, DELAYSERVER_BIN, "--port", "0", "--port-file", port_arg.c_str(), "--timeline",
          timeline_arg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  REQUIRE(test::wait_until([&] { return std::filesystem::exists(port_file); }));
  auto port = static_cast<std::uint16_t>(std::stoi(test::read_csv(port_file).at(0).at(0)));
  for (int i = 0; i < 3; ++i) CHECK(http_get(port, "/add?name=done&delay=1").status == 200);
  asio::io_context ioc;
  std::vector<tcp::socket> in_flight;
  for (int i = 0; i < 5; ++i) {
    in_flight.push_back(connect_to(ioc, port));
    asio::write(in_flight.back(),
                asio::buffer(std::string("GET /add?name=late&delay=20000 HTTP/1.1\r\nHost: x\r\n\r\n")));
  }
  REQUIRE(kill(pid, SIGTERM) == 0);
  int status = -1;
  bool exited = test::wait_until([&] { return waitpid(pid, &status, WNOHANG) == pid; }, 5000);
  if (!exited) kill(pid, SIGKILL), waitpid(pid, &status, 0);
  REQUIRE(exited);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  auto rows = test::read_csv(timeline);
  REQUIRE(rows.size() == 4);
  CHECK(rows[3][0] == "done");
}

TEST_CASE("request framing is exactly RFC 9112's: no smuggling, Host required, absolute form served",
          "[hostile][framing]") {
  test::TestServer srv;
  const std::string smuggled = "GET /add?name=smuggled&delay=0 HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const char* coding : {"xchunked", "identity", "gzip", "chunked, identity", "gzip, chunked, gzip"}) {
    INFO(coding);
    std::string reply = test::raw_exchange(srv.port(),
                                           "GET /add?name=x&delay=0 HTTP/1.1\r\nHost: x\r\n"
                                           "Transfer-Encoding: " +
                                               std::string(coding) + "\r\n\r\n" + smuggled);
    CHECK(status_line(reply) == "HTTP/1.1 400 Bad Request");
    CHECK_THAT(reply, Catch::Contains("final coding is not chunked"));
    CHECK_THAT(reply, Catch::Contains("Connection: close"));
    CHECK(reply.find("HTTP/1.1", 5) == std::string::npos);  // one answer, then the connection closed
  }
  // Neither the request nor what followed it was executed.
  CHECK(srv.server().timeline().size() == 0);

  struct Case {
    std::string request;
    const char* status_line;
    const char* says;
  };
  const Case cases[] = {
      {"GET /health HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", "without Host"},
      {"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HTTP/1.1 400 Bad Request",
       "more than one Host"},
      {"GET /health HTTP/1.0\r\n\r\n", "HTTP/1.0 200 OK", "ok"},  // 1.0 needs no Host
      {"GET  /health HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request", "request line"},
      {"GET /health  HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request", "request line: bad version"},
      {"GET /health HTTP/1.1 \r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request", "request line"},
      {"GET /health http/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request", "request line: bad version"},
      {"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported", "only HTTP/1.0"},
      {"GET /health HTTP/1.1\nHost: x\n\n", "HTTP/1.1 400 Bad Request", "line ending"},
      {"\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK", "ok"},
      {"\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK", "ok"},
      {"\r\n\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request", "bad method"},
      {"GET http://example.org:81/add?name=absolute&delay=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
       "HTTP/1.1 200 OK", "."},
      {"GET http://example.org HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 404 Not Found",
       "no route /"},
      {"GET ftp:/x:y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 404 Not Found", "no route"},
      {"GET [x] HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 400 Bad Request",
       "bad request target"},
  };
  for (const auto& c : cases) {
    INFO(c.request);
    std::string reply = test::raw_exchange(srv.port(), c.request);
    CHECK(status_line(reply) == c.status_line);
    CHECK_THAT(reply.substr(reply.find("\r\n\r\n")), Catch::Contains(c.says));
  }
  // The absolute form was routed like its path: recorded under its name.
  auto rows = test::parse_csv(http_get(srv.port(), "/timeline").body);
  REQUIRE(rows.size() == 2);
  CHECK(rows[1][0] == "absolute");
}

TEST_CASE("under a low open-files limit the cap leaves room to refuse: newcomers get a 503, never silence",
          "[hostile][limits]") {
  test::ServerProcess srv({"--timeline", "/dev/null", "--db", ":memory:", "--max-connections", "1000"}, 72);
  CHECK_THAT(srv.err(),
             Catch::Contains("--max-connections 1000 is more than the open-files limit allows (40"));
  asio::io_context ioc;
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 40; ++i) idle.push_back(connect_to(ioc, srv.port()));
  // Forty held open: every newcomer is told so at once, /health included.
  for (int i = 0; i < 5; ++i) {
    std::string reply = test::raw_exchange(srv.port(), "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 3000);
    CHECK(status_line(reply) == "HTTP/1.1 503 Service Unavailable");
    CHECK_THAT(reply, Catch::Contains("too many connections (40)"));
  }
  idle.clear();
  CHECK(test::wait_until([&] { return http_get(srv.port(), "/health").status == 200; }));
  CHECK(srv.stop(SIGTERM) == 0);
  CHECK_THAT(srv.err(), !Catch::Contains("Too many open files"));
}

TEST_CASE("a request that arrives complete within --read-timeout-ms is always served", "[hostile][limits]") {
  ServerConfig cfg;
  cfg.read_timeout_ms = 400;
  test::TestServer srv(cfg);
  // Connections opened at every phase of the sweep's period, each sending its
  // request complete at 0.9 of the timeout.
  asio::io_context ioc;
  std::vector<std::thread> clients;
  std::atomic<int> served{0};
  for (int k = 0; k < 8; ++k) {
    clients.emplace_back([&, k] {
      std::this_thread::sleep_for(std::chrono::milliseconds(k * 13));
      asio::io_context own;
      tcp::socket s = connect_to(own, srv.port());
      std::this_thread::sleep_for(std::chrono::milliseconds(360));
      boost::system::error_code ec;
      asio::write(
          s, asio::buffer(std::string("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")), ec);
      std::string reply;
      char buf[512];
      for (std::size_t n; (n = s.read_some(asio::buffer(buf), ec)) > 0 || !ec;) reply.append(buf, n);
      if (reply.rfind("HTTP/1.1 200", 0) == 0) ++served;
    });
  }
  for (auto& c : clients) c.join();
  CHECK(served == 8);
  // And an idle connection is still closed, after at most 1.25 timeouts (and scheduling).
  asio::io_context own;
  tcp::socket idle = connect_to(own, srv.port());
  auto t0 = std::chrono::steady_clock::now();
  char c;
  boost::system::error_code ec;
  idle.read_some(asio::buffer(&c, 1), ec);
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(ec == asio::error::eof);
  CHECK(waited >= std::chrono::milliseconds(390));
}
