// crawl: fetch N URLs from delayserver with one of the concurrency models
// (crawlers/models.cpp lists them; `crawl --list-models` prints the list).
#include "common/cli.hpp"
#include "common/csv.hpp"
#include "crawlers/crawl.hpp"
#include "crawlers/crawl_cli.hpp"

#include <curl/curl.h>

#include <cstdio>
#include <iostream>

namespace po = boost::program_options;

int main(int argc, char** argv) {
  testbed::CrawlConfig cfg;
  po::options_description desc("Options");
  testbed::add_crawl_options(desc, cfg);
  po::variables_map vm;
  if (auto rc =
          testbed::parse_cli(argc, argv, desc, vm, "--model MODEL [options]",
                             "Fetches --num URLs of the form URL/add?name=NAME&delay=MS&<random> and sums\n"
                             "the body lengths, using one of the concurrency models of HPP chapter 8.\n\n"
                             "Models (crawl --list-models), and what each mirrors in the book:" +
                                 testbed::crawl_models_help(),
                             std::string("libcurl ") + curl_version_info(CURLVERSION_NOW)->version))
    return *rc;
  testbed::CrawlOutputs out;
  if (auto rc = testbed::finish_crawl_options(vm, cfg, out, "crawl")) return *rc;
  if (out.list_models) {
    if (out.json)
      std::cout << testbed::models_json().dump() << std::endl;
    else
      for (const auto& m : testbed::models()) std::cout << m.name << '\n';
    return 0;
  }
  testbed::raise_open_files_limit();

  testbed::CrawlSummary s;
  try {
    s = testbed::run_crawl(cfg);
  } catch (const std::invalid_argument& e) {
    return testbed::usage_error("crawl", e.what());
  } catch (const std::exception& e) {
    std::cerr << "crawl: " << e.what() << '\n';
    return 1;
  }

  // Whatever happened, what was measured is written.
  int rc = 0;
  if (out.timeline) {
    std::string err;
    if (!testbed::write_file_atomic(*out.timeline, testbed::timeline_csv(s), &err)) {
      std::cerr << "crawl: " << err << '\n';
      rc = 1;
    }
  }
  testbed::print_crawl_errors(s, "crawl");
  if (out.json) {
    std::cout << testbed::to_json(s).dump() << std::endl;
  } else {
    std::printf("Result: %lld, Time: %.6f\n", static_cast<long long>(s.bytes), s.seconds);
  }
  if (s.failed > 0) rc = 1;
  return rc;
}
