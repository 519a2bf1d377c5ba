#pragma once
// Delays that vary the way real services do. A request's delay is drawn from
// a distribution whose median is the `delay` it asks for (so the book's
// `delay=100` still means "typically 100 ms"), and the draw is a pure function
// of the server's seed and the request's key (see request_key): every model
// that sends the same URLs meets exactly the same delays, whatever order they
// arrive in.
//
//   fixed      exactly `delay` (the book's server; the default)
//   uniform    uniformly within delay * (1 - spread) .. delay * (1 + spread);
//              spread in [0, 1], default 0.5. Mean = median = delay.
//   lognormal  delay * exp(sigma * Z), Z standard normal; sigma > 0, default
//              0.5. Median = delay; mean = delay * exp(sigma^2 / 2) (sigma 0.6:
//              1.197 * delay); p99 = delay * exp(2.326 * sigma).
//   pareto     a power-law tail: P(X > x) = (x_m / x)^alpha with x_m chosen so
//              that the median is `delay`, cut at cap * delay; alpha > 0,
//              default 1.5; cap >= 1, default 10.
//
// and, for any of them, `knee` > 0 makes the delay grow with load: the drawn
// delay is multiplied by (1 + in_flight / knee), in_flight being the delayed
// requests the server holds when this one arrives (not counting itself). That
// factor depends on timing, so it is the one part that is not repeatable.
//
// Written as `lognormal:sigma=0.6,knee=200` on command lines, and as query
// parameters `dist=lognormal&sigma=0.6&knee=200` in a URL.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace testbed {

enum class DelayShape { fixed, uniform, lognormal, pareto };

struct DelayDist {
  DelayShape shape = DelayShape::fixed;
  double spread = 0.5;  // uniform
  double sigma = 0.5;   // lognormal
  double alpha = 1.5;   // pareto
  double cap = 10;      // pareto, as a multiple of the median
  double knee = 0;      // 0: no load dependence
  bool operator==(const DelayDist&) const = default;
};

const char* shape_name(DelayShape s);

// The parameters a distribution is written with, in a URL or a spec; the bit
// of kDelayParams[k] in a `given` set (delay_param_bit) is 1 << k.
inline constexpr const char* kDelayParams[] = {"dist", "spread", "sigma", "alpha", "cap", "knee"};

// Sets one parameter (one of kDelayParams) from
// its text. False, and `error` naming the parameter and why, if the value is
// bad; a parameter the shape does not take is checked by check_delay_dist.
bool set_delay_param(DelayDist& d, std::string_view name, std::string_view value, std::string* error);
bool is_delay_param(std::string_view name);

// Rejects a parameter given that the shape does not use (sigma for uniform).
// `given` holds the names set, each bit from delay_param_bit().
unsigned delay_param_bit(std::string_view name);
bool check_delay_dist(const DelayDist& d, unsigned given, std::string* error);

// "lognormal:sigma=0.6,knee=200" (or just "lognormal", or "fixed").
std::optional<DelayDist> parse_delay_spec(std::string_view spec, std::string* error);
// The same as query parameters, each preceded by '&': "&dist=lognormal&sigma=0.6".
// Empty for the fixed shape without a knee (so such URLs stay the book's).
std::string delay_query(const DelayDist& d);
// "lognormal:sigma=0.6" (for summaries).
std::string delay_spec(const DelayDist& d);

// A request's identity for the draws: a hash of its query without the `name`
// parameter (each model sends its own name; the random tail, the delay and the
// distribution's parameters are what make requests differ).
std::uint64_t request_key(std::string_view query);

// A number in (0, 1), a pure function of its arguments; `stream` keeps the
// delay's draws apart from the fault's.
double unit_draw(std::uint64_t seed, std::uint64_t key, std::uint64_t stream);

// A draw's factor on the median (1 for fixed): a pure function of the seed,
// the key and the first `stream` it takes (lognormal takes two).
double draw_factor(const DelayDist& d, std::uint64_t seed, std::uint64_t key, std::uint64_t stream);

// The delay for a request whose median is `median_ms`, in microseconds, before
// any load factor; at most `max_us`.
std::int64_t draw_delay_us(const DelayDist& d, std::int64_t median_ms, std::uint64_t seed, std::uint64_t key,
                           std::int64_t max_us);

}  // namespace testbed
