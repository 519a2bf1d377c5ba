// HTTPS on both sides, against the real server with real certificates made by
// OpenSSL: every model of the table fetches over TLS with exact bytes and
// records each handshake (and its resumption), verification refuses what it
// must unless --insecure, and the server meets plain HTTP, garbage and a
// stalled handshake with a clear answer or a timeout, counted, and goes on
// serving.
#include "common/tls.hpp"
#include "crawlers/crawl.hpp"
#include "crawlers/output.hpp"
#include "primes/primes.hpp"
#include "support.hpp"

#include <boost/asio.hpp>

#include <catch2/catch.hpp>

#include <netdb.h>

#include <cstdio>
#include <fstream>

using namespace testbed;

namespace {

ServerConfig tls_server(const std::string& cert = "", const std::string& key = "") {
  ServerConfig c;
  c.tls = true;
  c.cert_path = cert;
  c.key_path = key;
  c.read_timeout_ms = 2000;
  return c;
}

CrawlConfig tls_crawl(const std::string& model, const std::string& url, const std::string& cacert) {
  CrawlConfig c;
  c.model = model;
  c.url = url;
  c.num = 40;
  c.delay_ms = 0;
  c.concurrency = 4;
  c.seed = 7;
  c.timeout_ms = 5000;
  c.tls.cacert = cacert;
  return c;
}

// A certificate pair in files of `dir`, as --cert/--key take them.
std::pair<std::string, std::string> write_pair(const std::filesystem::path& dir, const CertPair& pair) {
  const std::string cert = (dir / "c.pem").string(), key = (dir / "k.pem").string();
  std::ofstream(cert) << pair.cert_pem;
  std::ofstream(key) << pair.key_pem;
  return {cert, key};
}

// Whether this machine resolves `host` (a bare container may have no
// /etc/hosts entry even for localhost).
bool resolves(const char* host) {
  addrinfo* found = nullptr;
  const bool ok = getaddrinfo(host, nullptr, nullptr, &found) == 0;
  if (found) freeaddrinfo(found);
  return ok;
}

// Every request of a run failed, each with an error containing `why`.
void all_failed_with(const CrawlRun& run, const std::string& why) {
  for (const RequestRecord& r : run.records) CHECK(r.status == 0);
  REQUIRE(run.errors.size() == 1);
  INFO(run.errors.begin()->first);
  CHECK(run.errors.begin()->first.find("TLS handshake with") != std::string::npos);
  CHECK(run.errors.begin()->first.find(why) != std::string::npos);
}

}  // namespace

TEST_CASE("over TLS every model fetches every URL with exact bytes, and records each handshake",
          "[tls][crawl]") {
  test::TestServer srv(tls_server());
  const std::string cacert = srv.cert_file();
  for (const ModelEntry& m : models()) {
    for (const char* policy : {"keepalive", "close"}) {
      INFO(m.name << " " << policy);
      const ServerStats before = srv.server().stats();
      CrawlConfig c = tls_crawl(m.name, srv.url(), cacert);
      c.reuse = *parse_connection_spec(policy, nullptr);
      CrawlRun run = measure_crawl(c);
      REQUIRE(run.records.size() == 40);
      std::int64_t opened = 0, resumed = 0;
      for (const RequestRecord& r : run.records) {
        REQUIRE(r.status == 200);
        CHECK(r.bytes == 1);
        CHECK(r.delay_us == 0);
        if (r.opened) {
          ++opened;
          CHECK(r.tls_us > 0);  // a handshake, timed
        } else {
          CHECK(r.tls_us == 0);
        }
        resumed += r.resumed;
      }
      const ServerStats after = srv.server().stats();
      // The server's count of handshakes is the client's count of connections.
      CHECK(after.tls_handshakes - before.tls_handshakes == static_cast<std::uint64_t>(opened));
      CHECK(after.tls_failures == before.tls_failures);
      if (c.reuse == 1) {
        CHECK(opened == 40);
        // Every connection after a slot's first resumes a session the server
        // gave before (a TLS 1.3 ticket is used once, and each handshake
        // brings new ones): the server says so, and so does the client
        // (curl does not tell, so only the server).
        CHECK(after.tls_resumed - before.tls_resumed >= 40 - 4);
        if (std::string(m.name) != "curl")
          CHECK(static_cast<std::uint64_t>(resumed) == after.tls_resumed - before.tls_resumed);
      }
      CrawlSummary s = summarize(run);
      CHECK(s.tls_us.count == static_cast<std::size_t>(opened));
      // A model that cannot tell says so (null), not 0.
      CHECK(s.tls_resumed == (m.tells_resumption ? resumed : -1));
    }
  }
}

TEST_CASE("with --tls-resume off every handshake is a full one", "[tls][crawl]") {
  test::TestServer srv(tls_server());
  const std::string cacert = srv.cert_file();
  for (const char* model : {"serial", "coroutine", "curl"}) {
    INFO(model);
    const ServerStats before = srv.server().stats();
    CrawlConfig c = tls_crawl(model, srv.url(), cacert);
    c.reuse = 1;
    c.tls.resume = false;
    CrawlRun run = measure_crawl(c);
    for (const RequestRecord& r : run.records) {
      REQUIRE(r.status == 200);
      CHECK_FALSE(r.resumed);
    }
    const ServerStats after = srv.server().stats();
    CHECK(after.tls_handshakes - before.tls_handshakes == 40);
    CHECK(after.tls_resumed == before.tls_resumed);
  }
}

TEST_CASE("each handshake's time and resumption are timeline columns and read back", "[tls][output]") {
  test::TestServer srv(tls_server());
  CrawlConfig c = tls_crawl("coroutine", srv.url(), srv.cert_file());
  c.reuse = 1;
  CrawlRun run = measure_crawl(c);
  const std::string csv = timeline_csv(run);
  CHECK(csv.substr(0, csv.find('\n')).find(",connect_us,tls_us,resumed") != std::string::npos);
  CrawlRun back;
  back.config.model = "coroutine";
  std::string err;
  const bool read = read_timeline_csv(csv, back, &err);
  INFO(err);
  REQUIRE(read);
  REQUIRE(back.records.size() == run.records.size());
  int resumed = 0;
  for (std::size_t i = 0; i < run.records.size(); ++i) {
    CHECK(back.records[i].tls_us == run.records[i].tls_us);
    CHECK(back.records[i].resumed == run.records[i].resumed);
    resumed += back.records[i].resumed;
  }
  CHECK(resumed > 0);
  // A bad value in either column is refused, naming it: the last row's resumed.
  const std::string bad = test::with_last_field(csv, "resumed", "x");
  CrawlRun again;
  again.config.model = "coroutine";
  CHECK_FALSE(read_timeline_csv(bad, again, &err));
  INFO(err);
  CHECK(err.find("'resumed' is not valid") != std::string::npos);
}

TEST_CASE("a client refuses an untrusted, expired or misnamed certificate unless --insecure",
          "[tls][crawl]") {
  test::TempDir dir;
  CertOptions expired_opts;
  expired_opts.not_before_s = -7200;
  expired_opts.not_after_s = -3600;
  const auto expired = write_pair(dir.path, make_self_signed(expired_opts));
  test::TestServer old_srv(tls_server(expired.first, expired.second));
  CertOptions other;
  other.names = {"example.org"};
  test::TempDir dir2;
  const auto misnamed = write_pair(dir2.path, make_self_signed(other));
  test::TestServer other_srv(tls_server(misnamed.first, misnamed.second));
  test::TestServer srv(tls_server());

  for (const ModelEntry& m : models()) {
    INFO(m.name);
    const bool curl = std::string(m.name) == "curl";
    // Not trusted: the system's CAs do not know a self-signed certificate.
    CrawlConfig c = tls_crawl(m.name, srv.url(), "");
    c.num = 4;
    all_failed_with(measure_crawl(c), "self-signed certificate");
    // Trusted, but out of date.
    c.url = old_srv.url();
    c.tls.cacert = expired.first;
    all_failed_with(measure_crawl(c), "certificate has expired");
    // Trusted and in date, but for another address (and another name, where
    // this machine resolves localhost: a bare container may not).
    c.tls.cacert = misnamed.first;
    c.url = other_srv.url("127.0.0.1");
    all_failed_with(measure_crawl(c),
                    curl ? "no alternative certificate subject name" : "IP address mismatch");
    if (resolves("localhost")) {
      c.url = other_srv.url("localhost");
      all_failed_with(measure_crawl(c),
                      curl ? "no alternative certificate subject name" : "hostname mismatch");
    } else {
      WARN("localhost does not resolve here: the name check was tested by address only");
    }
    // --insecure: the explicit opt-out, and every one of them answers.
    for (const std::string& url : {srv.url(), old_srv.url(), other_srv.url()}) {
      INFO(url);
      c.url = url;
      c.tls.cacert.clear();
      c.tls.insecure = true;
      CrawlRun run = measure_crawl(c);
      for (const RequestRecord& r : run.records) CHECK(r.status == 200);
      c.tls.insecure = false;
    }
  }
}

TEST_CASE("the TLS port answers plain HTTP with a 400 and its reason, and keeps serving", "[tls][hostile]") {
  test::TestServer srv(tls_server());
  const std::string out =
      test::raw_exchange(srv.port(), "GET /add?name=x&delay=0 HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(out.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(out.find("this port speaks TLS") != std::string::npos);
  CHECK(srv.server().stats().tls_failures == 1);
  CrawlRun run = measure_crawl(tls_crawl("coroutine", srv.url(), srv.cert_file()));
  for (const RequestRecord& r : run.records) CHECK(r.status == 200);
}

TEST_CASE("a garbage or truncated handshake is closed and counted; a stalled one is timed out",
          "[tls][hostile]") {
  ServerConfig cfg = tls_server();
  cfg.read_timeout_ms = 300;
  test::TestServer srv(cfg);
  // What the server says to a handshake it cannot take: at most a TLS alert
  // (a record of type 21), then the close.
  auto alert_or_nothing = [](const std::string& out) { return out.empty() || out[0] == '\x15'; };
  // A TLS record header announcing a handshake, then bytes that are none.
  CHECK(alert_or_nothing(test::raw_exchange(srv.port(), std::string("\x16\x03\x01\x00\x08garbage!", 13))));
  CHECK(test::wait_until([&] { return srv.server().stats().tls_failures == 1; }));
  // Not even a record: closed too.
  CHECK(alert_or_nothing(test::raw_exchange(srv.port(), std::string("\x00\x01\x02\x03\x04\x05\x06\x07", 8))));
  CHECK(test::wait_until([&] { return srv.server().stats().tls_failures == 2; }));
  // Half a record header, then silence: the read timeout closes it.
  CHECK(test::raw_exchange(srv.port(), std::string("\x16\x03\x01", 3), 3000).empty());
  CHECK(srv.server().stats().read_timeouts == 1);
  CHECK(srv.server().stats().tls_failures == 2);
  // And the server still serves.
  CrawlRun run = measure_crawl(tls_crawl("serial", srv.url(), srv.cert_file()));
  for (const RequestRecord& r : run.records) CHECK(r.status == 200);
}

TEST_CASE("https to a plain HTTP port fails with a clear reason, and the server keeps serving",
          "[tls][hostile]") {
  test::TestServer srv;  // plain
  for (const ModelEntry& m : models()) {
    INFO(m.name);
    CrawlConfig c = tls_crawl(m.name, "https://127.0.0.1:" + std::to_string(srv.port()), "");
    c.num = 3;
    c.tls.insecure = true;
    CrawlRun run = measure_crawl(c);
    for (const RequestRecord& r : run.records) CHECK(r.status == 0);
    REQUIRE_FALSE(run.errors.empty());
    INFO(run.errors.begin()->first);
    CHECK(run.errors.begin()->first.find("TLS") != std::string::npos);
  }
  CHECK(test::http_get(srv.port(), "/add?name=a&delay=0").status == 200);
}

TEST_CASE("delayserver --tls writes its certificate before its port file, and a crawl trusts it",
          "[tls][server]") {
  for (const char* key : {"ecdsa", "rsa"}) {
    INFO(key);
    test::ServerProcess srv({"--tls", "--tls-key", key, "--timeline", "/dev/null", "--db", ":memory:"});
    const std::string cert = (srv.dir() / "port.cert.pem").string();
    REQUIRE(std::filesystem::exists(cert));  // the port file exists, so the certificate did before it
    CHECK(srv.out().find(std::string("TLS certificate (self-signed ") +
                         (std::string(key) == "rsa" ? "RSA-2048" : "ECDSA P-256") + "): " + cert) !=
          std::string::npos);
    CHECK(srv.out().find("listening on https://") != std::string::npos);
    const std::string cmd =
        std::string(CRAWL_BIN) +
        " --model threads --num 10 --delay 0 --url https://127.0.0.1:" + std::to_string(srv.port()) +
        " --cacert " + cert + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    char buf[512];
    std::string said;
    while (fgets(buf, sizeof buf, p)) said += buf;
    CHECK(pclose(p) == 0);
    CHECK(said.rfind("Result: 10,", 0) == 0);
  }
}

TEST_CASE("TLS settings that cannot work are refused at the command line", "[tls][server]") {
  auto exit_code = [](const std::string& args) {
    const int rc = std::system((args + " >/dev/null 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  const std::string server = std::string(DELAYSERVER_BIN) + " --port 0 --timeline /dev/null --db :memory: ";
  CHECK(exit_code(server + "--cert x.pem --key y.pem") == 2);  // no --tls
  CHECK(exit_code(server + "--tls --cert x.pem") == 2);        // no --key
  CHECK(exit_code(server + "--tls --tls-key dsa") == 2);
  CHECK(exit_code(server + "--tls --cert /nonexistent.pem --key /nonexistent.pem") == 1);  // said, not served
  const std::string crawl = std::string(CRAWL_BIN) + " --model serial --num 1 --url https://127.0.0.1:9 ";
  CHECK(exit_code(crawl + "--tls-resume maybe") == 2);
  CHECK(exit_code(crawl + "--cacert a.pem --insecure") == 2);
  CHECK(exit_code(crawl + "--cacert /nonexistent.pem") != 0);
}

TEST_CASE("primes saves over TLS in every mode, and refuses an untrusted server", "[tls][primes]") {
  ServerConfig cfg = tls_server();
  cfg.db_latency_ms = 1;
  cfg.db_path = ":memory:";
  test::TestServer srv(cfg);
  for (const PrimeMode& m : prime_modes()) {
    if (!m.saves) continue;
    INFO(m.name);
    PrimesConfig c;
    c.mode = m.name;
    c.max_number = 200;  // 46 primes
    c.url = srv.url();
    c.tls.cacert = srv.cert_file();
    PrimesSummary s = run_primes(c);
    CHECK(s.primes == 46);
    CHECK(s.saved == 46);
    CHECK(s.failed == 0);
    c.tls.cacert.clear();
    PrimesSummary refused = run_primes(c);
    CHECK(refused.saved == 0);
    CHECK(refused.failed == 46);  // every one reported, none forgotten
    REQUIRE(refused.errors.size() == 1);
    CHECK(refused.errors.begin()->first.find("certificate verify failed") != std::string::npos);
  }
}
