#include "common/work.hpp"

#include <crypt.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
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

namespace {

// The draws' stream for uneven work (unit_draw): apart from the delay's (1,
// 2) and the faults' (16 and up), though the seed is the crawl's, not the
// server's.
constexpr std::uint64_t kWorkStream = 8;

// After "spin:us=N": ",dist=SHAPE" and the shape's parameters (knee, which
// follows the server's load, has no meaning for work).
bool parse_spin_dist(std::string_view rest, WorkSpec& w, std::string* error) {
  unsigned given = 0;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const auto eq = item.find('=');
    const std::string_view name = item.substr(0, eq);
    if (eq == std::string_view::npos || name == "knee" || !is_delay_param(name)) {
      *error = "spin takes us= and then dist=, spread=, sigma=, alpha=, cap=; not '" + std::string(item) + "'";
      return false;
    }
    if (given == 0 && name != "dist") {
      *error = "spin: '" + std::string(name) + "' needs dist= before it";
      return false;
    }
    if (given & delay_param_bit(name)) {
      *error = "spin: " + std::string(name) + "= given twice";
      return false;
    }
    if (!set_delay_param(w.dist, name, item.substr(eq + 1), error)) {
      *error = "spin: " + *error;
      return false;
    }
    given |= delay_param_bit(name);
  }
  if (given && !check_delay_dist(w.dist, given, error)) {
    *error = "spin: " + *error;
    return false;
  }
  return true;
}

}  // namespace

std::optional<WorkSpec> parse_work_spec(std::string_view spec, std::string* error) {
  std::string why;
  auto fail = [&](const std::string& reason) -> std::optional<WorkSpec> {
    if (error) *error = reason;
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
    return fail("unknown work '" + std::string(kind) + "' (none, spin:us=N[,dist=...], bcrypt:cost=K)");
  const std::string want = kind == "spin" ? "us" : "cost";
  if (colon == std::string_view::npos) return fail("'" + std::string(kind) + "' needs " + want + "=");
  std::string_view item = spec.substr(colon + 1), rest;
  if (const auto comma = item.find(','); kind == "spin" && comma != std::string_view::npos) {
    rest = item.substr(comma + 1);
    item = item.substr(0, comma);
  }
  const auto eq = item.find('=');
  if (eq == std::string_view::npos || item.substr(0, eq) != want)
    return fail("'" + std::string(kind) + "' takes " + want + "=, not '" + std::string(item) + "'");
  const std::string_view value = item.substr(eq + 1);
  if (kind == "spin") {
    w.kind = WorkKind::spin;
    if (!read_number(value, w.us) || w.us <= 0 || w.us > kMaxSpinUs)
      return fail("spin us='" + std::string(value) + "': a whole number of µs, 1 to 10000000");
    if (!parse_spin_dist(rest, w, &why)) return fail(why);
  } else {
    w.kind = WorkKind::bcrypt;
    if (!read_number(value, w.cost) || w.cost < kMinCost || w.cost > kMaxCost)
      return fail("bcrypt cost='" + std::string(value) + "': a whole number, 4 to 16");
  }
  return w;
}

std::string work_spec_text(const WorkSpec& w) {
  switch (w.kind) {
    case WorkKind::spin: {
      std::string out = "spin:us=" + std::to_string(w.us);
      if (w.uneven()) {
        // delay_spec's "lognormal:sigma=1" as ",dist=lognormal,sigma=1".
        std::string dist = delay_spec(w.dist);
        std::replace(dist.begin(), dist.end(), ':', ',');
        out += ",dist=" + dist;
      }
      return out;
    }
    case WorkKind::bcrypt:
      return "bcrypt:cost=" + std::to_string(w.cost);
    case WorkKind::none:
      break;
  }
  return "none";
}

std::int64_t Work::spin_us_for(std::uint64_t seed, std::uint64_t key) const {
  if (!spec_.uneven()) return spec_.us;
  const double us = static_cast<double>(spec_.us) * draw_factor(spec_.dist, seed, key, kWorkStream);
  if (!(us >= 1)) return 1;  // NaN too
  return std::llround(std::min(us, static_cast<double>(kMaxSpinUs)));
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

std::int64_t Work::run(std::size_t index, std::int64_t spin_us) const {
  if (spec_.kind == WorkKind::none) return 0;
  const std::int64_t t0 = thread_cpu_us();
  if (spec_.kind == WorkKind::spin) {
    // Rounds in chunks of about 20 µs (fewer for a short spin) until this
    // thread's CPU clock has advanced by the spin: N µs of CPU whatever the
    // caches and the frequency do meanwhile (a fixed count of rounds came
    // out 10-20% short inside a crawl of what it took when calibrated).
    const double chunk_us = std::min<double>(20.0, static_cast<double>(spin_us) / 4.0 + 1.0);
    const auto chunk = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(rounds_per_us_ * chunk_us));
    std::uint64_t h = index;
    do {
      h = spin_rounds(chunk, h);
    } while (thread_cpu_us() - t0 < spin_us);
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
