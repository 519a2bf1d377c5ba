// --resources: what a crawl and the server spend over time, a row every
// 10 ms. Every model writes rows over its whole run with the threads it is
// known to use (C+1 for threads, 1 for a loop); the server writes its rows as
// it goes; taking them stays within its budget; and a process that cannot
// read /proc says so once and goes on.
#include "common/resources.hpp"
#include "crawlers/crawl.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include <sys/wait.h>
#include <csignal>

using namespace testbed;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct Series {
  std::vector<double> time;
  std::vector<std::vector<std::string>> cells;  // by row, the header's columns
};

// The CSV as written: the header checked, each row's cells.
Series read_series(const std::filesystem::path& p) {
  auto rows = test::read_csv(p);
  REQUIRE(!rows.empty());
  CHECK(rows[0] == std::vector<std::string>{"time", "cpu_user_pct", "cpu_system_pct", "rss_kib", "threads",
                                            "fds", "voluntary_switches", "involuntary_switches",
                                            "connections_opened", "connections_open"});
  Series s;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    REQUIRE(rows[i].size() == 10);
    s.time.push_back(std::stod(rows[i][0]));
    s.cells.push_back(rows[i]);
  }
  return s;
}

// Column k's values in the rows that have one.
std::vector<double> column(const Series& s, std::size_t k) {
  std::vector<double> out;
  for (const auto& r : s.cells)
    if (!r[k].empty()) out.push_back(std::stod(r[k]));
  return out;
}

double median_gap_ms(const std::vector<double>& t) {
  std::vector<double> gaps;
  for (std::size_t i = 1; i < t.size(); ++i) gaps.push_back((t[i] - t[i - 1]) * 1e3);
  std::sort(gaps.begin(), gaps.end());
  return gaps.empty() ? 0 : gaps[gaps.size() / 2];
}

// Runs the crawl program; its exit status, its stderr in `err`.
int run(const std::string& cmd, const std::filesystem::path& err) {
  const int rc = std::system((cmd + " 2>" + err.string()).c_str());
  REQUIRE(WIFEXITED(rc));
  return WEXITSTATUS(rc);
}

}  // namespace

TEST_CASE("every model's resource rows come every ~10 ms over its run, with the threads it uses",
          "[resources][crawl]") {
  test::TestServer srv;
  for (const auto& m : models()) {
    DYNAMIC_SECTION(m.name) {
      test::TempDir dir;
      const int c = m.one_in_flight ? 1 : 20;
      const int num = m.one_in_flight ? 20 : 400;
      const std::string cmd = std::string(CRAWL_BIN) + " --model " + m.name + " --url " + srv.url() +
                              " --num " + std::to_string(num) + " --concurrency " + std::to_string(c) +
                              " --delay 25 --seed 5 --json --resources " + (dir.path / "res.csv").string() +
                              " --timeline " + (dir.path / "tl.csv").string() + " >" +
                              (dir.path / "out.json").string();
      REQUIRE(run(cmd, dir.path / "err.txt") == 0);
      const auto j = nlohmann::json::parse(slurp(dir.path / "out.json"));
      INFO(j.dump());
      const Series s = read_series(dir.path / "res.csv");
      REQUIRE(j["resources"]["rows"] == s.time.size());
      CHECK(j["resources"]["every_ms"] == 10);
      CHECK(j["resources"]["problem"].is_null());
      // Within its budget: each read is skipped while it is over its share.
      CHECK(j["resources"]["rows_cpu_pct"].get<double>() < 1.0);

      // Over the whole run: from before the first request to after the last.
      auto tl = test::read_csv(dir.path / "tl.csv");
      double first = 1e18, last = 0;
      for (std::size_t i = 1; i < tl.size(); ++i) {
        first = std::min(first, std::stod(tl[i][2]));
        last = std::max(last, std::stod(tl[i][3]));
      }
      CHECK(s.time.front() <= first);
      CHECK(s.time.back() >= last);
      CHECK(std::is_sorted(s.time.begin(), s.time.end()));
      // A row every ~10 ms: a loaded machine (CI builds beside the tests)
      // wakes the sampler late now and then, and it does not catch up.
      CHECK(static_cast<double>(s.time.size()) >= 0.4 * (last - first) / 0.010);
      const double gap = median_gap_ms(s.time);
      CHECK(gap >= 9);
      CHECK(gap <= 25);

      // Plausible values: the model's threads (the sampler's own left out),
      // memory, some CPU, the descriptors it holds.
      const auto threads = column(s, 4);
      REQUIRE(threads.size() >= s.time.size() / 2);
      // threads: the main thread and a worker a slot; mn: its pool, one a
      // core, the main thread among them; the loops: the main thread. Under
      // ThreadSanitizer its runtime's background thread is one more.
      const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
#if defined(__SANITIZE_THREAD__)
      const int runtime_threads = 1;
#else
      const int runtime_threads = 0;
#endif
      CHECK(*std::max_element(threads.begin(), threads.end()) ==
            runtime_threads + (m.name == std::string("threads") ? c + 1 : m.pool ? cores : 1));
      for (double rss : column(s, 3)) CHECK(rss > 1000);
      // The CPU the rows account for, each over the time since the last row
      // with CPU, is the run's (the kernel's per-thread clocks lag by up to a
      // tick, so one row may show more than the cores; the sum does not).
      double busy_s = 0, prev = -1;
      int with_cpu = 0;
      for (std::size_t i = 0; i < s.cells.size(); ++i) {
        if (s.cells[i][1].empty()) {
          if (prev < 0) prev = s.time[i];  // the first row: where the CPU starts
          continue;
        }
        const double user = std::stod(s.cells[i][1]), sys = std::stod(s.cells[i][2]);
        CHECK(user >= 0);
        CHECK(sys >= 0);
        busy_s += (user + sys) / 100 * (s.time[i] - prev);
        prev = s.time[i];
        ++with_cpu;
      }
      CHECK(with_cpu >= 2);
      const double cost_s = j["cost"]["cpu_user_seconds"].get<double>() + j["cost"]["cpu_system_seconds"].get<double>();
      CHECK(busy_s > 0);
      CHECK(busy_s <= 2 * cost_s + 0.02);  // and the sampler's own, a little before and after
      CHECK(busy_s >= 0.5 * cost_s - 0.02);
      const auto fds = column(s, 5);
      REQUIRE(!fds.empty());
      CHECK(*std::min_element(fds.begin(), fds.end()) >= 3);  // stdin, stdout, stderr at least
      CHECK(s.cells.front()[1].empty());                      // the first row is where the CPU starts
      // The connections it opened, counted in every row: none before the
      // first request, all of them (C, kept alive) by the last.
      const auto opened = column(s, 8);
      REQUIRE(opened.size() == s.time.size());
      CHECK(opened.front() == 0);
      CHECK(opened.back() == j["cost"]["connections_opened"].get<double>());
      CHECK(opened.back() == c);
      CHECK(std::is_sorted(opened.begin(), opened.end()));
      CHECK(column(s, 9).empty());  // open now: the server's, not the crawl's
    }
  }
}

TEST_CASE("delayserver --resources writes its rows as it runs and says what they cost",
          "[resources][server]") {
  test::TempDir dir;
  const auto file = dir.path / "server.csv";
  test::ServerProcess server({"--timeline", (dir.path / "tl.csv").string(), "--resources", file.string()});
  // Rows are appended each second, while it runs.
  REQUIRE(test::wait_until([&] { return test::read_csv(file).size() > 50; }, 5000));
  CrawlConfig c;
  c.model = "coroutine";
  c.url = "http://127.0.0.1:" + std::to_string(server.port());
  c.num = 200;
  c.concurrency = 50;
  c.delay_ms = 20;
  CHECK(run_crawl(c).failed == 0);
  REQUIRE(server.stop(SIGTERM) == 0);
  const Series s = read_series(file);
  INFO(server.err());
  CHECK_THAT(server.err(), Catch::Contains("delayserver: resources: " + std::to_string(s.time.size()) +
                                           " rows every 10 ms (taking them: "));
  CHECK(median_gap_ms(s.time) <= 25);
  // The connections the crawl held show among its descriptors, and in its
  // own counts: 50 accepted, all open at once while the crawl ran.
  const auto fds = column(s, 5);
  REQUIRE(!fds.empty());
  CHECK(*std::max_element(fds.begin(), fds.end()) >= 50);
  const auto accepted = column(s, 8), open = column(s, 9);
  REQUIRE(accepted.size() == s.time.size());
  REQUIRE(open.size() == s.time.size());
  CHECK(accepted.back() >= 50);
  CHECK(*std::max_element(open.begin(), open.end()) >= 50);
  for (double t : column(s, 4)) CHECK(t >= 1);
}

TEST_CASE("a crawl that cannot read /proc says so once, goes on, and leaves those cells empty",
          "[resources][crawl]") {
  test::TestServer srv;
  test::TempDir dir;
  // A mount namespace of its own whose /proc is an empty tmpfs: nothing of
  // the machine's changes. Its /proc is made private first, so that the
  // tmpfs cannot propagate back to a shared /proc; the root's propagation is
  // left as it is (in a chroot "/" is not a mount, and changing it fails).
  const std::string crawl = std::string(CRAWL_BIN) + " --model coroutine --url " + srv.url() +
                            " --num 100 --concurrency 10 --delay 20 --json --resources " +
                            (dir.path / "res.csv").string() + " >" + (dir.path / "out.json").string();
  //
  // Under ASan: LeakSanitizer walks /proc/PID/task to find every thread's
  // stack and dies without it, so this one child runs without the leak check
  // (every other test keeps it). The sanitizers read their options from
  // /proc/self/environ alone, so the empty /proc holds that one file (a
  // plain folder self/ with it), which says so; the crawl's own reads
  // (self/statm, self/task, self/fd) still find nothing. Their warnings
  // about the missing rest go to the same stderr, which is why the line is
  // looked for rather than the whole of it compared.
  const std::string cmd =
      "unshare --mount --propagation unchanged sh -c "
      "'mount --make-private /proc && mount -t tmpfs none /proc && mkdir /proc/self && "
      "printf \"ASAN_OPTIONS=%s\\0\" \"${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0\" >/proc/self/environ && "
      "exec " +
      crawl + "'";
  const int rc = run(cmd, dir.path / "err.txt");
  const std::string err = slurp(dir.path / "err.txt");
  INFO(err);
  REQUIRE(rc == 0);
  const std::string said = "crawl: resources: cannot read /proc/self/statm";
  const auto at = err.find(said);
  REQUIRE(at != std::string::npos);
  CHECK(err.find(said, at + 1) == std::string::npos);  // once
  const auto j = nlohmann::json::parse(slurp(dir.path / "out.json"));
  CHECK(j["failed"] == 0);
  CHECK_THAT(j["resources"]["problem"].get<std::string>(), Catch::Contains("/proc/self/statm"));
  const Series s = read_series(dir.path / "res.csv");
  CHECK(s.time.size() >= 10);
  CHECK(column(s, 3).empty());      // no RSS
  CHECK(column(s, 4).empty());      // no threads
  CHECK(column(s, 5).empty());      // no descriptors
  CHECK(column(s, 1).size() >= 2);  // CPU is the kernel's getrusage, not /proc's
}
