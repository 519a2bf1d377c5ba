// Every concurrency model against the real server.
#include "crawlers/crawl.hpp"
#include "crawlers/output.hpp"
#include "server/timeline_store.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include <sys/resource.h>
#include <sys/wait.h>

using namespace testbed;

namespace {

// The models under test come from the model table, like every script's.
enum class Which { all, concurrent, event_loops };
std::vector<std::string> model_names(Which which) {
  std::vector<std::string> out;
  for (const auto& m : models()) {
    if (which == Which::concurrent && m.one_in_flight) continue;
    if (which == Which::event_loops && !m.event_loops) continue;
    out.emplace_back(m.name);
  }
  return out;
}

CrawlConfig config_for(const std::string& model, const test::TestServer& srv, std::int64_t num,
                       std::int64_t delay, int concurrency) {
  CrawlConfig c;
  c.model = model;
  c.url = srv.url();
  c.num = num;
  c.delay_ms = delay;
  c.concurrency = concurrency;
  return c;
}

// The server's own record of one model's requests, as [start, end) spans.
std::vector<std::pair<double, double>> server_spans(test::TestServer& srv, const std::string& name) {
  auto rows = test::parse_csv(test::http_get(srv.port(), "/timeline").body);
  std::vector<std::pair<double, double>> spans;
  for (std::size_t i = 1; i < rows.size(); ++i)
    if (rows[i][0] == name) spans.emplace_back(std::stod(rows[i][1]), std::stod(rows[i][2]));
  return spans;
}

}  // namespace

TEST_CASE("the serial crawler sums exactly N bytes and records N rows", "[crawl]") {
  test::TestServer srv;
  CrawlSummary s = run_crawl(config_for("serial", srv, 10, 20, 100));
  CHECK(s.bytes == 10);
  CHECK(s.failed == 0);
  REQUIRE(s.run.records.size() == 10);
  auto rows = test::parse_csv(timeline_csv(s.run));
  REQUIRE(rows.size() == 11);
  CHECK(rows[0] == std::vector<std::string>{"model", "index", "start", "end", "bytes", "status", "attempts",
                                            "conn", "opened", "delay", "intended", "work_us", "connect_us",
                                            "tls_us", "resumed", "origin", "worker"});
  // One keep-alive connection: opened for the first request, reused by the rest.
  for (std::size_t i = 1; i < rows.size(); ++i) {
    CHECK(rows[i][7] == rows[1][7]);
    CHECK(rows[i][8] == (i == 1 ? "1" : "0"));
  }
  for (std::size_t i = 1; i < rows.size(); ++i) {
    CHECK(rows[i][0] == "serial");
    CHECK(rows[i][5] == "200");
    CHECK(std::stod(rows[i][3]) - std::stod(rows[i][2]) >= 0.020);
    CHECK(rows[i][9] == "0.020000");  // the delay the server said it gave
    CHECK(rows[i][10].empty());       // closed loop: no due time
  }
  // One at a time: the server never saw two of them overlap.
  auto spans = server_spans(srv, "serial");
  CHECK(spans.size() == 10);
  CHECK(test::peak_overlap(spans) == 1);
  auto json = to_json(s);
  CHECK(json["bytes"] == 10);
  CHECK(json["failed"] == 0);
  CHECK(json["num"] == 10);
}

TEST_CASE("every model sums exactly N bytes", "[crawl]") {
  auto model = GENERATE(from_range(model_names(Which::all)));
  INFO(model);
  test::TestServer srv;
  CrawlSummary s = run_crawl(config_for(model, srv, 300, 0, 20));
  CHECK(s.bytes == 300);
  CHECK(s.failed == 0);
  CHECK(s.run.errors.empty());
  CHECK(server_spans(srv, model).size() == 300);
  for (const auto& r : s.run.records) CHECK(r.status == 200);
}

TEST_CASE("concurrent models keep exactly `concurrency` requests in flight", "[crawl]") {
  auto model = GENERATE(from_range(model_names(Which::concurrent)));
  INFO(model);
  test::TestServer srv;
  CrawlSummary s = run_crawl(config_for(model, srv, 60, 200, 20));
  CHECK(s.bytes == 60);
  auto spans = server_spans(srv, model);
  REQUIRE(spans.size() == 60);
  CHECK(test::peak_overlap(spans) == 20);
}

TEST_CASE("a dead server is counted as failures and not a crash", "[crawl]") {
  auto model = GENERATE(from_range(model_names(Which::all)));
  INFO(model);
  CrawlConfig c;
  c.model = model;
  c.url = "http://127.0.0.1:" + std::to_string(test::dead_port());
  c.num = 5;
  c.delay_ms = 10;
  c.concurrency = 3;
  CrawlSummary s = run_crawl(c);
  CHECK(s.failed == 5);
  CHECK(s.bytes == 0);
  REQUIRE(s.run.errors.size() == 1);
  CHECK(s.run.errors.begin()->second == 5);
  CHECK_THAT(s.run.errors.begin()->first, Catch::Contains("127.0.0.1"));
  CHECK_THAT(s.run.errors.begin()->first, Catch::Contains("refused", Catch::CaseSensitive::No));
  CHECK(test::parse_csv(timeline_csv(s.run)).size() == 6);  // what it has is still written
  // A server that was never up is not retried: every request fails on its first attempt.
  c.retries = 8;
  CrawlSummary again = run_crawl(c);
  CHECK(again.failed == 5);
  CHECK(again.retries == 0);
}

TEST_CASE("the model table lists the models in the book's order, with their properties", "[crawl]") {
  std::vector<std::string> names = model_names(Which::all);
  CHECK(names ==
        std::vector<std::string>{"serial", "threads", "greenlet", "callback", "coroutine", "curl", "mn"});
  auto json = models_json();
  REQUIRE(json.size() == names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    CHECK(json[i]["name"] == names[i]);
    CHECK(json[i]["one_in_flight"] == (names[i] == "serial"));
    CHECK(json[i]["pool"] == (names[i] == "mn"));
    CHECK_FALSE(json[i]["mirrors"].get<std::string>().empty());
  }
  CHECK(find_model("fibers") == nullptr);
}

TEST_CASE("crawl --list-models prints the table that scripts read", "[crawl]") {
  auto run = [](const std::string& args) {
    std::string out;
    FILE* p = popen((std::string(CRAWL_BIN) + " " + args).c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    CHECK(pclose(p) == 0);
    return out;
  };
  std::string expected;
  for (const auto& name : model_names(Which::all)) expected += name + "\n";
  CHECK(run("--list-models") == expected);
  auto json = nlohmann::json::parse(run("--list-models --json"));
  CHECK(json == models_json());
}

TEST_CASE("bad crawl settings are rejected with a reason", "[crawl]") {
  CrawlConfig c;
  c.model = "fibers";
  CHECK_THROWS_WITH(run_crawl(c), Catch::Contains("unknown model"));
  c.model = "serial";
  c.concurrency = 0;
  CHECK_THROWS_WITH(run_crawl(c), Catch::Contains("concurrency"));
  c.concurrency = 1;
  c.url = "ftp://x";
  CHECK_THROWS_WITH(run_crawl(c), Catch::Contains("http://"));
}

TEST_CASE("with retries every model gets every byte through injected faults", "[crawl][faults]") {
  auto model = GENERATE(from_range(model_names(Which::all)));
  INFO(model);
  ServerConfig cfg;
  cfg.error_rate = 0.2;
  cfg.drop_rate = 0.05;
  cfg.seed = 2026;
  test::TestServer srv(cfg);
  CrawlConfig c = config_for(model, srv, find_model(model)->one_in_flight ? 60 : 200, 2, 20);
  c.retries = 8;
  CrawlSummary s = run_crawl(c);
  for (const auto& [msg, n] : s.run.errors) UNSCOPED_INFO(n << " failed: " << msg);  // why, if any did
  CHECK(s.bytes == c.num);
  CHECK(s.failed == 0);
  CHECK(s.retries > 0);
  auto st = srv.server().stats();
  // Each 503 cost one retry; a drop costs one too, unless it hit a kept-alive
  // connection, which is reopened at once without counting as an attempt.
  CHECK(s.retries >= static_cast<std::int64_t>(st.injected_errors));
  CHECK(s.retries <= static_cast<std::int64_t>(st.injected_errors + st.injected_drops));
  CHECK(server_spans(srv, model).size() == static_cast<std::size_t>(c.num));
  std::int64_t attempts = 0;
  for (const auto& r : s.run.records) attempts += r.attempts;
  CHECK(attempts == c.num + s.retries);
}

TEST_CASE("without retries injected faults are counted and reported", "[crawl][faults]") {
  auto model = GENERATE(from_range(model_names(Which::concurrent)));
  INFO(model);
  ServerConfig cfg;
  cfg.error_rate = 0.3;
  cfg.seed = 7;
  test::TestServer srv(cfg);
  CrawlSummary s = run_crawl(config_for(model, srv, 100, 1, 10));
  CHECK(s.failed > 0);
  CHECK(s.bytes + s.failed == 100);
  CHECK(s.run.errors.at("HTTP status 503") == s.failed);
  CHECK(s.retries == 0);
}

TEST_CASE("an attempt that outlives --timeout-ms is cut off and retried", "[crawl][timeout]") {
  auto model = GENERATE(from_range(model_names(Which::all)));
  INFO(model);
  test::TestServer srv;
  CrawlConfig c = config_for(model, srv, 3, 5000, 3);
  c.timeout_ms = 100;
  c.retries = 1;
  CrawlSummary s = run_crawl(c);
  CHECK(s.failed == 3);
  REQUIRE(s.run.errors.size() == 1);
  CHECK(s.run.errors.begin()->second == 3);
  CHECK_THAT(s.run.errors.begin()->first, Catch::Contains("timed out", Catch::CaseSensitive::No));
  for (const auto& r : s.run.records) CHECK(r.attempts == 2);
  // The server notices each abandoned attempt and records none of them.
  CHECK(test::wait_until([&] { return srv.server().stats().abandoned == 6; }));
  CHECK(srv.server().timeline().size() == 0);
}

TEST_CASE("a server on several threads serves every model exactly", "[crawl][threads]") {
  auto model = GENERATE(from_range(model_names(Which::concurrent)));
  INFO(model);
  ServerConfig cfg;
  cfg.threads = 3;
  test::TestServer srv(cfg);
  CrawlSummary s = run_crawl(config_for(model, srv, 400, 1, 40));
  CHECK(s.bytes == 400);
  CHECK(s.failed == 0);
  CHECK(server_spans(srv, model).size() == 400);
  CHECK(srv.server().stats().connections <= 40);
}

TEST_CASE("with --loops the event-loop models share URLs and concurrency over threads", "[crawl][threads]") {
  auto model = GENERATE(from_range(model_names(Which::event_loops)));
  INFO(model);
  test::TestServer srv;
  CrawlConfig c = config_for(model, srv, 90, 150, 30);
  c.loops = 2;
  CrawlSummary s = run_crawl(c);
  CHECK(s.bytes == 90);
  CHECK(s.failed == 0);
  auto spans = server_spans(srv, model);
  REQUIRE(spans.size() == 90);
  CHECK(test::peak_overlap(spans) == 30);
  for (const auto& m : models()) {
    if (m.event_loops) continue;
    c.model = m.name;
    CHECK_THROWS_WITH(run_crawl(c), Catch::Contains("--loops"));
  }
}

TEST_CASE("every model skips interim 1xx answers and reads the final one", "[crawl][http]") {
  auto model = GENERATE(from_range(model_names(Which::all)));
  INFO(model);
  test::ScriptedServer peer([](const std::string&) {
    return "HTTP/1.1 100 Continue\r\n\r\n"
           "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  });
  CrawlConfig c;
  c.model = model;
  c.url = peer.url();
  c.num = 12;
  c.concurrency = 3;
  CrawlSummary s = run_crawl(c);
  CHECK(s.failed == 0);
  CHECK(s.bytes == 24);
  CHECK(s.run.errors.empty());
  CHECK(peer.connections() <= 3);  // kept alive through the interim answers
}

TEST_CASE("every model treats the edge answers alike", "[crawl][http]") {
  auto model = GENERATE(from_range(model_names(Which::all)));
  INFO(model);
  auto crawl = [&](const test::ScriptedServer& peer) {
    CrawlConfig c;
    c.model = model;
    c.url = peer.url();
    c.num = 4;
    c.concurrency = 1;
    return run_crawl(c);
  };
  SECTION("a 16 KiB header is accepted") {
    test::ScriptedServer peer([](const std::string&) {
      return "HTTP/1.1 200 OK\r\nX-Big: " + std::string(16 * 1024, 'b') + "\r\nContent-Length: 1\r\n\r\n.";
    });
    CrawlSummary s = crawl(peer);
    CHECK(s.failed == 0);
    CHECK(s.bytes == 4);
  }
  SECTION("a header over 100 KiB in all is refused, and its connection closed") {
    test::ScriptedServer peer([](const std::string&) {
      std::string head = "HTTP/1.1 200 OK\r\n";
      for (int i = 0; i < 2500; ++i)
        head += "X-Line-" + std::to_string(i) + ": " + std::string(40, 'h') + "\r\n";
      return head + "Content-Length: 1\r\n\r\n.";
    });
    CrawlSummary s = crawl(peer);
    CHECK(s.failed == 4);
    REQUIRE(s.run.errors.size() == 1);
    CHECK_THAT(s.run.errors.begin()->first, Catch::Contains("header limit"));
    CHECK(peer.connections() == 4);
  }
  SECTION("Content-Length with Transfer-Encoding is refused, and its connection closed") {
    test::ScriptedServer peer([](const std::string&) {
      return "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n.\r\n0\r\n\r\n";
    });
    CrawlSummary s = crawl(peer);
    CHECK(s.failed == 4);
    CHECK(s.bytes == 0);
    CHECK(peer.connections() == 4);
  }
  SECTION("bytes after an answer are never taken for the next answer") {
    test::ScriptedServer peer([](const std::string&) {
      return "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n."
             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWRONG";
    });
    CrawlSummary s = crawl(peer);
    CHECK(s.failed == 0);
    CHECK(s.bytes == 4);             // never 5
    CHECK(peer.connections() == 4);  // the connection was not trusted again
  }
}

TEST_CASE("a concurrency the open-files limit cannot hold is refused before anything starts",
          "[crawl][limits]") {
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit low{100, saved.rlim_max};
  REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
  test::TestServer srv;
  for (const auto& m : models()) {
    INFO(m.name);
    CrawlConfig c = config_for(m.name, srv, 300, 0, 200);
    if (m.one_in_flight) {
      CHECK(run_crawl(c).bytes == 300);  // one socket whatever --concurrency says
    } else {
      CHECK_THROWS_WITH(run_crawl(c), Catch::Contains("open-files limit is 100") &&
                                          Catch::Contains("at most --concurrency 84"));
      c.concurrency = 30;  // the in-process server shares the limit: 30 sockets each side
      CHECK(run_crawl(c).bytes == 300);
    }
  }
  setrlimit(RLIMIT_NOFILE, &saved);
}

TEST_CASE("a model out of threads stops cleanly, says how far it got, and writes what it has",
          "[crawl][limits]") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  WARN("skipped under sanitizers: they reserve more address space than the limit this test sets");
#else
  test::TestServer srv;
  test::TempDir dir;
  auto timeline = dir.path / "client.csv";
  std::string cmd = "ulimit -v 700000; exec " + std::string(CRAWL_BIN) + " --model threads --url " +
                    srv.url() + " --num 400 --concurrency 300 --delay 200 --json --timeline " +
                    timeline.string() + " 2>" + (dir.path / "err").string();
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = pclose(p);
  CHECK(WEXITSTATUS(status) == 1);
  auto json = nlohmann::json::parse(out);
  std::string why = json["stopped_early"];
  CHECK_THAT(why, Catch::Contains("could not start thread"));
  CHECK(json["failed"].get<int>() + json["bytes"].get<int>() == 400);
  CHECK(json["failed"].get<int>() > 0);
  CHECK(test::read_csv(timeline).size() == 401);  // every request, done or not, in the timeline
  std::ifstream err(dir.path / "err");
  std::string said((std::istreambuf_iterator<char>(err)), {});
  CHECK_THAT(said, Catch::Contains("stopped early after"));
#endif
}

TEST_CASE("every model's summary says what it cost and where it lost time", "[crawl][cost]") {
  auto model = GENERATE(from_range(model_names(Which::all)));
  INFO(model);
  const ModelEntry& m = *find_model(model);
  test::TestServer srv;
  // Long enough that every one of 40 threads has started (slow under TSan)
  // before the first ones have taken every URL: each slot is used.
  constexpr std::int64_t kDelayMs = 200;
  CrawlConfig c = config_for(model, srv, m.one_in_flight ? 10 : 120, kDelayMs, 40);
  c.seed = 42;
  CrawlSummary s = run_crawl(c);
  REQUIRE(s.failed == 0);
  auto j = to_json(s);
  // Exact percentiles, in order; the overhead is what the model added to the delay.
  auto lat = j["latency_ms"];
  auto over = j["overhead_us"];
  CHECK(lat["p50"] <= lat["p90"]);
  CHECK(lat["p90"] <= lat["p99"]);
  CHECK(lat["p99"] <= lat["p99.9"]);
  CHECK(lat["p99.9"] <= lat["max"]);
  CHECK(over["p50"] <= over["max"]);
  CHECK(over["p50"].get<double>() >= 0);
  CHECK(over["max"].get<double>() < lat["max"].get<double>() * 1000);
  CHECK(lat["p50"].get<double>() >= kDelayMs);
  CHECK(over["max"].get<double>() == Approx(lat["max"].get<double>() * 1000 - kDelayMs * 1000).margin(1));
  // The spectrum latency.png draws: from the least to the most overhead, in order.
  auto spectrum = j["overhead_us_spectrum"];
  REQUIRE(spectrum.size() >= 10);
  CHECK(spectrum.front()[0] == 0.0);
  CHECK(spectrum.back()[0] == 1.0);
  CHECK(spectrum.back()[1] == over["max"]);
  for (std::size_t k = 1; k < spectrum.size(); ++k) CHECK(spectrum[k][1] >= spectrum[k - 1][1]);
  // The kernel's accounting of the run.
  auto cost = j["cost"];
  CHECK(cost["cpu_user_seconds"].get<double>() + cost["cpu_system_seconds"].get<double>() > 0);
  CHECK(cost["cpu_ms_per_1k"].get<double>() > 0);
  CHECK(cost["peak_rss_kib"].get<std::int64_t>() > 0);
  CHECK(cost["rss_growth_kib"].get<std::int64_t>() >= 0);
  CHECK(cost["voluntary_switches"].get<std::int64_t>() > 0);
  // Keep-alive, no reconnects: one connection per request in flight.
  CHECK(cost["connections_opened"] == (m.one_in_flight ? 1 : 40));
  std::set<std::int64_t> conns;
  std::int64_t opened = 0;
  for (const auto& r : s.run.records) {
    conns.insert(r.conn);
    opened += r.opened;
  }
  CHECK(conns.size() == (m.one_in_flight ? 1u : 40u));
  CHECK(opened == (m.one_in_flight ? 1 : 40));
  // One thread per event loop; about one per request in flight for threads;
  // mn's pool, one thread a core.
  if (model == "threads")
    CHECK(cost["peak_threads"].get<int>() >= 40);
  else if (m.pool)
    CHECK(cost["peak_threads"] == static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  else
    CHECK(cost["peak_threads"] == 1);
  // What makes it repeatable.
  CHECK(j["seed"] == 42);
  CHECK_THAT(j["version"].get<std::string>(), Catch::StartsWith("crawl "));
}

namespace {

// The server's timeline rows of one name, in arrival order: the delay column, in µs.
std::vector<std::int64_t> server_delays(test::TestServer& srv, const std::string& name) {
  auto rows = test::parse_csv(test::http_get(srv.port(), "/timeline").body);
  std::vector<std::int64_t> out;
  for (std::size_t i = 1; i < rows.size(); ++i)
    if (rows[i][0] == name) out.push_back(std::llround(std::stod(rows[i][3]) * 1e6));
  return out;
}

std::vector<std::int64_t> client_delays(const CrawlSummary& s) {
  std::vector<std::int64_t> out;
  for (const auto& r : s.run.records) out.push_back(r.delay_us);
  return out;
}

CrawlConfig tail_config(const std::string& model, const test::TestServer& srv, const std::string& name) {
  CrawlConfig c = config_for(model, srv, 40, 20, 8);
  c.delay_dist = *parse_delay_spec("lognormal:sigma=0.6", nullptr);
  c.seed = 77;
  c.name = name;
  return c;
}

}  // namespace

TEST_CASE("with the same seeds every model meets the same delay for each URL", "[crawl][dist]") {
  ServerConfig cfg;
  cfg.seed = 4242;
  test::TestServer srv(cfg);
  // Serial sends the URLs in index order, so its server timeline is per URL.
  CrawlSummary serial = run_crawl(tail_config("serial", srv, "serial"));
  REQUIRE(serial.failed == 0);
  const std::vector<std::int64_t> d = server_delays(srv, "serial");
  REQUIRE(d.size() == 40);
  CHECK(client_delays(serial) == d);                              // the answers say what the server recorded
  CHECK(std::set<std::int64_t>(d.begin(), d.end()).size() > 30);  // they vary
  // The same model again, then every other model (each with its own name).
  CHECK(server_delays(srv, "serial") == d);
  run_crawl(tail_config("serial", srv, "serial-again"));
  CHECK(server_delays(srv, "serial-again") == d);
  for (const auto& model : model_names(Which::concurrent)) {
    INFO(model);
    CrawlSummary s = run_crawl(tail_config(model, srv, model));
    CHECK(s.failed == 0);
    CHECK(client_delays(s) == d);
    auto seen = server_delays(srv, model);  // in arrival order, which differs: the same multiset
    std::sort(seen.begin(), seen.end());
    auto want = d;
    std::sort(want.begin(), want.end());
    CHECK(seen == want);
    auto json = to_json(s);
    CHECK(json["ideal_from"] == "server");
    CHECK(json["delay_dist"] == "lognormal:sigma=0.6");
    CHECK(json["ideal_seconds"].get<double>() == Approx(ideal_seconds(d, 8)));
  }
  // Another crawl seed: other URLs, other delays.
  CrawlConfig other = tail_config("serial", srv, "other-seed");
  other.seed = 78;
  run_crawl(other);
  CHECK(server_delays(srv, "other-seed") != d);
}

TEST_CASE("injected faults fall on the same URLs for every model", "[crawl][faults][dist]") {
  ServerConfig cfg;
  cfg.error_rate = 0.3;
  cfg.seed = 99;
  test::TestServer srv(cfg);
  std::vector<int> first;
  for (const auto& model : model_names(Which::all)) {
    INFO(model);
    CrawlConfig c = config_for(model, srv, 60, 1, 10);
    c.seed = 5;
    CrawlSummary s = run_crawl(c);
    std::vector<int> statuses;
    for (const auto& r : s.run.records) statuses.push_back(r.status);
    CHECK(std::count(statuses.begin(), statuses.end(), 503) > 5);
    if (first.empty()) first = statuses;
    CHECK(statuses == first);
  }
}

TEST_CASE("the ideal is a perfect semaphore with the delays given", "[crawl][dist]") {
  // Two slots, in index order: 3 on one; 1, 1, 1 on the other.
  CHECK(ideal_seconds({3'000'000, 1'000'000, 1'000'000, 1'000'000}, 2) == 3.0);
  CHECK(ideal_seconds({1'000'000, 3'000'000, 1'000'000, 1'000'000, 1'000'000}, 2) == 4.0);
  CHECK(batched_ideal_seconds({3'000'000, 1'000'000, 1'000'000, 1'000'000}, 2) == 4.0);
  // One fixed delay: the book's ceil(N / C) * delay.
  CHECK(ideal_seconds(std::vector<std::int64_t>(10, 100'000), 3) == Approx(0.4));
  CHECK(ideal_seconds(std::vector<std::int64_t>(10, 100'000), 1) == Approx(1.0));
  CHECK(ideal_seconds({}, 3) == 0);
  // --per-host: four slots, but host 0 has one: its three requests one after
  // another (3 s) while host 1's runs beside them.
  const std::vector<std::int64_t> second(4, 1'000'000);
  CHECK(ideal_seconds(second, 4, {}, {0, 0, 1, 0}, 1) == 3.0);
  CHECK(ideal_seconds(second, 4, {}, {0, 0, 1, 0}, 2) == 2.0);
  CHECK(ideal_seconds(second, 4, {}, {0, 0, 1, 0}, 0) == 1.0);  // no cap
  // Both bind: two slots in all, one a host; host 1's first waits for a slot.
  CHECK(ideal_seconds({2'000'000, 2'000'000, 1'000'000, 1'000'000}, 2, {}, {0, 0, 1, 1}, 1) == 4.0);
}

TEST_CASE("the batched pattern fires C, waits for all C, then fires the next C", "[crawl][dist]") {
  auto model = GENERATE(from_range(model_names(Which::event_loops)));
  INFO(model);
  test::TestServer srv;
  CrawlConfig c = tail_config(model, srv, model);
  c.num = 30;
  c.concurrency = 10;
  c.batched = true;
  CrawlSummary s = run_crawl(c);
  REQUIRE(s.failed == 0);
  CHECK(s.bytes == 30);
  for (std::size_t b = 10; b < 30; b += 10) {
    std::int64_t last_end = 0, first_start = INT64_MAX;
    for (std::size_t i = b - 10; i < b; ++i) last_end = std::max(last_end, s.run.records[i].end_us);
    for (std::size_t i = b; i < b + 10; ++i) first_start = std::min(first_start, s.run.records[i].start_us);
    CHECK(first_start >= last_end);
  }
  auto json = to_json(s);
  CHECK(json["batched"] == true);
  const double floor = json["batched_ideal_seconds"].get<double>();
  CHECK(floor == Approx(batched_ideal_seconds(client_delays(s), 10)));
  CHECK(floor > json["ideal_seconds"].get<double>());  // the tail costs the batches
  CHECK(s.run.seconds >= floor);
}

TEST_CASE("the batched pattern is for the event-loop models", "[crawl][dist]") {
  test::TestServer srv;
  CrawlConfig c = config_for("threads", srv, 10, 1, 5);
  c.batched = true;
  CHECK_THROWS_WITH(run_crawl(c), Catch::Contains("--batched applies to the event-loop models only"));
}

TEST_CASE("with a knee the delay grows with the requests in flight at the server", "[crawl][dist]") {
  test::TestServer srv;
  CrawlConfig c = config_for("coroutine", srv, 20, 40, 20);
  c.delay_dist = *parse_delay_spec("fixed:knee=10", nullptr);
  CrawlSummary s = run_crawl(c);
  REQUIRE(s.failed == 0);
  auto d = server_delays(srv, "coroutine");
  REQUIRE(d.size() == 20);
  std::set<std::int64_t> in_flight;
  for (auto us : d) {
    // 40 ms * (1 + k / 10), k the others in flight: k is a whole number.
    double k = (static_cast<double>(us) / 40'000.0 - 1) * 10;
    CHECK(k == Approx(std::round(k)).margin(0.01));
    in_flight.insert(std::llround(k));
  }
  CHECK(*in_flight.begin() == 0);    // the first found the server idle
  CHECK(*in_flight.rbegin() >= 10);  // later ones found many: twice the delay or more
  CHECK(srv.server().stats().peak_in_flight >= 11);
}

TEST_CASE("crawl refuses a bad --delay-dist with the reason", "[crawl][dist]") {
  test::TempDir dir;
  auto err = dir.path / "err.txt";
  std::string cmd =
      std::string(CRAWL_BIN) + " --model serial --delay-dist lognormal:sigma=-2 2>" + err.string();
  int rc = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(rc));
  CHECK(WEXITSTATUS(rc) == 2);
  std::ifstream in(err);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_THAT(text, Catch::Contains("--delay-dist: bad sigma '-2'"));
}

TEST_CASE("open loop: requests are due every 1/rate, never sent early, and the server holds R*d",
          "[crawl][open]") {
  auto model = GENERATE(from_range(model_names(Which::all)));
  INFO(model);
  test::TestServer srv;
  // Serial holds one request at a time: 2 ms each keeps up with 200 a second.
  const std::int64_t delay = find_model(model)->one_in_flight ? 2 : 10;
  const double littles = 200 * static_cast<double>(delay) / 1000;
  CrawlConfig c = config_for(model, srv, 0, delay, 10);
  c.rate = 200;
  c.duration_s = 2;
  CrawlSummary s = run_crawl(c);
  REQUIRE(s.run.records.size() == 400);  // due at 0, 5, ..., 1995 ms: 400 within 2 s
  CHECK(s.failed == 0);
  std::vector<double> lag_ms;
  for (std::size_t i = 0; i < s.run.records.size(); ++i) {
    const RequestRecord& r = s.run.records[i];
    CHECK(r.intended_us - s.run.records[0].intended_us == static_cast<std::int64_t>(i) * 5000);  // exactly
    CHECK(r.start_us >= r.intended_us);  // never before it is due
    lag_ms.push_back(static_cast<double>(r.start_us - r.intended_us) / 1000.0);
  }
  // Sent when due, give or take a scheduler's tolerance (not a speed check:
  // 20 ms is four whole gaps).
  CHECK(percentiles(lag_ms).p50 < 20);
  auto json = to_json(s);
  const auto& o = json["open_loop"];
  REQUIRE(o.is_object());
  CHECK(o["rate_per_s"] == 200.0);
  CHECK(o["arrivals"] == "constant");
  CHECK(o["littles_law_in_flight"].get<double>() == Approx(littles));  // 200/s x the delay
  // Little's law at the server: it held about R*d requests on average.
  CHECK(o["server_mean_in_flight"].get<double>() == Approx(littles).epsilon(0.3));
  auto rows = test::parse_csv(timeline_csv(s.run));
  const auto at = static_cast<std::size_t>(std::find(rows[0].begin(), rows[0].end(), "intended") - rows[0].begin());
  REQUIRE(at < rows[0].size());
  CHECK(std::llround(std::stod(rows[1][at]) * 1e6) == s.run.records[0].intended_us);
}

TEST_CASE("open loop: with too few slots the wait shows in the latency from when a request was due",
          "[crawl][open]") {
  auto model = GENERATE(from_range(model_names(Which::concurrent)));
  INFO(model);
  test::TestServer srv;
  // 200 a second for 0.2 s against 50 ms: R*d = 10 in flight needed, 2 allowed.
  CrawlConfig c = config_for(model, srv, 40, 50, 2);
  c.rate = 200;
  CrawlSummary s = run_crawl(c);
  REQUIRE(s.run.records.size() == 40);
  CHECK(s.failed == 0);
  for (const RequestRecord& r : s.run.records) {
    CHECK(r.end_us - r.start_us >= 50'000);                    // service: the delay, once sent
    CHECK(r.end_us - r.intended_us >= r.end_us - r.start_us);  // from due: that and the wait
  }
  // Two slots of at least 50 ms each: the last request cannot start before
  // 19 * 50 ms after the first, yet it was due at 195 ms.
  const RequestRecord& last = s.run.records.back();
  CHECK(last.start_us - last.intended_us >= 19 * 50'000 - 195'000);
  auto json = to_json(s);
  const auto& o = json["open_loop"];
  CHECK(o["kept_up"] == false);
  CHECK(o["late_over_1ms"].get<std::int64_t>() > 30);
  CHECK(o["latency_from_due_ms"]["p99"].get<double>() > 5 * o["service_ms"]["p50"].get<double>());
  CHECK(o["service_ms"]["p50"].get<double>() >= 50);
}

TEST_CASE("open loop: Poisson arrivals follow the seed", "[crawl][open]") {
  CrawlConfig c;
  c.rate = 1000;
  c.num = 20'000;
  c.arrivals = Arrivals::poisson;
  c.seed = 7;
  auto a = arrival_schedule(c);
  REQUIRE(a.size() == 20'000);
  CHECK(a == arrival_schedule(c));
  c.seed = 8;
  CHECK(a != arrival_schedule(c));
  CHECK(a.front() == 0);
  CHECK(std::is_sorted(a.begin(), a.end()));
  // Mean gap 1 ms; exponential gaps: as many shorter than the mean as
  // 1 - 1/e of them.
  CHECK(static_cast<double>(a.back()) / 19'999 == Approx(1000).epsilon(0.03));
  std::size_t short_gaps = 0;
  for (std::size_t i = 1; i < a.size(); ++i) short_gaps += a[i] - a[i - 1] < 1000;
  CHECK(static_cast<double>(short_gaps) / 19'999 == Approx(1 - std::exp(-1.0)).epsilon(0.03));
  // --duration: as many as fall within it.
  c.num = 0;
  c.duration_s = 2;
  auto d = arrival_schedule(c);
  CHECK(d.back() < 2'000'000);
  CHECK(static_cast<double>(d.size()) == Approx(2000).epsilon(0.1));
  // Constant: exactly every 1/rate.
  c.arrivals = Arrivals::constant;
  c.rate = 300;  // 3333.33 µs: each due time from the start, not summed gaps
  auto k = arrival_schedule(c);
  REQUIRE(k.size() == 600);
  CHECK(k[599] == 1'996'667);

  // A model meets the same schedule twice.
  test::TestServer srv;
  CrawlConfig run = config_for("coroutine", srv, 30, 1, 5);
  run.rate = 500;
  run.arrivals = Arrivals::poisson;
  run.seed = 3;
  auto offsets = [](const CrawlSummary& s) {
    std::vector<std::int64_t> out;
    for (const auto& r : s.run.records) out.push_back(r.intended_us - s.run.records[0].intended_us);
    return out;
  };
  CHECK(offsets(run_crawl(run)) == offsets(run_crawl(run)));
  CHECK(to_json(run_crawl(run))["open_loop"]["arrivals"] == "poisson");
}

TEST_CASE("open loop settings that do not fit are refused with the reason", "[crawl][open]") {
  CrawlConfig c;
  c.model = "coroutine";
  c.duration_s = 2;
  CHECK_THROWS_WITH(run_crawl(c), Catch::Contains("--duration needs --rate"));
  c.rate = 100;
  c.loops = 2;
  CHECK_THROWS_WITH(run_crawl(c), Catch::Contains("--loops 1"));
  c.loops = 1;
  c.batched = true;
  CHECK_THROWS_WITH(run_crawl(c), Catch::Contains("--batched"));
  c.batched = false;
  c.rate = -1;
  CHECK_THROWS_WITH(run_crawl(c), Catch::Contains("--rate must be"));
}
