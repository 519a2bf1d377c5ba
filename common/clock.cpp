#include "common/clock.hpp"

#include <chrono>

namespace testbed {

namespace {
std::int64_t g_skew_us = 0;
}

void set_clock_skew_us(std::int64_t us) { g_skew_us = us; }

std::int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count() + g_skew_us;
}

double mono_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace testbed
