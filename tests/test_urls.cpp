// crawl --urls: any list of http and https URLs over several real servers on
// different addresses (127.0.0.1, 127.0.0.2 and ::1, the last over TLS), in
// every model of the table: each URL reaches its own server with its exact
// delay, connections are kept per host and capped by --per-host, a server
// that says no delay leaves the ideal out and the summary says why, and a bad
// list is refused naming its line. (tests/urls_nginx_test.sh: against nginx.)
#include "crawlers/crawl.hpp"
#include "crawlers/output.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <memory>

using namespace testbed;
using testbed::test::TempDir;
using testbed::test::TestServer;

namespace {

std::string write_list(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = (dir.path / name).string();
  std::ofstream(path) << text;
  return path;
}

CrawlConfig list_crawl(const std::string& model, const std::string& file) {
  CrawlConfig c;
  c.model = model;
  c.urls_file = file;
  c.num = kNumFromList;
  c.concurrency = 4;
  c.seed = 11;
  c.timeout_ms = 5000;
  return c;
}

// A server bound to `bind`, or none (with a warning) where the machine has no
// such address: a container without IPv6 has no ::1.
std::unique_ptr<TestServer> server_on(const std::string& bind, bool tls) {
  ServerConfig c;
  c.bind = bind;
  c.tls = tls;
  try {
    return std::make_unique<TestServer>(c);
  } catch (const std::exception& e) {
    WARN("no server on " << bind << " here (" << e.what() << ")");
    return nullptr;
  }
}

// How many requests of each name (the URLs' name=) a server's timeline holds.
std::map<std::string, int> names_served(TestServer& s) {
  std::string err;
  REQUIRE(s.server().flush(&err) >= 0);
  std::map<std::string, int> count;
  const auto rows = test::read_csv(s.server().config().timeline_path);
  for (std::size_t k = 1; k < rows.size(); ++k) ++count[rows[k][0]];
  return count;
}

}  // namespace

TEST_CASE("crawl --urls fetches a list across servers on three addresses, plain and https, in every model",
          "[urls][crawl]") {
  TempDir dir;
  std::unique_ptr<TestServer> a = server_on("127.0.0.1", false), b = server_on("127.0.0.2", false);
  std::unique_ptr<TestServer> c = server_on("::1", true);
  std::string c_host = "[::1]";
  if (!c) {
    c = server_on("127.0.0.3", true);
    c_host = "127.0.0.3";
  }
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  // Four URLs on three origins (two on c), a comment and a blank line; each
  // URL's delay is its own, so a record shows which URL it fetched.
  const std::string list = "# three servers\n" + a->url("127.0.0.1") + "/add?name=a&delay=30&x1\n\n" +
                           b->url("127.0.0.2") + "/add?name=b&delay=20&x2\r\n" + c->url(c_host) +
                           "/add?name=c&delay=10&x3\n  " + c->url(c_host) + "/add?name=d&delay=40&x4  \n";
  const std::int64_t delay_ms[] = {30, 20, 10, 40};
  const std::string file = write_list(dir, "urls.txt", list);
  const std::string cacert = c->cert_file();
  for (const auto& m : models()) {
    DYNAMIC_SECTION(m.name) {
      CrawlConfig cfg = list_crawl(m.name, file);
      cfg.num = 24;  // six times round the list
      cfg.tls.cacert = cacert;
      CrawlSummary s = run_crawl(cfg);
      INFO(to_json(s).dump());
      CHECK(s.failed == 0);
      REQUIRE(s.run.records.size() == 24);
      int handshakes = 0;
      for (std::size_t i = 0; i < 24; ++i) {
        const RequestRecord& r = s.run.records[i];
        CHECK(r.status == 200);
        CHECK(r.bytes == 1);
        CHECK(r.delay_us == delay_ms[i % 4] * 1000);
        if (i % 4 < 2) CHECK(r.tls_us == 0);  // plain HTTP
        handshakes += r.tls_us > 0;
      }
      CHECK(handshakes >= 1);  // the https origin's connections, each with its handshake
      // Every answer said its delay: the ideal is the server's, as for /add.
      CHECK(s.ideal_from == "server");
      REQUIRE(s.ideal_seconds.has_value());
      CHECK(s.efficiency.has_value());
      // Connections are kept per host: serial holds one to each origin, the
      // others reuse theirs.
      const std::int64_t opened = s.run.cost->connections_opened;
      if (m.one_in_flight)
        CHECK(opened == 3);
      else
        CHECK(opened < 24);
      const auto j = to_json(s);
      CHECK(j["urls_file"] == file);
      CHECK(j["url"].is_null());  // not the delay server's: the list's
      CHECK(j["num"] == 24);
      // Each server got exactly its own URLs, six of each (Catch runs the
      // test case afresh for each model: the servers are this model's).
      CHECK(names_served(*a) == std::map<std::string, int>{{"a", 6}});
      CHECK(names_served(*b) == std::map<std::string, int>{{"b", 6}});
      CHECK(names_served(*c) == std::map<std::string, int>{{"c", 6}, {"d", 6}});
    }
  }
}

TEST_CASE("a --urls crawl goes once through the list by default, and round it again for a larger --num",
          "[urls][crawl]") {
  TempDir dir;
  TestServer s;
  const std::string file = write_list(dir, "urls.txt",
                                      s.url() + "/add?name=one&delay=0\n" + s.url() +
                                          "/add?name=two&delay=5\n" + s.url() + "/add?name=three&delay=0\n");
  CrawlSummary once = run_crawl(list_crawl("coroutine", file));
  CHECK(once.run.config.num == 3);
  REQUIRE(once.run.records.size() == 3);
  CrawlConfig more = list_crawl("coroutine", file);
  more.num = 7;
  CrawlSummary again = run_crawl(more);
  REQUIRE(again.run.records.size() == 7);
  for (std::size_t i = 0; i < 7; ++i) CHECK(again.run.records[i].delay_us == (i % 3 == 1 ? 5000 : 0));
  CHECK(names_served(s) == std::map<std::string, int>{{"one", 4}, {"two", 3}, {"three", 3}});
}

TEST_CASE(
    "where a server says no delay there is no delay column, ideal or efficiency, and the summary says why",
    "[urls][summary]") {
  TempDir dir;
  TestServer delayserver;
  test::ScriptedServer plain(
      [](const std::string&) { return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"; });
  const std::string file = write_list(
      dir, "urls.txt", plain.url() + "/index.html\n" + delayserver.url() + "/add?name=x&delay=10\n");
  for (const auto& m : models()) {
    DYNAMIC_SECTION(m.name) {
      CrawlConfig cfg = list_crawl(m.name, file);
      cfg.num = 6;
      CrawlSummary s = run_crawl(cfg);
      INFO(to_json(s).dump());
      CHECK(s.failed == 0);
      REQUIRE(s.run.records.size() == 6);
      for (std::size_t i = 0; i < 6; ++i) {
        CHECK(s.run.records[i].bytes == (i % 2 == 0 ? 2 : 1));
        CHECK(s.run.records[i].delay_us == (i % 2 == 0 ? -1 : 10'000));
      }
      CHECK_FALSE(s.ideal_seconds.has_value());
      CHECK_FALSE(s.efficiency.has_value());
      CHECK(s.ideal_from.rfind("none: 3 of 6 requests had no X-Delay-Us", 0) == 0);
      CHECK(s.overhead_us.count == 3);  // only where the delay is known
      CHECK(s.latency_ms.count == 6);
      const auto j = to_json(s);
      CHECK(j["ideal_seconds"].is_null());
      CHECK(j["efficiency"].is_null());
      // The timeline's delay column is empty where the server said nothing.
      const auto rows = test::parse_csv(timeline_csv(s.run));
      REQUIRE(rows.size() == 7);
      REQUIRE(rows[0][9] == "delay");
      for (std::size_t k = 1; k < rows.size(); ++k) CHECK(rows[k][9].empty() == (k % 2 == 1));
    }
  }
}

TEST_CASE(
    "a --per-host cap holds the connections to one host, and the requests in flight to it, in every model",
    "[urls][crawl]") {
  TempDir dir;
  for (const auto& m : models()) {
    if (m.one_in_flight) continue;  // serial: one at a time whatever the cap
    DYNAMIC_SECTION(m.name) {
      TestServer capped, free;
      const std::string file =
          write_list(dir, std::string(m.name) + ".txt",
                     capped.url() + "/add?name=c&delay=40\n" + free.url() + "/add?name=f&delay=40\n");
      CrawlConfig cfg = list_crawl(m.name, file);
      cfg.num = 24;
      cfg.concurrency = 8;
      cfg.per_host = 2;
      CrawlSummary s = run_crawl(cfg);
      INFO(to_json(s).dump());
      CHECK(s.failed == 0);
      CHECK(to_json(s)["per_host"] == 2);
      // The ideal holds each host to its 2 slots: 12 requests each, 2 at a
      // time, 40 ms each (the 8 slots of --concurrency never bind).
      REQUIRE(s.ideal_seconds.has_value());
      CHECK(*s.ideal_seconds == Approx(0.24));
      for (std::size_t i = 0; i < s.run.records.size(); ++i) CHECK(s.run.records[i].origin == i % 2);
      // A timeline carries each request's host (origin): summarized alone,
      // with the run's --per-host, it gives the same ideal.
      CrawlRun back;
      back.config.model.clear();  // the timeline's
      back.config.concurrency = 8;
      back.config.per_host = 2;
      back.config.urls_file = file;
      std::string err;
      const bool read = read_timeline_csv(timeline_csv(s.run), back, &err);
      INFO(err);
      REQUIRE(read);
      CHECK(summarize(std::move(back)).ideal_seconds.value() == Approx(0.24));
      // An origin that is not a host's number is refused, naming the column.
      const std::string bad = test::with_last_field(timeline_csv(s.run), "origin", "-1");
      CrawlRun refused;
      refused.config.model.clear();
      CHECK_FALSE(read_timeline_csv(bad, refused, &err));
      CHECK(err.find("'origin' is not valid") != std::string::npos);
      for (TestServer* srv : {&capped, &free}) {
        const ServerStats st = srv->server().stats();
        CHECK(st.peak_in_flight == 2);  // 12 requests each: the cap is reached, never passed
        CHECK(st.accepted <= 2);
      }
    }
  }
}

TEST_CASE("a --urls file with a bad line is refused naming the line, and an empty one too", "[urls][cli]") {
  TempDir dir;
  auto refusal = [&](const std::string& text) {
    const std::string file = write_list(dir, "list.txt", text);
    try {
      run_crawl(list_crawl("serial", file));
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("not refused");
  };
  const std::string file = (dir.path / "list.txt").string();
  CHECK(refusal("http://127.0.0.1:1/\n\nftp://127.0.0.1/x\n") ==
        "--urls " + file + ":3: only http:// and https:// URLs are supported: 'ftp://127.0.0.1/x'");
  CHECK(refusal("# a comment\nhttp://127.0.0.1:99999/\n") ==
        "--urls " + file + ":2: bad port in URL: '99999'");
  CHECK(refusal("not a url\n").rfind("--urls " + file + ":1: not a URL: 'not a url'", 0) == 0);
  CHECK(refusal("http://user:pw@127.0.0.1:1/\n").find(":1: a URL with a user part") != std::string::npos);
  CHECK(refusal("# only a comment\n\n   \n") ==
        "--urls " + file + ": no URL in it (one http:// or https:// URL a line)");
  CHECK(refusal("") == "--urls " + file + ": no URL in it (one http:// or https:// URL a line)");
  const std::string missing = (dir.path / "missing.txt").string();
  CrawlConfig none = list_crawl("serial", missing);
  CHECK_THROWS_WITH(run_crawl(none), Catch::StartsWith("--urls " + missing + ": cannot read it"));
  // What a URL becomes: its origin and the target sent, the fragment left out.
  std::string why;
  auto u = parse_request_url("https://[::1]:8443/a/b?x=1&y#frag", &why);
  REQUIRE(u);
  CHECK(u->origin.host == "::1");
  CHECK(u->origin.authority == "[::1]:8443");
  CHECK(u->origin.tls);
  CHECK(u->target == "/a/b?x=1&y");
  auto bare = parse_request_url("http://example.com", &why);
  REQUIRE(bare);
  CHECK(bare->target == "/");
  CHECK(bare->origin.authority == "example.com:80");
}
