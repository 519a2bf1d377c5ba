// crawl-mpi: the same crawl as crawl, spread over MPI ranks (one per host, or
// several), merged exactly on rank 0.
//
//   mpirun --host a:1,b:1 --bind-to none crawl-mpi --model coroutine --num N --concurrency C ...
//
// --num and --concurrency are totals: rank r fetches its contiguous share of
// the one URL list (the same seed everywhere) with its share of the slots.
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
#include "client/http_client.hpp"
#include "common/cli.hpp"
#include "common/clock.hpp"
#include "common/csv.hpp"
#include "common/version.hpp"
#include "crawlers/crawl.hpp"
#include "crawlers/crawl_cli.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <mpi.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <thread>
#include <type_traits>

namespace po = boost::program_options;

namespace testbed {
namespace {

constexpr int kTagPing = 101;
constexpr int kTagPong = 102;
constexpr int kClockRounds = 32;

static_assert(std::is_trivially_copyable_v<RequestRecord>, "records travel as bytes");

// This rank's clock against rank 0's: offset = rank 0's clock - ours, from the
// ping-pong round with the shortest round trip; the error is at most half of it.
struct ClockSample {
  std::int64_t offset_us = 0;
  std::int64_t round_trip_us = 0;
};

// Waits for a non-blocking MPI call without spinning: a test every
// millisecond, and a run abandoned (every rank killed, exit 3) past the deadline.
void wait_request(MPI_Request& req, double deadline, const std::string& what, int rank) {
  for (;;) {
    int done = 0;
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) return;
    if (mono_seconds() > deadline) {
      std::fprintf(stderr,
                   "crawl-mpi: rank %d: %s: not every rank answered within --deadline; abandoning the run\n",
                   rank, what.c_str());
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Collective: rank 0 answers each other rank in turn, kClockRounds times. A
// rank waits for its turn asleep (a "go" from rank 0), so that only the two
// ranks measuring run: on a shared core a spinning third would stretch the
// round trips it is measured by.
ClockSample measure_clock(int rank, int size, double deadline) {
  constexpr int kTagGo = 103;
  ClockSample best;
  if (rank == 0) {
    for (int r = 1; r < size; ++r) {
      int go = 1;
      MPI_Send(&go, 1, MPI_INT, r, kTagGo, MPI_COMM_WORLD);
      for (int k = 0; k < kClockRounds; ++k) {
        std::int64_t ping = 0;
        MPI_Recv(&ping, 1, MPI_INT64_T, r, kTagPing, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        std::int64_t t = now_us();
        MPI_Send(&t, 1, MPI_INT64_T, r, kTagPong, MPI_COMM_WORLD);
      }
    }
    return best;
  }
  int go = 0;
  MPI_Request req;
  MPI_Irecv(&go, 1, MPI_INT, 0, kTagGo, MPI_COMM_WORLD, &req);
  wait_request(req, deadline, "waiting for its turn to measure its clock", rank);
  best.round_trip_us = INT64_MAX;
  for (int k = 0; k < kClockRounds; ++k) {
    std::int64_t t1 = now_us(), t0 = 0;
    MPI_Send(&t1, 1, MPI_INT64_T, 0, kTagPing, MPI_COMM_WORLD);
    MPI_Recv(&t0, 1, MPI_INT64_T, 0, kTagPong, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    std::int64_t t2 = now_us();
    if (t2 - t1 < best.round_trip_us) {
      best.round_trip_us = t2 - t1;
      best.offset_us = t0 - (t1 + t2) / 2;
    }
  }
  return best;
}

// Gathers each rank's bytes on rank 0 (in rank order), with the deadline.
std::vector<char> gather_bytes(const std::string& mine, int rank, int size, double deadline,
                               const std::string& what, std::vector<int>& counts) {
  int n = static_cast<int>(mine.size());
  counts.assign(size, 0);
  MPI_Request req;
  MPI_Igather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD, &req);
  wait_request(req, deadline, what + " (sizes)", rank);
  std::vector<int> displs(size, 0);
  std::size_t total = 0;
  for (int r = 0; r < size; ++r) {
    displs[r] = static_cast<int>(total);
    total += static_cast<std::size_t>(counts[r]);
  }
  std::vector<char> all(rank == 0 ? std::max<std::size_t>(total, 1) : 1);
  MPI_Igatherv(mine.data(), n, MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE, 0,
               MPI_COMM_WORLD, &req);
  wait_request(req, deadline, what, rank);
  return all;
}

// The address this rank's connections to the server leave from (a UDP
// socket connected to it says, sending nothing).
std::string source_address(const CrawlConfig& cfg) {
  std::string err;
  auto base = parse_base_url(cfg.url, &err);
  if (!base) return "";
  try {
    auto eps = resolve(*base);
    if (eps.empty()) return "";
    auto ep = eps.front();
    int fd = socket(ep.protocol().family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "";
    std::string out;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (connect(fd, ep.data(), static_cast<socklen_t>(ep.size())) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      char buf[INET6_ADDRSTRLEN] = {};
      const void* a = ss.ss_family == AF_INET6
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&ss)->sin_addr);
      if (inet_ntop(ss.ss_family, a, buf, sizeof buf)) out = buf;
    }
    close(fd);
    return out;
  } catch (const std::exception&) {
    return "";
  }
}

// "RANK:VALUE" for the test-only options.
bool rank_value(const std::string& text, int& rank, std::int64_t& value) {
  auto colon = text.find(':');
  if (colon == std::string::npos) return false;
  try {
    std::size_t used = 0;
    rank = std::stoi(text.substr(0, colon), &used);
    if (used != colon) return false;
    value = std::stoll(text.substr(colon + 1), &used);
    return used == text.size() - colon - 1;
  } catch (const std::exception&) {
    return false;
  }
}

std::vector<std::string> split_urls(const std::string& list) {
  std::vector<std::string> out;
  std::size_t at = 0;
  for (;;) {
    auto comma = list.find(',', at);
    out.push_back(list.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) return out;
    at = comma + 1;
  }
}

// Silences this rank's stdout and stderr (ranks other than 0 while the
// command line is read: one message, not one per rank).
class Quiet {
 public:
  explicit Quiet(bool on) {
    if (!on) return;
    std::fflush(stdout);
    std::fflush(stderr);
    std::cout.flush();
    null_ = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null_ < 0) return;  // no /dev/null: say it on every rank, then
    out_ = dup(1);
    err_ = dup(2);
    dup2(null_, 1);
    dup2(null_, 2);
  }
  ~Quiet() {
    if (null_ < 0) return;
    std::fflush(stdout);
    std::fflush(stderr);
    std::cout.flush();
    std::cerr.flush();
    dup2(out_, 1);
    dup2(err_, 2);
    close(out_);
    close(err_);
    close(null_);
  }

 private:
  int null_ = -1, out_ = -1, err_ = -1;
};

int run(int argc, char** argv, int rank, int size) {
  CrawlConfig cfg;
  double deadline_s = 0;
  std::string skew_spec, die_spec;
  po::options_description desc(
      "Options (every crawl option; --num and --concurrency are totals over the ranks)");
  add_crawl_options(desc, cfg);
  // clang-format off
  desc.add_options()
    ("deadline", po::value(&deadline_s)->default_value(0),
     "seconds any rank waits for the others before the run is abandoned (exit 3); 0: 60 s plus the "
     "longest the crawl could take with every attempt timing out")
    ("test-skew", po::value(&skew_spec), "tests only, RANK:MS: that rank's clock runs MS ms off")
    ("test-die", po::value(&die_spec), "tests only, RANK:MS: that rank kills itself MS ms into the crawl");
  // clang-format on
  po::variables_map vm;
  CrawlOutputs out;
  std::optional<int> early;
  int die_rank = -1;
  std::int64_t die_ms = 0;
  {
    Quiet quiet(rank != 0);
    early = parse_cli(argc, argv, desc, vm, "--model MODEL [options]   (under mpirun)",
                      "Fetches --num URLs as crawl does, spread over the MPI ranks, and merges every\n"
                      "rank's records on rank 0 into one timeline (with a rank column) and one summary.\n\n"
                      "Models (crawl --list-models):" +
                          crawl_models_help(),
                      std::string("libcurl ") + curl_version_info(CURLVERSION_NOW)->version);
    if (!early) early = finish_crawl_options(vm, cfg, out, "crawl-mpi");
    if (!early && out.list_models) {
      for (const auto& m : models()) std::cout << m.name << '\n';
      early = 0;
    }
    int skew_rank = -1;
    std::int64_t skew_ms = 0;
    if (!early && !skew_spec.empty() && !rank_value(skew_spec, skew_rank, skew_ms))
      early = usage_error("crawl-mpi", "--test-skew takes RANK:MS, not '" + skew_spec + "'");
    if (!early && !die_spec.empty() && !rank_value(die_spec, die_rank, die_ms))
      early = usage_error("crawl-mpi", "--test-die takes RANK:MS, not '" + die_spec + "'");
    if (!early && cfg.rate > 0)
      early = usage_error("crawl-mpi",
                          "--rate is not spread over ranks (one schedule is one sequence): run crawl --rate "
                          "on one machine");
    const ModelEntry* model = early ? nullptr : find_model(cfg.model);
    if (!early && !model) early = usage_error("crawl-mpi", "unknown model '" + cfg.model + "'");
    if (!early && cfg.concurrency < 1) early = usage_error("crawl-mpi", "--concurrency must be at least 1");
    if (!early && !model->one_in_flight && cfg.concurrency < size)
      early =
          usage_error("crawl-mpi", "--concurrency " + std::to_string(cfg.concurrency) + " is less than the " +
                                       std::to_string(size) + " ranks: each rank needs a slot");
    if (!early && deadline_s < 0) early = usage_error("crawl-mpi", "--deadline cannot be negative");
    if (!early && skew_rank == rank) set_clock_skew_us(skew_ms * 1000);
  }
  if (early) return *early;  // every rank read the same line: every rank leaves the same way

  const CrawlConfig whole = cfg;
  const std::vector<std::string> urls = split_urls(cfg.url);
  cfg.url = urls[static_cast<std::size_t>(rank) % urls.size()];
  const std::int64_t n = cfg.num;
  cfg.shard_begin = n * rank / size;
  cfg.shard_end = n * (rank + 1) / size;
  if (!find_model(cfg.model)->one_in_flight)  // serial: one request in flight on every rank
    cfg.concurrency = cfg.concurrency / size + (rank < cfg.concurrency % size ? 1 : 0);
  if (deadline_s == 0) {
    const std::int64_t mine = cfg.shard_end - cfg.shard_begin;
    const std::int64_t waves = (mine + cfg.concurrency - 1) / std::max(1, cfg.concurrency);
    deadline_s = 60 + static_cast<double>(waves * (cfg.retries + 1) * effective_timeout_ms(cfg)) / 1000.0;
  }
  raise_open_files_limit();
  std::string invalid;
  try {  // as crawl would, before any rank waits for another
    check_crawl_config(cfg);
  } catch (const std::invalid_argument& e) {
    invalid = e.what();
  }
  if (!invalid.empty()) {
    Quiet quiet(rank != 0);
    return usage_error("crawl-mpi", invalid);
  }

  // One URL list everywhere: rank 0's seed.
  if (rank == 0 && cfg.seed == 0) cfg.seed = std::random_device{}() | 1;
  MPI_Bcast(&cfg.seed, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);

  char host[MPI_MAX_PROCESSOR_NAME] = {};
  int host_len = 0;
  MPI_Get_processor_name(host, &host_len);
  const std::string source = source_address(cfg);

  // Clocks before; then one start instant of rank 0's clock for everyone.
  const ClockSample before = measure_clock(rank, size, mono_seconds() + deadline_s);
  std::int64_t start_at = rank == 0 ? now_us() + 500'000 + n / 10 : 0;  // time to build n URLs
  MPI_Request bcast;  // asleep while rank 0 measures the others' clocks
  MPI_Ibcast(&start_at, 1, MPI_INT64_T, 0, MPI_COMM_WORLD, &bcast);
  wait_request(bcast, mono_seconds() + deadline_s, "waiting for the start time", rank);
  cfg.start_at_us = start_at - before.offset_us;

  if (die_rank == rank) {  // --test-die: a rank lost mid-run, as a crashed host would be
    std::thread([at = cfg.start_at_us + die_ms * 1000] {
      sleep_until_us(at);
      std::raise(SIGKILL);
    }).detach();
  }

  CrawlSummary s;
  std::string failure;
  try {
    s = run_crawl(cfg);
  } catch (const std::exception& e) {
    failure = e.what();  // told to rank 0 through the gather below, so no rank waits for it in vain
    s.config = cfg;
  }
  const double deadline = mono_seconds() + deadline_s;
  // Clocks after: how far each drifted over the run. (A barrier first, polled:
  // the slowest rank may still be crawling.)
  MPI_Request bar;
  rusage wait0{}, wait1{};
  getrusage(RUSAGE_SELF, &wait0);
  const double wait_start = mono_seconds();
  MPI_Ibarrier(MPI_COMM_WORLD, &bar);
  wait_request(bar, deadline, "waiting for every rank to finish its crawl", rank);
  getrusage(RUSAGE_SELF, &wait1);
  const double waited = mono_seconds() - wait_start;
  const ClockSample after = measure_clock(rank, size, deadline);

  // This rank's section, then its records, moved into rank 0's clock.
  const std::int64_t off = before.offset_us;
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [msg, count] : s.errors) errors[msg] = count;
  const RunCost& k = s.cost;
  // What waiting for the others cost this process: next to nothing, unless it spun.
  auto cpu_of = [](const rusage& r) {
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };
  nlohmann::json mine = {
      {"rank", rank},
      {"host", std::string(host, host_len)},
      {"source_address", source},
      {"url", cfg.url},
      {"first_index", cfg.shard_begin},
      {"num", cfg.shard_end - cfg.shard_begin},
      {"concurrency", cfg.concurrency},
      {"clock_offset_us", off},
      {"clock_round_trip_us", before.round_trip_us},
      {"clock_offset_after_us", after.offset_us},
      {"clock_round_trip_after_us", after.round_trip_us},
      {"start_lag_us", s.started_us ? s.started_us + off - start_at : 0},
      {"started_us", s.started_us ? s.started_us + off : 0},
      {"ended_us", s.ended_us ? s.ended_us + off : 0},
      {"seconds", s.seconds},
      {"bytes", s.bytes},
      {"failed", s.failed},
      {"retries", s.retries},
      {"errors", errors},
      {"stopped_early", s.stopped_early.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.stopped_early)},
      {"error", failure.empty() ? nlohmann::json(nullptr) : nlohmann::json(failure)},
      {"cpu_user_seconds", k.cpu_user_seconds},
      {"cpu_system_seconds", k.cpu_system_seconds},
      {"peak_rss_kib", k.peak_rss_kib},
      {"peak_threads", k.peak_threads},
      {"connections_opened", k.connections_opened},
      {"wait_seconds", waited},
      {"wait_cpu_seconds", cpu_of(wait1) - cpu_of(wait0)},
  };
  for (RequestRecord& r : s.records) {
    if (r.start_us) r.start_us += off;
    if (r.end_us) r.end_us += off;
    if (r.intended_us) r.intended_us += off;
  }
  std::vector<int> counts;
  std::vector<char> infos =
      gather_bytes(mine.dump(), rank, size, deadline, "gathering the ranks' summaries", counts);
  std::vector<int> info_sizes = counts;
  std::string rec_bytes(reinterpret_cast<const char*>(s.records.data()),
                        s.records.size() * sizeof(RequestRecord));
  std::vector<char> recs = gather_bytes(rec_bytes, rank, size, deadline, "gathering the records", counts);
  if (rank != 0) return failure.empty() ? 0 : 1;

  // Rank 0: the merged run.
  CrawlSummary m;
  m.config = whole;
  m.config.seed = cfg.seed;
  m.config.name = whole.name.empty() ? whole.model : whole.name;
  // Every record in its URL's place: a rank that failed leaves its share's
  // places empty (never sent), counted as failed below.
  m.records.assign(static_cast<std::size_t>(n), RequestRecord{});
  std::vector<int> ranks(static_cast<std::size_t>(n), 0);
  std::int64_t missing = 0;
  std::size_t rec_at = 0;
  nlohmann::json per_rank = nlohmann::json::array();
  std::vector<std::string> failures;
  std::int64_t first_start = INT64_MAX, last_end = 0;
  std::size_t at = 0;
  for (int r = 0; r < size; ++r) {
    auto j = nlohmann::json::parse(std::string(infos.data() + at, static_cast<std::size_t>(info_sizes[r])));
    at += static_cast<std::size_t>(info_sizes[r]);
    const auto first = j["first_index"].get<std::size_t>(), share = j["num"].get<std::size_t>();
    const std::size_t got = std::min(share, static_cast<std::size_t>(counts[r]) / sizeof(RequestRecord));
    if (got > 0) std::memcpy(&m.records[first], recs.data() + rec_at, got * sizeof(RequestRecord));
    rec_at += static_cast<std::size_t>(counts[r]);
    std::fill(ranks.begin() + static_cast<std::ptrdiff_t>(first),
              ranks.begin() + static_cast<std::ptrdiff_t>(first + share), r);
    missing += static_cast<std::int64_t>(share - got);
    m.bytes += j["bytes"].get<std::int64_t>();
    m.failed += j["failed"].get<std::int64_t>();
    m.retries += j["retries"].get<std::int64_t>();
    for (const auto& [msg, c] : j["errors"].items()) m.errors[msg] += c.get<std::int64_t>();
    if (!j["error"].is_null())
      failures.push_back("rank " + std::to_string(r) + ": " + j["error"].get<std::string>());
    if (!j["stopped_early"].is_null() && m.stopped_early.empty())
      m.stopped_early = "rank " + std::to_string(r) + ": " + j["stopped_early"].get<std::string>();
    if (j["started_us"].get<std::int64_t>() > 0)
      first_start = std::min(first_start, j["started_us"].get<std::int64_t>());
    last_end = std::max(last_end, j["ended_us"].get<std::int64_t>());
    m.cost.cpu_user_seconds += j["cpu_user_seconds"].get<double>();
    m.cost.cpu_system_seconds += j["cpu_system_seconds"].get<double>();
    m.cost.peak_rss_kib = std::max(m.cost.peak_rss_kib, j["peak_rss_kib"].get<std::int64_t>());
    m.cost.peak_threads += j["peak_threads"].get<std::int64_t>();
    m.cost.connections_opened += j["connections_opened"].get<std::int64_t>();
    per_rank.push_back(std::move(j));
  }
  m.seconds = first_start < last_end ? static_cast<double>(last_end - first_start) / 1e6 : 0;
  m.started_us = first_start == INT64_MAX ? 0 : first_start;
  m.ended_us = last_end;
  // Requests a failed rank never reported count as failed, with its reason.
  if (missing > 0) {
    m.failed += missing;
    m.errors["not done: a rank failed before crawling its share"] += missing;
  }

  int rc = 0;
  if (out.timeline) {
    std::string err;
    if (!write_file_atomic(*out.timeline, timeline_csv(m, &ranks), &err)) {
      std::cerr << "crawl-mpi: " << err << '\n';
      rc = 1;
    }
  }
  print_crawl_errors(m, "crawl-mpi");
  for (const auto& f : failures) std::cerr << "crawl-mpi: " << f << '\n';
  nlohmann::json j = to_json(m);
  j["version"] = version_line("crawl-mpi");
  j["mpi"] = {
      {"ranks", size},
      {"start_at_us", start_at},
      {"clock", "rank 0's; each rank's times moved by its offset (min round trip of " +
                    std::to_string(kClockRounds) + " ping-pongs)"},
      {"per_rank", per_rank},
  };
  if (out.json)
    std::cout << j.dump() << std::endl;
  else
    std::printf("Result: %lld, Time: %.6f, Ranks: %d\n", static_cast<long long>(m.bytes), m.seconds, size);
  if (m.failed > 0 || !failures.empty()) rc = 1;
  return rc;
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
