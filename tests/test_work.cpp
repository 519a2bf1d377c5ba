// --work: CPU work on every answer, in every model of the table, against the
// real server: each answer's work is in its record and the timeline, the
// crawl's own CPU accounting grows by it, the summary's bound and ideal follow
// from it, work that outlasts --timeout-ms fails its request as a timeout,
// and a bad spec is refused naming the part that is wrong.
#include "common/work.hpp"
#include "crawlers/crawl.hpp"
#include "crawlers/output.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <thread>
#include <vector>

using namespace testbed;

namespace {

CrawlConfig work_config(const std::string& model, const test::TestServer& srv, const std::string& work) {
  CrawlConfig c;
  c.model = model;
  c.url = srv.url();
  c.num = 60;
  c.delay_ms = 0;
  c.concurrency = 4;
  c.seed = 5;
  c.work = *parse_work_spec(work, nullptr);
  return c;
}

double cpu_seconds(const CrawlRun& run) { return run.cost->cpu_user_seconds + run.cost->cpu_system_seconds; }

}  // namespace

TEST_CASE("work specs are read, and a bad one is refused naming what is wrong", "[work]") {
  std::string err;
  CHECK(parse_work_spec("none", &err)->kind == WorkKind::none);
  auto spin = parse_work_spec("spin:us=250", &err);
  REQUIRE(spin);
  CHECK((spin->kind == WorkKind::spin && spin->us == 250));
  CHECK(work_spec_text(*spin) == "spin:us=250");
  auto bcrypt = parse_work_spec("bcrypt:cost=8", &err);
  REQUIRE(bcrypt);
  CHECK((bcrypt->kind == WorkKind::bcrypt && bcrypt->cost == 8));
  CHECK(work_spec_text(*bcrypt) == "bcrypt:cost=8");
  const std::pair<const char*, const char*> bad[] = {
      {"sleep:us=5", "unknown work 'sleep'"}, {"spin", "needs us="},
      {"spin:ms=5", "takes us="},             {"spin:us=0", "spin us='0'"},
      {"spin:us=abc", "spin us='abc'"},       {"spin:us=20000000", "1 to 10000000"},
      {"bcrypt:cost=3", "4 to 16"},           {"bcrypt:cost=17", "4 to 16"},
      {"none:us=1", "takes no parameters"},
  };
  for (const auto& [spec, why] : bad) {
    INFO(spec);
    err.clear();
    CHECK_FALSE(parse_work_spec(spec, &err));
    CHECK(err.find(why) != std::string::npos);
  }
}

TEST_CASE("a spin of work adds its CPU to every answer in every model, and the summary its bound",
          "[work][crawl]") {
  test::TestServer srv;
  const std::int64_t us = 1500;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (const auto& m : models()) {
    INFO(m.name);
    CrawlRun plain = measure_crawl(work_config(m.name, srv, "none"));
    CrawlRun worked = measure_crawl(work_config(m.name, srv, "spin:us=" + std::to_string(us)));
    for (const RequestRecord& r : plain.records) CHECK(r.work_us == 0);
    std::vector<std::int64_t> spent;
    for (const RequestRecord& r : worked.records) {
      REQUIRE(r.status == 200);
      // At least the spin by its definition (the thread's CPU clock).
      CHECK(r.work_us >= us);
      spent.push_back(r.work_us);
    }
    // And not many chunks past it. The typical answer stops within a few
    // chunks (~20 µs each); a rare one may be charged an interrupt's or a
    // page fault's time by the kernel (CI once saw 4,957 µs under a
    // sanitizer), so the bound is on the median and on how many go far past.
    REQUIRE_FALSE(spent.empty());
    std::sort(spent.begin(), spent.end());
    CHECK(spent[spent.size() / 2] < us + us / 2);
    const auto far = std::count_if(spent.begin(), spent.end(), [&](std::int64_t w) { return w >= us * 3; });
    CHECK(far * 20 <= static_cast<std::int64_t>(spent.size()));
    // The crawl's own accounting: the process spent the work on top.
    const double added = cpu_seconds(worked) - cpu_seconds(plain);
    CHECK(added >= 0.8 * static_cast<double>(us * worked.records.size()) / 1e6);

    CrawlSummary s = summarize(worked);
    REQUIRE(s.work);
    CHECK(s.work->spec == "spin:us=1500");
    // threads: its 4 workers; mn: its pool, one thread a core.
    const int threads = m.one_in_flight ? 1 : m.event_loops ? 1 : m.pool ? cores : std::min(4, cores);
    CHECK(s.work->threads == threads);
    CHECK(s.work->cpu_seconds >= static_cast<double>(us * 60) / 1e6);
    CHECK(s.work->bound_seconds == Approx(s.work->cpu_seconds / threads));
    CHECK(s.ideal_seconds.value() >= s.work->bound_seconds);
    CHECK_FALSE(summarize(plain).work);
  }
}

TEST_CASE("each answer's work is a timeline column, and a timeline alone gives the work's figures",
          "[work][output]") {
  test::TestServer srv;
  CrawlRun run = measure_crawl(work_config("coroutine", srv, "spin:us=800"));
  const std::string csv = timeline_csv(run);
  auto rows = test::parse_csv(csv);
  REQUIRE(rows.size() == 61);
  const auto col = std::find(rows[0].begin(), rows[0].end(), "work_us") - rows[0].begin();
  // New columns go at the end: then connect_us, tls_us, resumed, origin, worker.
  REQUIRE(col == static_cast<long>(rows[0].size()) - 6);
  for (std::size_t i = 1; i < rows.size(); ++i) CHECK(std::stoll(rows[i][col]) >= 800);

  CrawlRun back;
  back.config.model.clear();  // the timeline says whose it is
  std::string err;
  const bool read = read_timeline_csv(csv, back, &err);
  INFO(err);
  REQUIRE(read);
  for (std::size_t i = 0; i < 60; ++i) CHECK(back.records[i].work_us == run.records[i].work_us);
  CrawlSummary s = summarize(back);
  REQUIRE(s.work);
  CHECK(s.work->spec == "from the timeline");
  CHECK(s.work->cpu_seconds == Approx(summarize(run).work->cpu_seconds));
}

TEST_CASE("bcrypt work hashes every answer", "[work][crawl]") {
  test::TestServer srv;
  CrawlConfig c = work_config("threads", srv, "bcrypt:cost=4");
  c.num = 20;
  CrawlSummary s = summarize(measure_crawl(c));
  CHECK(s.failed == 0);
  REQUIRE(s.work);
  CHECK(s.work->spec == "bcrypt:cost=4");
  CHECK(s.work->per_request_us.count == 20);
  CHECK(s.work->per_request_us.p50 > 0);
}

TEST_CASE("work that outlasts --timeout-ms fails its request as a timeout, counted", "[work][crawl]") {
  test::TestServer srv;
  CrawlConfig c = work_config("coroutine", srv, "spin:us=150000");
  c.num = 2;
  c.timeout_ms = 50;
  CrawlSummary s = summarize(measure_crawl(c));
  CHECK(s.failed == 2);
  CHECK(s.answered == 0);
  REQUIRE(s.run.errors.size() == 1);
  CHECK(s.run.errors.begin()->first.find("timeout: the work") != std::string::npos);
  CHECK(s.run.errors.begin()->second == 2);
}
