#pragma once
// CSV writing (RFC 4180): names come from clients, so every text field is
// quoted when it holds a comma, a quote, CR or LF.
#include <cstdint>
#include <string>
#include <string_view>

namespace testbed {

// Appends `field`, quoted and with doubled quotes where RFC 4180 needs it.
void append_csv_field(std::string& out, std::string_view field);

// Appends microseconds since the epoch as seconds with six decimals.
void append_seconds(std::string& out, std::int64_t us);

// Appends a signed integer without going through iostreams.
void append_int(std::string& out, std::int64_t v);

// Writes `data` to `path` atomically (temp file + rename); false and a reason on failure.
bool write_file_atomic(const std::string& path, std::string_view data, std::string* error);

}  // namespace testbed
