#pragma once
// Timeouts for slow and idle peers without a timer per request: a session
// notes the sweep tick at which it started waiting on its peer, and one
// periodic sweep closes those that have waited --read-timeout-ms or longer.
//
//   SessionBase  what the registry and the sweep need of a connection
//   Registry     every open connection (touched on connect and close only)
//   IdleClock    the sweep ticks, and whether a wait has run out
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

namespace testbed {

class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  virtual boost::asio::any_io_executor executor() = 0;
  virtual void on_sweep() = 0;                  // on the session's executor: close if it waited too long
  std::atomic<std::uint32_t> waiting_since{0};  // sweep tick; 0: not waiting on the peer
  SessionBase* prev = nullptr;
  SessionBase* next = nullptr;
};

class Registry {
 public:
  void add(SessionBase* s);
  void remove(SessionBase* s);
  // Posts on_sweep() to every session for which `overdue(waiting_since)` holds.
  template <class Pred>
  void post_sweeps(Pred overdue);

 private:
  std::mutex mu_;
  SessionBase* head_ = nullptr;
};

class IdleClock {
 public:
  // Four sweeps per timeout: a slow peer is closed between 1 and 1.25 timeouts
  // after it started waiting (never before 1). A zero timeout disables the sweeps.
  explicit IdleClock(std::int64_t read_timeout_ms);
  bool enabled() const { return timeout_ticks_ != 0; }
  std::chrono::milliseconds period() const { return period_; }
  std::uint32_t now() const { return tick_.load(std::memory_order_relaxed); }
  void advance() { tick_.fetch_add(1, std::memory_order_relaxed); }
  // A wait that began during tick `since` has lasted at least timeout_ticks
  // whole periods only once the tick is past since + timeout_ticks: a request
  // that arrives within the timeout is always served.
  bool timed_out(std::uint32_t since) const {
    return timeout_ticks_ && since && now() - since > timeout_ticks_;
  }

 private:
  std::atomic<std::uint32_t> tick_{1};
  std::chrono::milliseconds period_{0};
  std::uint32_t timeout_ticks_ = 0;
};

template <class Pred>
void Registry::post_sweeps(Pred overdue) {
  std::lock_guard lock(mu_);
  for (SessionBase* s = head_; s; s = s->next) {
    if (!overdue(s->waiting_since.load(std::memory_order_relaxed))) continue;
    // The registry's lock keeps `s` alive here; a session already being
    // destroyed gives an empty lock() and is skipped.
    if (auto alive = s->weak_from_this().lock()) {
      auto ex = alive->executor();
      boost::asio::post(ex, [alive = std::move(alive)] { alive->on_sweep(); });
    }
  }
}

}  // namespace testbed
