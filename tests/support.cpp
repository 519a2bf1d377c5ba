#include "support.hpp"

#include "common/csv.hpp"
#include "common/tls.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace testbed::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

TempDir::TempDir() {
  std::random_device rd;
  path = std::filesystem::temp_directory_path() /
         ("testbed-" + std::to_string(rd()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

TestServer::TestServer(ServerConfig cfg) {
  cfg.port = 0;  // on cfg.bind, 127.0.0.1 unless a test says otherwise
  if (cfg.timeline_path == ServerConfig{}.timeline_path)
    cfg.timeline_path = (dir_.path / "timeline.csv").string();
  server_ = std::make_unique<DelayServer>(cfg);
  thread_ = std::thread([this] { server_->run(); });
}

std::string TestServer::cert_file() const {
  const std::string path = (dir_.path / "cert.pem").string();
  std::ofstream(path) << server_->tls_identity()->cert_pem;
  return path;
}

TestServer::~TestServer() {
  server_->stop();
  thread_.join();
}

Reply http_get(std::uint16_t port, const std::string& target, int attempt) {
  asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, "127.0.0.1");
  if (attempt > 1) req.set("X-Attempt", std::to_string(attempt));
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::uint64_t{1} << 30);  // a whole /timeline
  http::read(socket, buffer, parser);
  const auto& res = parser.get();
  return {static_cast<int>(res.result_int()), res.body(), std::string(res["X-Delay-Us"])};
}

std::string raw_exchange(std::uint16_t port, const std::string& bytes, int timeout_ms) {
  asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(socket, asio::buffer(bytes));
  std::string out;
  std::array<char, 4096> chunk;
  asio::steady_timer deadline(ioc, std::chrono::milliseconds(timeout_ms));
  deadline.async_wait([&](beast::error_code ec) {
    if (!ec) socket.close();
  });
  std::function<void(beast::error_code, std::size_t)> on_read = [&](beast::error_code ec, std::size_t n) {
    out.append(chunk.data(), n);
    if (ec) {
      deadline.cancel();
      return;
    }
    socket.async_read_some(asio::buffer(chunk), on_read);
  };
  socket.async_read_some(asio::buffer(chunk), on_read);
  ioc.run();
  return out;
}

std::string with_last_field(const std::string& csv, const std::string& column, const std::string& value) {
  auto rows = parse_csv(csv);
  const auto at = std::find(rows.at(0).begin(), rows.at(0).end(), column);
  if (at == rows[0].end() || rows.size() < 2) throw std::runtime_error("no column " + column + " or no row");
  rows.back().at(static_cast<std::size_t>(at - rows[0].begin())) = value;
  std::string out;
  for (const auto& row : rows) {
    for (std::size_t k = 0; k < row.size(); ++k) out += (k ? "," : "") + row[k];
    out += '\n';
  }
  return out;
}

std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::string error;
  if (!testbed::parse_csv(text, rows, &error)) throw std::runtime_error("not RFC 4180 CSV: " + error);
  return rows;
}

std::vector<std::vector<std::string>> read_csv(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_csv(ss.str());
}

int peak_overlap(std::vector<std::pair<double, double>> spans) {
  std::vector<std::pair<double, int>> events;
  for (auto [s, e] : spans) {
    events.emplace_back(s, +1);
    events.emplace_back(e, -1);
  }
  // At equal times, ends come before starts: [start, end) intervals.
  std::sort(events.begin(), events.end());
  int now = 0, peak = 0;
  for (auto [t, d] : events) peak = std::max(peak, now += d);
  return peak;
}

bool wait_until(const std::function<bool()>& done, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::uint16_t dead_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();  // closed again when `a` goes out of scope
}

ServerProcess::ServerProcess(std::vector<std::string> args, unsigned open_files) {
  auto port_file = dir_.path / "port";
  args.insert(args.begin(), {DELAYSERVER_BIN, "--port", "0", "--port-file", port_file.string()});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string out = (dir_.path / "stdout").string(), err = (dir_.path / "stderr").string();
  pid_ = fork();
  if (pid_ == 0) {
    if (!freopen(out.c_str(), "w", stdout) || !freopen(err.c_str(), "w", stderr)) _exit(126);
    rlimit rl{open_files, open_files};
    if (open_files && setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(125);
    execv(DELAYSERVER_BIN, argv.data());
    _exit(127);
  }
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (!wait_until([&] { return std::filesystem::exists(port_file); }))
    throw std::runtime_error("delayserver did not start: " + this->err());
  port_ = static_cast<std::uint16_t>(std::stoi(read_csv(port_file).at(0).at(0)));
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) stop(SIGKILL);
}

int ServerProcess::stop(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  int status = 0;
  bool exited = wait_until([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, 5000);
  if (!exited) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  return exited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ServerProcess::out() const {
  std::ifstream f(dir_.path / "stdout");
  return {std::istreambuf_iterator<char>(f), {}};
}

std::string ServerProcess::err() const {
  std::ifstream f(dir_.path / "stderr");
  return {std::istreambuf_iterator<char>(f), {}};
}

ScriptedServer::ScriptedServer(std::function<std::string(const std::string&)> answer)
    : answer_(std::move(answer)) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener_, 64) != 0 || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("ScriptedServer: cannot listen");
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] {
    for (;;) {
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0 || stopping_) {
        if (fd >= 0) ::close(fd);
        return;
      }
      ++connections_;
      std::lock_guard lock(mu_);
      fds_.push_back(fd);
      conns_.emplace_back([this, fd] { serve(fd); });
    }
  });
}

void ScriptedServer::serve(int fd) {
  std::string pending;
  char buf[4096];
  for (;;) {
    auto end = pending.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::string request = pending.substr(0, end + 4);
      pending.erase(0, end + 4);
      std::string reply = answer_(request);
      if (::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) return;
      continue;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    pending.append(buf, static_cast<std::size_t>(n));
  }
}

ScriptedServer::~ScriptedServer() {
  stopping_ = true;
  ::shutdown(listener_, SHUT_RDWR);
  ::close(listener_);
  accept_thread_.join();
  std::lock_guard lock(mu_);
  for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  for (auto& t : conns_) t.join();
  for (int fd : fds_) ::close(fd);
}

}  // namespace testbed::test
