// Reliability, round three: harm to the host (another user's link), numbers
// that never happened (NaN draws, overflowing milliseconds, negative CPU, an
// efficiency over no answers), an HTTP/1.0 close option, and limits checked
// up front. Against the real programs and the real server.
#include "common/cli.hpp"
#include "common/csv.hpp"
#include "common/delay_dist.hpp"
#include "crawlers/crawl.hpp"
#include "crawlers/output.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>

using namespace testbed;

namespace {

struct Ran {
  int status = -1;  // the exit code
  std::string out, err;
};

// Runs a shell command line; its exit code, stdout and stderr.
Ran run(const std::string& cmd, const test::TempDir& dir) {
  const auto err_path = dir.path / "stderr.txt";
  Ran r;
  FILE* p = popen((cmd + " 2>" + err_path.string()).c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  std::ifstream in(err_path);
  r.err.assign(std::istreambuf_iterator<char>(in), {});
  return r;
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

constexpr uid_t kNobody = 65534;

}  // namespace

TEST_CASE("another user's link in a sticky folder is never followed, and no file's permissions widen",
          "[reliability][links]") {
  if (geteuid() != 0) {
    WARN("not root: a link of another uid cannot be planted here");
    return;
  }
  test::TempDir dir;
  const auto sticky = dir.path / "tmp";
  std::filesystem::create_directory(sticky);
  REQUIRE(::chmod(sticky.c_str(), 01777) == 0);  // like /tmp
  const auto victim = dir.path / "shadow";
  { std::ofstream(victim) << "secret\n"; }
  REQUIRE(::chmod(victim.c_str(), 0600) == 0);
  // nobody plants c.csv -> shadow in the sticky folder.
  const auto planted = sticky / "c.csv";
  std::filesystem::create_symlink(victim, planted);
  REQUIRE(::lchown(planted.c_str(), kNobody, kNobody) == 0);

  SECTION("write_file_atomic refuses it and says why") {
    std::string err;
    CHECK_FALSE(write_file_atomic(planted.string(), "model,index\n", &err));
    CHECK_THAT(err, Catch::Contains("another user's") && Catch::Contains("sticky"));
    CHECK(read_all(victim) == "secret\n");
  }
  SECTION(
      "the real programs refuse it: crawl --timeline, delayserver --port-file and --timeline, primes "
      "--timeline") {
    test::TestServer srv;
    for (const std::string& cmd :
         {std::string(CRAWL_BIN) + " --model serial --num 2 --delay 0 --url " + srv.url() + " --timeline " +
              planted.string(),
          std::string(PRIMES_BIN) + " --mode noio --max-number 100 --timeline " + planted.string(),
          std::string(DELAYSERVER_BIN) + " --port 0 --timeline /dev/null --db " +
              (dir.path / "db.sqlite").string() + " --port-file " + planted.string()}) {
      INFO(cmd);
      Ran r = run("timeout 20 " + cmd, dir);
      CHECK(r.status == 1);
      CHECK_THAT(r.err, Catch::Contains("another user's"));
      CHECK(read_all(victim) == "secret\n");
    }
  }
  SECTION("its owner's link, or a link anywhere else, is followed; the file keeps its mode") {
    std::string err;
    REQUIRE(::lchown(planted.c_str(), 0, 0) == 0);  // root's own link
    REQUIRE(write_file_atomic(planted.string(), "mine\n", &err));
    CHECK(read_all(victim) == "mine\n");
    CHECK(std::filesystem::is_symlink(planted));
    struct stat st {};
    REQUIRE(::stat(victim.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);           // never widened to 0644
    const auto elsewhere = dir.path / "link.csv";  // not a sticky folder
    std::filesystem::create_symlink(victim, elsewhere);
    REQUIRE(::lchown(elsewhere.c_str(), kNobody, kNobody) == 0);
    REQUIRE(write_file_atomic(elsewhere.string(), "again\n", &err));
    CHECK(read_all(victim) == "again\n");
  }
}

TEST_CASE("every delay drawn is finite and within its bounds, whatever the parameters",
          "[reliability][dist]") {
  const std::int64_t max_us = 60'000'000;
  for (double alpha : {1.0 / 2048, 1e-6, 0.001, 1.5, 100.0})
    for (std::int64_t median : {std::int64_t{0}, std::int64_t{1}, std::int64_t{100}, std::int64_t{60'000}}) {
      DelayDist d;
      d.shape = DelayShape::pareto;
      d.alpha = alpha;
      for (std::uint64_t key = 0; key < 2000; ++key) {
        std::int64_t us = draw_delay_us(d, median, 7, key, max_us);
        INFO("alpha " << alpha << " median " << median << " key " << key);
        REQUIRE(us >= 0);
        REQUIRE(static_cast<double>(us) <=
                std::min(static_cast<double>(max_us), d.cap * median * 1000.0) + 1);
      }
    }
  // Through the server: a median of 0 with a tiny alpha is answered at 0, with its X-Delay-Us.
  test::TestServer srv;
  auto r = test::http_get(srv.port(), "/add?name=nan&delay=0&dist=pareto&alpha=0.0001");
  CHECK(r.status == 200);
  CHECK(r.delay_us == "0");
  r = test::http_get(srv.port(), "/add?name=nan&delay=5&dist=pareto&alpha=0.0001");
  CHECK(r.status == 200);
  CHECK(std::stoll(r.delay_us) >= 0);
  CHECK(std::stoll(r.delay_us) <= 50'000);  // the cap: 10 x the median
}

TEST_CASE("times and counts that cannot be represented or held are refused at the command line",
          "[reliability][limits]") {
  test::TempDir dir;
  const std::string crawl = std::string(CRAWL_BIN) + " --model serial --url http://127.0.0.1:9 ";
  const std::string server = std::string(DELAYSERVER_BIN) + " --port 0 --timeline /dev/null --db " +
                             (dir.path / "db.sqlite").string() + " ";
  for (auto [cmd, why] : std::initializer_list<std::pair<std::string, const char*>>{
           {crawl + "--timeout-ms 9223372036854775807", "longest time"},
           {crawl + "--delay 10000000000000000", "longest time"},
           {crawl + "--num 1000000000000", "more requests than a run holds"},
           {crawl.substr(0, crawl.find(" --model")) +
                " --model coroutine --url http://127.0.0.1:9 --rate 100 --duration inf",
            "finite"},
           {crawl.substr(0, crawl.find(" --model")) +
                " --model coroutine --url http://127.0.0.1:9 --rate 1e-9",
            "0.001"},
           {crawl.substr(0, crawl.find(" --model")) +
                " --model coroutine --url http://127.0.0.1:9 --rate 1000000 --duration 100000",
            "more requests than a run holds"},
           {server + "--max-delay-ms 9223372036854775807", "longest time"},
           {server + "--db-latency-ms 9223372036854776", "longest time"},
           {server + "--read-timeout-ms 4300000000000", "longest time"},
           {std::string(PRIMES_BIN) + " --mode async --max-number 10 --timeout-ms 9223372036854775807",
            "longest time"},
       }) {
    INFO(cmd);
    Ran r = run("timeout 20 " + cmd, dir);
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains(why));
  }
}

TEST_CASE("primes checks the open-files limit up front, as crawl does, and loses nothing",
          "[reliability][limits]") {
  test::TestServer srv;
  test::TempDir dir;
  Ran r = run(
      "ulimit -n 512; exec " + std::string(PRIMES_BIN) + " --mode async --max-number 8192 --url " + srv.url(),
      dir);
  CHECK(r.status == 2);
  CHECK_THAT(r.err,
             Catch::Contains("--concurrency 4096 needs about") && Catch::Contains("open-files limit is 512"));
  CHECK(test::http_get(srv.port(), "/primes").body.find("\"count\":0") != std::string::npos);  // nothing sent
  r = run("ulimit -n 512; exec " + std::string(PRIMES_BIN) +
              " --mode async --max-number 8192 --concurrency 400 --url " + srv.url(),
          dir);
  CHECK(r.status == 0);  // within the limit, every save lands
  CHECK(test::http_get(srv.port(), "/primes").body.find("\"count\":1028") != std::string::npos);
}

TEST_CASE("a run whose requests got no answer gives no efficiency, and no CPU figure is negative",
          "[reliability][numbers]") {
  CrawlConfig c;
  c.model = "coroutine";
  c.url = "http://127.0.0.1:9";  // nothing listens there
  c.num = 100;
  c.delay_ms = 500;
  CrawlSummary s = run_crawl(c);
  CHECK(s.failed == 100);
  CHECK(s.answered == 0);
  CHECK_FALSE(s.efficiency.has_value());
  auto j = to_json(s);
  CHECK(j["efficiency"].is_null());
  CHECK(j["answered"] == 0);

  test::TestServer srv;
  for (int k = 0; k < 30; ++k) {  // small runs, where a mismatched window showed most
    CrawlConfig one;
    one.model = models()[static_cast<std::size_t>(k) % models().size()].name;
    one.url = srv.url();
    one.num = 1;
    one.delay_ms = 0;
    CrawlSummary t = run_crawl(one);
    INFO(one.model);
    REQUIRE(t.run.cost);
    CHECK(t.run.cost->cpu_user_seconds >= 0);
    CHECK(t.run.cost->cpu_system_seconds >= 0);
    CHECK(*t.cpu_ms_per_1k >= 0);
    CHECK(t.run.cost->voluntary_switches >= 0);
    CHECK(t.run.cost->involuntary_switches >= 0);
  }
}

TEST_CASE("a Connection field with a close option closes the connection, HTTP/1.0 too",
          "[reliability][http]") {
  test::TestServer srv;
  for (const char* version : {"HTTP/1.0", "HTTP/1.1"}) {
    INFO(version);
    const std::string one =
        std::string("GET /health ") + version + "\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n";
    std::string got = test::raw_exchange(srv.port(), one + one);  // the second is never answered
    std::size_t answers = 0;
    for (auto at = got.find("HTTP/1."); at != std::string::npos; at = got.find("HTTP/1.", at + 1)) ++answers;
    CHECK(answers == 1);
  }
  // Keep-alive alone still keeps it (the book's clients rely on it).
  const std::string ka = "GET /health HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";
  std::string got = test::raw_exchange(srv.port(), ka + ka, 1000);
  std::size_t answers = 0;
  for (auto at = got.find("HTTP/1."); at != std::string::npos; at = got.find("HTTP/1.", at + 1)) ++answers;
  CHECK(answers == 2);
}
