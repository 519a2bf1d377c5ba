#pragma once
// What a run was made with, for `--version` and the JSON summaries.
#include <string>

namespace testbed {

const char* project_version();  // CMake's project version
const char* git_commit();       // the commit built, "+changes" if the tree differed

// "NAME VERSION (commit COMMIT)", as --version prints it.
std::string version_line(const std::string& program);
// "built with g++ 12.2.0, Boost 1.81" and the program's own `libraries`
// ("libcurl 7.88.1"), as --version's second line prints it.
std::string build_line(const std::string& libraries = "");

}  // namespace testbed
