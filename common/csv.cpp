#include "common/csv.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
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
