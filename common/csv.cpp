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
  char frac[16];  // ".123456" and its NUL; room enough for the compiler to see it
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

namespace {

// The kernel's protected_symlinks rule, applied here whatever the sysctl says
// (the writer resolves links itself, so the kernel never gets to refuse): a
// link in a sticky folder everyone may write (/tmp) is followed only by its
// owner, or when its owner owns the folder. Another user's link there is how
// a root run would be made to replace /etc/shadow.
bool may_follow(const std::filesystem::path& link, const struct stat& link_st, const std::string& path,
                std::string* error) {
  const std::filesystem::path dir = link.has_parent_path() ? link.parent_path() : std::filesystem::path(".");
  struct stat dir_st {};
  if (::stat(dir.c_str(), &dir_st) != 0) return fail(error, "cannot write", path);
  const bool sticky_open = (dir_st.st_mode & S_ISVTX) && (dir_st.st_mode & S_IWOTH);
  if (!sticky_open || link_st.st_uid == ::geteuid() || link_st.st_uid == dir_st.st_uid) return true;
  if (error)
    *error = "cannot write " + path + ": " + link.string() + " is a symbolic link of another user's (uid " +
             std::to_string(link_st.st_uid) + ") in a sticky folder everyone may write (" + dir.string() +
             "), which could point anywhere; not followed";
  return false;
}

// Where writing `path` lands: the path itself, or the file its chain of links
// ends at (a link stays a link; the file it points to is what gets replaced).
std::optional<std::string> output_target(const std::string& path, std::string* error) {
  std::filesystem::path p = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      if (hops == 0 || errno != ENOENT) return p.string();  // none yet: created (or the write says why)
      if (error) *error = "cannot write " + path + ": a symbolic link to nothing (" + p.string() + ")";
      return std::nullopt;
    }
    if (!S_ISLNK(st.st_mode)) return p.string();
    if (!may_follow(p, st, path, error)) return std::nullopt;
    std::error_code ec;
    std::filesystem::path to = std::filesystem::read_symlink(p, ec);
    if (ec) {
      if (error) *error = "cannot write " + path + ": " + ec.message();
      return std::nullopt;
    }
    p = to.is_absolute() ? to : (p.has_parent_path() ? p.parent_path() : std::filesystem::path(".")) / to;
  }
  if (error) *error = "cannot write " + path + ": too many levels of symbolic links";
  return std::nullopt;
}

}  // namespace

bool write_file_atomic(const std::string& path, std::string_view data, std::string* error) {
  const std::optional<std::string> resolved = output_target(path, error);
  if (!resolved) return false;
  const std::string& target = *resolved;
  struct stat st {};
  bool replacing = false;  // an existing regular file: its mode and owner carry over
  if (::stat(target.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      if (error) *error = "cannot write " + path + ": it is a directory";
      return false;
    }
    if (!S_ISREG(st.st_mode)) return write_in_place(target, data, error);
    replacing = true;
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
  // Never widen a file's permissions: a replaced 0600 file stays 0600, and
  // keeps its owner where this process may give it (root, or its own).
  bool ok = !replacing ||
            (::fchmod(fd, st.st_mode & 07777) == 0 &&
             (st.st_uid == ::geteuid() || ::fchown(fd, st.st_uid, st.st_gid) == 0 || ::geteuid() != 0));
  ok = ok && write_all(fd, data) && ::fsync(fd) == 0;
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
