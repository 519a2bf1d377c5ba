#include "common/work.hpp"

#include <crypt.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <memory>
#include <stdexcept>
#include <vector>

namespace testbed {

namespace {

constexpr std::int64_t kMaxSpinUs = 10'000'000;
constexpr int kMinCost = 4, kMaxCost = 16;

// One round of the spin's hash (64-bit FNV-1a over the counter): real
// arithmetic the compiler cannot fold away, since the result is kept.
inline std::uint64_t spin_rounds(std::uint64_t rounds, std::uint64_t h) {
  for (std::uint64_t k = 0; k < rounds; ++k) {
    h ^= k;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Where the spin's results go, so that no round is optimized out.
std::atomic<std::uint64_t> spin_sink{0};

template <class T>
bool read_number(std::string_view text, T& out) {
  auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

}  // namespace

std::int64_t thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

std::optional<WorkSpec> parse_work_spec(std::string_view spec, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<WorkSpec> {
    if (error) *error = why;
    return std::nullopt;
  };
  const auto colon = spec.find(':');
  const std::string_view kind = spec.substr(0, colon);
  WorkSpec w;
  if (kind == "none") {
    if (colon != std::string_view::npos) return fail("'none' takes no parameters");
    return w;
  }
  if (kind != "spin" && kind != "bcrypt")
    return fail("unknown work '" + std::string(kind) + "' (none, spin:us=N, bcrypt:cost=K)");
  const std::string want = kind == "spin" ? "us" : "cost";
  if (colon == std::string_view::npos) return fail("'" + std::string(kind) + "' needs " + want + "=");
  const std::string_view item = spec.substr(colon + 1);
  const auto eq = item.find('=');
  if (eq == std::string_view::npos || item.substr(0, eq) != want)
    return fail("'" + std::string(kind) + "' takes " + want + "=, not '" + std::string(item) + "'");
  const std::string_view value = item.substr(eq + 1);
  if (kind == "spin") {
    w.kind = WorkKind::spin;
    if (!read_number(value, w.us) || w.us <= 0 || w.us > kMaxSpinUs)
      return fail("spin us='" + std::string(value) + "': a whole number of µs, 1 to 10000000");
  } else {
    w.kind = WorkKind::bcrypt;
    if (!read_number(value, w.cost) || w.cost < kMinCost || w.cost > kMaxCost)
      return fail("bcrypt cost='" + std::string(value) + "': a whole number, 4 to 16");
  }
  return w;
}

std::string work_spec_text(const WorkSpec& w) {
  switch (w.kind) {
    case WorkKind::spin:
      return "spin:us=" + std::to_string(w.us);
    case WorkKind::bcrypt:
      return "bcrypt:cost=" + std::to_string(w.cost);
    case WorkKind::none:
      break;
  }
  return "none";
}

Work::Work(const WorkSpec& spec) : spec_(spec) {
  if (spec.kind == WorkKind::spin) {
    // Calibrate: double the rounds until a run takes 10 ms of this thread's
    // CPU, then take the median rate of five runs of that many.
    std::uint64_t rounds = 1 << 16;
    auto timed = [&] {
      const std::int64_t t0 = thread_cpu_us();
      spin_sink.fetch_xor(spin_rounds(rounds, 0xcbf29ce484222325ULL), std::memory_order_relaxed);
      return std::max<std::int64_t>(thread_cpu_us() - t0, 1);
    };
    while (timed() < 10'000 && rounds < (1ULL << 40)) rounds *= 2;
    std::vector<double> rates;
    for (int k = 0; k < 5; ++k) rates.push_back(static_cast<double>(rounds) / static_cast<double>(timed()));
    std::sort(rates.begin(), rates.end());
    rounds_per_us_ = rates[rates.size() / 2];
  } else if (spec.kind == WorkKind::bcrypt) {
    char buf[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$2b$", static_cast<unsigned long>(spec.cost), nullptr, 0, buf, sizeof buf))
      throw std::runtime_error("bcrypt: libcrypt cannot make a $2b$ setting of cost " +
                               std::to_string(spec.cost));
    setting_ = buf;
  }
}

std::int64_t Work::run(std::size_t index) const {
  if (spec_.kind == WorkKind::none) return 0;
  const std::int64_t t0 = thread_cpu_us();
  if (spec_.kind == WorkKind::spin) {
    // Rounds in chunks of about 20 µs (fewer for a short spin) until this
    // thread's CPU clock has advanced by the spin: N µs of CPU whatever the
    // caches and the frequency do meanwhile (a fixed count of rounds came
    // out 10-20% short inside a crawl of what it took when calibrated).
    const double chunk_us = std::min<double>(20.0, static_cast<double>(spec_.us) / 4.0 + 1.0);
    const auto chunk = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(rounds_per_us_ * chunk_us));
    std::uint64_t h = index;
    do {
      h = spin_rounds(chunk, h);
    } while (thread_cpu_us() - t0 < spec_.us);
    spin_sink.fetch_xor(h, std::memory_order_relaxed);
  } else {
    // A bcrypt's scratch is 32 KiB: one per thread that hashes, made on its
    // first hash (thread_local storage of that size would cost every thread).
    thread_local std::unique_ptr<crypt_data> scratch;
    if (!scratch) scratch = std::make_unique<crypt_data>();
    char phrase[32];
    auto end = std::to_chars(phrase, phrase + sizeof phrase - 1, index).ptr;
    *end = '\0';
    const char* hash = crypt_rn(phrase, setting_.c_str(), scratch.get(), sizeof(crypt_data));
    if (!hash || hash[0] == '*') throw std::runtime_error("bcrypt: libcrypt refused to hash");
  }
  return thread_cpu_us() - t0;
}

}  // namespace testbed
