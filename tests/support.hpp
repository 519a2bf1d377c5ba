#pragma once
// Test support: a real delayserver in-process on an ephemeral loopback port,
// a tiny raw HTTP client, and a CSV reader to check what the programs wrote.
#include "server/server.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace testbed::test {

// A fresh directory under the system temp dir, removed afterwards.
struct TempDir {
  TempDir();
  ~TempDir();
  std::filesystem::path path;
};

// Runs DelayServer on <cfg.bind, 127.0.0.1 by default>:<free port> until destroyed.
class TestServer {
 public:
  explicit TestServer(ServerConfig cfg = {});
  ~TestServer();
  std::uint16_t port() const { return server_->port(); }
  // https:// with --tls (cfg.tls), reached as `host` (its certificate names
  // localhost, 127.0.0.1 and ::1).
  std::string url(const std::string& host = "127.0.0.1") const {
    return (server_->config().tls ? "https://" : "http://") + host + ":" + std::to_string(port());
  }
  // --tls: its certificate in a file of dir(), for --cacert.
  std::string cert_file() const;
  DelayServer& server() { return *server_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::unique_ptr<DelayServer> server_;
  std::thread thread_;
};

struct Reply {
  int status = 0;
  std::string body;
  std::string delay_us;  // the X-Delay-Us field ("" if absent)
};
// One GET over a new connection (with an X-Attempt field when attempt > 1).
Reply http_get(std::uint16_t port, const std::string& target, int attempt = 1);

// Sends raw bytes, then reads until the server closes or `timeout_ms` passes.
std::string raw_exchange(std::uint16_t port, const std::string& bytes, int timeout_ms = 3000);

// RFC 4180 CSV, header row included.
std::vector<std::vector<std::string>> read_csv(const std::filesystem::path& path);
std::vector<std::vector<std::string>> parse_csv(const std::string& text);
// `csv` with the last row's field of column `column` (by the header) set to
// `value`; for timelines, whose fields need no quoting.
std::string with_last_field(const std::string& csv, const std::string& column, const std::string& value);

// The most intervals [start, end) open at one instant.
int peak_overlap(std::vector<std::pair<double, double>> spans);

// Polls `done` every 10 ms until it holds or `timeout_ms` passes; whether it held.
bool wait_until(const std::function<bool()>& done, int timeout_ms = 5000);

// A loopback port with nothing listening on it.
std::uint16_t dead_port();

// A peer that answers every request with what `answer` returns for it (raw
// bytes: interim answers, odd framing, extra bytes), on keep-alive
// connections, on a free loopback port; counts the connections it accepted.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<std::string(const std::string& request)> answer);
  ~ScriptedServer();
  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }

 private:
  void serve(int fd);
  std::function<std::string(const std::string&)> answer_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::thread> conns_;
  std::vector<int> fds_;
};

// The real delayserver program as a child process on a free port, its output
// in files; stopped by a signal, which returns its exit status (-1: it did not
// exit within 5 s and was killed).
class ServerProcess {
 public:
  // `open_files`: if not 0, the child's open-files limit (soft and hard).
  explicit ServerProcess(std::vector<std::string> args, unsigned open_files = 0);
  ~ServerProcess();
  std::uint16_t port() const { return port_; }
  int stop(int signal);
  std::string out() const;                                        // what it printed on stdout
  std::string err() const;                                        // and on stderr
  const std::filesystem::path& dir() const { return dir_.path; }  // its port file is dir()/port

 private:
  TempDir dir_;
  int pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace testbed::test
