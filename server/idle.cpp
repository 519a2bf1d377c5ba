#include "server/idle.hpp"

#include <algorithm>

namespace testbed {

void Registry::add(SessionBase* s) {
  std::lock_guard lock(mu_);
  s->next = head_;
  if (head_) head_->prev = s;
  head_ = s;
}

void Registry::remove(SessionBase* s) {
  std::lock_guard lock(mu_);
  if (s->prev)
    s->prev->next = s->next;
  else
    head_ = s->next;
  if (s->next) s->next->prev = s->prev;
}

IdleClock::IdleClock(std::int64_t read_timeout_ms) {
  if (read_timeout_ms <= 0) return;
  period_ = std::chrono::milliseconds(std::clamp<std::int64_t>(read_timeout_ms / 4, 5, 1000));
  timeout_ticks_ = static_cast<std::uint32_t>((read_timeout_ms + period_.count() - 1) / period_.count());
}

}  // namespace testbed
