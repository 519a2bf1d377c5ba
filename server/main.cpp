// delayserver: command-line entry point (the routes: delayserver --help, from request.hpp's table).
#include "common/cli.hpp"
#include "common/csv.hpp"
#include "common/resources.hpp"
#include "common/tls.hpp"
#include "server/request.hpp"
#include "server/server.hpp"
#include "server/timeline_store.hpp"

#include <sqlite3.h>

#include <filesystem>
#include <iostream>
#include <optional>

namespace po = boost::program_options;

namespace {

// Every option, writing into `cfg` (and `port`, checked before it narrows).
void add_server_options(po::options_description& desc, testbed::ServerConfig& cfg, int& port) {
  // One option a line reads better than the formatter's wrapping.
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("port,p", po::value<int>(&port)->default_value(port), "TCP port; 0 picks a free one")
    ("bind", po::value(&cfg.bind)->default_value(cfg.bind), "address to listen on")
    ("threads", po::value(&cfg.threads)->default_value(cfg.threads), "event-loop threads")
    ("timeline", po::value(&cfg.timeline_path)->default_value(cfg.timeline_path),
     "CSV file that /add?flush=True and shutdown write (name,start,end,delay)")
    ("db", po::value(&cfg.db_path), "SQLite file for /add?prime=N (default: primes.sqlite "
     "next to the timeline file)")
    ("db-latency-ms", po::value(&cfg.db_latency_ms)->default_value(cfg.db_latency_ms),
     "how long a prime save takes to answer")
    ("db-lock-wait-ms", po::value(&cfg.db_lock_wait_ms)->default_value(cfg.db_lock_wait_ms),
     "how long a save waits for a lock another process holds on the database, then 503")
    ("delay-dist", po::value<std::string>()->default_value("fixed"),
     "how delays vary for a request that names no dist=: fixed, uniform[:spread=S], "
     "lognormal[:sigma=S], pareto[:alpha=A,cap=K], each with an optional knee=N (the delay grows "
     "by in_flight/N); the request's delay is the median (see the README)")
    ("db-latency-dist", po::value<std::string>()->default_value("fixed"),
     "how a save's latency varies around --db-latency-ms, in the same form (no knee)")
    ("max-delay-ms", po::value(&cfg.max_delay_ms)->default_value(cfg.max_delay_ms),
     "largest delay a client may ask for")
    ("timeline-capacity", po::value(&cfg.timeline_capacity)->default_value(cfg.timeline_capacity),
     "rows kept in memory; further requests are served but counted as dropped")
    ("timeline-max-bytes", po::value(&cfg.timeline_max_bytes)->default_value(cfg.timeline_max_bytes),
     "memory the kept rows and their names may take; beyond it requests are served but counted as dropped")
    ("read-timeout-ms", po::value(&cfg.read_timeout_ms)->default_value(cfg.read_timeout_ms),
     "close a connection whose next request (or unread answer) takes longer; 0: never")
    ("max-connections", po::value(&cfg.max_connections)->default_value(cfg.max_connections),
     "answer 503 and close beyond this many open connections; 0: the open-files limit less 32 (a larger value is lowered to that, with a warning)")
    ("max-requests-per-connection", po::value(&cfg.max_requests_per_connection)->default_value(0),
     "close a connection after this many answers (the last says Connection: close): every client "
     "reconnects as often; 0: keep it as long as the client does")
    ("error-rate", po::value(&cfg.error_rate)->default_value(cfg.error_rate),
     "fraction of /add requests answered 503 after their delay (nothing recorded or saved)")
    ("drop-rate", po::value(&cfg.drop_rate)->default_value(cfg.drop_rate),
     "fraction of /add requests whose connection is closed after the delay, unanswered")
    ("seed", po::value(&cfg.seed)->default_value(cfg.seed),
     "seed for the delay and fault draws (each a function of the seed and the request's URL, so "
     "repeatable in any order); 0 picks one and prints it")
    ("port-file", po::value<std::string>(), "write the listening port to this file once ready")
    ("resources", po::value<std::string>(), "write what the server spends over time here, a row every 10 ms, "
     "appended each second (as crawl --resources, with connections_opened the connections accepted so far and "
     "connections_open those open now: time,cpu_user_pct,cpu_system_pct,rss_kib,threads,fds,"
     "voluntary_switches,involuntary_switches,connections_opened,connections_open)")
    ("tls", po::bool_switch(&cfg.tls), "speak HTTPS (TLS 1.2 and 1.3) on the port, every route the same")
    ("cert", po::value(&cfg.cert_path), "--tls: the certificate chain (PEM); default: a self-signed one made at start")
    ("key", po::value(&cfg.key_path), "--tls: the private key of --cert (PEM)")
    ("tls-key", po::value(&cfg.tls_key)->default_value(cfg.tls_key),
     "--tls without --cert: the made certificate's key, ecdsa (P-256) or rsa (2048 bits)")
    ("cert-out", po::value<std::string>(), "--tls: write the certificate clients should trust here (default: "
     "the port file's path with .cert.pem, or delayserver-cert.pem next to the timeline)");
  // clang-format on
}

// What only the whole command line can tell: ranges, and the distributions'
// specs. An exit code when the server must not start.
std::optional<int> finish_server_options(const po::variables_map& vm, testbed::ServerConfig& cfg, int port) {
  if (port < 0 || port > 65535) return testbed::usage_error("delayserver", "--port must be 0..65535");
  if (cfg.threads < 1 || cfg.threads > 256)
    return testbed::usage_error("delayserver", "--threads must be 1..256");
  // Every millisecond setting within what the clocks hold (a delay near
  // INT64_MAX would turn negative in microseconds).
  for (auto [flag, ms] : {std::pair{"db-latency-ms", cfg.db_latency_ms},
                          {"max-delay-ms", cfg.max_delay_ms},
                          {"db-lock-wait-ms", cfg.db_lock_wait_ms},
                          {"read-timeout-ms", cfg.read_timeout_ms}}) {
    if (ms < 0) return testbed::usage_error("delayserver", "--" + std::string(flag) + " cannot be negative");
    if (ms > testbed::kMaxSettingMs)
      return testbed::usage_error("delayserver", "--" + std::string(flag) + " " + std::to_string(ms) +
                                                     " is over the longest time a setting may name, " +
                                                     std::to_string(testbed::kMaxSettingMs) +
                                                     " ms (about 31 years)");
  }
  if (cfg.max_requests_per_connection < 0)
    return testbed::usage_error("delayserver", "--max-requests-per-connection cannot be negative");
  if (!(cfg.error_rate >= 0 && cfg.drop_rate >= 0 && cfg.error_rate + cfg.drop_rate <= 1))
    return testbed::usage_error("delayserver",
                                "--error-rate and --drop-rate must be >= 0 and add up to at most 1");
  for (auto [flag, dist] :
       {std::pair{"delay-dist", &cfg.delay_dist}, {"db-latency-dist", &cfg.db_latency_dist}}) {
    std::string err;
    auto d = testbed::parse_delay_spec(vm[flag].as<std::string>(), &err);
    if (!d) return testbed::usage_error("delayserver", "--" + std::string(flag) + ": " + err);
    *dist = *d;
  }
  if (cfg.db_latency_dist.knee > 0)
    return testbed::usage_error("delayserver",
                                "--db-latency-dist takes no knee (saves are not counted in flight)");
  if (!cfg.tls && (vm.count("cert") || vm.count("key") || vm.count("cert-out") || !vm["tls-key"].defaulted()))
    return testbed::usage_error("delayserver", "--cert, --key, --tls-key and --cert-out need --tls");
  if (vm.count("cert") != vm.count("key"))
    return testbed::usage_error("delayserver", "--cert and --key go together");
  if (vm.count("cert") && !vm["tls-key"].defaulted())
    return testbed::usage_error("delayserver", "--tls-key is for the made certificate, not with --cert");
  if (!testbed::valid_key_kind(cfg.tls_key))
    return testbed::usage_error("delayserver", "--tls-key must be ecdsa or rsa, not '" + cfg.tls_key + "'");
  cfg.port = static_cast<std::uint16_t>(port);
  return std::nullopt;
}

// Binds, says where, runs until a signal, and reports the timeline's fate.
int serve(const testbed::ServerConfig& cfg, const po::variables_map& vm) {
  testbed::raise_open_files_limit();
  try {
    testbed::DelayServer server(cfg);
    server.handle_signals();
    // The certificate before the port file: a client that sees the port can trust it.
    if (const testbed::CertPair* id = server.tls_identity()) {
      std::string path = cfg.cert_path;
      if (path.empty()) {
        path =
            vm.count("cert-out") ? vm["cert-out"].as<std::string>()
            : vm.count("port-file")
                ? vm["port-file"].as<std::string>() + ".cert.pem"
                : (std::filesystem::path(cfg.timeline_path).parent_path() / "delayserver-cert.pem").string();
        std::string err;
        if (!testbed::write_file_atomic(path, id->cert_pem, &err)) throw std::runtime_error(err);
      }
      std::cout << "delayserver: TLS certificate (" << id->description << "): " << path << std::endl;
    }
    if (vm.count("port-file")) {
      std::string err;
      std::string text = std::to_string(server.port()) + "\n";
      if (!testbed::write_file_atomic(vm["port-file"].as<std::string>(), text, &err))
        throw std::runtime_error(err);
    }
    std::cout << "delayserver listening on " << (cfg.tls ? "https" : "http") << "://" << cfg.bind << ':'
              << server.port() << " (timeline: " << cfg.timeline_path << ", db: " << server.config().db_path
              << ")" << std::endl;
    const auto& c = server.config();
    if (c.delay_dist != testbed::DelayDist{} || c.db_latency_dist != testbed::DelayDist{})
      std::cout << "delayserver: delays " << testbed::delay_spec(c.delay_dist) << ", save latency "
                << testbed::delay_spec(c.db_latency_dist) << ", seed " << c.seed << std::endl;
    if (c.error_rate > 0 || c.drop_rate > 0)
      std::cout << "delayserver: injecting faults: error rate " << c.error_rate << ", drop rate "
                << c.drop_rate << ", seed " << c.seed << std::endl;
    std::optional<testbed::ResourceRecorder> resources;
    if (vm.count("resources"))
      resources.emplace(vm["resources"].as<std::string>(), "delayserver", [&server] {
        const testbed::ServerStats st = server.stats();
        return std::pair{static_cast<std::int64_t>(st.accepted), static_cast<std::int64_t>(st.connections)};
      });
    server.run();
    if (resources)
      std::cerr << "delayserver: resources: " << resources->stop() << " in "
                << vm["resources"].as<std::string>() << '\n';
    if (auto dropped = server.timeline().dropped())
      std::cerr << "delayserver: " << dropped << " requests were served but not recorded "
                << "(--timeline-capacity " << cfg.timeline_capacity << ", --timeline-max-bytes "
                << cfg.timeline_max_bytes << ")\n";
    if (!server.exit_flush_error().empty()) {
      // The rows could not be written: no claim that they were, and a failing exit.
      std::cerr << "delayserver: stopped, but the timeline was NOT written: " << server.exit_flush_error()
                << '\n';
      return 1;
    }
    std::cout << "delayserver: stopped, timeline written to " << cfg.timeline_path << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "delayserver: " << e.what() << '\n';
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  testbed::ServerConfig cfg;
  int port = cfg.port;
  po::options_description desc("Options");
  add_server_options(desc, cfg, port);
  po::variables_map vm;
  if (auto rc = testbed::parse_cli(argc, argv, desc, vm, "[options]",
                                   "A delay-injecting HTTP server (after High Performance Python, ch. 8).\n\n"
                                   "Routes:" +
                                       testbed::routes_help(),
                                   std::string("SQLite ") + sqlite3_libversion()))
    return *rc;
  if (auto rc = finish_server_options(vm, cfg, port)) return *rc;
  return serve(cfg, vm);
}
