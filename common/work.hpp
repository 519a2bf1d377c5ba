#pragma once
// CPU work on each answer, the same for every model: what a real client does
// with what it fetched, and where the concurrency models part (work on one
// event loop delays every other answer; threads spread it over the cores; a
// greenlet cannot be preempted). Written as:
//
//   none             no work (the default: the book's crawlers)
//   spin:us=N        N µs of real computation (a hash loop, not a sleep), in
//                    chunks calibrated once before a crawl's clock starts,
//                    until the thread's CPU clock has advanced N µs; 0 < N <= 10 s
//   spin:us=N,dist=lognormal,sigma=1
//                    uneven work: each answer's spin drawn from one of the
//                    delay distributions (delay_dist.hpp: uniform, lognormal,
//                    pareto, with their parameters but knee) whose median is
//                    N µs, at most 10 s; the draw is a pure function of the
//                    crawl's seed and the request's URL (its request_key), so
//                    every model does the same work on the same request
//   bcrypt:cost=K    a bcrypt hash, as the book's later editions' workload
//                    does on every request (libcrypt's $2b$); 4 <= K <= 16
#include "common/delay_dist.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace testbed {

enum class WorkKind { none, spin, bcrypt };

struct WorkSpec {
  WorkKind kind = WorkKind::none;
  std::int64_t us = 0;  // spin: its median when `dist` varies it
  DelayDist dist;       // spin: how each answer's spin is drawn (fixed: every one is `us`)
  int cost = 0;         // bcrypt
  bool any() const { return kind != WorkKind::none; }
  bool uneven() const { return kind == WorkKind::spin && dist.shape != DelayShape::fixed; }
};

// The spec as written above; nullopt with the reason (naming the part that is
// wrong) in `error`.
std::optional<WorkSpec> parse_work_spec(std::string_view spec, std::string* error);
// Its text, as parse_work_spec reads it back ("none", "spin:us=250",
// "spin:us=1000,dist=lognormal,sigma=1").
std::string work_spec_text(const WorkSpec& w);

// The work, ready to run: a spin's loop calibrated, a bcrypt's setting drawn.
// Built once before the clock starts; do() is then called on any thread, with
// no lock and no allocation but a bcrypt's scratch, once per thread.
class Work {
 public:
  explicit Work(const WorkSpec& spec);
  const WorkSpec& spec() const { return spec_; }
  // Does the work for request `index` (bcrypt hashes its number); a spin
  // spins `spin_us` (the spec's `us` when even); the CPU time it took on the
  // calling thread, µs.
  std::int64_t run(std::size_t index) const { return run(index, spec_.us); }
  std::int64_t run(std::size_t index, std::int64_t spin_us) const;
  // An uneven spin: how long the request of this `key` (request_key of its
  // query) spins, drawn from `seed`; an even one: the spec's `us`.
  std::int64_t spin_us_for(std::uint64_t seed, std::uint64_t key) const;

 private:
  WorkSpec spec_;
  double rounds_per_us_ = 0;  // spin: hash rounds a µs of this thread's CPU, calibrated
  std::string setting_;       // bcrypt: "$2b$K$<salt>"
};

// The calling thread's CPU time, µs (CLOCK_THREAD_CPUTIME_ID).
std::int64_t thread_cpu_us();

}  // namespace testbed
