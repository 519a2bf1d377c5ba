#pragma once
// Per-request (name, start, end, delay) rows kept in memory until a flush.
// Rows and names live in fixed-size chunks: recording a request allocates only
// when a chunk fills up, and nothing recorded is ever copied again (a growing
// vector would stall the event loop copying tens of MB under heavy load).
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace testbed {

class TimelineStore {
 public:
  // At most `capacity` rows and `max_bytes` of memory (rows and names): one
  // client with long names cannot pin more than that.
  TimelineStore(std::size_t capacity, std::size_t max_bytes) : capacity_(capacity), max_bytes_(max_bytes) {}

  // Records one request; past either cap the row is counted as dropped.
  // `delay_us` is the delay the server gave it (its service time, as opposed
  // to what it spent waiting to be read or written).
  void add(std::string_view name, std::int64_t start_us, std::int64_t end_us, std::int64_t delay_us);

  // The whole timeline as CSV (header "name,start,end,delay", in seconds); `rows`, if given, is
  // set to the number of rows in it, counted under the same lock.
  std::string to_csv(std::size_t* rows = nullptr) const;

  std::size_t size() const;
  std::size_t bytes() const;  // memory the rows and names take
  std::uint64_t dropped() const;

 private:
  struct Row {
    const char* name;
    std::size_t name_size;
    std::int64_t start_us;
    std::int64_t end_us;
    std::int64_t delay_us;
  };
  static constexpr std::size_t kRowsPerChunk = 1 << 16;
  static constexpr std::size_t kNameChunk = 1 << 20;

  const char* store_name(std::string_view name);

  mutable std::mutex mu_;
  std::size_t capacity_;
  std::size_t max_bytes_;
  std::size_t size_ = 0;
  std::size_t bytes_ = 0;
  std::vector<std::unique_ptr<Row[]>> rows_;          // kRowsPerChunk rows each
  std::vector<std::unique_ptr<char[]>> name_chunks_;  // the last one is being filled
  std::size_t name_cap_ = 0;                          // the last chunk's size
  std::size_t name_used_ = 0;                         // and how much of it is used
  std::uint64_t dropped_ = 0;
};

}  // namespace testbed
