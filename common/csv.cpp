#include "common/csv.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace testbed {

void append_csv_field(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(field);
    return;
  }
  out.push_back('"');
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_seconds(std::string& out, std::int64_t us) {
  if (us < 0) {
    out.push_back('-');
    us = -us;
  }
  append_int(out, us / 1000000);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us % 1000000));
  out.append(frac);
}

bool parse_csv(std::string_view text, std::vector<std::vector<std::string>>& rows, std::string* error) {
  std::vector<std::string> row;
  std::string field;
  std::size_t line = 1;
  bool quoted = false, any = false;  // any: the current row has begun
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
        if (i + 1 < text.size() && text[i + 1] != ',' && text[i + 1] != '\n' && text[i + 1] != '\r') {
          if (error) *error = "line " + std::to_string(line) + ": text after a closing quote";
          return false;
        }
      } else {
        line += c == '\n';
        field.push_back(c);
      }
      continue;
    }
    any = true;
    if (c == '"' && field.empty()) {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
      ++line;
    } else {
      field.push_back(c);
    }
  }
  if (quoted) {
    if (error) *error = "line " + std::to_string(line) + ": a quoted field is never closed";
    return false;
  }
  if (any) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return true;
}

std::optional<std::int64_t> parse_seconds_us(std::string_view text) {
  bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  const auto dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (whole.empty() || whole.front() == '-' || frac.size() > 6 ||
      (dot != std::string_view::npos && frac.empty()))
    return std::nullopt;
  std::int64_t s = 0, f = 0;
  auto r = std::from_chars(whole.data(), whole.data() + whole.size(), s);
  if (r.ec != std::errc() || r.ptr != whole.data() + whole.size() || s > INT64_MAX / 1000000 - 1)
    return std::nullopt;
  if (!frac.empty()) {
    r = std::from_chars(frac.data(), frac.data() + frac.size(), f);
    if (r.ec != std::errc() || r.ptr != frac.data() + frac.size() || frac.front() == '-' ||
        frac.front() == '+')
      return std::nullopt;
    for (std::size_t k = frac.size(); k < 6; ++k) f *= 10;
  }
  const std::int64_t us = s * 1000000 + f;
  return negative ? -us : us;
}

namespace {

// Sets *error to "WHAT PATH: <errno's text>" and returns false.
bool fail(std::string* error, const char* what, const std::string& path) {
  if (error) *error = std::string(what) + " " + path + ": " + std::strerror(errno);
  return false;
}

// write(2) until all of `data` is out, or an error (a full disk, a full device).
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// What is not a regular file (a device such as /dev/null or /dev/full, a FIFO,
// a terminal) is written in place: replacing it would destroy it.
bool write_in_place(const std::string& path, std::string_view data, std::string* error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return fail(error, "cannot open", path);
  bool ok = write_all(fd, data);
  int saved = errno;
  if (::close(fd) != 0 && ok) return fail(error, "cannot write", path);
  errno = saved;
  return ok || fail(error, "cannot write", path);
}

}  // namespace

bool write_file_atomic(const std::string& path, std::string_view data, std::string* error) {
  std::string target = path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    // A link stays a link: the file it points to is what gets replaced.
    std::error_code ec;
    auto resolved = std::filesystem::canonical(path, ec);
    if (ec) {
      if (error) *error = "cannot write " + path + ": a symbolic link to nothing (" + ec.message() + ")";
      return false;
    }
    target = resolved.string();
  }
  if (::stat(target.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      if (error) *error = "cannot write " + path + ": it is a directory";
      return false;
    }
    if (!S_ISREG(st.st_mode)) return write_in_place(target, data, error);
  }
  // A regular file (or none yet) is replaced whole: a temporary file of this
  // process and call next to it, written, synced, then renamed over it, so a
  // reader sees the old file or the new one and concurrent writers never share
  // a temporary file.
  static std::atomic<unsigned> counter{0};
  std::string tmp = target + "." + std::to_string(::getpid()) + "." +
                    std::to_string(counter.fetch_add(1, std::memory_order_relaxed)) + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) return fail(error, "cannot create", tmp);
  bool ok = write_all(fd, data) && ::fsync(fd) == 0;
  int saved = errno;
  if (::close(fd) != 0 && ok) {
    saved = errno;
    ok = false;
  }
  if (ok && ::rename(tmp.c_str(), target.c_str()) == 0) return true;
  if (ok) saved = errno;  // the rename failed
  ::unlink(tmp.c_str());
  errno = saved;
  return fail(error, "cannot write", path);
}

}  // namespace testbed
