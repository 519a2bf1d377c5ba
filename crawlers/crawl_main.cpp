// crawl: fetch N URLs from delayserver with one of the concurrency models
// (crawlers/models.cpp lists them; `crawl --list-models` prints the list).
// `crawl summarize FILE.csv...`: the same summary from client timelines;
// `crawl compare BASE.json OTHER.json`: one run's figures over another's.
#include "common/cli.hpp"
#include "common/csv.hpp"
#include "crawlers/crawl.hpp"
#include "crawlers/crawl_cli.hpp"
#include "crawlers/output.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

namespace po = boost::program_options;

namespace testbed {
namespace {

// Prints the summary (--json, or the book's Result line); the exit code:
// 1 if any request failed.
int report(const CrawlSummary& s, bool json, const std::string& program) {
  print_crawl_errors(s, program);
  if (json)
    std::cout << to_json(s).dump() << std::endl;
  else
    std::printf("Result: %lld, Time: %.6f\n", static_cast<long long>(s.bytes), s.run.seconds);
  return s.failed > 0 ? 1 : 0;
}

int crawl(int argc, char** argv) {
  CrawlConfig cfg;
  po::options_description desc("Options");
  add_crawl_options(desc, cfg);
  po::variables_map vm;
  if (auto rc = parse_cli(argc, argv, desc, vm,
                          "--model MODEL [options]\n       crawl summarize FILE.csv... [options]\n       crawl compare BASE.json OTHER.json",
                          "Fetches --num URLs of the form URL/add?name=NAME&delay=MS&<random> and sums\n"
                          "the body lengths, using one of the concurrency models of HPP chapter 8.\n"
                          "`crawl summarize --help`: the same summary from timelines already written.\n"
                          "`crawl compare --help`: one run's figures over another's.\n\n"
                          "Models (crawl --list-models), and what each mirrors in the book:" +
                              crawl_models_help(),
                          std::string("libcurl ") + curl_version_info(CURLVERSION_NOW)->version))
    return *rc;
  CrawlOutputs out;
  if (auto rc = finish_crawl_options(vm, cfg, out, "crawl")) return *rc;
  if (out.list_models) {
    if (out.json)
      std::cout << models_json().dump() << std::endl;
    else
      for (const auto& m : models()) std::cout << m.name << '\n';
    return 0;
  }
  if (out.print_urls) {
    try {
      if (cfg.name.empty()) cfg.name = cfg.model;
      std::string text;
      for (const auto& u : crawl_urls(cfg)) text += u + '\n';
      std::cout << text << std::flush;
      return 0;
    } catch (const std::invalid_argument& e) {
      return usage_error("crawl", e.what());
    }
  }
  raise_open_files_limit();

  CrawlSummary s;
  try {
    s = run_crawl(cfg);
  } catch (const std::invalid_argument& e) {
    return usage_error("crawl", e.what());
  } catch (const std::exception& e) {
    std::cerr << "crawl: " << e.what() << '\n';
    return 1;
  }
  // Whatever happened, what was measured is written.
  int rc = 0;
  if (out.timeline) {
    std::string err;
    if (!write_file_atomic(*out.timeline, timeline_csv(s.run), &err)) {
      std::cerr << "crawl: " << err << '\n';
      rc = 1;
    }
  }
  if (out.resources && s.run.resources) {
    const ResourceSeries& series = *s.run.resources;
    std::string csv = resource_csv_header();
    for (const ResourceRow& r : series.rows) append_resource_csv(csv, r);
    std::string err;
    if (!write_file_atomic(*out.resources, csv, &err)) {
      std::cerr << "crawl: " << err << '\n';
      rc = 1;
    }
  }
  return std::max(rc, report(s, out.json, "crawl"));
}

bool read_text(const std::string& path, std::string& text, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  if (in) ss << in.rdbuf();
  if (!in || in.bad()) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  text = ss.str();
  return true;
}

// A timeline alone: the wall time is its span, first start to last end.
void time_from_timeline(CrawlRun& run) {
  std::int64_t first = INT64_MAX, last = 0;
  for (const RequestRecord& r : run.records) {
    if (r.start_us > 0) first = std::min(first, r.start_us);
    last = std::max(last, r.end_us);
  }
  run.seconds = first < last ? static_cast<double>(last - first) / 1e6 : 0;
  run.seconds_from = "timeline";
}

// The run's settings and what it measured, from its own --json output
// (for one timeline, the run's). An error, or "".
std::string settings_from_run(const po::variables_map& vm, const std::vector<std::string>& files,
                              const std::string& path, CrawlRun& run) {
  for (const char* flag : {"concurrency", "delay", "delay-dist", "rate", "arrivals", "duration", "batched",
                           "spawn-all", "work", "connection", "urls", "per-host", "rate-profile"})
    if (vm.count(flag) && !vm[flag].defaulted())
      return std::string("--") + flag + " comes from --run's file; give one or the other";
  if (files.size() != 1) return "--run goes with one timeline, the run's own";
  std::string text, err;
  if (!read_text(path, text, err)) return err;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return path + ": not one JSON object";
  if (!run_from_json(j, run, &err)) return path + ": " + err;
  return "";
}

// The run's settings from summarize's flags; the model comes from the timeline.
std::string settings_from_flags(const po::variables_map& vm, CrawlConfig cfg, CrawlRun& run) {
  if (std::string err = read_run_shape(vm, cfg); !err.empty()) return err;
  cfg.model.clear();
  run.config = cfg;
  return "";
}

// Every timeline's rows into `run`, merged by index.
std::string read_timelines(const std::vector<std::string>& files, CrawlRun& run) {
  for (const auto& f : files) {
    std::string text, err;
    if (!read_text(f, text, err)) return err;
    if (!read_timeline_csv(text, run, &err)) return f + ": " + err;
  }
  if (run.config.model.empty()) return "the timelines hold no request";
  return "";
}

int summarize_timelines(int argc, char** argv) {
  CrawlConfig cfg;
  std::vector<std::string> files;
  std::string run_json;
  po::options_description desc("Options");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("timeline", po::value(&files)->composing(), "a client timeline CSV (also given without the flag)")
    ("run", po::value(&run_json), "the run's own --json output: its settings, seconds and cost, which a "
     "timeline cannot carry (one timeline, the run's); without it, seconds are the timeline's span and "
     "the cost is null")
    ("concurrency,c", po::value(&cfg.concurrency)->default_value(cfg.concurrency), "the run's --concurrency")
    ("delay,d", po::value(&cfg.delay_ms)->default_value(cfg.delay_ms),
     "the run's --delay (counted for a request whose delay the server did not say)")
    ("delay-dist", po::value<std::string>()->default_value("fixed"), "the run's --delay-dist")
    ("urls", po::value(&cfg.urls_file), "the run's --urls: a request's delay is only what its server said "
     "(none asked for)")
    ("per-host", po::value(&cfg.per_host)->default_value(0), "the run's --per-host (the timeline's origin "
     "column says each request's host)")
    ("rate", po::value(&cfg.rate)->default_value(0), "the run's --rate (0: a closed loop)")
    ("rate-profile", po::value<std::string>(), "the run's --rate-profile")
    ("arrivals", po::value<std::string>()->default_value("constant"), "the run's --arrivals")
    ("duration", po::value(&cfg.duration_s)->default_value(0), "the run's --duration")
    ("batched", "the run was --batched")
    ("spawn-all", "the run was --spawn-all")
    ("work", po::value<std::string>()->default_value("none"), "the run's --work")
    ("connection", po::value<std::string>()->default_value("keepalive"), "the run's --connection")
    ("json", "print one JSON summary object instead of the Result line");
  // clang-format on
  po::positional_options_description pos;
  pos.add("timeline", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error("crawl summarize", e.what());
  }
  if (vm.count("help")) {
    std::cout << "Usage: crawl summarize FILE.csv... [options]\n\n"
                 "The summary crawl --json prints, from client timelines (crawl --timeline, crawl-mpi's\n"
                 "merged one, or any program writing the same CSV): the shards of one crawl merge by\n"
                 "index. Every figure is derived by the same code as crawl's.\n\n"
              << desc << '\n';
    return 0;
  }
  if (files.empty()) return usage_error("crawl summarize", "name at least one timeline CSV");
  CrawlRun run;
  std::string err =
      run_json.empty() ? settings_from_flags(vm, cfg, run) : settings_from_run(vm, files, run_json, run);
  if (err.empty()) err = read_timelines(files, run);
  if (err.empty() && run_json.empty()) {
    run.config.num = static_cast<std::int64_t>(run.records.size());
    run.config.name = run.config.model;
    time_from_timeline(run);
  } else if (err.empty() && static_cast<std::int64_t>(run.records.size()) != run.config.num) {
    err = "the timeline holds " + std::to_string(run.records.size()) + " requests, the run " +
          std::to_string(run.config.num);
  }
  if (!err.empty()) return usage_error("crawl summarize", err);
  return report(summarize(std::move(run)), vm.count("json") > 0, "crawl summarize");
}

// `crawl compare BASE.json OTHER.json`: OTHER's figures over BASE's.
int compare_runs(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::cout << "Usage: crawl compare BASE.json OTHER.json\n\n"
                 "Two runs' summaries (crawl --json, crawl summarize --json) compared: one JSON object\n"
                 "with each figure of OTHER over BASE's (efficiency, seconds, overhead p50 and p99,\n"
                 "CPU per 1k requests, peak memory, threads), null where either has none.\n";
    return 0;
  }
  if (argc != 3) return usage_error("crawl compare", "name two summaries, BASE.json OTHER.json");
  nlohmann::json runs[2];
  for (int k = 0; k < 2; ++k) {
    std::string text, err;
    if (!read_text(argv[k + 1], text, err)) return usage_error("crawl compare", err);
    runs[k] = nlohmann::json::parse(text, nullptr, false);
    if (runs[k].is_discarded() || !runs[k].is_object())
      return usage_error("crawl compare", std::string(argv[k + 1]) + ": not one JSON object");
  }
  std::cout << compare_json(runs[0], runs[1]).dump() << std::endl;
  return 0;
}

}  // namespace
}  // namespace testbed

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "summarize") == 0)
    return testbed::summarize_timelines(argc - 1, argv + 1);
  if (argc > 1 && std::strcmp(argv[1], "compare") == 0) return testbed::compare_runs(argc - 1, argv + 1);
  return testbed::crawl(argc, argv);
}
