// Uneven work, and the M:N model (mn) against static shards (--loops), against
// the real server: an uneven --work spec gives every model the same work on
// the same request, drawn from the crawl's seed; mn's pool threads share
// work that static shards cannot (a shard's heavy answers stay on its loop);
// and --threads is its alone. The table's generated tests (retries, timeouts,
// open loop, --work, connection policy, TLS, --urls, --per-host, crawl-mpi)
// cover mn like every other model.
#include "common/query.hpp"
#include "common/work.hpp"
#include "crawlers/crawl.hpp"
#include "crawlers/output.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace testbed;

namespace {

WorkSpec work(const std::string& spec) {
  std::string err;
  auto w = parse_work_spec(spec, &err);
  INFO(err);
  REQUIRE(w);
  return *w;
}

// The query of a list URL, as request_key reads it.
std::uint64_t key_of(const std::string& url) { return request_key(split_target(url).query); }

// A --urls list of `heavy` URLs whose uneven spin (`w`, from `seed`) is at
// least `heavy_us`, then as many whose spin is at most `light_us`: static
// shards of two give one loop all the heavy work.
std::vector<std::string> skewed_list(const test::TestServer& srv, const Work& w, std::uint64_t seed,
                                     std::size_t heavy, std::int64_t heavy_us, std::int64_t light_us) {
  std::vector<std::string> heavy_urls, light_urls;
  for (int n = 0; heavy_urls.size() < heavy || light_urls.size() < heavy; ++n) {
    const std::string url = srv.url() + "/add?name=skew&delay=2&k=" + std::to_string(n);
    const std::int64_t us = w.spin_us_for(seed, key_of(url));
    if (us >= heavy_us && heavy_urls.size() < heavy) heavy_urls.push_back(url);
    if (us <= light_us && light_urls.size() < heavy) light_urls.push_back(url);
  }
  heavy_urls.insert(heavy_urls.end(), light_urls.begin(), light_urls.end());
  return heavy_urls;
}

std::map<int, double> work_by_worker(const CrawlSummary& s) {
  std::map<int, double> out;
  for (const auto& k : s.work->by_worker) out[k.worker] = k.cpu_seconds;
  return out;
}

}  // namespace

TEST_CASE("an uneven spin is read with its distribution, and a bad one is refused naming what is wrong",
          "[work][mn]") {
  WorkSpec w = work("spin:us=1000,dist=lognormal,sigma=1");
  CHECK(w.uneven());
  CHECK(w.us == 1000);
  CHECK(w.dist.shape == DelayShape::lognormal);
  CHECK(w.dist.sigma == 1);
  CHECK(work_spec_text(w) == "spin:us=1000,dist=lognormal,sigma=1");
  CHECK(work_spec_text(work("spin:us=50,dist=pareto,alpha=1.2,cap=20")) == "spin:us=50,dist=pareto,alpha=1.2,cap=20");
  CHECK(work_spec_text(work("spin:us=50,dist=uniform")) == "spin:us=50,dist=uniform");
  CHECK_FALSE(work("spin:us=50,dist=fixed").uneven());
  const std::pair<const char*, const char*> bad[] = {
      {"spin:us=5,sigma=1", "needs dist= before it"},
      {"spin:us=5,dist=weibull", "bad dist 'weibull'"},
      {"spin:us=5,dist=lognormal,alpha=2", "alpha"},
      {"spin:us=5,dist=lognormal,knee=10", "not 'knee=10'"},
      {"spin:us=5,dist=lognormal,sigma=-1", "bad sigma '-1'"},
      {"spin:us=5,dist=lognormal,sigma=1,sigma=2", "sigma= given twice"},
      {"spin:us=5,dist", "not 'dist'"},
      {"bcrypt:cost=5,dist=lognormal", "4 to 16"},
  };
  for (const auto& [spec, why] : bad) {
    INFO(spec);
    std::string err;
    CHECK_FALSE(parse_work_spec(spec, &err));
    CHECK_THAT(err, Catch::Contains(why));
  }
}

TEST_CASE("an uneven spin gives every model the same work on the same request, drawn from the seed",
          "[work][mn][crawl]") {
  test::TestServer srv;
  CrawlConfig c;
  c.url = srv.url();
  c.num = 80;
  c.delay_ms = 0;
  c.concurrency = 4;
  c.seed = 11;
  c.work = work("spin:us=300,dist=lognormal,sigma=1");
  const Work w(c.work);
  std::map<std::string, std::vector<std::int64_t>> spent;
  for (const char* model : {"coroutine", "threads", "mn"}) {
    c.model = model;
    CrawlSummary s = run_crawl(c);
    REQUIRE(s.failed == 0);
    for (const RequestRecord& r : s.run.records) spent[model].push_back(r.work_us);
    CHECK(s.work->spec == "spin:us=300,dist=lognormal,sigma=1");
  }
  // The draws themselves: the median is the spec's, and they spread (with
  // sigma 1, a tenth of them over 3.6 times it, a tenth under a quarter).
  std::vector<std::int64_t> drawn;
  c.model = "coroutine";
  c.name = "coroutine";
  for (const std::string& url : crawl_urls(c)) drawn.push_back(w.spin_us_for(c.seed, key_of(url)));
  std::vector<std::int64_t> sorted = drawn;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted[sorted.size() / 2] > 150);
  CHECK(sorted[sorted.size() / 2] < 600);
  CHECK(sorted.back() > 10 * sorted.front());
  for (std::size_t i = 0; i < drawn.size(); ++i) {
    INFO("request " << i << " drawn " << drawn[i] << " us");
    // Each did at least its draw (its thread's CPU clock), the same in every
    // model; a slice past it, not twice it, but for an interrupt's worth.
    for (const auto& [model, us] : spent) {
      INFO(model);
      CHECK(us[i] >= drawn[i]);
      CHECK(us[i] <= 2 * drawn[i] + 2000);
    }
  }
  // Another seed, other draws.
  int same = 0;
  for (const std::string& url : crawl_urls(c)) same += w.spin_us_for(12, key_of(url)) == w.spin_us_for(11, key_of(url));
  CHECK(same < 8);
}

TEST_CASE("mn's pool threads share uneven work that static shards leave on one loop", "[mn][crawl]") {
  test::TestServer srv;
  test::TempDir dir;
  const std::uint64_t seed = 3;
  CrawlConfig c;
  c.work = work("spin:us=500,dist=lognormal,sigma=1.5");
  const Work w(c.work);
  // 40 answers of at least 4 ms of work, then 40 of at most 0.15 ms.
  const auto urls = skewed_list(srv, w, seed, 40, 4000, 150);
  const auto list = dir.path / "urls.txt";
  {
    std::ofstream out(list);
    for (const auto& u : urls) out << u << '\n';
  }
  c.urls_file = list.string();
  c.num = kNumFromList;
  c.concurrency = 16;
  c.seed = seed;

  // Static shards: loop 0 has the heavy half, loop 1 the light one, and
  // nothing moves the heavy answers to the idle loop.
  c.model = "coroutine";
  c.loops = 2;
  CrawlSummary shards = run_crawl(c);
  REQUIRE(shards.failed == 0);
  REQUIRE(shards.work);
  auto by = work_by_worker(shards);
  REQUIRE(by.size() == 2);
  CHECK(by[0] > 20 * by[1]);
  CHECK(shards.work->busiest_share > 0.9);

  // The pool: whichever thread is free handles the next answer, so each of
  // the two does a good part of the heavy work (an even split is 0.5; the
  // kernel may run one thread less, and the floor leaves room for it).
  c.model = "mn";
  c.loops = 1;
  c.threads = 2;
  CrawlSummary pool = run_crawl(c);
  REQUIRE(pool.failed == 0);
  REQUIRE(pool.work);
  INFO(to_json(pool).dump());
  CHECK(pool.run.config.threads == 2);
  by = work_by_worker(pool);
  REQUIRE(by.size() == 2);
  const double total = by[0] + by[1];
  CHECK(by[0] >= 0.25 * total);
  CHECK(by[1] >= 0.25 * total);
  CHECK(pool.work->busiest_share < 0.75);
  // And the heavy answers themselves were handled by both.
  std::set<int> heavy_workers;
  for (std::size_t i = 0; i < 40; ++i) heavy_workers.insert(pool.run.records[i].worker);
  CHECK(heavy_workers.size() == 2);
  CHECK(pool.work->threads == std::min(2, static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))));
}

TEST_CASE("mn runs on --threads OS threads, one a core by default, and only mn takes --threads", "[mn][cli]") {
  test::TestServer srv;
  CrawlConfig c;
  c.model = "mn";
  c.url = srv.url();
  c.num = 200;
  c.delay_ms = 1;
  c.concurrency = 20;
  c.seed = 4;
  c.work = work("spin:us=400");
  CrawlSummary dflt = run_crawl(c);
  CHECK(dflt.failed == 0);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  CHECK(dflt.run.config.threads == cores);
  CHECK(to_json(dflt)["threads"] == cores);
  c.threads = 3;
  CrawlSummary three = run_crawl(c);
  CHECK(three.failed == 0);
  CHECK(three.run.cost->peak_threads <= 3);
  for (const RequestRecord& r : three.run.records) CHECK(r.worker < 3);

  for (const char* other : {"coroutine", "threads", "serial"}) {
    c.model = other;
    CHECK_THROWS_WITH(check_crawl_config(c), Catch::Contains("--threads applies to the pool models only (mn)"));
  }
  c.model = "mn";
  c.threads = -1;
  CHECK_THROWS_WITH(check_crawl_config(c), Catch::Contains("--threads must be within 0..1024"));
  c.threads = 1025;
  CHECK_THROWS_WITH(check_crawl_config(c), Catch::Contains("--threads must be within 0..1024"));
  CHECK(to_json(run_crawl([&] {
          CrawlConfig x = c;
          x.model = "coroutine";
          x.threads = 0;
          return x;
        }()))["threads"]
            .is_null());
}
