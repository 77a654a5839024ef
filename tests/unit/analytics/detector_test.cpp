// score(): warmup, zero spread, strict threshold, sign.
#include "analyzer/analytics/detector.hpp"

#include "analyzer/analytics/window_stats.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace analyzer::analytics {
namespace {

// Mean 0 and population std exactly 1 for any even n.
window_stats unit_baseline(std::size_t n) {
  std::vector<double> v;
  for (std::size_t i = 0; i < n; ++i) {
    v.push_back(i % 2 == 0 ? -1.0 : 1.0);
  }
  return compute_window_stats(v);
}

TEST(DetectorTest, baseline_of_plus_minus_one_is_standard) {
  const window_stats b = unit_baseline(50);
  EXPECT_EQ(b.mean, 0.0);
  EXPECT_EQ(b.std_dev, 1.0);
}

TEST(DetectorTest, below_warmup_scores_zero) {
  const window_stats b = unit_baseline(48);
  const metric_result r = score(100.0, b, 50, 2.0);
  EXPECT_EQ(r.value, 100.0);
  EXPECT_EQ(r.z_score, 0.0);
  EXPECT_FALSE(r.anomaly);
}

TEST(DetectorTest, at_warmup_scores) {
  const window_stats b = unit_baseline(50);
  const metric_result r = score(3.0, b, 50, 2.0);
  EXPECT_EQ(r.z_score, 3.0);
  EXPECT_TRUE(r.anomaly);
}

TEST(DetectorTest, small_warmup) {
  const window_stats b = unit_baseline(2);
  EXPECT_EQ(score(0.5, b, 2, 2.0).z_score, 0.5);
  EXPECT_EQ(score(0.5, b, 3, 2.0).z_score, 0.0);
}

TEST(DetectorTest, zero_std_scores_zero) {
  const std::vector<double> v(50, 1e9 + 0.1);
  const window_stats b = compute_window_stats(v);
  ASSERT_EQ(b.std_dev, 0.0);
  const metric_result r = score(5e9, b, 50, 2.0);
  EXPECT_EQ(r.z_score, 0.0);
  EXPECT_FALSE(r.anomaly);
  EXPECT_EQ(r.value, 5e9);
}

TEST(DetectorTest, threshold_is_strict) {
  const window_stats b = unit_baseline(50);
  const metric_result at = score(2.0, b, 50, 2.0);
  EXPECT_EQ(at.z_score, 2.0);
  EXPECT_FALSE(at.anomaly);
  const metric_result at_negative = score(-2.0, b, 50, 2.0);
  EXPECT_EQ(at_negative.z_score, -2.0);
  EXPECT_FALSE(at_negative.anomaly);
  const double above = std::nextafter(2.0, 3.0);
  const metric_result over = score(above, b, 50, 2.0);
  EXPECT_EQ(over.z_score, above);
  EXPECT_TRUE(over.anomaly);
}

TEST(DetectorTest, negative_z_is_an_anomaly) {
  const window_stats b = unit_baseline(50);
  const metric_result r = score(-3.5, b, 50, 2.0);
  EXPECT_EQ(r.z_score, -3.5);
  EXPECT_TRUE(r.anomaly);
}

TEST(DetectorTest, z_against_hand_computed_baseline) {
  const std::vector<double> v{2, 4, 4, 4, 5, 5, 7, 9};  // mean 5, std 2
  const window_stats b = compute_window_stats(v);
  EXPECT_EQ(score(11.0, b, 8, 2.0).z_score, 3.0);
  EXPECT_EQ(score(4.0, b, 8, 2.0).z_score, -0.5);
  EXPECT_FALSE(score(4.0, b, 8, 2.0).anomaly);
  EXPECT_TRUE(score(11.0, b, 8, 2.9).anomaly);
  EXPECT_FALSE(score(11.0, b, 8, 3.0).anomaly);
}

TEST(DetectorTest, overflowing_z_is_clamped_to_finite) {
  const std::vector<double> v{0.0, 1e-320};  // std 5e-321, subnormal
  const window_stats b = compute_window_stats(v);
  ASSERT_GT(b.std_dev, 0.0);
  const metric_result up = score(1e300, b, 2, 2.0);
  EXPECT_EQ(up.z_score, std::numeric_limits<double>::max());
  EXPECT_TRUE(up.anomaly);
  const metric_result down = score(-1e300, b, 2, 2.0);
  EXPECT_EQ(down.z_score, -std::numeric_limits<double>::max());
  EXPECT_TRUE(down.anomaly);
}

TEST(DetectorTest, hand_built_baseline) {
  const window_stats b{.count = 10, .mean = 100.0, .std_dev = 4.0, .min = 90.0, .max = 110.0};
  EXPECT_EQ(score(108.0, b, 10, 2.0).z_score, 2.0);
  EXPECT_FALSE(score(108.0, b, 10, 2.0).anomaly);
  EXPECT_TRUE(score(108.0, b, 10, 1.99).anomaly);
  EXPECT_EQ(score(108.0, b, 11, 1.0).z_score, 0.0);
}

}  // namespace
}  // namespace analyzer::analytics
