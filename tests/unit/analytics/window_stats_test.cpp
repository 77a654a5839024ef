// compute_window_stats against hand-computed values and exact integer arithmetic.
#include "analyzer/analytics/window_stats.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace analyzer::analytics {
namespace {

constexpr double kDblMax = std::numeric_limits<double>::max();

double ulp(double x) {
  const double a = std::fabs(x);
  return std::nextafter(a, std::numeric_limits<double>::infinity()) - a;
}

// Values 1e9 + k·2^-20 are exact doubles (ulp(1e9) is 2^-23), so as integers
// X = 1e9·2^20 + k (< 2^51) their mean and variance are exact rationals:
// mean = ΣX / (n·2^20), var = (nΣX² − (ΣX)²) / (n²·2^40), which fit in __int128.
__extension__ typedef __int128 int128;  // __extension__: -Wpedantic accepts it only here
constexpr std::int64_t kBase = 1'000'000'000;
constexpr int kFractionBits = 20;

struct exact_window {
  int128 n = 0;
  int128 sum = 0;
  int128 sum_sq = 0;

  void add(std::int64_t k) {
    const int128 x = (static_cast<int128>(kBase) << kFractionBits) + k;
    n += 1;
    sum += x;
    sum_sq += x * x;
  }
  // n²·2^40·var
  [[nodiscard]] int128 scaled_var() const { return n * sum_sq - sum * sum; }
  [[nodiscard]] long double std_dev() const {
    return std::sqrt(static_cast<long double>(scaled_var())) /
           (static_cast<long double>(n) * std::ldexp(1.0L, kFractionBits));
  }
  [[nodiscard]] long double mean() const {
    return static_cast<long double>(sum) /
           (static_cast<long double>(n) * std::ldexp(1.0L, kFractionBits));
  }
  // z of 1e9 + k·2^-20: (n·X − ΣX) / sqrt(nΣX² − (ΣX)²), exact up to one long double sqrt.
  [[nodiscard]] long double z(std::int64_t k) const {
    const int128 x = (static_cast<int128>(kBase) << kFractionBits) + k;
    return static_cast<long double>(n * x - sum) /
           std::sqrt(static_cast<long double>(scaled_var()));
  }
};

double offset_value(std::int64_t k) {
  return static_cast<double>(kBase) + std::ldexp(static_cast<double>(k), -kFractionBits);
}

TEST(WindowStatsTest, empty_window_is_all_zero) {
  const window_stats s = compute_window_stats({});
  EXPECT_EQ(s.count, 0U);
  EXPECT_EQ(s.mean, 0.0);
  EXPECT_EQ(s.std_dev, 0.0);
  EXPECT_EQ(s.min, 0.0);
  EXPECT_EQ(s.max, 0.0);
}

TEST(WindowStatsTest, textbook_example) {
  const std::vector<double> v{2, 4, 4, 4, 5, 5, 7, 9};
  const window_stats s = compute_window_stats(v);
  EXPECT_EQ(s.count, 8U);
  EXPECT_EQ(s.mean, 5.0);
  EXPECT_EQ(s.std_dev, 2.0);
  EXPECT_EQ(s.min, 2.0);
  EXPECT_EQ(s.max, 9.0);
}

TEST(WindowStatsTest, order_does_not_change_min_max_and_barely_the_rest) {
  std::vector<double> v{9, 2, 7, 4, 5, 4, 5, 4, 3.5};
  const window_stats a = compute_window_stats(v);
  std::reverse(v.begin(), v.end());
  const window_stats b = compute_window_stats(v);
  EXPECT_EQ(a.min, 2.0);
  EXPECT_EQ(a.max, 9.0);
  EXPECT_EQ(b.min, 2.0);
  EXPECT_EQ(b.max, 9.0);
  EXPECT_NEAR(a.mean, b.mean, 1e-15);
  EXPECT_NEAR(a.std_dev, b.std_dev, 1e-15);
}

TEST(WindowStatsTest, single_value) {
  const std::vector<double> v{42.5};
  const window_stats s = compute_window_stats(v);
  EXPECT_EQ(s.count, 1U);
  EXPECT_EQ(s.mean, 42.5);
  EXPECT_EQ(s.std_dev, 0.0);
  EXPECT_EQ(s.min, 42.5);
  EXPECT_EQ(s.max, 42.5);
}

TEST(WindowStatsTest, two_values) {
  const std::vector<double> v{-1.0, 1.0};
  const window_stats s = compute_window_stats(v);
  EXPECT_EQ(s.mean, 0.0);
  EXPECT_EQ(s.std_dev, 1.0);
}

TEST(WindowStatsTest, equal_values_have_exactly_zero_std) {
  // 0.1 and 1e9 + 0.1 are the classic cases where Σx/n lands one ulp off x.
  for (const double x : {0.1, 1e9 + 0.1, 1.0 / 3.0, 123.456, -7e-300, 5e-324, kDblMax, -kDblMax}) {
    for (const std::size_t n : {1U, 2U, 3U, 7U, 10U, 49U, 50U, 51U, 4096U}) {
      const std::vector<double> v(n, x);
      const window_stats s = compute_window_stats(v);
      EXPECT_EQ(s.mean, x) << x << " x " << n;
      EXPECT_EQ(s.std_dev, 0.0) << x << " x " << n;
      EXPECT_EQ(s.min, x);
      EXPECT_EQ(s.max, x);
      EXPECT_EQ(s.count, n);
    }
  }
}

TEST(WindowStatsTest, naive_mean_of_equal_values_would_be_off) {
  // Guards the premise of the test above: the naive mean really is off for this input.
  const std::vector<double> v(50, 1e9 + 0.1);
  double sum = 0.0;
  for (const double x : v) {
    sum += x;
  }
  const double naive_mean = sum / 50.0;
  const std::vector<double> w(10, 0.1);
  double sum_w = 0.0;
  for (const double x : w) {
    sum_w += x;
  }
  EXPECT_TRUE(naive_mean != v[0] || sum_w / 10.0 != 0.1);
  EXPECT_EQ(compute_window_stats(w).mean, 0.1);
  EXPECT_EQ(compute_window_stats(w).std_dev, 0.0);
}

TEST(WindowStatsTest, large_offset_matches_exact_arithmetic) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::int64_t> small(-40, 40);
  for (int round = 0; round < 500; ++round) {
    const std::size_t n = 2 + static_cast<std::size_t>(rng() % 60);
    std::vector<double> v;
    exact_window exact;
    for (std::size_t i = 0; i < n; ++i) {
      const std::int64_t k = small(rng);
      v.push_back(offset_value(k));
      exact.add(k);
    }
    if (exact.scaled_var() == 0) {
      continue;
    }
    const window_stats s = compute_window_stats(v);
    const double max_abs = std::max(std::fabs(s.min), std::fabs(s.max));
    const long double std_ref = exact.std_dev();
    // What a double mean can carry: its error is a few ulps of the values.
    EXPECT_LE(std::fabs(static_cast<long double>(s.mean) - exact.mean()), 2.0L * ulp(max_abs));
    EXPECT_LE(std::fabs(static_cast<long double>(s.std_dev) - std_ref) / std_ref, 1e-12L);

    for (const std::int64_t k :
         {std::int64_t{-100}, std::int64_t{0}, std::int64_t{3}, std::int64_t{250}}) {
      const double x = offset_value(k);
      const double z = (x - s.mean) / s.std_dev;
      const long double z_ref = exact.z(k);
      const long double tolerance = 1e-9L * std::max(1.0L, std::fabs(z_ref)) +
                                    8.0L * ulp(std::max(max_abs, std::fabs(x))) / std_ref;
      EXPECT_LE(std::fabs(static_cast<long double>(z) - z_ref), tolerance)
          << "round " << round << " k " << k;
    }
  }
}

TEST(WindowStatsTest, large_offset_tiny_spread_keeps_precision) {
  // Two values one ulp-multiple apart around 1e9: mean and std are exact in doubles.
  std::vector<double> v;
  for (int i = 0; i < 25; ++i) {
    v.push_back(offset_value(0));
    v.push_back(offset_value(2));
  }
  const window_stats s = compute_window_stats(v);
  EXPECT_EQ(s.mean, offset_value(1));
  EXPECT_EQ(s.std_dev, std::ldexp(1.0, -kFractionBits));
}

TEST(WindowStatsTest, values_near_dbl_max_stay_finite) {
  {
    const std::vector<double> v{kDblMax, kDblMax / 2};
    const window_stats s = compute_window_stats(v);
    EXPECT_TRUE(std::isfinite(s.mean));
    EXPECT_TRUE(std::isfinite(s.std_dev));
    EXPECT_DOUBLE_EQ(s.mean, 0.75 * kDblMax);
    EXPECT_DOUBLE_EQ(s.std_dev, 0.25 * kDblMax);
  }
  {
    // max − min overflows here.
    const std::vector<double> v{-kDblMax, kDblMax};
    const window_stats s = compute_window_stats(v);
    EXPECT_EQ(s.mean, 0.0);
    EXPECT_TRUE(std::isfinite(s.std_dev));
    EXPECT_DOUBLE_EQ(s.std_dev, kDblMax);
    EXPECT_EQ(s.min, -kDblMax);
    EXPECT_EQ(s.max, kDblMax);
  }
  {
    std::vector<double> v(50, kDblMax);
    v[3] = -kDblMax;
    v[7] = 0.0;
    const window_stats s = compute_window_stats(v);
    EXPECT_TRUE(std::isfinite(s.mean));
    EXPECT_TRUE(std::isfinite(s.std_dev));
    EXPECT_GT(s.std_dev, 0.0);
    EXPECT_GE(s.mean, s.min);
    EXPECT_LE(s.mean, s.max);
    const long double mean_ref = 47.0L * kDblMax / 50.0L;
    EXPECT_LE(std::fabs(static_cast<long double>(s.mean) - mean_ref) / mean_ref, 1e-14L);
  }
}

TEST(WindowStatsTest, tiny_values_keep_a_spread) {
  // Subnormal values: the spread 2^-1072 scales up to a normal number, so the std (half
  // the spread here) survives instead of underflowing in the squares.
  const double tiny = std::ldexp(1.0, -1072);
  const std::vector<double> v{0.0, tiny, 0.0, tiny};
  const window_stats s = compute_window_stats(v);
  EXPECT_EQ(s.mean, tiny / 2);
  EXPECT_EQ(s.std_dev, tiny / 2);
  const std::vector<double> w{1e-300, 3e-300};
  const window_stats t = compute_window_stats(w);
  EXPECT_DOUBLE_EQ(t.mean, 2e-300);
  EXPECT_DOUBLE_EQ(t.std_dev, 1e-300);
}

TEST(WindowStatsTest, scaling_by_powers_of_two_scales_the_result_exactly) {
  // Spreads below 2^-300 or above 2^300 take the scaled path, the others skip the scale;
  // both must give exactly the scaled result, as power-of-two scaling is exact.
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g(50.0, 10.0);
  std::vector<double> v;
  for (int i = 0; i < 50; ++i) {
    v.push_back(g(rng));
  }
  const window_stats base = compute_window_stats(v);
  for (const int k : {-700, -400, -310, -290, -1, 1, 290, 310, 400, 700}) {
    std::vector<double> w;
    for (const double x : v) {
      w.push_back(std::ldexp(x, k));
    }
    const window_stats s = compute_window_stats(w);
    EXPECT_EQ(s.mean, std::ldexp(base.mean, k)) << k;
    EXPECT_EQ(s.std_dev, std::ldexp(base.std_dev, k)) << k;
    EXPECT_EQ(s.min, std::ldexp(base.min, k)) << k;
    EXPECT_EQ(s.max, std::ldexp(base.max, k)) << k;
  }
  const double a = std::ldexp(1.0, -400);
  const std::vector<double> small{a, 3 * a};
  EXPECT_EQ(compute_window_stats(small).mean, 2 * a);
  EXPECT_EQ(compute_window_stats(small).std_dev, a);
  const double b = std::ldexp(1.0, 400);
  const std::vector<double> large{b, 3 * b, b, 3 * b};
  EXPECT_EQ(compute_window_stats(large).mean, 2 * b);
  EXPECT_EQ(compute_window_stats(large).std_dev, b);
}

TEST(WindowStatsTest, mean_stays_between_min_and_max) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (int round = 0; round < 2000; ++round) {
    const std::size_t n = 1 + static_cast<std::size_t>(rng() % 64);
    const double scale = std::ldexp(1.0, static_cast<int>(rng() % 200) - 100);
    const double offset = u(rng) * std::ldexp(1.0, static_cast<int>(rng() % 80));
    std::vector<double> v;
    for (std::size_t i = 0; i < n; ++i) {
      v.push_back(offset + u(rng) * scale);
    }
    const window_stats s = compute_window_stats(v);
    EXPECT_EQ(s.min, *std::min_element(v.begin(), v.end()));
    EXPECT_EQ(s.max, *std::max_element(v.begin(), v.end()));
    EXPECT_GE(s.mean, s.min);
    EXPECT_LE(s.mean, s.max);
    EXPECT_GE(s.std_dev, 0.0);
    // A population std never exceeds half the range.
    EXPECT_LE(s.std_dev, (s.max - s.min) * 0.5 * (1 + 1e-12));
  }
}

TEST(WindowStatsTest, matches_long_double_two_pass) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g(50.0, 10.0);
  for (const std::size_t n : {2U, 3U, 5U, 8U, 50U, 51U, 4096U}) {
    std::vector<double> v;
    for (std::size_t i = 0; i < n; ++i) {
      v.push_back(g(rng));
    }
    long double sum = 0;
    for (const double x : v) {
      sum += x;
    }
    const long double mean = sum / static_cast<long double>(n);
    long double sq = 0;
    for (const double x : v) {
      sq += (x - mean) * (x - mean);
    }
    const long double sd = std::sqrt(sq / static_cast<long double>(n));
    const window_stats s = compute_window_stats(v);
    EXPECT_NEAR(s.mean, static_cast<double>(mean), 1e-12 * 60);
    EXPECT_NEAR(s.std_dev, static_cast<double>(sd), 1e-12 * 10);
  }
}

}  // namespace
}  // namespace analyzer::analytics
