// crawl-mpi: the same crawl as crawl, spread over MPI ranks (one per host, or
// several), merged exactly on rank 0.
//
//   mpirun --host a:1,b:1 --bind-to none crawl-mpi --model coroutine --num N --concurrency C ...
//
// --num and --concurrency are totals: rank r fetches its contiguous share of
// the one URL list (the same seed everywhere) with its share of the slots; in
// an open loop (--rate, --rate-profile) the one schedule is dealt out, request
// i to rank i mod R, each due at its time from the instant the ranks share.
// Clocks: MPI does not synchronise them, so each rank measures its offset to
// rank 0 by ping-pong, keeping the round trip that was shortest (the method of
// Open MPI's mpisync), before and after the crawl. Every rank starts at one
// instant of rank 0's clock, and every time it reports is moved into rank 0's
// clock. Rank 0 gathers every record and derives the summary from the merged
// records with the same code as crawl (counts summed, percentiles of all the
// data, the ideal of C slots), plus a section per rank.
//
// Nothing spins while others crawl: every wait for the other ranks is a
// non-blocking MPI call polled every millisecond, with a deadline; a rank
// that dies makes mpirun end the job with its status.
#include "common/cli.hpp"
#include "common/clock.hpp"
#include "common/csv.hpp"
#include "common/version.hpp"
#include "crawlers/crawl.hpp"
#include "crawlers/crawl_cli.hpp"
#include "crawlers/mpi_ranks.hpp"
#include "crawlers/output.hpp"

#include <curl/curl.h>
#include <mpi.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>
#include <type_traits>

namespace po = boost::program_options;

namespace testbed {
namespace {

static_assert(std::is_trivially_copyable_v<RequestRecord>, "records travel as bytes");

// The whole run's settings, as the command line gave them.
struct MpiOptions {
  CrawlConfig cfg;
  CrawlOutputs out;
  double deadline_s = 0;
  int die_rank = -1;  // --test-die
  std::int64_t die_ms = 0;
};

// Step 1, on every rank: the command line and what only crawl-mpi refuses.
// An exit code when this rank would stop here (step 3 makes every rank agree).
std::optional<int> read_command_line(int argc, char** argv, int rank, int size, MpiOptions& o) {
  CrawlConfig& cfg = o.cfg;
  std::string skew_spec, die_spec;
  po::options_description desc(
      "Options (every crawl option; --num, --concurrency and --per-host are totals over the ranks)");
  add_crawl_options(desc, cfg);
  // clang-format off
  desc.add_options()
    ("deadline", po::value(&o.deadline_s)->default_value(0),
     "seconds any rank waits for the others before the run is abandoned (exit 3); 0: 60 s plus the "
     "longest the crawl could take with every attempt timing out")
    ("test-skew", po::value(&skew_spec), "tests only, RANK:MS: that rank's clock runs MS ms off")
    ("test-die", po::value(&die_spec), "tests only, RANK:MS: that rank kills itself MS ms into the crawl");
  // clang-format on
  po::variables_map vm;
  auto early =
      parse_cli(argc, argv, desc, vm, "--model MODEL [options]   (under mpirun)",
                "Fetches --num URLs as crawl does, spread over the MPI ranks, and merges every\n"
                "rank's records on rank 0 into one timeline (with a rank column) and one summary.\n\n"
                "Models (crawl --list-models):" +
                    crawl_models_help(),
                std::string("libcurl ") + curl_version_info(CURLVERSION_NOW)->version);
  if (early) return early;
  if ((early = finish_crawl_options(vm, cfg, o.out, "crawl-mpi"))) return early;
  if (o.out.list_models) {
    for (const auto& m : models()) std::cout << m.name << '\n';
    return 0;
  }
  auto refuse = [](const std::string& why) { return usage_error("crawl-mpi", why); };
  if (o.out.resources)
    return refuse("--resources samples one process: crawl takes it (a rank's series would be a part)");
  int skew_rank = -1;
  std::int64_t skew_ms = 0;
  if (!skew_spec.empty() && !rank_value(skew_spec, skew_rank, skew_ms))
    return refuse("--test-skew takes RANK:MS, not '" + skew_spec + "'");
  if (!die_spec.empty() && !rank_value(die_spec, o.die_rank, o.die_ms))
    return refuse("--test-die takes RANK:MS, not '" + die_spec + "'");
  if (cfg.num == kNumFromList) {  // --urls: once through the list, split over the ranks
    try {
      cfg.num = static_cast<std::int64_t>(read_url_list(cfg.urls_file).targets.size());
    } catch (const std::invalid_argument& e) {
      return refuse(e.what());
    }
  }
  const ModelEntry* model = find_model(cfg.model);
  if (!model) return refuse("unknown model '" + cfg.model + "'");
  if (cfg.concurrency < 1) return refuse("--concurrency must be at least 1");
  if (!model->one_in_flight && cfg.concurrency < size)
    return refuse("--concurrency " + std::to_string(cfg.concurrency) + " is less than the " +
                  std::to_string(size) + " ranks: each rank needs a slot");
  if (cfg.per_host > 0 && cfg.per_host < size)
    return refuse("--per-host " + std::to_string(cfg.per_host) + " is less than the " + std::to_string(size) +
                  " ranks: each rank needs a connection to every host");
  if (o.deadline_s < 0) return refuse("--deadline cannot be negative");
  if (skew_rank == rank) set_clock_skew_us(skew_ms * 1000);
  return std::nullopt;
}

// Step 2: this rank's share of the whole crawl: its server (round robin over
// --url a,b), its contiguous shard of the one URL list (--urls: of the file's,
// which every rank reads), or in an open loop every R-th request of the one
// schedule (request i to rank i mod R, due at its time in it); its share of
// the slots; and the deadline, if none was given.
CrawlConfig rank_share(MpiOptions& o, int rank, int size) {
  CrawlConfig cfg = o.cfg;
  const std::vector<std::string> urls = split_urls(cfg.url);
  cfg.url = urls[static_cast<std::size_t>(rank) % urls.size()];
  std::int64_t n = cfg.num;
  if (cfg.rate > 0) {
    const std::vector<std::int64_t> schedule = arrival_schedule(cfg);  // for the deadline: its length
    n = static_cast<std::int64_t>(schedule.size());
    cfg.shard_begin = rank;
    cfg.shard_end = -1;
    cfg.shard_stride = size;
    if (o.deadline_s == 0 && !schedule.empty())
      o.deadline_s = 60 + static_cast<double>(schedule.back()) / 1e6 +
                     static_cast<double>((cfg.retries + 1) * effective_timeout_ms(cfg)) / 1000.0;
  } else {
    cfg.shard_begin = n * rank / size;
    cfg.shard_end = n * (rank + 1) / size;
  }
  if (!find_model(cfg.model)->one_in_flight)  // serial: one request in flight on every rank
    cfg.concurrency = cfg.concurrency / size + (rank < cfg.concurrency % size ? 1 : 0);
  if (cfg.per_host >
      0)  // a total too, each rank at least one (read_command_line holds it at the ranks or more)
    cfg.per_host = std::max(1, cfg.per_host / size + (rank < cfg.per_host % size ? 1 : 0));
  if (o.deadline_s == 0) {
    const std::int64_t mine = (n - cfg.shard_begin + cfg.shard_stride - 1) / cfg.shard_stride;
    const std::int64_t waves = (mine + cfg.concurrency - 1) / std::max(1, cfg.concurrency);
    o.deadline_s = 60 + static_cast<double>(waves * (cfg.retries + 1) * effective_timeout_ms(cfg)) / 1000.0;
  }
  return cfg;
}

// The crawl this rank was asked for, whole (before its share is cut), and the
// build: the ranks must agree on every line of it.
std::string crawl_identity(const MpiOptions& o) {
  const CrawlConfig& c = o.cfg;
  std::ostringstream out;
  out << "model=" << c.model << "\nname=" << c.name << "\nurl=" << c.url << "\nurls=" << c.urls_file
      << "\nper-host=" << c.per_host << "\nnum=" << c.num << "\ndelay=" << c.delay_ms
      << "\ndelay-dist=" << delay_spec(c.delay_dist) << "\nconcurrency=" << c.concurrency
      << "\nbatched=" << c.batched << "\nrate=" << c.rate << "\narrivals=" << static_cast<int>(c.arrivals)
      << "\nduration=" << c.duration_s << "\nrate-profile=" << c.profile.spec << "\nseed=" << c.seed
      << "\nwork=" << work_spec_text(c.work) << "\nconnection=" << connection_spec_text(c.reuse)
      << "\nloops=" << c.loops << "\nthreads=" << c.threads << "\nretries=" << c.retries << "\ntimeout-ms=" << c.timeout_ms
      << "\ndeadline=" << o.deadline_s << "\ntest-die=" << o.die_rank << ':' << o.die_ms
      << "\nbuild=" << version_line("crawl-mpi");
  return out.str();
}

// Step 4: one URL list everywhere (rank 0's seed), every clock measured
// against rank 0's, and one start instant of rank 0's clock, which each rank
// turns into its own (cfg.start_at_us). Returns that instant in rank 0's clock.
std::int64_t start_together(CrawlConfig& cfg, int rank, int size, double deadline_s, ClockSample& before) {
  if (rank == 0 && cfg.seed == 0) cfg.seed = std::random_device{}() | 1;
  MPI_Request seed;
  MPI_Ibcast(&cfg.seed, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD, &seed);
  wait_request(seed, mono_seconds() + deadline_s, "waiting for the seed", rank);
  before = measure_clock(rank, size, mono_seconds() + deadline_s);
  std::int64_t start_at = rank == 0 ? now_us() + 500'000 + cfg.num / 10 : 0;  // time to build n URLs
  MPI_Request bcast;  // asleep while rank 0 measures the others' clocks
  MPI_Ibcast(&start_at, 1, MPI_INT64_T, 0, MPI_COMM_WORLD, &bcast);
  wait_request(bcast, mono_seconds() + deadline_s, "waiting for the start time", rank);
  cfg.start_at_us = start_at - before.offset_us;
  return start_at;
}

// How many of the crawl's requests this rank's share holds, as planned (a
// rank that failed sent none of them, and its places are left empty).
std::int64_t planned_share(const CrawlConfig& cfg) {
  if (cfg.shard_end >= 0) return cfg.shard_end - cfg.shard_begin;
  const auto total = cfg.rate > 0 ? static_cast<std::int64_t>(arrival_schedule(cfg).size()) : cfg.num;
  return std::max<std::int64_t>(0, (total - cfg.shard_begin + cfg.shard_stride - 1) / cfg.shard_stride);
}

// This rank's section of the merged summary (mpi.per_rank): where it ran, its
// clock, its share and its own figures (summarize of its records).
nlohmann::json rank_section(const CrawlSummary& s, const std::string& failure, int rank,
                            const ClockSample& before, const Wait& wait, std::int64_t start_at) {
  const CrawlRun& run = s.run;
  const CrawlConfig& cfg = run.config;
  const std::int64_t off = before.offset_us;
  char host[MPI_MAX_PROCESSOR_NAME] = {};
  int host_len = 0;
  MPI_Get_processor_name(host, &host_len);
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [msg, count] : run.errors) errors[msg] = count;
  const RunCost k = run.cost.value_or(RunCost{});
  return {
      {"rank", rank},
      {"host", std::string(host, host_len)},
      {"source_address", source_address(cfg)},
      {"url",
       cfg.urls_file.empty() ? nlohmann::json(cfg.url) : nlohmann::json(nullptr)},  // --urls: the file's
      {"first_index", cfg.shard_begin},
      {"stride", cfg.shard_stride},
      {"num", planned_share(cfg)},
      {"concurrency", s.concurrency},
      {"clock_offset_us", off},
      {"clock_round_trip_us", before.round_trip_us},
      {"clock_offset_after_us", wait.clock_after.offset_us},
      {"clock_round_trip_after_us", wait.clock_after.round_trip_us},
      {"start_lag_us", run.started_us ? run.started_us + off - start_at : 0},
      {"started_us", run.started_us ? run.started_us + off : 0},
      {"ended_us", run.ended_us ? run.ended_us + off : 0},
      {"seconds", run.seconds},
      {"bytes", s.bytes},
      {"failed", s.failed},
      {"retries", s.retries},
      {"errors", errors},
      {"stopped_early",
       run.stopped_early.empty() ? nlohmann::json(nullptr) : nlohmann::json(run.stopped_early)},
      {"error", failure.empty() ? nlohmann::json(nullptr) : nlohmann::json(failure)},
      {"cpu_user_seconds", k.cpu_user_seconds},
      {"cpu_system_seconds", k.cpu_system_seconds},
      {"peak_rss_kib", k.peak_rss_kib},
      {"voluntary_switches", k.voluntary_switches},
      {"involuntary_switches", k.involuntary_switches},
      {"peak_threads", k.peak_threads},
      {"connections_opened", k.connections_opened},
      {"wait_seconds", wait.seconds},
      {"wait_cpu_seconds", wait.cpu_seconds},
  };
}

// What rank 0 gathered: every rank's section and its records, in rank order.
struct Gathered {
  std::vector<nlohmann::json> sections;
  std::vector<char> records;
  std::vector<int> record_bytes;  // each rank's
};

// Step 7: each rank's section and records (moved into rank 0's clock) to rank 0.
Gathered gather_on_rank0(const nlohmann::json& section, std::vector<RequestRecord> records,
                         std::int64_t offset_us, int rank, int size, double deadline) {
  for (RequestRecord& r : records) {
    if (r.start_us) r.start_us += offset_us;
    if (r.end_us) r.end_us += offset_us;
    if (r.intended_us) r.intended_us += offset_us;
  }
  Gathered g;
  std::vector<int> sizes;
  std::vector<char> infos =
      gather_bytes(section.dump(), rank, size, deadline, "gathering the ranks' summaries", sizes);
  std::string bytes(reinterpret_cast<const char*>(records.data()), records.size() * sizeof(RequestRecord));
  g.records = gather_bytes(bytes, rank, size, deadline, "gathering the records", g.record_bytes);
  if (rank != 0) return g;
  std::size_t at = 0;
  for (int r = 0; r < size; ++r) {
    g.sections.push_back(
        nlohmann::json::parse(std::string(infos.data() + at, static_cast<std::size_t>(sizes[r]))));
    at += static_cast<std::size_t>(sizes[r]);
  }
  return g;
}

// Step 8, rank 0: one run of all the ranks' records, each in its URL's place
// (a rank that failed leaves its share's places empty: never sent, failed
// with the reason), errors and cost added up, seconds from the first rank's
// start to the last rank's end. `ranks` gets each record's rank.
CrawlRun merge_ranks(const Gathered& g, const CrawlConfig& whole, std::vector<int>& ranks,
                     std::vector<std::string>& failures) {
  CrawlRun m;
  m.config = whole;
  if (m.config.name.empty()) m.config.name = whole.model;
  const auto n = static_cast<std::size_t>(whole.num);
  m.records.assign(n, RequestRecord{});
  ranks.assign(n, 0);
  RunCost cost;
  std::int64_t missing = 0, first_start = INT64_MAX, last_end = 0;
  std::size_t rec_at = 0;
  for (std::size_t r = 0; r < g.sections.size(); ++r) {
    const nlohmann::json& j = g.sections[r];
    const auto first = j["first_index"].get<std::size_t>(), share = j["num"].get<std::size_t>();
    const auto stride = std::max<std::size_t>(1, j["stride"].get<std::size_t>());
    if (share > 0 &&
        (first >= n ||
         (share - 1) >
             (n - 1 - first) / stride)) {  // the ranks agreed on N (step 3): never, but never past the arrays
      failures.push_back("rank " + std::to_string(r) + ": its share lies outside the crawl's " +
                         std::to_string(n));
      rec_at += static_cast<std::size_t>(g.record_bytes[r]);
      continue;
    }
    const std::size_t got =
        std::min(share, static_cast<std::size_t>(g.record_bytes[r]) / sizeof(RequestRecord));
    for (std::size_t k = 0; k < got; ++k)  // the rank's k-th request is the crawl's first + k x stride
      std::memcpy(&m.records[first + k * stride], g.records.data() + rec_at + k * sizeof(RequestRecord),
                  sizeof(RequestRecord));
    rec_at += static_cast<std::size_t>(g.record_bytes[r]);
    for (std::size_t k = 0; k < share; ++k) ranks[first + k * stride] = static_cast<int>(r);
    missing += static_cast<std::int64_t>(share - got);
    for (const auto& [msg, c] : j["errors"].items()) m.errors[msg] += c.get<std::int64_t>();
    if (!j["error"].is_null())
      failures.push_back("rank " + std::to_string(r) + ": " + j["error"].get<std::string>());
    if (!j["stopped_early"].is_null() && m.stopped_early.empty())
      m.stopped_early = "rank " + std::to_string(r) + ": " + j["stopped_early"].get<std::string>();
    if (j["started_us"].get<std::int64_t>() > 0)
      first_start = std::min(first_start, j["started_us"].get<std::int64_t>());
    last_end = std::max(last_end, j["ended_us"].get<std::int64_t>());
    cost.cpu_user_seconds += j["cpu_user_seconds"].get<double>();
    cost.cpu_system_seconds += j["cpu_system_seconds"].get<double>();
    cost.peak_rss_kib = std::max(cost.peak_rss_kib, j["peak_rss_kib"].get<std::int64_t>());
    cost.voluntary_switches += j["voluntary_switches"].get<std::int64_t>();
    cost.involuntary_switches += j["involuntary_switches"].get<std::int64_t>();
    cost.peak_threads += j["peak_threads"].get<std::int64_t>();
    cost.connections_opened += j["connections_opened"].get<std::int64_t>();
  }
  if (missing > 0) m.errors["not done: a rank failed before crawling its share"] += missing;
  m.cost = cost;
  m.seconds = first_start < last_end ? static_cast<double>(last_end - first_start) / 1e6 : 0;
  m.seconds_from = "ranks";
  m.processes = static_cast<int>(g.sections.size());
  m.started_us = first_start == INT64_MAX ? 0 : first_start;
  m.ended_us = last_end;
  return m;
}

// Step 9, rank 0: the merged timeline and summary, written and printed.
int report_merged(const MpiOptions& o, CrawlRun merged, const std::vector<int>& ranks,
                  const std::vector<std::string>& failures, const Gathered& g, std::int64_t start_at) {
  int rc = 0;
  if (o.out.timeline) {
    std::string err;
    if (!write_file_atomic(*o.out.timeline, timeline_csv(merged, &ranks), &err)) {
      std::cerr << "crawl-mpi: " << err << '\n';
      rc = 1;
    }
  }
  const int size = static_cast<int>(g.sections.size());
  const CrawlSummary m = summarize(std::move(merged));
  print_crawl_errors(m, "crawl-mpi");
  for (const auto& f : failures) std::cerr << "crawl-mpi: " << f << '\n';
  nlohmann::json j = to_json(m);
  j["version"] = version_line("crawl-mpi");
  j["mpi"] = {
      {"ranks", size},
      {"start_at_us", start_at},
      {"clock", "rank 0's; each rank's times moved by its offset (min round trip of " +
                    std::to_string(kClockRounds) + " ping-pongs)"},
      {"per_rank", g.sections},
  };
  if (o.out.json)
    std::cout << j.dump() << std::endl;
  else
    std::printf("Result: %lld, Time: %.6f, Ranks: %d\n", static_cast<long long>(m.bytes), m.run.seconds,
                size);
  if (m.failed > 0 || !failures.empty()) rc = 1;
  return rc;
}

// --test-die: a rank lost mid-run, as a crashed host would be.
void die_at(std::int64_t at_us) {
  std::thread([at_us] {
    sleep_until_us(at_us);
    std::raise(SIGKILL);
  }).detach();
}

int run(int argc, char** argv, int rank, int size) {
  MpiOptions o;
  CrawlConfig cfg;
  std::optional<int> early;
  std::string said;  // what this rank would have said (only rank 0 speaks)
  std::string identity;
  {
    Quiet quiet(rank != 0);
    early = read_command_line(argc, argv, rank, size, o);
    if (!early) {
      identity = crawl_identity(o);  // as given, before this rank's share is cut
      cfg = rank_share(o, rank, size);
      raise_open_files_limit();
      try {  // as crawl would
        check_crawl_config(cfg);
      } catch (const std::invalid_argument& e) {
        early = usage_error("crawl-mpi", e.what());
      }
    }
    said = quiet.captured();
  }
  // Step 3: the ranks agree on the crawl, or all leave (mpi_ranks.hpp).
  if (auto rc = agree(rank, size, early, said, identity)) return *rc;
  ClockSample before;
  const std::int64_t start_at = start_together(cfg, rank, size, o.deadline_s, before);
  if (o.die_rank == rank) die_at(cfg.start_at_us + o.die_ms * 1000);

  // Step 5: this rank's crawl. A failure is told to rank 0 through the
  // gather, so that no rank waits for it in vain.
  CrawlSummary mine;
  std::string failure;
  try {
    mine = summarize(measure_crawl(cfg));
  } catch (const std::exception& e) {
    failure = e.what();
    CrawlRun none;
    none.config = cfg;
    mine = summarize(std::move(none));
  }
  const double deadline = mono_seconds() + o.deadline_s;
  const Wait wait = finish_together(rank, size, deadline);  // step 6
  const nlohmann::json section = rank_section(mine, failure, rank, before, wait, start_at);
  const Gathered g =
      gather_on_rank0(section, std::move(mine.run.records), before.offset_us, rank, size, deadline);
  if (rank != 0) return failure.empty() ? 0 : 1;

  CrawlConfig whole = o.cfg;
  whole.seed = cfg.seed;
  if (whole.rate > 0)
    whole.num = static_cast<std::int64_t>(arrival_schedule(whole).size());  // the one schedule
  std::vector<int> ranks;
  std::vector<std::string> failures;
  CrawlRun merged = merge_ranks(g, whole, ranks, failures);
  return report_merged(o, std::move(merged), ranks, failures, g, start_at);
}

}  // namespace
}  // namespace testbed

int main(int argc, char** argv) {
  int provided = 0;
  // Only the main thread calls MPI; the models start their own threads.
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int rc = testbed::run(argc, argv, rank, size);
  MPI_Finalize();
  return rc;
}
