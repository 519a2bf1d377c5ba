// crawl: fetch N URLs from delayserver with one of the concurrency models
// (crawlers/models.cpp lists them; `crawl --list-models` prints the list).
#include "common/cli.hpp"
#include "common/csv.hpp"
#include "crawlers/crawl.hpp"

#include <curl/curl.h>

#include <cstdio>
#include <iostream>

namespace po = boost::program_options;

int main(int argc, char** argv) {
  testbed::CrawlConfig cfg;
  std::string model_names, loop_models, model_list;
  for (const auto& m : testbed::models()) {
    model_names += (model_names.empty() ? "" : ", ") + std::string(m.name);
    if (m.event_loops) loop_models += (loop_models.empty() ? "" : ", ") + std::string(m.name);
    std::string name = m.name;
    model_list += "\n  " + name + std::string(name.size() < 10 ? 10 - name.size() : 1, ' ') + m.mirrors +
                  "\n            bounded by " + m.bounded_by;
  }
  po::options_description desc("Options");
  // One option a line reads better than the formatter's wrapping.
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("model,m", po::value(&cfg.model), ("concurrency model: " + model_names).c_str())
    ("list-models", "print the models, one name per line in the book's order (with --json: "
     "one JSON array with each model's properties), and exit")
    ("url", po::value(&cfg.url)->default_value(cfg.url), "the delay server")
    ("name", po::value(&cfg.name), "name sent to the server (default: the model's name)")
    ("num,n", po::value(&cfg.num)->default_value(cfg.num), "number of URLs to fetch")
    ("delay,d", po::value(&cfg.delay_ms)->default_value(cfg.delay_ms),
     "server-side delay per request, ms (the median when --delay-dist varies it)")
    ("delay-dist", po::value<std::string>()->default_value("fixed"),
     "ask for delays that vary: fixed, uniform[:spread=S], lognormal[:sigma=S], "
     "pareto[:alpha=A,cap=K], each with an optional knee=N (sent in every URL; the server "
     "draws each URL's delay from its --seed, the same for every model)")
    ("batched", ((loop_models + ": fire --concurrency requests, wait for all of them, then the "
     "next ones (the book's AsyncBatcher), instead of keeping every slot busy").c_str()))
    ("concurrency,c", po::value(&cfg.concurrency)->default_value(cfg.concurrency),
     "requests in flight at most (ignored by serial)")
    ("loops", po::value(&cfg.loops)->default_value(cfg.loops),
     (loop_models + ": run this many event loops, one thread each, sharing the URLs "
     "and the concurrency (1: the book's single loop)").c_str())
    ("rate", po::value(&cfg.rate)->default_value(0),
     "open loop: requests are due at this many per second whatever the answers do (--concurrency "
     "stays the cap on those in flight; a due request waits for a slot, and the wait counts in its "
     "latency); 0: closed loop, the book's")
    ("arrivals", po::value<std::string>()->default_value("constant"),
     "with --rate: constant (every 1/rate) or poisson (exponential gaps drawn from --seed)")
    ("duration", po::value(&cfg.duration_s)->default_value(0),
     "with --rate: as many requests as are due within this many seconds, instead of --num")
    ("retries", po::value(&cfg.retries)->default_value(cfg.retries),
     "extra attempts for a request that failed (no answer, a timeout, 5xx, 408, 429), with backoff")
    ("timeout-ms", po::value(&cfg.timeout_ms)->default_value(cfg.timeout_ms),
     "limit on each attempt, ms; 0: the delay plus 10 s")
    ("timeline", po::value<std::string>(), "write the client timeline CSV here "
     "(model,index,start,end,bytes,status,attempts,conn,opened,delay,intended)")
    ("json", "print one JSON summary object instead of the Result line")
    ("progress", "show done/total on stderr while running")
    ("seed", po::value(&cfg.seed)->default_value(0), "seed for the random URL tails (0: random)");
  // clang-format on
  po::variables_map vm;
  if (auto rc =
          testbed::parse_cli(argc, argv, desc, vm, "--model MODEL [options]",
                             "Fetches --num URLs of the form URL/add?name=NAME&delay=MS&<random> and sums\n"
                             "the body lengths, using one of the concurrency models of HPP chapter 8.\n\n"
                             "Models (crawl --list-models), and what each mirrors in the book:" +
                                 model_list,
                             std::string("libcurl ") + curl_version_info(CURLVERSION_NOW)->version))
    return *rc;
  if (vm.count("list-models")) {
    if (vm.count("json"))
      std::cout << testbed::models_json().dump() << std::endl;
    else
      for (const auto& m : testbed::models()) std::cout << m.name << '\n';
    return 0;
  }
  if (!vm.count("model")) return testbed::usage_error("crawl", "--model is required (see --list-models)");
  cfg.progress = vm.count("progress") > 0;
  cfg.batched = vm.count("batched") > 0;
  if (const auto& a = vm["arrivals"].as<std::string>(); a == "poisson")
    cfg.arrivals = testbed::Arrivals::poisson;
  else if (a != "constant")
    return testbed::usage_error("crawl", "--arrivals must be constant or poisson, not '" + a + "'");
  if (!vm["arrivals"].defaulted() && cfg.rate == 0)
    return testbed::usage_error("crawl", "--arrivals needs --rate");
  {
    std::string err;
    auto dist = testbed::parse_delay_spec(vm["delay-dist"].as<std::string>(), &err);
    if (!dist) return testbed::usage_error("crawl", "--delay-dist: " + err);
    cfg.delay_dist = *dist;
  }
  testbed::raise_open_files_limit();

  testbed::CrawlSummary s;
  try {
    s = testbed::run_crawl(cfg);
  } catch (const std::invalid_argument& e) {
    return testbed::usage_error("crawl", e.what());
  } catch (const std::exception& e) {
    std::cerr << "crawl: " << e.what() << '\n';
    return 1;
  }

  // Whatever happened, what was measured is written.
  int rc = 0;
  if (vm.count("timeline")) {
    std::string err;
    if (!testbed::write_file_atomic(vm["timeline"].as<std::string>(), testbed::timeline_csv(s), &err)) {
      std::cerr << "crawl: " << err << '\n';
      rc = 1;
    }
  }
  if (!s.stopped_early.empty())
    std::cerr << "crawl: " << cfg.model << " stopped early after " << s.records.size() - s.failed
              << " requests: " << s.stopped_early << '\n';
  if (s.retries > 0) std::cerr << "crawl: " << cfg.model << ": " << s.retries << " attempts were retries\n";
  for (const auto& [msg, n] : s.errors)
    std::cerr << "crawl: " << cfg.model << ": " << n << (n == 1 ? " request" : " requests")
              << " failed: " << msg << '\n';
  if (vm.count("json")) {
    std::cout << testbed::to_json(s).dump() << std::endl;
  } else {
    std::printf("Result: %lld, Time: %.6f\n", static_cast<long long>(s.bytes), s.seconds);
  }
  if (s.failed > 0) rc = 1;
  return rc;
}
