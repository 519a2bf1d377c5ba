// What the Python models (pycrawl/) stand on in C++: the URL list a client
// written elsewhere fetches (crawl --print-urls), a timeline with its
// connection columns left empty, crawl compare's ratios, and --spawn-all, the
// C++ side of the later editions' TaskGroup pattern. The Python models
// themselves run against the real server in tests/python_models_test.py.
#include "crawlers/crawl.hpp"
#include "crawlers/output.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <regex>
#include <set>

using namespace testbed;

TEST_CASE("crawl_urls lists the URLs a crawl fetches, the same for a seed", "[python][urls]") {
  CrawlConfig c;
  c.url = "http://127.0.0.1:9/base";
  c.name = "py-x";
  c.num = 50;
  c.delay_ms = 30;
  c.seed = 77;
  auto urls = crawl_urls(c);
  REQUIRE(urls.size() == 50);
  const std::regex shape(R"(http://127\.0\.0\.1:9/base/add\?name=py-x&delay=30&[a-z]{10})");
  for (const auto& u : urls) CHECK(std::regex_match(u, shape));
  CHECK(std::set<std::string>(urls.begin(), urls.end()).size() == 50);
  CHECK(crawl_urls(c) == urls);
  c.num = 20;  // the first 20 of the 50: a shorter list is a prefix
  CHECK(crawl_urls(c) == std::vector<std::string>(urls.begin(), urls.begin() + 20));
  c.seed = 78;
  CHECK(crawl_urls(c)[0] != urls[0]);
  c.seed = 0;
  CHECK_THROWS_WITH(crawl_urls(c), Catch::Contains("needs --seed"));
  c.seed = 1;
  c.name.clear();
  CHECK_THROWS_WITH(crawl_urls(c), Catch::Contains("needs --name"));
}

TEST_CASE("a timeline whose client hides its connections reads with those columns empty", "[python][summary]") {
  const std::string csv =
      "model,index,start,end,bytes,status,attempts,conn,opened,delay,intended,work_us,connect_us\n"
      "py-x,0,100.000000,100.120000,1,200,1,,,0.100000,,0,\n"
      "py-x,1,100.010000,100.130000,1,200,1,,,0.100000,,0,\n";
  CrawlRun run;
  run.config.model.clear();  // from the timeline, as crawl summarize reads it
  std::string err;
  const bool read = read_timeline_csv(csv, run, &err);
  INFO(err);
  REQUIRE(read);
  REQUIRE(run.records.size() == 2);
  CHECK(run.records[0].conn == 0);
  CHECK_FALSE(run.records[0].opened);
  CHECK(run.records[1].connect_us == 0);
  CHECK(run.records[1].delay_us == 100000);
  // Not anything: a value that is there must still be a number.
  CrawlRun bad;
  bad.config.model.clear();
  CHECK_FALSE(read_timeline_csv(
      "model,index,start,end,bytes,status,attempts,conn,opened,delay,intended\npy-x,0,1,2,1,200,1,x,,,\n", bad, &err));
  CHECK_THAT(err, Catch::Contains("'conn'"));
}

TEST_CASE("crawl compare gives each figure of one run over another's, null where there is none",
          "[python][compare]") {
  nlohmann::json base = {{"model", "coroutine"},
                         {"efficiency", 0.96},
                         {"seconds", 0.5},
                         {"overhead_us", {{"p50", 1000.0}, {"p99", 5000.0}}},
                         {"cost", {{"cpu_ms_per_1k", 40.0}, {"peak_rss_kib", 12000}, {"peak_threads", 1}}}};
  nlohmann::json other = {{"model", "py-aiohttp"},
                          {"efficiency", 0.72},
                          {"seconds", 0.75},
                          {"overhead_us", {{"p50", 4000.0}, {"p99", 50000.0}}},
                          {"cost", nullptr}};
  auto c = compare_json(base, other);
  CHECK(c["base"] == "coroutine");
  CHECK(c["other"] == "py-aiohttp");
  CHECK(c["ratios"]["efficiency"].get<double>() == Approx(0.75));
  CHECK(c["ratios"]["seconds"].get<double>() == Approx(1.5));
  CHECK(c["ratios"]["overhead_p50_us"].get<double>() == Approx(4.0));
  CHECK(c["ratios"]["overhead_p99_us"].get<double>() == Approx(10.0));
  CHECK(c["ratios"]["cpu_ms_per_1k"].is_null());  // the other has no cost
  base["efficiency"] = 0;                          // nothing to divide by
  CHECK(compare_json(base, other)["ratios"]["efficiency"].is_null());
  // A summary of the wrong shape is compared as far as it goes, never thrown on.
  nlohmann::json odd = {{"model", 7}, {"efficiency", "high"}, {"overhead_us", "none"}, {"cost", {1, 2}}};
  auto o = compare_json(odd, other);
  CHECK(o["base"] == "");
  for (const auto& [name, ratio] : o["ratios"].items()) {
    INFO(name);
    CHECK(ratio.is_null());
  }
}

TEST_CASE("with --spawn-all every task starts at once and at most C requests reach the server",
          "[python][spawn]") {
  test::TestServer srv;
  CrawlConfig c;
  c.model = "coroutine";
  c.url = srv.url();
  c.num = 60;
  c.delay_ms = 100;
  c.concurrency = 10;
  c.spawn_all = true;
  c.seed = 5;
  CrawlSummary s = run_crawl(c);
  CHECK(s.bytes == 60);
  CHECK(s.failed == 0);
  CHECK(srv.server().stats().peak_in_flight == 10);
  CHECK(s.run.cost->connections_opened == 10);
  // Every request's clock started with its task, before the first answer: the
  // later ones waited for a connection, and that wait is in their latency.
  std::int64_t first_end = INT64_MAX, last_start = 0;
  for (const auto& r : s.run.records) {
    first_end = std::min(first_end, r.end_us);
    last_start = std::max(last_start, r.start_us);
  }
  CHECK(last_start < first_end);
  CHECK(s.latency_ms.max >= 550);  // the last of 6 waves of 100 ms
  CHECK(to_json(s)["spawn_all"] == true);

  c.model = "greenlet";
  CHECK_THROWS_WITH(run_crawl(c), Catch::Contains("coroutine model only"));
  c.model = "coroutine";
  c.batched = true;
  CHECK_THROWS_WITH(run_crawl(c), Catch::Contains("not with --batched"));
}
