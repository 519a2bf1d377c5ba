#include "common/cli.hpp"

#include "common/version.hpp"

#include <boost/version.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <stdexcept>

namespace testbed {

namespace po = boost::program_options;

std::optional<int> parse_cli(int argc, char** argv, const po::options_description& desc,
                             po::variables_map& vm, const std::string& usage, const std::string& about,
                             const std::string& libraries) {
  std::string program = std::filesystem::path(argc > 0 ? argv[0] : "program").filename();
  // Every program takes --version too.
  po::options_description all(desc);
  all.add_options()("version", "print the version and the git commit built, and exit");
  try {
    po::store(po::command_line_parser(argc, argv).options(all).run(), vm);
    if (vm.count("help")) {
      std::cout << "Usage: " << program << ' ' << usage << "\n\n" << about << "\n\n" << all;
      return 0;
    }
    if (vm.count("version")) {
      std::cout << version_line(program) << '\n' << build_line(libraries) << '\n';
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(program, std::string(e.what()) + " (see --help)");
  }
  return std::nullopt;
}

std::string version_line(const std::string& program) {
  return program + " " + project_version() + " (commit " + git_commit() + ")";
}

std::string build_line(const std::string& libraries) {
#if defined(__clang__)
  std::string compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  std::string compiler = "g++ " __VERSION__;
#else
  std::string compiler = "an unknown compiler";
#endif
  std::string boost = BOOST_LIB_VERSION;  // "1_81"
  for (auto& c : boost)
    if (c == '_') c = '.';
  return "built with " + compiler + ", Boost " + boost + (libraries.empty() ? "" : ", " + libraries);
}

int usage_error(const std::string& program, const std::string& message) {
  std::cerr << program << ": " << message << '\n';
  return 2;
}

void raise_open_files_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

namespace {
constexpr std::int64_t kReserved = 16;  // standard streams, event loops, the timeline
}  // namespace

std::int64_t spare_open_files(std::int64_t sockets) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return sockets;
  return std::max<std::int64_t>(0, static_cast<std::int64_t>(rl.rlim_cur) - kReserved - sockets);
}

void require_open_files(std::int64_t sockets, const std::string& flag, const std::string& what) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return;
  auto limit = static_cast<std::int64_t>(rl.rlim_cur);
  if (sockets + kReserved <= limit) return;
  throw std::invalid_argument(flag + " " + std::to_string(sockets) + " needs about " +
                              std::to_string(sockets + kReserved) + " open files (" + what +
                              "); the open-files limit is " + std::to_string(limit) +
                              " (ulimit -n): at most " + flag + " " +
                              std::to_string(std::max<std::int64_t>(1, limit - kReserved)) + " here");
}

}  // namespace testbed
