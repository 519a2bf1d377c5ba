#include "server/idle.hpp"

#include <algorithm>
#include <limits>

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
  // At most 2^32 - 1 ticks: past that (136 years) the timeout would wrap.
  timeout_ticks_ = static_cast<std::uint32_t>(std::min<std::int64_t>(
      (read_timeout_ms + period_.count() - 1) / period_.count(), std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace testbed
