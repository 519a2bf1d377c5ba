#pragma once
// How an open loop's rate changes over the run (crawl --rate-profile): a
// rate in requests per second that is a function of time, made of segments,
// each constant or changing linearly. Request k (from 0) is due at the time
// t_k from which the rate's integral from 0 passes k: each due time comes from a
// closed form of its own, never from adding gaps, so none is early and none
// drifts. A constant rate R gives t_k = k / R, what --rate alone gives.
//
//   ramp:FROM..TO/SECONDS       the rate goes from FROM to TO in a straight line over SECONDS
//   step:R1,R2,...@SECONDS      R1 for SECONDS, then R2 for SECONDS, and so on
//   spike:BASE,PEAK@AT+LENGTH   BASE, PEAK from AT for LENGTH seconds, then BASE again
//   file:PATH                   rows "time,rate" (seconds from the start, strictly
//                               increasing from 0): each rate holds until the next row
//
// A profile ends where its last segment does (spike and file: at --duration);
// --duration runs it on at its last rate, or cuts it short.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace testbed {

struct RateSegment {
  double start_s = 0;  // from the run's start
  double end_s = 0;    // > start_s; the last one may be extended (see due_times)
  double from = 0;     // requests per second at start_s
  double to = 0;       // and at end_s (linear in between)
};

struct RateProfile {
  std::string spec;  // as given ("ramp:100..1000/5"); empty: none
  std::vector<RateSegment> segments;
  bool needs_duration = false;  // spike and file: the run's length is --duration's
  // spike: when the peak ends (recovery is measured from it); -1: not a spike.
  double spike_end_s = -1;
  bool any() const { return !segments.empty(); }
  double end_s() const { return segments.empty() ? 0 : segments.back().end_s; }
};

// Parses a spec; nullopt with the reason (naming what is wrong) for a bad one:
// a negative rate, times that go backwards, an empty file, an unknown kind.
std::optional<RateProfile> parse_rate_profile(std::string_view spec, std::string* error);

// The due times (µs from the start, the first at 0 if the rate is above 0
// there) of every request the profile sends before `end_s` (the profile's
// own end if 0; later: its last rate goes on), at most `limit` of them.
std::vector<std::int64_t> due_times(const RateProfile& p, double end_s, std::size_t limit);

// The mean rate over [0, end_s) (requests per second): the rate's integral
// over it, divided by its length (nothing is listed).
double mean_rate(const RateProfile& p, double end_s);

}  // namespace testbed
