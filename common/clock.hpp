#pragma once
// Wall-clock timestamps shared by the server and the clients, so a server
// timeline and a client timeline of the same run line up on one axis.
#include <cstdint>

namespace testbed {

// Microseconds since the Unix epoch (system clock, like Python's time.time()).
std::int64_t now_us();

// Tests only (crawl-mpi --test-skew): shifts every now_us() of this process
// by `us`, a clock that is off. Set it before any thread reads the clock.
void set_clock_skew_us(std::int64_t us);

// Monotonic seconds, for measuring durations.
double mono_seconds();

}  // namespace testbed
