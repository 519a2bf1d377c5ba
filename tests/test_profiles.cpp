// crawl --rate-profile: an open loop whose rate ramps, steps, spikes or
// follows a file. Every due time is exactly where the rate's integral passes
// the request's number (checked against the closed forms), every model sends
// none early, and a spike that overloads a small C is measured: the backlog
// it leaves and the time until the p99 latency from due is back near the
// delay. Bad profiles are refused naming what is wrong.
#include "common/clock.hpp"
#include "common/rate_profile.hpp"
#include "crawlers/crawl.hpp"
#include "crawlers/output.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include <sys/wait.h>

using namespace testbed;

namespace {

RateProfile profile(const std::string& spec) {
  std::string why;
  auto p = parse_rate_profile(spec, &why);
  INFO(why);
  REQUIRE(p);
  return *p;
}

std::string refusal(const std::string& spec) {
  std::string why;
  auto p = parse_rate_profile(spec, &why);
  return p ? "not refused" : why;
}

}  // namespace

TEST_CASE("a ramp, a step, a spike and a file give exactly the due times they describe", "[profile]") {
  // ramp 0 -> 100/s over 1 s: the integral is 50 t^2, so request k is due at sqrt(k / 50).
  auto ramp = due_times(profile("ramp:0..100/1"), 0, 1000);
  REQUIRE(ramp.size() == 50);
  for (std::size_t k = 0; k < ramp.size(); ++k)
    CHECK(ramp[k] == std::llround(std::sqrt(static_cast<double>(k) / 50) * 1e6));
  // Past its end (--duration 2) a ramp holds its last rate: 100/s more.
  auto longer = due_times(profile("ramp:0..100/1"), 2, 1000);
  REQUIRE(longer.size() == 150);
  CHECK(longer[50] == 1'000'000);
  CHECK(longer[51] == 1'010'000);
  CHECK(longer[149] == 1'990'000);
  // step: 100/s for 0.5 s, then 200/s for 0.5 s.
  auto step = due_times(profile("step:100,200@0.5"), 0, 1000);
  REQUIRE(step.size() == 150);
  CHECK(step[49] == 490'000);
  CHECK(step[50] == 500'000);
  CHECK(step[51] == 505'000);
  CHECK(step[149] == 995'000);
  // spike: 100/s, 1000/s from 1 s for 0.5 s, 100/s again, to --duration 2.
  const RateProfile spike = profile("spike:100,1000@1+0.5");
  CHECK(spike.needs_duration);
  CHECK(spike.spike_end_s == 1.5);
  auto spiked = due_times(spike, 2, 10'000);
  REQUIRE(spiked.size() == 650);
  CHECK(spiked[99] == 990'000);
  CHECK(spiked[100] == 1'000'000);
  CHECK(spiked[101] == 1'001'000);
  CHECK(spiked[599] == 1'499'000);
  CHECK(spiked[600] == 1'500'000);
  CHECK(spiked[601] == 1'510'000);
  CHECK(spiked[649] == 1'990'000);
  CHECK(mean_rate(spike, 2) == Approx(325));
  // A ramp down to nothing sends its integral's worth and stops.
  CHECK(due_times(profile("ramp:100..0/1"), 0, 1000).size() == 50);
  // A file: 10/s, a pause from 0.5 s, 20/s from 1 s, to --duration 1.5.
  test::TempDir dir;
  const std::string path = (dir.path / "rates.csv").string();
  std::ofstream(path) << "# time,rate\n0,10\n0.5,0\n1,20\n";
  auto filed = due_times(profile("file:" + path), 1.5, 1000);
  REQUIRE(filed.size() == 15);
  for (std::size_t k = 0; k < 5; ++k) CHECK(filed[k] == static_cast<std::int64_t>(k) * 100'000);
  for (std::size_t k = 5; k < 15; ++k)
    CHECK(filed[k] == 1'000'000 + static_cast<std::int64_t>(k - 5) * 50'000);
  // Every schedule goes forward.
  for (const auto* d : {&ramp, &longer, &step, &spiked, &filed})
    for (std::size_t k = 1; k < d->size(); ++k) CHECK((*d)[k] > (*d)[k - 1]);
}

TEST_CASE("a bad rate profile is refused naming what is wrong", "[profile][cli]") {
  CHECK(refusal("ramp:-5..10/2") == "a rate cannot be negative: -5");
  CHECK(refusal("step:10,-1@1") == "a rate cannot be negative: -1");
  CHECK(refusal("ramp:5..10") == "ramp is ramp:FROM..TO/SECONDS");
  CHECK(refusal("step:10,20@0") == "a time must be above 0: 0");
  CHECK(refusal("spike:10,100@2") == "spike is spike:BASE,PEAK@AT+LENGTH");
  CHECK(refusal("wave:1..2") == "unknown kind 'wave' (ramp, step, spike or file)");
  CHECK(refusal("ramp:x..10/2") == "'x' is not a rate (requests per second)");
  test::TempDir dir;
  const std::string back = (dir.path / "back.csv").string(), empty = (dir.path / "empty.csv").string(),
                    late = (dir.path / "late.csv").string();
  std::ofstream(back) << "0,10\n2,20\n1,30\n";
  std::ofstream(empty) << "# nothing\n\n";
  std::ofstream(late) << "1,10\n";
  CHECK(refusal("file:" + back) == back + ":3: times must go forward");
  CHECK(refusal("file:" + empty) == empty + ": no rows (time,rate)");
  CHECK(refusal("file:" + late) == late + ":1: the first row is at time 0");
  CHECK(refusal("file:" + (dir.path / "missing.csv").string()).find("cannot read") == 0);
  // A spike (or a file) needs --duration, and a profile that sends nothing is said.
  CrawlConfig c;
  c.model = "coroutine";
  apply_rate_profile(c, profile("spike:10,100@1+1"));
  CHECK_THROWS_WITH(check_crawl_config(c), "--rate-profile spike:10,100@1+1 runs for --duration: give it");
  CrawlConfig none;
  none.model = "coroutine";
  apply_rate_profile(none, profile("step:0,0@1"));
  CHECK_THROWS_WITH(check_crawl_config(none), "--rate-profile step:0,0@1 sends no request");
}

TEST_CASE("every model sends each request of a profile at its due time, never before", "[profile][crawl]") {
  test::TestServer srv;
  for (const auto& m : models()) {
    DYNAMIC_SECTION(m.name) {
      CrawlConfig c;
      c.model = m.name;
      c.url = srv.url();
      c.delay_ms = 5;
      c.concurrency = m.one_in_flight ? 1 : 20;
      c.seed = 3;
      apply_rate_profile(c, profile(m.one_in_flight ? "step:20,40@0.25" : "step:200,400@0.25"));
      CrawlSummary s = run_crawl(c);
      INFO(to_json(s).dump());
      const auto due = due_times(c.profile, 0, 10'000);
      REQUIRE(s.run.records.size() == due.size());
      CHECK(s.failed == 0);
      for (std::size_t i = 0; i < due.size(); ++i) {
        const RequestRecord& r = s.run.records[i];
        CHECK(r.intended_us - s.run.started_us == due[i]);  // exactly the profile's
        CHECK(r.start_us >= r.intended_us);                 // none early
      }
      REQUIRE(s.open_loop);
      CHECK(s.open_loop->window_ms == 100);
      std::int64_t counted = 0;
      for (const auto& w : s.open_loop->over_time) counted += w.due;
      CHECK(counted == static_cast<std::int64_t>(due.size()));
      CHECK_FALSE(s.open_loop->recovery_s.has_value());  // not a spike
      CHECK(to_json(s)["open_loop"]["rate_profile"] == c.profile.spec);
    }
  }
}

TEST_CASE("a spike past a small C leaves a backlog, and the time it takes to drain is measured",
          "[profile][crawl]") {
  test::TestServer srv;
  for (const char* model : {"coroutine", "threads"}) {
    DYNAMIC_SECTION(model) {
      // C=4 at 100 ms carries 40/s: 10/s, then 200/s for 0.3 s (60 requests,
      // 12 of them carried), then 10/s again: a backlog of about 48 that
      // drains at 30/s, about 1.6 s.
      CrawlConfig c;
      c.model = model;
      c.url = srv.url();
      c.delay_ms = 100;
      c.concurrency = 4;
      c.duration_s = 3.5;
      c.seed = 5;
      apply_rate_profile(c, profile("spike:10,200@0.5+0.3"));
      CrawlSummary s = run_crawl(c);
      INFO(to_json(s).dump());
      CHECK(s.failed == 0);
      REQUIRE(s.open_loop);
      const auto& f = *s.open_loop;
      std::int64_t peak_backlog = 0;
      for (const auto& w : f.over_time) peak_backlog = std::max(peak_backlog, w.backlog);
      CHECK(peak_backlog >= 30);  // most of the spike waited for a slot
      CHECK(f.peak_backlog == peak_backlog);
      CHECK(to_json(s)["open_loop"]["peak_backlog"] == peak_backlog);
      CHECK(f.over_time.back().backlog == 0);
      REQUIRE(f.recovery_s.has_value());
      CHECK(*f.recovery_s > 0.8);  // 48 requests cannot drain at 30/s in less
      CHECK(f.recovery_from.find("within 1.1 x the delay") != std::string::npos);
      // The run's JSON and timeline alone (crawl summarize --run) give the same figures.
      CrawlRun back;
      std::string err;
      REQUIRE(run_from_json(to_json(s), back, &err));
      back.config.model.clear();
      REQUIRE(read_timeline_csv(timeline_csv(s.run), back, &err));
      back.config.model = model;
      const CrawlSummary again = summarize(std::move(back));
      REQUIRE(again.open_loop);
      CHECK(again.open_loop->recovery_s == f.recovery_s);
      CHECK(again.open_loop->over_time.size() == f.over_time.size());
    }
  }
}

TEST_CASE("crawl refuses a bad --rate-profile on its command line, exit 2, naming what is wrong",
          "[profile][cli]") {
  test::TempDir dir;
  const auto err = dir.path / "err.txt";
  auto refused = [&](const std::string& args) {
    const std::string cmd = std::string(CRAWL_BIN) + " --model serial " + args + " 2>" + err.string();
    const int rc = std::system(cmd.c_str());
    REQUIRE(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) == 2);
    std::ifstream in(err);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  CHECK_THAT(refused("--rate-profile ramp:-1..5/2"),
             Catch::Contains("--rate-profile: a rate cannot be negative: -1"));
  CHECK_THAT(refused("--rate-profile wave:1"), Catch::Contains("unknown kind 'wave'"));
  CHECK_THAT(refused("--rate-profile step:10@1 --rate 5"), Catch::Contains("not with --rate"));
  CHECK_THAT(refused("--rate-profile step:10@1 --num 5"), Catch::Contains("not with --num"));
  CHECK_THAT(refused("--rate-profile spike:5,50@1+1"), Catch::Contains("runs for --duration: give it"));
}

TEST_CASE("a shard with a stride fetches every stride-th request of one schedule, each at its due time",
          "[profile][crawl][mpi]") {
  test::TestServer srv;
  for (const char* model : {"coroutine", "threads", "curl"}) {
    DYNAMIC_SECTION(model) {
      CrawlConfig c;
      c.model = model;
      c.url = srv.url();
      c.delay_ms = 5;
      c.concurrency = 10;
      c.seed = 8;
      apply_rate_profile(c, profile("step:100,300@0.2"));
      const auto due = due_times(c.profile, 0, 10'000);
      c.shard_begin = 1;  // rank 1 of 3, as crawl-mpi deals an open loop out
      c.shard_stride = 3;
      c.start_at_us = now_us() + 50'000;  // the instant the ranks share
      CrawlSummary s = run_crawl(c);
      INFO(to_json(s).dump());
      REQUIRE(s.run.records.size() == (due.size() - 1 + 2) / 3);
      CHECK(s.failed == 0);  // each of its URLs whole
      CHECK(s.run.first_index == 1);
      CHECK(s.run.index_stride == 3);
      for (std::size_t k = 0; k < s.run.records.size(); ++k) {
        const RequestRecord& r = s.run.records[k];
        CHECK(r.intended_us - c.start_at_us ==
              due[1 + 3 * k]);  // the one schedule's, from the shared instant
        CHECK(r.start_us >= r.intended_us);
      }
      const auto rows = test::parse_csv(timeline_csv(s.run));
      REQUIRE(rows.size() == s.run.records.size() + 1);
      for (std::size_t k = 1; k < rows.size(); ++k) CHECK(rows[k][1] == std::to_string(1 + 3 * (k - 1)));
    }
  }
}
