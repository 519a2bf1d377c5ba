#include "server/timeline_store.hpp"

#include "common/csv.hpp"

#include <algorithm>
#include <cstring>

namespace testbed {

const char* TimelineStore::store_name(std::string_view name) {
  if (name.empty()) return "";
  if (name.size() > name_cap_ - name_used_) {
    name_cap_ = std::max(kNameChunk, name.size());  // a giant name gets a chunk of its own
    name_chunks_.push_back(std::make_unique_for_overwrite<char[]>(name_cap_));
    name_used_ = 0;
  }
  char* dst = name_chunks_.back().get() + name_used_;
  std::memcpy(dst, name.data(), name.size());
  name_used_ += name.size();
  return dst;
}

void TimelineStore::add(std::string_view name, std::int64_t start_us, std::int64_t end_us,
                        std::int64_t delay_us) {
  std::lock_guard lock(mu_);
  // What this row would add: a new chunk of rows, or of names, when the last
  // one is full (a chunk's memory is counted when it is taken).
  std::size_t more = (size_ % kRowsPerChunk == 0 ? kRowsPerChunk * sizeof(Row) : 0) +
                     (name.size() > name_cap_ - name_used_ ? std::max(kNameChunk, name.size()) : 0);
  if (size_ >= capacity_ || bytes_ + more > max_bytes_) {
    ++dropped_;
    return;
  }
  bytes_ += more;
  if (size_ % kRowsPerChunk == 0) rows_.push_back(std::make_unique_for_overwrite<Row[]>(kRowsPerChunk));
  rows_[size_ / kRowsPerChunk][size_ % kRowsPerChunk] = {store_name(name), name.size(), start_us, end_us,
                                                         delay_us};
  ++size_;
}

std::string TimelineStore::to_csv(std::size_t* rows) const {
  std::lock_guard lock(mu_);
  if (rows) *rows = size_;
  std::string out = "name,start,end,delay\n";
  out.reserve(out.size() + size_ * 64);
  for (std::size_t i = 0; i < size_; ++i) {
    const Row& r = rows_[i / kRowsPerChunk][i % kRowsPerChunk];
    append_csv_field(out, std::string_view(r.name, r.name_size));
    out.push_back(',');
    append_seconds(out, r.start_us);
    out.push_back(',');
    append_seconds(out, r.end_us);
    out.push_back(',');
    append_seconds(out, r.delay_us);
    out.push_back('\n');
  }
  return out;
}

std::size_t TimelineStore::size() const {
  std::lock_guard lock(mu_);
  return size_;
}

std::size_t TimelineStore::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::uint64_t TimelineStore::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace testbed
