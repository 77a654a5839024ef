// A fixed-bucket latency histogram for the request path. prometheus-cpp 1.0's Histogram
// takes a mutex on every Observe; this one is two relaxed atomic additions (one bucket,
// one sum) and never allocates, so any number of io threads can record concurrently.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace analyzer::telemetry {

class latency_histogram {
 public:
  // Upper bucket bounds in nanoseconds (le="0.0001" … le="2.5" seconds); +Inf is implied.
  static constexpr std::array<std::int64_t, 14> kBoundsNs = {
      100'000,    250'000,    500'000,     1'000'000,   2'500'000,   5'000'000,     10'000'000,
      25'000'000, 50'000'000, 100'000'000, 250'000'000, 500'000'000, 1'000'000'000, 2'500'000'000};
  static constexpr std::size_t kBuckets = kBoundsNs.size() + 1;  // the last one is +Inf

  // What a scrape sees. The count is the sum of the buckets, so `_count` always equals the
  // +Inf bucket even while observations land during the read; `_sum` may trail by the
  // observations in flight.
  struct reading {
    std::array<std::uint64_t, kBuckets> cumulative{};  // cumulative[i]: observations <= bound i
    std::uint64_t count = 0;
    double sum_seconds = 0;
  };

  void observe(std::chrono::nanoseconds elapsed) noexcept;
  [[nodiscard]] reading read() const noexcept;
  // Adds this histogram's observations into `total` (to merge per-thread shards).
  void add_to(reading& total) const noexcept;
  [[nodiscard]] bool empty() const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, kBuckets> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace analyzer::telemetry
