// One shape for every model and one summary for every crawl: a shard runs
// through every model of the table and the server sees exactly its URLs;
// `crawl summarize` of a run's own timeline gives the run's own figures.
#include "common/csv.hpp"
#include "crawlers/crawl.hpp"
#include "crawlers/output.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

using namespace testbed;

namespace {

CrawlConfig lognormal_config(const std::string& model, const test::TestServer& srv, std::int64_t num) {
  CrawlConfig c;
  c.model = model;
  c.name = model;
  c.url = srv.url();
  c.num = num;
  c.delay_ms = 10;
  c.concurrency = 6;
  c.delay_dist = *parse_delay_spec("lognormal:sigma=0.8", nullptr);
  c.seed = 31;
  return c;
}

// The server's timeline rows of one name: the delay column, in µs, sorted.
std::vector<std::int64_t> server_delays(test::TestServer& srv, const std::string& name) {
  auto rows = test::parse_csv(test::http_get(srv.port(), "/timeline").body);
  std::vector<std::int64_t> out;
  for (std::size_t i = 1; i < rows.size(); ++i)
    if (rows[i][0] == name) out.push_back(std::llround(std::stod(rows[i][3]) * 1e6));
  std::sort(out.begin(), out.end());
  return out;
}

// The fields a summary of the same records and settings must repeat exactly.
const char* const kDerived[] = {"bytes",          "failed",     "retries",     "concurrency",
                                "ideal_seconds",  "ideal_from", "efficiency",  "batched_ideal_seconds",
                                "delay_given_ms", "latency_ms", "overhead_us", "overhead_us_spectrum",
                                "open_loop",      "cost",       "seconds",     "seconds_from"};

std::string run_command(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  *status = pclose(p);
  return out;
}

}  // namespace

TEST_CASE("a shard runs through every model, and the server sees exactly its URLs once each",
          "[crawl][shard]") {
  ServerConfig cfg;
  cfg.seed = 99;
  test::TestServer srv(cfg);
  // Each URL's delay is drawn from the seeds and the URL alone, and a
  // lognormal's are all different: the delays the server recorded name the URLs.
  CrawlConfig all = lognormal_config("serial", srv, 60);  // in index order
  all.name = "whole";
  CrawlSummary whole = run_crawl(all);
  REQUIRE(whole.failed == 0);
  std::vector<std::int64_t> d;
  for (const auto& r : whole.run.records) d.push_back(r.delay_us);
  REQUIRE(std::set<std::int64_t>(d.begin(), d.end()).size() == 60);
  const std::vector<std::int64_t> shard_delays(d.begin() + 20, d.begin() + 45);
  std::vector<std::int64_t> want = shard_delays;
  std::sort(want.begin(), want.end());

  for (const auto& m : models()) {
    for (bool batched : {false, true}) {
      if (batched && !m.event_loops) continue;
      const std::string name = std::string(m.name) + (batched ? "-batched" : "");
      INFO(name);
      CrawlConfig c = lognormal_config(m.name, srv, 60);
      c.name = name;
      c.shard_begin = 20;
      c.shard_end = 45;
      c.batched = batched;
      CrawlSummary s = run_crawl(c);
      CHECK(s.failed == 0);
      CHECK(s.bytes == 25);
      CHECK(s.run.first_index == 20);
      REQUIRE(s.run.records.size() == 25);
      std::vector<std::int64_t> got;
      for (const auto& r : s.run.records) got.push_back(r.delay_us);
      CHECK(got == shard_delays);               // record i is URL 20 + i
      CHECK(server_delays(srv, name) == want);  // the server saw exactly the shard, once each
    }
  }
}

TEST_CASE("a shard's timeline numbers its rows by the crawl's index", "[crawl][shard]") {
  test::TestServer srv;
  CrawlConfig c = lognormal_config("threads", srv, 10);
  c.shard_begin = 7;
  c.shard_end = -1;  // to the last
  CrawlSummary s = run_crawl(c);
  auto rows = test::parse_csv(timeline_csv(s.run));
  REQUIRE(rows.size() == 4);
  CHECK(rows[1][1] == "7");
  CHECK(rows[3][1] == "9");
}

TEST_CASE("summarize of a run's own timeline and settings gives the run's own figures",
          "[crawl][summarize]") {
  test::TestServer srv;
  std::vector<CrawlConfig> runs;
  for (const auto& m : models()) runs.push_back(lognormal_config(m.name, srv, 40));
  CrawlConfig open = lognormal_config("coroutine", srv, 0);
  open.rate = 400;
  open.arrivals = Arrivals::poisson;
  open.duration_s = 0.2;
  runs.push_back(open);
  CrawlConfig batched = lognormal_config("callback", srv, 40);
  batched.batched = true;
  runs.push_back(batched);
  for (const CrawlConfig& c : runs) {
    INFO(c.model << (c.rate > 0 ? " open loop" : "") << (c.batched ? " batched" : ""));
    CrawlSummary s = run_crawl(c);
    REQUIRE(s.failed == 0);
    const nlohmann::json j = to_json(s);
    CrawlRun back;
    std::string err;
    REQUIRE(run_from_json(j, back, &err));
    REQUIRE(read_timeline_csv(timeline_csv(s.run), back, &err));
    const nlohmann::json again = to_json(summarize(std::move(back)));
    for (const char* f : kDerived) {
      INFO(f);
      CHECK(again[f] == j[f]);
    }
  }
}

TEST_CASE("crawl summarize reads timelines from files, merges shards, and refuses bad ones",
          "[crawl][summarize]") {
  test::TestServer srv;
  test::TempDir dir;
  const std::string url = srv.url();
  auto path = [&](const std::string& f) { return (dir.path / f).string(); };
  int st = 0;
  const std::string common = std::string(CRAWL_BIN) + " --model coroutine --url " + url +
                             " --num 50 --delay 5 --concurrency 5 --seed 7 --json";
  run_command(common + " --timeline " + path("all.csv") + " >" + path("all.json"), &st);
  REQUIRE(st == 0);
  const std::string summarize = std::string(CRAWL_BIN) + " summarize ";

  SECTION("with the run's JSON beside it, every figure is the run's") {
    auto out = run_command(summarize + path("all.csv") + " --run " + path("all.json") + " --json", &st);
    REQUIRE(st == 0);
    std::ifstream in(path("all.json"));
    auto j = nlohmann::json::parse(in);
    auto k = nlohmann::json::parse(out);
    for (const char* f : kDerived) {
      INFO(f);
      CHECK(k[f] == j[f]);
    }
  }
  SECTION("alone, the time is the timeline's span and the cost is absent, and it says so") {
    auto out = run_command(summarize + path("all.csv") + " --concurrency 5 --delay 5 --json", &st);
    REQUIRE(st == 0);
    auto k = nlohmann::json::parse(out);
    CHECK(k["seconds_from"] == "timeline");
    CHECK(k["cost"].is_null());
    CHECK(k["bytes"] == 50);
    CHECK(k["model"] == "coroutine");
  }
  SECTION("two shards written apart merge by index into the whole") {
    for (auto [from, to, f] : {std::tuple{0, 20, "a"}, std::tuple{20, 50, "b"}}) {
      CrawlConfig c = lognormal_config("coroutine", srv, 50);
      c.shard_begin = from;
      c.shard_end = to;
      std::string err;
      REQUIRE(write_file_atomic(path(std::string(f) + ".csv"), timeline_csv(run_crawl(c).run), &err));
    }
    auto out = run_command(
        summarize + path("a.csv") + " " + path("b.csv") + " --concurrency 6 --delay 10 --json", &st);
    REQUIRE(st == 0);
    auto k = nlohmann::json::parse(out);
    CHECK(k["num"] == 50);
    CHECK(k["bytes"] == 50);
    // The same shard twice is one request counted twice: refused.
    run_command(summarize + path("a.csv") + " " + path("a.csv") + " 2>" + path("err.txt"), &st);
    CHECK(WEXITSTATUS(st) == 2);
    std::ifstream err(path("err.txt"));
    std::string why((std::istreambuf_iterator<char>(err)), {});
    CHECK_THAT(why, Catch::Contains("there twice"));
  }
  SECTION("a malformed timeline is refused with the reason, exit 2") {
    for (auto [text, reason] :
         {std::pair{"model,index\n", "no 'start' column"}, std::pair{"", "no header row"},
          std::pair{"model,index,start,end,bytes,status,attempts,conn,opened,delay,intended\n"
                    "x,0,1.5,2.5,1,200,1,1,0,,\nx,2,1.5,2.5,1,200,1,1,0,,\n",
                    "request 1 is missing"},
          std::pair{"model,index,start,end,bytes,status,attempts,conn,opened,delay,intended\n"
                    "x,0,1.5,soon,1,200,1,1,0,,\n",
                    "'end' is not valid"},
          std::pair{"model,index,start,end,bytes,status,attempts,conn,opened,delay,intended\n"
                    "x,4000000000,1.5,2.5,1,200,1,1,0,,\n",
                    "past the most requests a run holds"}}) {
      std::string err;
      REQUIRE(write_file_atomic(path("bad.csv"), text, &err));
      run_command(summarize + path("bad.csv") + " 2>" + path("err.txt"), &st);
      CHECK(WEXITSTATUS(st) == 2);
      std::ifstream in(path("err.txt"));
      std::string why((std::istreambuf_iterator<char>(in)), {});
      CHECK_THAT(why, Catch::Contains(reason));
    }
  }
}

TEST_CASE("CSV text reads back as written, quoting and all", "[common][csv]") {
  std::string line;
  append_csv_field(line, "a \"quoted\", name\nover two lines");
  line += ",plain\r\nlast,row";
  std::vector<std::vector<std::string>> rows;
  std::string err;
  REQUIRE(parse_csv(line, rows, &err));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0] == std::vector<std::string>{"a \"quoted\", name\nover two lines", "plain"});
  CHECK(rows[1] == std::vector<std::string>{"last", "row"});
  rows.clear();
  CHECK_FALSE(parse_csv("\"never closed", rows, &err));
  CHECK_THAT(err, Catch::Contains("never closed"));
  CHECK_FALSE(parse_csv("\"a\"b", rows, &err));

  for (std::int64_t us : {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1}, std::int64_t{1764420000123456},
                          std::int64_t{-2500000}}) {
    std::string s;
    append_seconds(s, us);
    CHECK(parse_seconds_us(s) == us);
  }
  CHECK(parse_seconds_us("1.5") == 1500000);
  for (const char* bad : {"", "x", "1.", ".5", "1.1234567", "--1", "1e3", "1.-5", "+1"}) {
    INFO(bad);
    CHECK_FALSE(parse_seconds_us(bad).has_value());
  }
}
