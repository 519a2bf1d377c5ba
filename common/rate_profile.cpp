#include "common/rate_profile.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>

namespace testbed {

namespace {

// A finite number, the whole of `text` (the callers refuse a negative one, saying so).
bool read_number(std::string_view text, double& out) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.remove_suffix(1);
  if (text.empty()) return false;
  auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size() && std::isfinite(out);
}

// Splits at every `sep`.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (std::size_t at; (at = s.find(sep)) != std::string_view::npos; s.remove_prefix(at + 1))
    parts.push_back(s.substr(0, at));
  parts.push_back(s);
  return parts;
}

using Fail = std::optional<RateProfile>;

std::string quoted(std::string_view text) {
  std::string out(1, '\'');
  out.append(text).push_back('\'');
  return out;
}

// "rate" values: a number, not negative, at most a million a second.
std::string check_rate(std::string_view text, double& r) {
  if (!read_number(text, r)) return quoted(text) + " is not a rate (requests per second)";
  if (r < 0) return "a rate cannot be negative: " + std::string(text);
  if (r > 1e6) return "a rate over 1000000 per second: " + std::string(text);
  return "";
}

std::string check_seconds(std::string_view text, double& s, bool may_be_zero) {
  if (!read_number(text, s)) return quoted(text) + " is not a number of seconds";
  if (s < 0 || (!may_be_zero && s == 0))
    return std::string("a time must be ") + (may_be_zero ? "0 or more" : "above 0") + ": " +
           std::string(text);
  return "";
}

std::string parse_ramp(std::string_view body, RateProfile& p) {
  const auto slash = body.find('/');
  const auto dots = body.find("..");
  if (slash == std::string_view::npos || dots == std::string_view::npos || dots > slash)
    return "ramp is ramp:FROM..TO/SECONDS";
  double from = 0, to = 0, length = 0;
  for (auto why :
       {check_rate(body.substr(0, dots), from), check_rate(body.substr(dots + 2, slash - dots - 2), to),
        check_seconds(body.substr(slash + 1), length, false)})
    if (!why.empty()) return why;
  p.segments.push_back({0, length, from, to});
  return "";
}

std::string parse_step(std::string_view body, RateProfile& p) {
  const auto at = body.find('@');
  if (at == std::string_view::npos) return "step is step:R1,R2,...@SECONDS";
  double length = 0;
  if (auto why = check_seconds(body.substr(at + 1), length, false); !why.empty()) return why;
  double t = 0;
  for (auto part : split(body.substr(0, at), ',')) {
    double r = 0;
    if (auto why = check_rate(part, r); !why.empty()) return why;
    p.segments.push_back({t, t + length, r, r});
    t += length;
  }
  return "";
}

std::string parse_spike(std::string_view body, RateProfile& p) {
  const auto at = body.find('@');
  const auto plus = body.find('+', at == std::string_view::npos ? 0 : at);
  const auto parts = split(body.substr(0, at), ',');
  if (at == std::string_view::npos || plus == std::string_view::npos || parts.size() != 2)
    return "spike is spike:BASE,PEAK@AT+LENGTH";
  double base = 0, peak = 0, start = 0, length = 0;
  for (auto why : {check_rate(parts[0], base), check_rate(parts[1], peak),
                   check_seconds(body.substr(at + 1, plus - at - 1), start, true),
                   check_seconds(body.substr(plus + 1), length, false)})
    if (!why.empty()) return why;
  if (start > 0) p.segments.push_back({0, start, base, base});
  p.segments.push_back({start, start + length, peak, peak});
  p.segments.push_back({start + length, start + length, base, base});  // to --duration
  p.spike_end_s = start + length;
  p.needs_duration = true;
  return "";
}

std::string parse_file(std::string_view path, RateProfile& p) {
  std::ifstream in{std::string(path)};
  if (!in) return "cannot read " + std::string(path) + ": " + std::strerror(errno);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
    const auto cells = split(line, ',');
    double t = 0, r = 0;
    std::string why = cells.size() != 2 ? "a row is time,rate" : check_seconds(cells[0], t, true);
    if (why.empty()) why = check_rate(cells[1], r);
    if (why.empty() && p.segments.empty() && t != 0) why = "the first row is at time 0";
    if (why.empty() && !p.segments.empty() && t <= p.segments.back().start_s) why = "times must go forward";
    if (!why.empty()) return std::string(path) + ":" + std::to_string(number) + ": " + why;
    if (!p.segments.empty()) p.segments.back().end_s = t;
    p.segments.push_back({t, t, r, r});  // to the next row, or to --duration
  }
  if (p.segments.empty()) return std::string(path) + ": no rows (time,rate)";
  p.needs_duration = true;
  return "";
}

// Requests due in a segment of `length` seconds whose rate goes from `from` to `to`.
double segment_count(const RateSegment& s, double length) {
  const double slope = s.end_s > s.start_s ? (s.to - s.from) / (s.end_s - s.start_s) : 0;
  return s.from * length + slope * length * length / 2;
}

}  // namespace

std::optional<RateProfile> parse_rate_profile(std::string_view spec, std::string* error) {
  RateProfile p;
  p.spec = std::string(spec);
  const auto colon = spec.find(':');
  const std::string_view kind = spec.substr(0, colon),
                         body = colon == std::string_view::npos ? "" : spec.substr(colon + 1);
  std::string why;
  if (kind == "ramp")
    why = parse_ramp(body, p);
  else if (kind == "step")
    why = parse_step(body, p);
  else if (kind == "spike")
    why = parse_spike(body, p);
  else if (kind == "file")
    why = body.empty() ? "file is file:PATH" : parse_file(body, p);
  else
    why = "unknown kind '" + std::string(kind) + "' (ramp, step, spike or file)";
  if (why.empty()) return p;
  if (error) *error = why;
  return Fail{};
}

std::vector<std::int64_t> due_times(const RateProfile& p, double end_s, std::size_t limit) {
  std::vector<std::int64_t> due;
  if (!p.any()) return due;
  if (end_s <= 0) end_s = p.end_s();
  double before = 0;   // requests due before this segment, as a real number (the integral)
  std::int64_t k = 0;  // the next request
  for (std::size_t n = 0; n < p.segments.size() && due.size() < limit; ++n) {
    RateSegment s = p.segments[n];
    const bool last = n + 1 == p.segments.size();
    const double stop = last ? end_s : std::min(s.end_s, end_s);  // the last segment goes on at its rate
    if (stop <= s.start_s) break;
    const double slope = s.end_s > s.start_s ? (s.to - s.from) / (s.end_s - s.start_s) : 0;
    // A ramp that is the last segment holds its end rate past its end.
    const double ramp_end = last && s.end_s > s.start_s ? s.end_s : stop;
    const double ramp_len = std::min(ramp_end, stop) - s.start_s;
    const double in_ramp = s.from * ramp_len + slope * ramp_len * ramp_len / 2;
    for (; due.size() < limit; ++k) {
      const double left = static_cast<double>(k) - before;  // requests into this segment
      double tau;
      if (left <= in_ramp) {
        // from * tau + slope * tau^2 / 2 = left, the root that comes first,
        // in the form that stays exact when slope is 0.
        if (s.from <= 0 && slope <= 0) break;  // a rate of 0 throughout: nothing due here
        const double root = std::sqrt(std::max(0.0, s.from * s.from + 2 * slope * left));
        tau = s.from + root > 0 ? 2 * left / (s.from + root) : 0;  // 0: a ramp up from 0, at its start
      } else {
        const double rate_after = s.from + slope * ramp_len;  // held after a ramp that ended
        if (rate_after <= 0) break;
        tau = ramp_len + (left - in_ramp) / rate_after;
      }
      const double t = s.start_s + tau;
      if (t >= stop) break;
      due.push_back(std::llround(t * 1e6));
    }
    before += segment_count(s, std::min(s.end_s, stop) - s.start_s) +
              (last && stop > s.end_s ? (s.from + slope * (s.end_s - s.start_s)) * (stop - s.end_s) : 0);
  }
  return due;
}

double mean_rate(const RateProfile& p, double end_s) {
  if (!p.any() || end_s <= 0) return 0;
  double total = 0;  // the rate's integral over [0, end_s)
  for (std::size_t n = 0; n < p.segments.size(); ++n) {
    const RateSegment& s = p.segments[n];
    if (end_s <= s.start_s) break;
    total += segment_count(s, std::min(s.end_s, end_s) - s.start_s);
    if (n + 1 == p.segments.size() && end_s > s.end_s)  // the last rate goes on
      total += (s.end_s > s.start_s ? s.to : s.from) * (end_s - s.end_s);
  }
  return total / end_s;
}

}  // namespace testbed
