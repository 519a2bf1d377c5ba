#pragma once
// CSV writing (RFC 4180): names come from clients, so every text field is
// quoted when it holds a comma, a quote, CR or LF.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace testbed {

// Appends `field`, quoted and with doubled quotes where RFC 4180 needs it.
void append_csv_field(std::string& out, std::string_view field);

// Appends microseconds since the epoch as seconds with six decimals.
void append_seconds(std::string& out, std::int64_t us);

// Appends a signed integer without going through iostreams.
void append_int(std::string& out, std::int64_t v);

// Reads RFC 4180 text into rows of fields (quoted fields may hold commas,
// doubled quotes and line breaks; CRLF or LF ends a row; a last row without
// a line break counts). False and a reason (with the line) on a quote that
// is never closed or text after a closing quote.
bool parse_csv(std::string_view text, std::vector<std::vector<std::string>>& rows, std::string* error);

// Seconds with up to six decimals ("1700000000.123456", "-0.5") as exact
// microseconds, the inverse of append_seconds; nullopt if it is not one.
std::optional<std::int64_t> parse_seconds_us(std::string_view text);

// Writes `data` to `path`; false and a reason on any failure (a full disk
// included), never a claim of success. A regular file is replaced atomically
// (a temporary file of its own next to it, fsync, rename), so concurrent
// writers do not clash and readers see the old or the new file. What is not a
// regular file (/dev/null, /dev/full, a FIFO) is written in place, never
// replaced; a symbolic link keeps pointing where it did and the file it points
// to is what gets replaced, except that another user's link in a sticky folder
// everyone may write (/tmp) is never followed (the kernel's protected_symlinks
// rule, whatever the sysctl says); a directory is refused. A replaced file
// keeps its permissions (and its owner, where this process may give it).
bool write_file_atomic(const std::string& path, std::string_view data, std::string* error);

}  // namespace testbed
