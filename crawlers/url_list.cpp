// crawl --urls FILE: any list of http and https URLs, read and checked whole
// before anything is resolved or sent.
#include "crawlers/crawl.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>

namespace testbed {

UrlList read_url_list(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("--urls " + path + ": cannot read it: " + std::strerror(errno));
  UrlList list;
  std::map<std::string, std::uint32_t> known;  // an origin's scheme://host:port -> its index
  std::string line;
  for (std::int64_t number = 1; std::getline(in, line); ++number) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;  // blank, or a comment
    const auto last = line.find_last_not_of(" \t\r");
    const std::string url = line.substr(first, last - first + 1);
    std::string why;
    auto r = parse_request_url(url, &why);
    if (!r) throw std::invalid_argument("--urls " + path + ":" + std::to_string(number) + ": " + why);
    if (list.targets.size() >= static_cast<std::size_t>(kMaxRequests))
      throw std::invalid_argument("--urls " + path + ": more than " + std::to_string(kMaxRequests) +
                                  " URLs, more than a run holds");
    auto [at, added] = known.try_emplace(r->origin.origin(), static_cast<std::uint32_t>(list.origins.size()));
    if (added) list.origins.push_back(r->origin);
    list.origin_of.push_back(at->second);
    list.targets.push_back(std::move(r->target));
  }
  if (in.bad()) throw std::invalid_argument("--urls " + path + ": cannot read it: " + std::strerror(errno));
  if (list.targets.empty())
    throw std::invalid_argument("--urls " + path + ": no URL in it (one http:// or https:// URL a line)");
  return list;
}

}  // namespace testbed
