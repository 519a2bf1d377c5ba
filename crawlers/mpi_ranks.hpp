#pragma once
// crawl-mpi's plumbing between ranks, apart from what it does with them: the
// clock offset to rank 0, waits that poll instead of spinning, gathering
// bytes on rank 0, and the small helpers of its command line.
#include "crawlers/crawl.hpp"

#include <mpi.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace testbed {

constexpr int kClockRounds = 32;  // ping-pongs per clock measurement

// This rank's clock against rank 0's: offset = rank 0's clock - ours, from the
// ping-pong round with the shortest round trip; the error is at most half of it.
struct ClockSample {
  std::int64_t offset_us = 0;
  std::int64_t round_trip_us = 0;
};

// Waits for a non-blocking MPI call without spinning: a test every
// millisecond, and a run abandoned (every rank killed, exit 3) past the deadline.
void wait_request(MPI_Request& req, double deadline, const std::string& what, int rank);

// Collective: rank 0 answers each other rank in turn, kClockRounds times. A
// rank waits for its turn asleep (a "go" from rank 0), so that only the two
// ranks measuring run: on a shared core a spinning third would stretch the
// round trips it is measured by. Rank 0's own sample is zero.
ClockSample measure_clock(int rank, int size, double deadline);

// Gathers each rank's bytes on rank 0 (in rank order), with the deadline;
// `counts` gets each rank's size.
std::vector<char> gather_bytes(const std::string& mine, int rank, int size, double deadline,
                               const std::string& what, std::vector<int>& counts);

// The address this rank's connections to the server leave from (a UDP
// socket connected to it says, sending nothing); empty if unknown.
std::string source_address(const CrawlConfig& cfg);

// Every rank, one that refused its command line too, agrees on the run or all
// of them leave, with one message, from rank 0; a rank never waits for one
// that has gone (or copies a record past its arrays for one given another N).
// `early`: this rank's exit code if it would stop here (and `said`, what it
// would have printed); else `identity`, the run it was given (key=value
// lines). Returns the exit code every rank leaves with, or nothing: run.
std::optional<int> agree(int rank, int size, std::optional<int> early, const std::string& said,
                         const std::string& identity);

// What waiting for the others cost this rank: next to nothing, unless it spun.
struct Wait {
  double seconds = 0, cpu_seconds = 0;
  ClockSample clock_after;
};
// Every rank has crawled (a barrier, polled: the slowest rank may still be
// crawling); then the clocks again, for how far each drifted.
Wait finish_together(int rank, int size, double deadline);

// "RANK:VALUE" for the test-only options.
bool rank_value(const std::string& text, int& rank, std::int64_t& value);

// "a,b,c" -> {"a", "b", "c"}.
std::vector<std::string> split_urls(const std::string& list);

// Silences this rank's stdout and stderr while it lives (ranks other than 0
// while the command line is read: one message, not one per rank), keeping
// what was written to stderr for captured().
class Quiet {
 public:
  explicit Quiet(bool on);
  ~Quiet();
  Quiet(const Quiet&) = delete;
  Quiet& operator=(const Quiet&) = delete;
  // What was written to stderr so far while silenced ("" when not silenced).
  std::string captured();

 private:
  void restore();
  int sink_ = -1, out_ = -1, err_ = -1;
};

}  // namespace testbed
