// Concurrent recording into the request-path histogram (run under ThreadSanitizer too):
// writers on several threads lose no observation, and a scraper reading meanwhile sees
// counts that only grow, with `_count` equal to the +Inf bucket in every reading.
#include "analyzer/telemetry/latency_histogram.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace analyzer::telemetry {
namespace {

TEST(LatencyHistogramStress, concurrent_writers_lose_nothing_and_reads_are_monotone) {
  constexpr int kWriters = 4;
  constexpr std::int64_t kPerWriter = 200'000;
  latency_histogram h;
  std::atomic<int> running{kWriters};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&h, &running, w] {
      for (std::int64_t i = 0; i < kPerWriter; ++i) {
        // Spread over every bucket: 1 µs .. ~3 s.
        h.observe(std::chrono::nanoseconds(1'000 + ((i * 7919 + w) % 3'000'000) * 1'000));
      }
      running.fetch_sub(1);
    });
  }
  std::uint64_t previous = 0;
  std::uint64_t readings = 0;
  while (running.load() > 0) {
    const auto r = h.read();
    ASSERT_EQ(r.count, r.cumulative.back());
    ASSERT_GE(r.count, previous);
    previous = r.count;
    ++readings;
  }
  for (auto& t : writers) t.join();
  const auto r = h.read();
  EXPECT_EQ(r.count, static_cast<std::uint64_t>(kWriters * kPerWriter));
  std::int64_t expected_ns = 0;
  for (int w = 0; w < kWriters; ++w) {
    for (std::int64_t i = 0; i < kPerWriter; ++i) {
      expected_ns += 1'000 + ((i * 7919 + w) % 3'000'000) * 1'000;
    }
  }
  EXPECT_EQ(r.sum_seconds, static_cast<double>(expected_ns) / 1e9);
  EXPECT_GT(readings, 0U);
}

}  // namespace
}  // namespace analyzer::telemetry
