#pragma once
// What a crawl leaves behind, formatting only: the client timeline CSV (and
// reading it back), the JSON summary, the model table as JSON. Every number
// here was derived by summarize() (crawl.hpp).
#include "crawlers/crawl.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace testbed {

// Client timeline: model,index,start,end,bytes,status,attempts,conn,opened,delay,intended
// (and rank, when `ranks` gives each record's).
std::string timeline_csv(const CrawlRun& run, const std::vector<int>* ranks = nullptr);

// Appends the rows of a client timeline (the CSV above, any column order,
// extra columns ignored, RFC 4180 quoting) to `run`: its records in index
// order, from index 0. `run.config.model` is set from the model column (the
// first row's). False and a reason on a malformed file, a missing column, a
// second model, or an index seen twice or out of range.
bool read_timeline_csv(std::string_view csv, CrawlRun& run, std::string* error);

// The summary as one JSON object (crawl --json).
nlohmann::json to_json(const CrawlSummary& s);

// The settings and the measured part of a run back from its own to_json()
// (for `crawl summarize --run`): the config, seconds, cost, errors, and
// crawl-mpi's count of ranks. False and
// a reason if a field is missing or of the wrong type.
bool run_from_json(const nlohmann::json& j, CrawlRun& run, std::string* error);

// How one run compares with another, from their summaries (to_json()): each
// figure of `other` over the same of `base` (efficiency, seconds, overhead
// p50/p99, CPU per 1k requests, peak memory, threads), null where either has
// none or the base's is 0; for `crawl compare`, the C++ and Python section.
nlohmann::json compare_json(const nlohmann::json& base, const nlohmann::json& other);

// Every model with its properties, for --list-models --json.
nlohmann::json models_json();

}  // namespace testbed
