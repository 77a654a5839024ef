// The rate limit of repeated log lines (src/storage/log_throttle.hpp).
#include "storage/log_throttle.hpp"

#include <gtest/gtest.h>

namespace analyzer::storage {
namespace {

using namespace std::chrono_literals;

TEST(LogThrottleTest, allows_one_line_per_interval_and_counts_the_rest) {
  log_throttle throttle(10s);
  const log_throttle::clock::time_point t0{};
  std::uint64_t suppressed = 99;
  EXPECT_TRUE(throttle.allow(suppressed, t0 + 1s));
  EXPECT_EQ(suppressed, 0U);
  EXPECT_FALSE(throttle.allow(suppressed, t0 + 2s));
  EXPECT_FALSE(throttle.allow(suppressed, t0 + 10s));
  EXPECT_TRUE(throttle.allow(suppressed, t0 + 11s));
  EXPECT_EQ(suppressed, 2U) << "the next line says how many were left out";
  EXPECT_FALSE(throttle.allow(suppressed, t0 + 12s));
}

TEST(LogThrottleTest, reset_lets_the_next_line_through) {
  log_throttle throttle(10s);
  const log_throttle::clock::time_point t0{};
  std::uint64_t suppressed = 0;
  EXPECT_TRUE(throttle.allow(suppressed, t0));
  EXPECT_FALSE(throttle.allow(suppressed, t0 + 1s));
  throttle.reset();
  EXPECT_TRUE(throttle.allow(suppressed, t0 + 2s));
  EXPECT_EQ(suppressed, 1U);
}

}  // namespace
}  // namespace analyzer::storage
