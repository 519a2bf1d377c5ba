#pragma once
// Per-request (name, start, end) rows kept in memory until a flush.
// Names live in one growing arena, so recording a request does not allocate
// once the arena and the row vector have grown to the run's size.
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace testbed {

class TimelineStore {
 public:
  explicit TimelineStore(std::size_t capacity) : capacity_(capacity) {}

  // Records one request; past the capacity the row is counted as dropped.
  void add(std::string_view name, std::int64_t start_us, std::int64_t end_us);

  // The whole timeline as CSV (header "name,start,end").
  std::string to_csv() const;

  std::size_t size() const;
  std::uint64_t dropped() const;

 private:
  struct Row {
    std::uint32_t name_offset;
    std::uint32_t name_size;
    std::int64_t start_us;
    std::int64_t end_us;
  };
  mutable std::mutex mu_;
  std::size_t capacity_;
  std::string names_;
  std::vector<Row> rows_;
  std::uint64_t dropped_ = 0;
};

}  // namespace testbed
