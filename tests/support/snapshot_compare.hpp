// Bit-for-bit comparison of analytics snapshots, shared by the unit and stress tests.
#pragma once

#include "analyzer/analytics/snapshot.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>

namespace analyzer::test {

// Equal as doubles down to the last bit (distinguishes -0 from 0, equal NaNs match).
inline bool same_bits(double a, double b) {
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

inline void expect_same_snapshot(const analytics::snapshot& a, const analytics::snapshot& b) {
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_TRUE(same_bits(a.last_timestamp, b.last_timestamp));
  for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
    const analytics::metric_snapshot& x = a.metrics[m];
    const analytics::metric_snapshot& y = b.metrics[m];
    EXPECT_EQ(x.window.count, y.window.count);
    EXPECT_TRUE(same_bits(x.window.mean, y.window.mean)) << x.window.mean << " " << y.window.mean;
    EXPECT_TRUE(same_bits(x.window.std_dev, y.window.std_dev));
    EXPECT_TRUE(same_bits(x.window.min, y.window.min));
    EXPECT_TRUE(same_bits(x.window.max, y.window.max));
    ASSERT_EQ(x.last.has_value(), y.last.has_value());
    if (x.last) {
      EXPECT_TRUE(same_bits(x.last->value, y.last->value));
      EXPECT_TRUE(same_bits(x.last->z_score, y.last->z_score));
      EXPECT_EQ(x.last->anomaly, y.last->anomaly);
    }
    EXPECT_EQ(x.anomalies_total, y.anomalies_total);
    ASSERT_EQ(x.last_anomaly.has_value(), y.last_anomaly.has_value());
    if (x.last_anomaly) {
      EXPECT_TRUE(same_bits(x.last_anomaly->timestamp, y.last_anomaly->timestamp));
      EXPECT_TRUE(same_bits(x.last_anomaly->value, y.last_anomaly->value));
      EXPECT_TRUE(same_bits(x.last_anomaly->z_score, y.last_anomaly->z_score));
    }
  }
}

}  // namespace analyzer::test
