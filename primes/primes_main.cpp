// primes: find the primes below --max-number and save each one to delayserver's
// prime database, in one of the modes of its table (primes --list-modes).
#include "common/cli.hpp"
#include "common/csv.hpp"
#include "primes/primes.hpp"

#include <cstdio>
#include <iostream>

namespace po = boost::program_options;

namespace {

// The modes as --help lists them, from the mode table.
std::string modes_help() {
  std::string out;
  for (const auto& m : testbed::prime_modes())
    out += "\n  " + std::string(m.name) + std::string(10 - std::string(m.name).size(), ' ') + m.mirrors +
           "\n            waits " + m.waits;
  return out;
}

void add_primes_options(po::options_description& desc, testbed::PrimesConfig& cfg) {
  std::string mode_names;
  for (const auto& m : testbed::prime_modes())
    mode_names += (mode_names.empty() ? "" : ", ") + std::string(m.name);
  // One option a line reads better than the formatter's wrapping.
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("mode", po::value(&cfg.mode), ("one of the modes: " + mode_names).c_str())
    ("list-modes", "print the modes, one name per line in the book's order (with --json: one JSON "
     "array with each mode's properties), and exit")
    ("max-number", po::value(&cfg.max_number), "probe the numbers below this (required)")
    ("url", po::value(&cfg.url)->default_value(cfg.url), "the delay server")
    ("batch", po::value(&cfg.batch)->default_value(cfg.batch), "primes per batch (batched)")
    ("concurrency", po::value(&cfg.concurrency)->default_value(cfg.concurrency),
     "saves in flight at most (async)")
    ("retries", po::value(&cfg.retries)->default_value(cfg.retries),
     "extra attempts for a failed save, with backoff")
    ("timeout-ms", po::value(&cfg.timeout_ms)->default_value(cfg.timeout_ms),
     "limit on each save attempt, ms; 0: 30 s (longer than the server's wait for a locked database)")
    ("cacert", po::value(&cfg.tls.cacert), "https: trust the certificates in this PEM file instead "
     "of the system's")
    ("insecure", po::bool_switch(&cfg.tls.insecure), "https: do not check the server's certificate or name")
    ("timeline", po::value<std::string>(), "write compute and save spans here "
     "(kind,start,end,value,status)")
    ("json", "print one JSON summary object");
  // clang-format on
}

}  // namespace

int main(int argc, char** argv) {
  testbed::PrimesConfig cfg;
  po::options_description desc("Options");
  add_primes_options(desc, cfg);
  po::variables_map vm;
  if (auto rc = testbed::parse_cli(argc, argv, desc, vm, "--mode MODE --max-number N [options]",
                                   "Finds the primes below N by trial division and saves each one to the\n"
                                   "delay server's database (GET /add?prime=P), after HPP chapter 8.\n\n"
                                   "Modes (primes --list-modes):" +
                                       modes_help()))
    return *rc;
  if (vm.count("list-modes")) {
    if (vm.count("json"))
      std::cout << testbed::prime_modes_json().dump() << std::endl;
    else
      for (const auto& m : testbed::prime_modes()) std::cout << m.name << '\n';
    return 0;
  }
  if (!vm.count("mode")) return testbed::usage_error("primes", "--mode is required (see --list-modes)");
  if (!vm.count("max-number")) return testbed::usage_error("primes", "--max-number is required");
  testbed::raise_open_files_limit();

  testbed::PrimesSummary s;
  try {
    s = testbed::run_primes(cfg);
  } catch (const std::invalid_argument& e) {
    return testbed::usage_error("primes", e.what());
  } catch (const std::exception& e) {
    std::cerr << "primes: " << e.what() << '\n';
    return 1;
  }

  int rc = 0;
  if (vm.count("timeline")) {
    std::string err;
    if (!testbed::write_file_atomic(vm["timeline"].as<std::string>(), testbed::primes_timeline_csv(s),
                                    &err)) {
      std::cerr << "primes: " << err << '\n';
      rc = 1;
    }
  }
  for (const auto& [msg, n] : s.errors)
    std::cerr << "primes: " << n << (n == 1 ? " save" : " saves") << " failed: " << msg << '\n';
  if (!s.lost.empty()) {
    std::cerr << "primes: " << s.lost.size() << " primes were NOT saved:";
    for (auto v : s.lost) std::cerr << ' ' << v;
    std::cerr << '\n';
    rc = 1;
  }
  if (vm.count("json"))
    std::cout << testbed::to_json(s).dump() << std::endl;
  else
    std::printf("%s: %lld primes below %lld, %lld saved, %lld failed, Time: %.6f (compute %.6f)\n",
                cfg.mode.c_str(), static_cast<long long>(s.primes), static_cast<long long>(cfg.max_number),
                static_cast<long long>(s.saved), static_cast<long long>(s.failed), s.seconds,
                s.compute_seconds);
  return rc;
}
