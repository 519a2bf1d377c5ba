#include "server/timeline_store.hpp"

#include "common/csv.hpp"

#include <limits>

namespace testbed {

void TimelineStore::add(std::string_view name, std::int64_t start_us, std::int64_t end_us) {
  std::lock_guard lock(mu_);
  if (rows_.size() >= capacity_ ||
      names_.size() + name.size() > std::numeric_limits<std::uint32_t>::max()) {
    ++dropped_;
    return;
  }
  rows_.push_back({static_cast<std::uint32_t>(names_.size()),
                   static_cast<std::uint32_t>(name.size()), start_us, end_us});
  names_.append(name);
}

std::string TimelineStore::to_csv() const {
  std::lock_guard lock(mu_);
  std::string out = "name,start,end\n";
  out.reserve(out.size() + rows_.size() * 48 + names_.size());
  for (const Row& r : rows_) {
    append_csv_field(out, std::string_view(names_).substr(r.name_offset, r.name_size));
    out.push_back(',');
    append_seconds(out, r.start_us);
    out.push_back(',');
    append_seconds(out, r.end_us);
    out.push_back('\n');
  }
  return out;
}

std::size_t TimelineStore::size() const {
  std::lock_guard lock(mu_);
  return rows_.size();
}

std::uint64_t TimelineStore::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace testbed
