#pragma once
// crawl's command line, shared by crawl and crawl-mpi so that both take every
// flag the same way and refuse a bad one with the same message.
#include "crawlers/crawl.hpp"

#include <boost/program_options.hpp>

#include <optional>
#include <string>

namespace testbed {

// --connection's help, for crawl, crawl summarize and crawl-mpi.
inline constexpr const char* kConnectionHelp =
    "what a connection carries, in every model: keepalive (as many requests as the server allows, the "
    "default), close (one request, then closed: a connect for every request) or reuse:N (N requests, the "
    "last saying Connection: close)";

// --work's help, for crawl, crawl summarize and crawl-mpi.
inline constexpr const char* kWorkHelp =
    "CPU work on every answer, on the thread that handled it, before the request counts as done, the "
    "same for every model: none, spin:us=N (N µs of computation, calibrated before the clock starts) or "
    "bcrypt:cost=K (a bcrypt hash, as the book's later editions' workload)";

// What the command line asks for beyond the crawl itself.
struct CrawlOutputs {
  std::optional<std::string> timeline;  // --timeline
  std::optional<std::string> resources;  // --resources
  bool json = false;                    // --json
  bool list_models = false;             // --list-models
  bool print_urls = false;              // --print-urls
};

// Adds every crawl option to `desc`, writing into `cfg`.
void add_crawl_options(boost::program_options::options_description& desc, CrawlConfig& cfg);

// The help text's description of the models (crawl --help).
std::string crawl_models_help();

// After parsing: fills what the table could not (the delay distribution, the
// arrivals, the flags) and checks what only the whole line can tell. An error
// is printed as `program: message` with exit code 2, returned; nullopt: fine.
std::optional<int> finish_crawl_options(const boost::program_options::variables_map& vm, CrawlConfig& cfg,
                                        CrawlOutputs& out, const std::string& program);

// The run's shape from the options both crawl and `crawl summarize` take:
// --batched, --arrivals, --delay-dist into `cfg`. An error, or "".
std::string read_run_shape(const boost::program_options::variables_map& vm, CrawlConfig& cfg);

// Prints what went wrong in a run on stderr (stopped early, retries, each
// error with its count), as `program: model: ...`.
void print_crawl_errors(const CrawlSummary& s, const std::string& program);

}  // namespace testbed
