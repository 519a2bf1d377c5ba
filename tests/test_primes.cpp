// The prime-saving client and the server's SQLite database, for real.
#include "primes/primes.hpp"
#include "server/prime_db.hpp"
#include "support.hpp"

#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <thread>

using namespace testbed;

namespace {

ServerConfig fast_db() {
  ServerConfig c;
  c.db_latency_ms = 5;
  return c;
}

PrimesConfig config_for(const std::string& mode, const test::TestServer& srv, std::int64_t max) {
  PrimesConfig c;
  c.mode = mode;
  c.url = srv.url();
  c.max_number = max;
  return c;
}

// Reads the database file directly, the way a user's sqlite3 shell would.
std::pair<std::int64_t, std::int64_t> count_and_sum(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "select count(*), coalesce(sum(value), 0) from primes", -1, &q, nullptr) ==
          SQLITE_OK);
  REQUIRE(sqlite3_step(q) == SQLITE_ROW);
  std::pair<std::int64_t, std::int64_t> r{sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1)};
  sqlite3_finalize(q);
  sqlite3_close(db);
  return r;
}

// Another process's exclusive lock on the database (a sqlite3 shell in the
// middle of a transaction), held for `hold_ms` from a thread of its own.
class ForeignLock {
 public:
  ForeignLock(const std::string& path, int hold_ms) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    thread_ = std::thread([this, hold_ms] {
      std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
      sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    });
  }
  ~ForeignLock() {
    thread_.join();
    sqlite3_close(db_);
  }

 private:
  sqlite3* db_ = nullptr;
  std::thread thread_;
};

}  // namespace

TEST_CASE("a save waits out another process's lock on the database: nothing is lost", "[primes][lock]") {
  auto mode = GENERATE(as<std::string>{}, "serial", "async");
  INFO(mode);
  test::TestServer srv(fast_db());
  std::int64_t expected = 0;
  {
    ForeignLock lock(srv.server().config().db_path, 1500);
    PrimesSummary s = run_primes(config_for(mode, srv, 200));  // 46 primes, no retries
    expected = s.primes;
    CHECK(s.failed == 0);
    CHECK(s.saved == s.primes);
    CHECK(s.errors.empty());
  }
  CHECK(count_and_sum(srv.server().config().db_path).first == expected);
}

TEST_CASE("a lock that outlasts the server's wait is a 503, retried by the client's backoff",
          "[primes][lock]") {
  ServerConfig cfg = fast_db();
  cfg.db_lock_wait_ms = 100;
  test::TestServer srv(cfg);
  {
    // Without retries, every save is reported lost, by value, with the reason.
    ForeignLock lock(srv.server().config().db_path, 1000);
    PrimesSummary s = run_primes(config_for("async", srv, 30));
    CHECK(s.failed == 10);
    CHECK(s.lost.size() == 10);
    CHECK(s.errors.at("HTTP status 503") == 10);
  }
  {
    // With retries whose backoff outlasts the lock, every save lands.
    ForeignLock lock(srv.server().config().db_path, 600);
    PrimesConfig c = config_for("async", srv, 30);
    c.retries = 8;
    PrimesSummary s = run_primes(c);
    CHECK(s.failed == 0);
    CHECK(s.saved == 10);
  }
  CHECK(count_and_sum(srv.server().config().db_path).first == 10);
}

TEST_CASE("primes --timeout-ms cuts off a save that is never answered", "[primes][timeout]") {
  auto mode = GENERATE(as<std::string>{}, "serial", "batched", "async");
  INFO(mode);
  ServerConfig cfg;
  cfg.db_latency_ms = 60'000;  // a database that never answers in time
  test::TestServer srv(cfg);
  PrimesConfig c = config_for(mode, srv, 12);  // 5 primes
  c.timeout_ms = 100;
  c.retries = 1;
  PrimesSummary s = run_primes(c);
  CHECK(s.failed == 5);
  REQUIRE(s.errors.size() == 1);
  CHECK_THAT(s.errors.begin()->first, Catch::Contains("timed out after 100 ms"));
  auto attempts = std::count_if(s.spans.begin(), s.spans.end(),
                                [](const PrimeSpan& p) { return p.kind == PrimeSpan::Kind::save; });
  CHECK(attempts == 10);  // each save cut off twice: the first attempt and its retry
  CHECK(to_json(s)["timeout_ms"] == 100);
}

TEST_CASE("check_prime is right about small numbers and finds 1028 primes below 8192", "[primes]") {
  CHECK_FALSE(check_prime(0));
  CHECK_FALSE(check_prime(1));
  CHECK(check_prime(2));
  CHECK(check_prime(3));
  CHECK_FALSE(check_prime(4));
  CHECK_FALSE(check_prime(9));
  CHECK_FALSE(check_prime(25));
  CHECK(check_prime(8191));
  std::int64_t count = 0, sum = 0;
  for (std::int64_t n = 0; n < 8192; ++n)
    if (check_prime(n)) {
      ++count;
      sum += n;
    }
  CHECK(count == 1028);
  CHECK(sum == 3908641);
  PrimesConfig c;
  c.mode = "noio";
  c.max_number = 8192;
  PrimesSummary s = run_primes(c);
  CHECK(s.primes == 1028);
  CHECK(s.saved == 0);
}

TEST_CASE("batched and async save every prime below 8192 exactly once", "[primes]") {
  auto mode = GENERATE(as<std::string>{}, "batched", "async");
  INFO(mode);
  test::TestServer srv(fast_db());
  PrimesSummary s = run_primes(config_for(mode, srv, 8192));
  CHECK(s.primes == 1028);
  CHECK(s.saved == 1028);
  CHECK(s.failed == 0);
  CHECK(s.lost.empty());
  // Running again saves nothing new: the same prime is stored once.
  CHECK(run_primes(config_for(mode, srv, 8192)).saved == 1028);
  CHECK(count_and_sum(srv.server().config().db_path) == std::pair<std::int64_t, std::int64_t>{1028, 3908641});
  auto stats = test::http_get(srv.port(), "/primes");
  CHECK(stats.body == "{\"count\":1028,\"sum\":3908641}\n");
}

TEST_CASE("serial saves one prime at a time and its timeline shows it", "[primes]") {
  test::TestServer srv(fast_db());
  PrimesSummary s = run_primes(config_for("serial", srv, 100));
  CHECK(s.primes == 25);
  CHECK(s.saved == 25);
  CHECK(count_and_sum(srv.server().config().db_path).first == 25);
  auto rows = test::parse_csv(primes_timeline_csv(s));
  REQUIRE(rows[0] == std::vector<std::string>{"kind", "start", "end", "value", "status"});
  std::vector<std::pair<double, double>> saves;
  int computes = 0;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    if (rows[i][0] == "save") {
      saves.emplace_back(std::stod(rows[i][1]), std::stod(rows[i][2]));
      CHECK(rows[i][4] == "200");
    } else {
      CHECK(rows[i][0] == "compute");
      ++computes;
    }
  }
  CHECK(saves.size() == 25);
  CHECK(test::peak_overlap(saves) == 1);
  CHECK(computes >= 1);
}

TEST_CASE("async keeps saves in flight while computing and bounds them", "[primes]") {
  test::TestServer srv(fast_db());
  PrimesConfig c = config_for("async", srv, 8192);
  c.concurrency = 50;
  PrimesSummary s = run_primes(c);
  CHECK(s.saved == 1028);
  std::vector<std::pair<double, double>> saves;
  for (const auto& p : s.spans)
    if (p.kind == PrimeSpan::Kind::save) saves.emplace_back(p.start_us / 1e6, p.end_us / 1e6);
  CHECK(saves.size() == 1028);
  CHECK(test::peak_overlap(saves) <= 50);
  CHECK(test::peak_overlap(saves) > 1);
}

TEST_CASE("saving the same prime twice stores it once", "[primes]") {
  test::TestServer srv(fast_db());
  CHECK(test::http_get(srv.port(), "/add?prime=7919").status == 200);
  CHECK(test::http_get(srv.port(), "/add?prime=7919").status == 200);
  CHECK(count_and_sum(srv.server().config().db_path) == std::pair<std::int64_t, std::int64_t>{1, 7919});
  CHECK(test::http_get(srv.port(), "/add?prime=").status == 400);
  CHECK(test::http_get(srv.port(), "/add?prime=99999999999999999999").status == 400);
  CHECK(test::http_get(srv.port(), "/primes?reset=True").body == "{\"count\":0,\"sum\":0}\n");
  CHECK(count_and_sum(srv.server().config().db_path).first == 0);
}

TEST_CASE("a failing save is answered 500 and counted with its value", "[primes]") {
  test::TestServer srv(fast_db());
  srv.server().db().fail_writes_for_testing(true);
  auto r = test::http_get(srv.port(), "/add?prime=2");
  CHECK(r.status == 500);
  CHECK_THAT(r.body, Catch::Contains("database write failed"));

  auto mode = GENERATE(as<std::string>{}, "serial", "batched", "async");
  INFO(mode);
  PrimesConfig c = config_for(mode, srv, 30);  // 10 primes
  c.retries = 2;
  PrimesSummary s = run_primes(c);
  CHECK(s.primes == 10);
  CHECK(s.saved == 0);
  CHECK(s.failed == 10);
  CHECK(s.lost == std::vector<std::int64_t>{2, 3, 5, 7, 11, 13, 17, 19, 23, 29});
  // `errors` counts each lost save once, by its last failure, as crawl counts
  // requests; every prime was tried 1 + 2 times, and each attempt is a span.
  CHECK(s.errors.at("HTTP status 500") == 10);
  auto attempts = std::count_if(s.spans.begin(), s.spans.end(),
                                [](const PrimeSpan& p) { return p.kind == PrimeSpan::Kind::save; });
  CHECK(attempts == 30);
  CHECK(count_and_sum(srv.server().config().db_path).first == 0);
}

TEST_CASE("primes against a dead server reports every prime as lost", "[primes]") {
  PrimesConfig c;
  c.mode = "async";
  c.max_number = 20;
  c.url = "http://127.0.0.1:" + std::to_string(test::dead_port());
  PrimesSummary s = run_primes(c);
  CHECK(s.primes == 8);
  CHECK(s.failed == 8);
  CHECK(s.lost.size() == 8);
  CHECK(s.errors.size() == 1);
  // A server that was never up is not retried, as in crawl: one attempt each.
  c.retries = 5;
  PrimesSummary again = run_primes(c);
  CHECK(again.failed == 8);
  CHECK(again.spans.size() == 8 + 1);  // eight saves and the compute span
}

TEST_CASE("primes does not retry an answer that would only repeat itself", "[primes]") {
  test::TestServer srv(fast_db());
  PrimesConfig c = config_for("async", srv, 30);
  c.url += "/nowhere";  // every save gets a 404
  c.retries = 3;
  PrimesSummary s = run_primes(c);
  CHECK(s.failed == 10);
  CHECK(s.errors.at("HTTP status 404") == 10);
  auto attempts = std::count_if(s.spans.begin(), s.spans.end(),
                                [](const PrimeSpan& p) { return p.kind == PrimeSpan::Kind::save; });
  CHECK(attempts == 10);  // one each: a 4xx is not retried
}

TEST_CASE("primes skips interim answers: every save is matched with its own answer", "[primes][http]") {
  auto mode = GENERATE(as<std::string>{}, "serial", "batched", "async");
  INFO(mode);
  // A client that took the 100 for the answer would count the save as failed
  // (status 100), and read the real 200 as the next save's answer.
  test::ScriptedServer peer([](const std::string& request) {
    auto at = request.find("prime=") + 6;
    std::string prime = request.substr(at, request.find(' ', at) - at);
    return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(prime.size()) +
           "\r\n\r\n" + prime;
  });
  PrimesConfig c;
  c.mode = mode;
  c.url = peer.url();
  c.max_number = 100;
  PrimesSummary s = run_primes(c);
  CHECK(s.primes == 25);
  CHECK(s.saved == 25);
  CHECK(s.failed == 0);
}

TEST_CASE("the mode table lists every mode once, and each mode's bound is its own", "[primes][modes]") {
  std::vector<std::string> names;
  for (const auto& m : prime_modes()) names.emplace_back(m.name);
  CHECK(names == std::vector<std::string>{"noio", "serial", "batched", "async"});  // the book's order
  auto j = prime_modes_json();
  REQUIRE(j.size() == names.size());
  for (std::size_t k = 0; k < names.size(); ++k) {
    CHECK(j[k]["name"] == names[k]);
    CHECK(find_prime_mode(names[k]) == &prime_modes()[k]);
  }
  CHECK(find_prime_mode("bogus") == nullptr);
  PrimesConfig bogus;
  bogus.mode = "bogus";
  CHECK_THROWS_WITH(run_primes(bogus), Catch::Contains("noio, serial, batched, async"));

  // Against a 20 ms database: 25 primes below 100. The bound is the compute
  // plus the latencies that must pass in turn: every save (serial), one a
  // batch of 10 (3), none (noio); async computes while it saves, so its
  // bound is the longer of the compute plus one save and its 3 waves of 10.
  ServerConfig sc;
  sc.db_latency_ms = 20;
  test::TestServer srv(sc);
  for (auto [mode, waves] :
       {std::pair{"noio", 0}, std::pair{"serial", 25}, std::pair{"batched", 3}, std::pair{"async", 3}}) {
    INFO(mode);
    PrimesConfig c = config_for(mode, srv, 100);
    c.batch = 10;
    c.concurrency = 10;
    PrimesSummary s = run_primes(c);
    REQUIRE(s.failed == 0);
    REQUIRE(s.primes == 25);
    if (waves == 0) {
      CHECK(s.save_latency_ms == -1);  // it saved nothing
      CHECK(s.bound_seconds == s.compute_seconds);
    } else {
      CHECK(s.save_latency_ms == 20.0);  // as the server's answers said
      const double want = std::string(mode) == "async" ? std::max(s.compute_seconds + 0.020, waves * 0.020)
                                                       : s.compute_seconds + waves * 0.020;
      CHECK(s.bound_seconds == Approx(want));
      CHECK(s.seconds >= s.bound_seconds * 0.99);  // no mode beats its bound
    }
    auto out = to_json(s);
    CHECK(out["bound_seconds"].get<double>() == s.bound_seconds);
  }
}
