#pragma once
// Command-line parsing shared by the three programs: --help, and a one-line
// reason with a non-zero exit on bad input.
#include <boost/program_options.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace testbed {

// Parses argv into `vm`. --version prints version_line() and, on a second
// line, build_line(libraries): what the program was built with. Returns an exit code when the program should
// stop now (0 after --help, 2 after a usage error already reported on stderr).
std::optional<int> parse_cli(int argc, char** argv, const boost::program_options::options_description& desc,
                             boost::program_options::variables_map& vm, const std::string& usage,
                             const std::string& about, const std::string& libraries = "");

// Prints "program: message" on stderr and returns 2, for usage errors found after parsing.
int usage_error(const std::string& program, const std::string& message);

// The longest time any millisecond setting may name (about 31 years): every
// conversion to microseconds and every deadline (now plus it) stays far within
// 64 bits, and the server's idle clock's ticks within 32.
constexpr std::int64_t kMaxSettingMs = 1'000'000'000'000;

// Throws std::invalid_argument, with the numbers, when `sockets` (plus the
// few a program keeps for itself) cannot be open at once under the open-files
// limit: "FLAG N needs about M open files (WHAT); the limit is L ...". Checked
// before anything starts, rather than failing halfway.
void require_open_files(std::int64_t sockets, const std::string& flag, const std::string& what);

// How many more descriptors than `sockets` (and the few a program keeps for
// itself) the open-files limit allows; 0 if none.
std::int64_t spare_open_files(std::int64_t sockets);

// Raises the soft open-files limit to the hard one: a thousand connections
// in flight need a thousand descriptors, and the usual soft limit is 1024.
void raise_open_files_limit();

}  // namespace testbed
