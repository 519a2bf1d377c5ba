#pragma once
// Wall-clock timestamps shared by the server and the clients, so a server
// timeline and a client timeline of the same run line up on one axis.
#include <cstdint>

namespace testbed {

// Microseconds since the Unix epoch (system clock, like Python's time.time()).
std::int64_t now_us();

// Monotonic seconds, for measuring durations.
double mono_seconds();

}  // namespace testbed
