// What the programs write must never lie and never destroy: devices and pipes
// are written in place, links keep pointing where they did, a failed write is
// reported as failed (by the function, the flush route and the exit status),
// concurrent flushes do not clash, and the server's memory is bounded in bytes.
#include "common/csv.hpp"
#include "server/timeline_store.hpp"
#include "support.hpp"

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <thread>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace testbed;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

bool is_char_device(const char* path) {
  struct stat st {};
  return stat(path, &st) == 0 && S_ISCHR(st.st_mode);
}

std::size_t files_in(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("outputs to devices are written in place, never replaced", "[outputs]") {
  REQUIRE(is_char_device("/dev/null"));
  std::string err;
  CHECK(write_file_atomic("/dev/null", "name,start,end\n", &err));
  CHECK(is_char_device("/dev/null"));
  // A full device fails, says why, and stays a device.
  CHECK_FALSE(write_file_atomic("/dev/full", "name,start,end\n", &err));
  CHECK_THAT(err, Catch::Contains("/dev/full") && Catch::Contains("No space left"));
  CHECK(is_char_device("/dev/full"));
  CHECK_FALSE(fs::exists("/dev/full.tmp"));
}

TEST_CASE("a FIFO is written in place, a directory is refused", "[outputs]") {
  test::TempDir dir;
  auto fifo = dir.path / "pipe";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  std::string got;
  std::thread reader([&] { got = slurp(fifo); });
  std::string err;
  CHECK(write_file_atomic(fifo.string(), "through the pipe\n", &err));
  reader.join();
  CHECK(got == "through the pipe\n");
  CHECK(fs::is_fifo(fifo));
  CHECK_FALSE(write_file_atomic(dir.path.string(), "x", &err));
  CHECK_THAT(err, Catch::Contains("directory"));
}

TEST_CASE("a symbolic link keeps pointing where it did, its file is replaced", "[outputs]") {
  test::TempDir dir;
  auto real = dir.path / "real.csv";
  auto link = dir.path / "link.csv";
  std::ofstream(real) << "old\n";
  fs::create_symlink(real, link);
  std::string err;
  REQUIRE(write_file_atomic(link.string(), "new\n", &err));
  CHECK(fs::is_symlink(link));
  CHECK(slurp(real) == "new\n");
  CHECK(files_in(dir.path) == 2);  // no temporary file left behind
  fs::remove(real);
  CHECK_FALSE(write_file_atomic(link.string(), "x", &err));
  CHECK_THAT(err, Catch::Contains("symbolic link"));
}

TEST_CASE("concurrent writers to one file never clash", "[outputs]") {
  test::TempDir dir;
  auto path = (dir.path / "out.csv").string();
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; ++t)
    writers.emplace_back([&, t] {
      std::string err, body(4096, static_cast<char>('a' + t));
      for (int k = 0; k < 40; ++k)
        if (!write_file_atomic(path, body, &err)) ++failures;
    });
  for (auto& w : writers) w.join();
  CHECK(failures == 0);
  std::string last = slurp(path);
  REQUIRE(last.size() == 4096);
  CHECK(last == std::string(4096, last[0]));  // one writer's whole body, not a mix
  CHECK(files_in(dir.path) == 1);
}

TEST_CASE("a flush that cannot be written is a 500 with the reason, and the rows stay", "[outputs]") {
  test::TempDir cwd;
  fs::current_path(cwd.path);  // the default database goes here, not into /dev
  ServerConfig cfg;
  cfg.timeline_path = "/dev/full";
  test::TestServer srv(cfg);
  CHECK(srv.server().config().db_path == "primes.sqlite");
  CHECK(test::http_get(srv.port(), "/add?name=a&delay=0").status == 200);
  auto r = test::http_get(srv.port(), "/add?flush=True");
  CHECK(r.status == 500);
  CHECK_THAT(r.body, Catch::Contains("No space left"));
  CHECK(is_char_device("/dev/full"));
  CHECK(srv.server().timeline().size() == 1);  // kept for the next attempt
}

TEST_CASE("concurrent flushes on a multi-threaded server each say exactly what they wrote", "[outputs]") {
  ServerConfig cfg;
  cfg.threads = 4;
  test::TestServer srv(cfg);
  std::atomic<bool> stop{false};
  std::thread load([&] {
    for (int i = 0; !stop; ++i) test::http_get(srv.port(), "/add?name=l&delay=0");
  });
  std::atomic<int> bad{0};
  std::vector<std::thread> flushers;
  for (int t = 0; t < 8; ++t)
    flushers.emplace_back([&] {
      for (int k = 0; k < 20; ++k) {
        auto r = test::http_get(srv.port(), "/add?flush=True");
        if (r.status != 200 || r.body.rfind("flushed ", 0) != 0) ++bad;
      }
    });
  for (auto& f : flushers) f.join();
  stop = true;
  load.join();
  CHECK(bad == 0);
  // Quiet now: what the flush says is what the file holds.
  auto r = test::http_get(srv.port(), "/add?flush=True");
  REQUIRE(r.status == 200);
  auto rows = test::read_csv(srv.server().config().timeline_path);
  CHECK_THAT(r.body, Catch::StartsWith("flushed " + std::to_string(rows.size() - 1) + " rows"));
  CHECK(rows.size() - 1 == srv.server().timeline().size());
}

TEST_CASE("an exit flush that fails is a failing exit, with no claim of success", "[outputs][signals]") {
  test::ServerProcess full({"--timeline", "/dev/full", "--db", ":memory:"});
  CHECK(test::http_get(full.port(), "/add?name=a&delay=0").status == 200);
  CHECK(full.stop(SIGTERM) == 1);
  CHECK_THAT(full.err(), Catch::Contains("NOT written") && Catch::Contains("No space left"));
  CHECK_THAT(full.out(), !Catch::Contains("timeline written"));
  CHECK(is_char_device("/dev/full"));

  // SIGHUP (a closed terminal) stops the server like SIGTERM: timeline written, exit 0.
  test::TempDir dir;
  auto timeline = dir.path / "t.csv";
  test::ServerProcess hup({"--timeline", timeline.string()});
  CHECK(test::http_get(hup.port(), "/add?name=h&delay=0").status == 200);
  CHECK(hup.stop(SIGHUP) == 0);
  CHECK(test::read_csv(timeline).size() == 2);
  CHECK_THAT(hup.out(), Catch::Contains("timeline written"));
}

TEST_CASE("the timeline's memory is bounded in bytes, and /stats says so", "[outputs][memory]") {
  ServerConfig cfg;
  cfg.timeline_max_bytes = 4 << 20;
  test::TestServer srv(cfg);
  const std::string name(3072, 'n');
  int served = 0;
  for (int i = 0; i < 2000; ++i)
    served += test::http_get(srv.port(), "/add?name=" + name + "&delay=0").status == 200;
  CHECK(served == 2000);  // every request is served...
  auto& t = srv.server().timeline();
  CHECK(t.bytes() <= cfg.timeline_max_bytes);  // ...but not every one kept
  CHECK(t.dropped() > 0);
  CHECK(t.size() + t.dropped() == 2000);
  auto stats = nlohmann::json::parse(test::http_get(srv.port(), "/stats").body);
  CHECK(stats["timeline_bytes"] == t.bytes());
  CHECK(stats["timeline_max_bytes"] == cfg.timeline_max_bytes);
  CHECK(stats["timeline_dropped"] == t.dropped());
}

TEST_CASE("at most two /timeline copies are held for slow readers, more get a 503", "[outputs][memory]") {
  test::TestServer srv;
  for (int i = 0; i < 200'000; ++i) srv.server().timeline().add("a-row-of-the-timeline", i, i + 1, 0);
  namespace asio = boost::asio;
  asio::io_context ioc;
  std::vector<asio::ip::tcp::socket> slow;
  for (int k = 0; k < 2; ++k) {  // ask, and do not read: the answer (MBs) cannot all be sent
    slow.emplace_back(ioc);
    slow.back().connect({asio::ip::make_address("127.0.0.1"), srv.port()});
    asio::write(slow.back(), asio::buffer(std::string("GET /timeline HTTP/1.1\r\nHost: x\r\n\r\n")));
  }
  REQUIRE(test::wait_until([&] { return srv.server().stats().timeline_readers == 2; }));
  auto third = test::http_get(srv.port(), "/timeline");
  CHECK(third.status == 503);
  CHECK_THAT(third.body, Catch::Contains("try again"));
  CHECK(srv.server().stats().timeline_readers_refused == 1);
  slow.clear();  // the slow readers go away: their copies are given back
  REQUIRE(test::wait_until([&] { return srv.server().stats().timeline_readers == 0; }));
  auto again = test::http_get(srv.port(), "/timeline");
  CHECK(again.status == 200);
  CHECK(test::parse_csv(again.body).size() == 200'001);
}
