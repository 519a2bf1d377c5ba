// What a connection costs: crawl --connection (keepalive, close, reuse:N) in
// every model of the table, and delayserver --max-requests-per-connection,
// against the real server: the connections each request used, the time it
// spent opening one, nothing lost to the churn, bad specs refused.
#include "client/http_client.hpp"
#include "crawlers/crawl.hpp"
#include "crawlers/output.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sys/wait.h>

using namespace testbed;

namespace {

CrawlConfig churn_config(const std::string& model, const test::TestServer& srv, const std::string& policy) {
  CrawlConfig c;
  c.model = model;
  c.url = srv.url();
  c.num = 40;
  c.delay_ms = 2;
  c.concurrency = 4;
  c.seed = 9;
  c.reuse = *parse_connection_spec(policy, nullptr);
  return c;
}

// Requests per connection id.
std::map<std::int64_t, int> carried(const CrawlRun& run) {
  std::map<std::int64_t, int> n;
  for (const RequestRecord& r : run.records) ++n[r.conn];
  return n;
}

}  // namespace

TEST_CASE("connection specs are read, and a bad one is refused naming what is wrong", "[connections]") {
  std::string err;
  CHECK(parse_connection_spec("keepalive", &err) == 0);
  CHECK(parse_connection_spec("close", &err) == 1);
  CHECK(parse_connection_spec("reuse:25", &err) == 25);
  CHECK(connection_spec_text(0) == "keepalive");
  CHECK(connection_spec_text(1) == "close");
  CHECK(connection_spec_text(25) == "reuse:25");
  for (const char* bad : {"reuse:0", "reuse:", "reuse:x", "reuse:-3", "keep-alive", "open"}) {
    INFO(bad);
    err.clear();
    CHECK_FALSE(parse_connection_spec(bad, &err));
    CHECK_FALSE(err.empty());
  }
  CHECK_FALSE(parse_connection_spec("reuse:0", &err));
  CHECK(err.find("'0'") != std::string::npos);
}

TEST_CASE("close opens a connection for every request in every model, and times each connect",
          "[connections][crawl]") {
  test::TestServer srv;
  for (const auto& m : models()) {
    INFO(m.name);
    CrawlSummary s = summarize(measure_crawl(churn_config(m.name, srv, "close")));
    CHECK(s.failed == 0);
    CHECK(s.run.cost->connections_opened == 40);
    for (const auto& [conn, n] : carried(s.run)) CHECK(n == 1);
    for (const RequestRecord& r : s.run.records) {
      CHECK(r.opened);
      CHECK(r.connect_us > 0);
    }
    CHECK(s.connect_us.count == 40);
  }
}

TEST_CASE("reuse:N carries N requests on a connection, and keepalive opens one a slot",
          "[connections][crawl]") {
  test::TestServer srv;
  for (const auto& m : models()) {
    INFO(m.name);
    const std::string name = m.name;
    CrawlRun reuse = measure_crawl(churn_config(name, srv, "reuse:5"));
    const auto opened = reuse.cost->connections_opened;
    if (name == "curl") {
      // curl picks the connection: every 5th transfer closes the one it had,
      // so one connection per 5 requests in all (and the C it starts with).
      CHECK(opened >= 40 / 5);
      CHECK(opened <= 40 / 5 + 4);
    } else {
      for (const auto& [conn, n] : carried(reuse)) CHECK(n <= 5);
      CHECK(opened >= 40 / 5);
    }
    for (const RequestRecord& r : reuse.records) CHECK((r.connect_us > 0) == r.opened);

    CrawlRun kept = measure_crawl(churn_config(name, srv, "keepalive"));
    CHECK(kept.cost->connections_opened <= (m.one_in_flight ? 1 : 4));
    for (const RequestRecord& r : kept.records) CHECK((r.connect_us > 0) == r.opened);
  }
}

TEST_CASE("a server that closes after N answers makes every model reconnect and lose nothing",
          "[connections][server]") {
  ServerConfig cfg;
  cfg.max_requests_per_connection = 3;
  test::TestServer srv(cfg);
  for (const auto& m : models()) {
    INFO(m.name);
    CrawlSummary s = summarize(measure_crawl(churn_config(m.name, srv, "keepalive")));
    CHECK(s.failed == 0);
    CHECK(s.answered == 40);
    CHECK(s.run.cost->connections_opened >= 40 / 3);
    for (const auto& [conn, n] : carried(s.run)) CHECK(n <= 3);
  }
  // The last answer on a connection says so.
  const std::string answer =
      test::raw_exchange(srv.port(), "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                                     "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  std::size_t answers = 0;
  for (std::size_t at = 0; (at = answer.find("HTTP/1.1 200", at)) != std::string::npos; ++at) ++answers;
  CHECK(answers == 3);  // the fourth request found the connection closed
  CHECK(answer.find("Connection: close") != std::string::npos);
}

TEST_CASE("each request's connect time is a timeline column and reads back", "[connections][output]") {
  test::TestServer srv;
  CrawlRun run = measure_crawl(churn_config("coroutine", srv, "close"));
  const std::string csv = timeline_csv(run);
  auto rows = test::parse_csv(csv);
  // New columns go at the end: connect_us, then the TLS handshake's two,
  // then --urls' origin, then the worker that handled the answer.
  REQUIRE(rows[0].size() >= 5);
  CHECK(rows[0][rows[0].size() - 5] == "connect_us");
  CHECK(rows[0][rows[0].size() - 4] == "tls_us");
  CHECK(rows[0][rows[0].size() - 3] == "resumed");
  CHECK(rows[0][rows[0].size() - 2] == "origin");
  CHECK(rows[0].back() == "worker");
  CrawlRun back;
  back.config.model.clear();
  std::string err;
  REQUIRE(read_timeline_csv(csv, back, &err));
  for (std::size_t i = 0; i < run.records.size(); ++i) CHECK(back.records[i].connect_us == run.records[i].connect_us);
  CHECK(summarize(back).connect_us.p50 == summarize(run).connect_us.p50);
}

TEST_CASE("crawl refuses a bad --work or --connection with exit 2, naming the part", "[connections][work][cli]") {
  for (const auto& [flags, why] : {std::pair{"--work spin:ms=5", "--work: 'spin' takes us="},
                                   std::pair{"--work bcrypt:cost=30", "--work: bcrypt cost='30'"},
                                   std::pair{"--connection reuse:0", "--connection: reuse:N needs"},
                                   std::pair{"--connection sometimes", "--connection: 'sometimes' is not"}}) {
    INFO(flags);
    test::TempDir dir;
    const std::string err = (dir.path / "err.txt").string();
    const std::string cmd = std::string(CRAWL_BIN) + " --model coroutine --url http://127.0.0.1:" +
                            std::to_string(test::dead_port()) + " --num 3 " + flags + " 2>" + err;
    const int st = std::system(cmd.c_str());
    CHECK(WEXITSTATUS(st) == 2);
    std::ifstream in(err);
    const std::string said((std::istreambuf_iterator<char>(in)), {});
    CHECK(said.find(why) != std::string::npos);
  }
}
