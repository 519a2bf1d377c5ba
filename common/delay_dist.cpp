#include "common/delay_dist.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <numbers>

namespace testbed {

namespace {

bool parse_double(std::string_view s, double& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && std::isfinite(out);
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

const char* shape_name(DelayShape s) {
  switch (s) {
    case DelayShape::fixed:
      return "fixed";
    case DelayShape::uniform:
      return "uniform";
    case DelayShape::lognormal:
      return "lognormal";
    case DelayShape::pareto:
      return "pareto";
  }
  return "?";
}

unsigned delay_param_bit(std::string_view name) {
  for (std::size_t k = 0; k < std::size(kDelayParams); ++k)
    if (name == kDelayParams[k]) return 1u << k;
  return 0;
}

bool is_delay_param(std::string_view name) { return delay_param_bit(name) != 0; }

bool set_delay_param(DelayDist& d, std::string_view name, std::string_view value, std::string* error) {
  auto fail = [&](const std::string& why) {
    if (error) *error = "bad " + std::string(name) + " '" + std::string(value) + "': " + why;
    return false;
  };
  if (name == "dist") {
    for (DelayShape s : {DelayShape::fixed, DelayShape::uniform, DelayShape::lognormal, DelayShape::pareto})
      if (value == shape_name(s)) {
        d.shape = s;
        return true;
      }
    return fail("expected fixed, uniform, lognormal or pareto");
  }
  double v = 0;
  if (!parse_double(value, v)) return fail("not a number");
  if (name == "spread") {
    if (v < 0 || v > 1) return fail("must be within 0..1");
    d.spread = v;
  } else if (name == "sigma") {
    if (v <= 0 || v > 5) return fail("must be above 0 and at most 5");
    d.sigma = v;
  } else if (name == "alpha") {
    if (v <= 0 || v > 100) return fail("must be above 0 and at most 100");
    d.alpha = v;
  } else if (name == "cap") {
    if (v < 1 || v > 1000) return fail("must be within 1..1000 (a multiple of the median)");
    d.cap = v;
  } else if (name == "knee") {
    if (v <= 0 || v > 1e9) return fail("must be above 0 (requests in flight)");
    d.knee = v;
  } else {
    if (error) *error = "unknown delay parameter '" + std::string(name) + "'";
    return false;
  }
  return true;
}

bool check_delay_dist(const DelayDist& d, unsigned given, std::string* error) {
  auto misplaced = [&](const char* name, const char* shape) {
    if (error) *error = "bad " + std::string(name) + ": it applies to dist=" + shape + " only";
    return false;
  };
  if ((given & 2) && d.shape != DelayShape::uniform) return misplaced("spread", "uniform");
  if ((given & 4) && d.shape != DelayShape::lognormal) return misplaced("sigma", "lognormal");
  if ((given & 8) && d.shape != DelayShape::pareto) return misplaced("alpha", "pareto");
  if ((given & 16) && d.shape != DelayShape::pareto) return misplaced("cap", "pareto");
  return true;
}

std::optional<DelayDist> parse_delay_spec(std::string_view spec, std::string* error) {
  DelayDist d;
  auto colon = spec.find(':');
  if (!set_delay_param(d, "dist", spec.substr(0, colon), error)) return std::nullopt;
  unsigned given = 1;
  if (colon != std::string_view::npos) {
    std::string_view rest = spec.substr(colon + 1);
    while (true) {
      auto comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      auto eq = item.find('=');
      if (eq == std::string_view::npos) {
        if (error) *error = "bad delay parameter '" + std::string(item) + "': expected name=value";
        return std::nullopt;
      }
      std::string_view name = item.substr(0, eq);
      if (name == "dist" || !is_delay_param(name)) {
        if (error)
          *error = "unknown delay parameter '" + std::string(name) + "' (spread, sigma, alpha, cap, knee)";
        return std::nullopt;
      }
      if (!set_delay_param(d, name, item.substr(eq + 1), error)) return std::nullopt;
      given |= delay_param_bit(name);
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  }
  if (!check_delay_dist(d, given, error)) return std::nullopt;
  return d;
}

namespace {

// Shortest text that reads back as the same double.
std::string number(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

// The parameters that differ from the defaults, as name=value pairs.
template <class Emit>
void each_param(const DelayDist& d, Emit emit) {
  const DelayDist base;
  if (d.shape == DelayShape::uniform && d.spread != base.spread) emit("spread", number(d.spread));
  if (d.shape == DelayShape::lognormal && d.sigma != base.sigma) emit("sigma", number(d.sigma));
  if (d.shape == DelayShape::pareto && d.alpha != base.alpha) emit("alpha", number(d.alpha));
  if (d.shape == DelayShape::pareto && d.cap != base.cap) emit("cap", number(d.cap));
  if (d.knee != 0) emit("knee", number(d.knee));
}

}  // namespace

std::string delay_query(const DelayDist& d) {
  std::string out;
  if (d.shape != DelayShape::fixed) out = std::string("&dist=") + shape_name(d.shape);
  each_param(d, [&](const char* name, const std::string& v) { out += std::string("&") + name + "=" + v; });
  return out;
}

std::string delay_spec(const DelayDist& d) {
  std::string out = shape_name(d.shape);
  char sep = ':';
  each_param(d, [&](const char* name, const std::string& v) {
    out += sep;
    out += std::string(name) + "=" + v;
    sep = ',';
  });
  return out;
}

std::uint64_t request_key(std::string_view query) {
  // FNV-1a over every parameter but name=..., with '&' between them.
  std::uint64_t h = 0xcbf29ce484222325ull;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    if (!param.empty() && param.substr(0, 5) != "name=" && param != "name") {
      for (unsigned char c : param) h = (h ^ c) * 0x100000001b3ull;
      h = (h ^ '&') * 0x100000001b3ull;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return h;
}

double unit_draw(std::uint64_t seed, std::uint64_t key, std::uint64_t stream) {
  std::uint64_t x = splitmix64(seed ^ splitmix64(key ^ splitmix64(stream)));
  return (static_cast<double>(x >> 11) + 0.5) * 0x1p-53;  // never 0 nor 1
}

double draw_factor(const DelayDist& d, std::uint64_t seed, std::uint64_t key, std::uint64_t stream) {
  switch (d.shape) {
    case DelayShape::fixed:
      return 1;
    case DelayShape::uniform:
      return 1 + d.spread * (2 * unit_draw(seed, key, stream) - 1);
    case DelayShape::lognormal: {
      // Box-Muller: one standard normal from two uniforms.
      double z = std::sqrt(-2 * std::log(unit_draw(seed, key, stream))) *
                 std::cos(2 * std::numbers::pi * unit_draw(seed, key, stream + 1));
      return std::exp(d.sigma * z);
    }
    case DelayShape::pareto:
      // Inverse CDF: x = x_m * u^(-1/alpha) with the median x_m * 2^(1/alpha),
      // so x = median * (2u)^(-1/alpha). The factor alone is capped: with a
      // tiny alpha it is 0 or infinite, never NaN, and min() makes it the cap
      // (x_m itself would underflow to 0, and 0 * infinity is NaN).
      return std::min(std::pow(2 * unit_draw(seed, key, stream), -1 / d.alpha), d.cap);
  }
  return 1;
}

std::int64_t draw_delay_us(const DelayDist& d, std::int64_t median_ms, std::uint64_t seed, std::uint64_t key,
                           std::int64_t max_us) {
  double us = static_cast<double>(median_ms) * 1000.0 * draw_factor(d, seed, key, 1);
  // Clamped before the conversion: a far tail (sigma 5) overflows an int64.
  // Every draw is finite and within [0, max_us] whatever the parameters.
  if (!(us >= 0)) us = 0;  // NaN too: no draw may become INT64_MIN
  return std::llround(std::min(us, static_cast<double>(std::max<std::int64_t>(max_us, 0))));
}

}  // namespace testbed
