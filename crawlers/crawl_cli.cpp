#include "crawlers/crawl_cli.hpp"

#include "common/cli.hpp"

#include <algorithm>
#include <iostream>
#include <thread>

namespace po = boost::program_options;

namespace testbed {

std::string crawl_models_help() {
  std::string list;
  for (const auto& m : models()) {
    std::string name = m.name;
    list += "\n  " + name + std::string(name.size() < 10 ? 10 - name.size() : 1, ' ') + m.mirrors +
            "\n            bounded by " + m.bounded_by;
  }
  return list;
}

static void add_output_options(po::options_description& desc, CrawlConfig& cfg);

void add_crawl_options(po::options_description& desc, CrawlConfig& cfg) {
  std::string model_names, loop_models, pool_models;
  for (const auto& m : models()) {
    model_names += (model_names.empty() ? "" : ", ") + std::string(m.name);
    if (m.event_loops) loop_models += (loop_models.empty() ? "" : ", ") + std::string(m.name);
    if (m.pool) pool_models += (pool_models.empty() ? "" : ", ") + std::string(m.name);
  }
  // One option a line reads better than the formatter's wrapping.
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("model,m", po::value(&cfg.model), ("concurrency model: " + model_names).c_str())
    ("list-models", "print the models, one name per line in the book's order (with --json: "
     "one JSON array with each model's properties), and exit")
    ("print-urls", "print every URL the crawl would fetch (from --seed, --num, --name, --delay, "
     "--delay-dist, --url), one a line, and exit: the list a client written elsewhere fetches to get "
     "the very same delays (needs --seed, and --name or --model)")
    ("url", po::value(&cfg.url)->default_value(cfg.url), "the delay server")
    ("urls", po::value(&cfg.urls_file), "fetch the URLs in this file instead, as they are: one http:// or "
     "https:// URL a line, any hosts, ports and IPv6 addresses (blank lines and # comments skipped), in "
     "order, once through unless --num asks for more (then round the list again); names are resolved "
     "before the clock starts, connections kept alive per host. Without an X-Delay-Us field in every "
     "answer there is no delay column, ideal or efficiency, and the summary says why")
    ("per-host", po::value(&cfg.per_host)->default_value(0),
     "at most this many connections to one host (scheme, name and port) at once, so as many requests in "
     "flight to it, shared out over --loops like --concurrency; a request whose host has them all busy "
     "waits for one, and the wait counts in its latency (and the ideal holds each host to its cap too); "
     "0: no cap but --concurrency")
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
    ("spawn-all", "coroutine: spawn a task for every URL at once, bounded only by a pool of "
     "--concurrency connections (the later editions' asyncio.TaskGroup over TCPConnector(limit=C)); "
     "a request's clock starts with its task, so its wait for a connection is in its latency")
    ("concurrency,c", po::value(&cfg.concurrency)->default_value(cfg.concurrency),
     "requests in flight at most (ignored by serial)")
    ("loops", po::value(&cfg.loops)->default_value(cfg.loops),
     (loop_models + ": run this many event loops, one thread each, sharing the URLs "
     "and the concurrency (1: the book's single loop)").c_str())
    ("threads", po::value(&cfg.threads)->default_value(0),
     (pool_models + ": the OS threads its tasks run on, any thread running any task that is ready "
     "(0: one a core, " + std::to_string(std::max(1u, std::thread::hardware_concurrency())) + " here)").c_str())
    ("rate", po::value(&cfg.rate)->default_value(0),
     "open loop: requests are due at this many per second whatever the answers do (--concurrency "
     "stays the cap on those in flight; a due request waits for a slot, and the wait counts in its "
     "latency); 0: closed loop, the book's")
    ("rate-profile", po::value<std::string>(),
     "open loop at a rate that changes: ramp:FROM..TO/SECONDS (a straight line), step:R1,R2,...@SECONDS "
     "(each rate for SECONDS), spike:BASE,PEAK@AT+LENGTH (needs --duration) or file:PATH (rows "
     "time,rate from time 0; needs --duration); each request is due where the rate's integral passes its "
     "number, so none is early and none drifts. The summary adds the latency from due and the backlog "
     "per 100 ms, and after a spike the time until the p99 is back within 10% of the delay")
    ("arrivals", po::value<std::string>()->default_value("constant"),
     "with --rate: constant (every 1/rate) or poisson (exponential gaps drawn from --seed)")
    ("duration", po::value(&cfg.duration_s)->default_value(0),
     "with --rate: as many requests as are due within this many seconds, instead of --num")
    ("retries", po::value(&cfg.retries)->default_value(cfg.retries),
     "extra attempts for a request that failed (no answer, a timeout, 5xx, 408, 429), with backoff")
    ("timeout-ms", po::value(&cfg.timeout_ms)->default_value(cfg.timeout_ms),
     "limit on each attempt, ms, and on the work on an answer; 0: the delay plus 10 s")
    ("work", po::value<std::string>()->default_value("none"), kWorkHelp)
    ("connection", po::value<std::string>()->default_value("keepalive"), kConnectionHelp)
    ("cacert", po::value(&cfg.tls.cacert), "https: trust the certificates in this PEM file instead "
     "of the system's (delayserver --tls writes its own next to its port file)")
    ("insecure", po::bool_switch(&cfg.tls.insecure), "https: do not check the server's certificate "
     "or name (the explicit opt-out)")
    ("tls-resume", po::value<std::string>()->default_value("on"),
     "https: on (offer the session a server gave before, as browsers do) or off (a full handshake "
     "for every connection)");
  // clang-format on
  add_output_options(desc, cfg);
}

// What the run writes and prints, and its seed.
static void add_output_options(po::options_description& desc, CrawlConfig& cfg) {
  // clang-format off
  desc.add_options()
    ("timeline", po::value<std::string>(), "write the client timeline CSV here "
     "(model,index,start,end,bytes,status,attempts,conn,opened,delay,intended,work_us,connect_us,tls_us,resumed,origin,worker)")
    ("resources", po::value<std::string>(), "write what the process spent over the run here, a row every "
     "10 ms (time,cpu_user_pct,cpu_system_pct,rss_kib,threads,fds,voluntary_switches,involuntary_switches,"
     "connections_opened,connections_open: the connections opened in the run so far, and none; "
     "each read is skipped while it has cost over its share of a core, 0.25% for RSS and threads, "
     "0.35% for CPU, 0.15% for fds, as at 10,000 threads or descriptors: its cells are empty then)")
    ("json", "print one JSON summary object instead of the Result line")
    ("progress", "show done/total on stderr while running")
    ("seed", po::value(&cfg.seed)->default_value(0), "seed for the random URL tails (0: random)");
  // clang-format on
}

std::optional<int> finish_crawl_options(const po::variables_map& vm, CrawlConfig& cfg, CrawlOutputs& out,
                                        const std::string& program) {
  out.json = vm.count("json") > 0;
  out.list_models = vm.count("list-models") > 0;
  if (vm.count("timeline")) out.timeline = vm["timeline"].as<std::string>();
  if (vm.count("resources")) out.resources = vm["resources"].as<std::string>();
  cfg.resources = out.resources.has_value();
  out.print_urls = vm.count("print-urls") > 0;
  if (out.list_models) return std::nullopt;
  if (out.print_urls && vm.count("name") + vm.count("model") == 0)
    return usage_error(program, "--print-urls needs --name (or --model)");
  if (!vm.count("model") && !out.print_urls)
    return usage_error(program, "--model is required (see --list-models)");
  if (vm.count("urls")) {
    for (const char* flag : {"url", "name", "delay", "delay-dist", "print-urls"})
      if (vm.count(flag) && !vm[flag].defaulted())
        return usage_error(program, std::string("--urls fetches the file's URLs as they are: --") + flag +
                                        " does not go with it");
    if (vm["num"].defaulted()) cfg.num = kNumFromList;
  }
  cfg.progress = vm.count("progress") > 0;
  if (std::string err = read_run_shape(vm, cfg); !err.empty()) return usage_error(program, err);
  if (!vm["arrivals"].defaulted() && cfg.rate == 0) return usage_error(program, "--arrivals needs --rate");
  return std::nullopt;
}

std::string read_run_shape(const po::variables_map& vm, CrawlConfig& cfg) {
  cfg.batched = vm.count("batched") > 0;
  cfg.spawn_all = vm.count("spawn-all") > 0;
  std::string why;
  auto work = parse_work_spec(vm["work"].as<std::string>(), &why);
  if (!work) return "--work: " + why;
  cfg.work = *work;
  auto reuse = parse_connection_spec(vm["connection"].as<std::string>(), &why);
  if (!reuse) return "--connection: " + why;
  cfg.reuse = *reuse;
  if (const auto& a = vm["arrivals"].as<std::string>(); a == "poisson")
    cfg.arrivals = Arrivals::poisson;
  else if (a != "constant")
    return "--arrivals must be constant or poisson, not '" + a + "'";
  if (vm.count("tls-resume")) {  // crawl summarize has no TLS options
    if (const auto& r = vm["tls-resume"].as<std::string>(); r == "on" || r == "off")
      cfg.tls.resume = r == "on";
    else
      return "--tls-resume must be on or off, not '" + r + "'";
  }
  if (cfg.tls.insecure && !cfg.tls.cacert.empty())
    return "--cacert and --insecure: trust a file, or check nothing";
  if (vm.count("rate-profile")) {
    if (cfg.rate != 0) return "--rate-profile sets the rate: not with --rate";
    if (vm.count("num") && !vm["num"].defaulted())
      return "--rate-profile says how many requests are due: not with --num (--duration cuts it short)";
    auto profile = parse_rate_profile(vm["rate-profile"].as<std::string>(), &why);
    if (!profile) return "--rate-profile: " + why;
    apply_rate_profile(cfg, std::move(*profile));
  }
  std::string err;
  auto dist = parse_delay_spec(vm["delay-dist"].as<std::string>(), &err);
  if (!dist) return "--delay-dist: " + err;
  cfg.delay_dist = *dist;
  return "";
}

void print_crawl_errors(const CrawlSummary& s, const std::string& program) {
  const CrawlRun& run = s.run;
  const std::string& model = run.config.model;
  if (!run.stopped_early.empty())
    std::cerr << program << ": " << model << " stopped early after " << run.records.size() - s.failed
              << " requests: " << run.stopped_early << '\n';
  if (s.retries > 0) std::cerr << program << ": " << model << ": " << s.retries << " attempts were retries\n";
  for (const auto& [msg, n] : run.errors)
    std::cerr << program << ": " << model << ": " << n << (n == 1 ? " request" : " requests")
              << " failed: " << msg << '\n';
}

}  // namespace testbed
