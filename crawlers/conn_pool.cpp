#include "crawlers/conn_pool.hpp"

#include <algorithm>
#include <stdexcept>

namespace testbed {

namespace {
const TlsTarget* tls_of(const Origin& o) { return o.tls ? &o.tls : nullptr; }
}  // namespace

ConnectionPool::ConnectionPool(boost::asio::any_io_executor ex, const CrawlJob& job, const LoopShare& share,
                               DeadlineSweeper& sweeper)
    : ex_(ex),
      job_(job),
      limit_(std::min<std::size_t>(share.concurrency, share.end - share.begin)),
      most_(limit_ + std::min<std::size_t>(limit_, static_cast<std::size_t>(share.idle_extra))),
      per_host_(share.per_host),
      sweeper_(sweeper),
      idle_(job.origins.size()),
      made_(job.origins.size()) {
  all_.reserve(most_);
  if (job.origins.size() == 1) idle_[0].reserve(limit_);
  if (per_host_ > 0) {
    wakeups_.reserve(job.origins.size());
    for (std::size_t o = 0; o < job.origins.size(); ++o)
      wakeups_.emplace_back(ex, boost::asio::steady_timer::time_point::max());
  }
}

AsyncConnection* ConnectionPool::take(std::uint32_t o) {
  if (auto& idle = idle_[o]; !idle.empty()) {
    AsyncConnection* c = idle.back();
    idle.pop_back();
    --idle_count_;
    return c;
  }
  if (per_host_ > 0 && made_[o] >= per_host_) return nullptr;
  ++made_[o];
  if (all_.size() < most_) {
    all_.push_back(std::make_unique<AsyncConnection>(ex_, job_.reuse, tls_of(job_.origins[o])));
    all_.back()->origin = o;
    sweeper_.watch(*all_.back());
    return all_.back().get();
  }
  return turn_idle_to(o);
}

AsyncConnection* ConnectionPool::turn_idle_to(std::uint32_t o) {
  // Every request holding a connection holds one of the `limit` slots, and
  // this one holds a slot but no connection: one at least is idle.
  if (idle_count_ == 0)
    throw std::logic_error("a connection pool with every connection busy was asked for one");
  const auto n = static_cast<std::uint32_t>(idle_.size());
  while (idle_[cursor_].empty()) cursor_ = (cursor_ + 1) % n;
  AsyncConnection* c = idle_[cursor_].back();
  idle_[cursor_].pop_back();
  --idle_count_;
  --made_[c->origin];
  boost::beast::error_code ignored;
  c->socket.close(ignored);
  drop_tls(*c);
  c->origin = o;
  c->tls_target = tls_of(job_.origins[o]);
  return c;
}

void ConnectionPool::give_back(AsyncConnection& conn) {
  idle_[conn.origin].push_back(&conn);
  ++idle_count_;
  if (!wakeups_.empty()) wakeups_[conn.origin].cancel_one();
}

}  // namespace testbed
