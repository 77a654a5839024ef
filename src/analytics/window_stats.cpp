// Window statistics (architecture.md §3): min/max, then a mean and a population standard
// deviation computed on min-shifted values scaled by a power of two.
//
// This runs twice per commit over the whole window, so the passes are written with four
// 2-lane vectors (GCC/Clang vector extensions: portable, no intrinsics) as independent
// accumulators. The lane layout is fixed, so results are bit-for-bit reproducible for a
// given value order.
#include "analyzer/analytics/window_stats.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace analyzer::analytics {
namespace {

using v2 = double __attribute__((vector_size(16)));

// The scale 2^e is kept inside the normal range in both directions so that 2^e and 2^-e
// are exact doubles; a spread above 2^1022 then scales to below 4, still far from overflow.
constexpr int kMinScaleExp = -1022;
constexpr int kMaxScaleExp = 1022;
constexpr int kExponentBias = 1023;
constexpr unsigned kMantissaBits = 52;
constexpr std::uint64_t kExponentMask = 0x7ff;
constexpr int kUnscaledExp = 300;

v2 load2(const double* p) noexcept {
  v2 x;
  std::memcpy(&x, p, sizeof x);
  return x;
}
// Written as compares (not std::min) so that they map to minpd/minsd, maxpd/maxsd.
v2 min2(v2 a, v2 b) noexcept { return b < a ? b : a; }
v2 max2(v2 a, v2 b) noexcept { return a < b ? b : a; }
double min1(double a, double b) noexcept { return b < a ? b : a; }
double max1(double a, double b) noexcept { return a < b ? b : a; }
double lanes_sum(v2 a, v2 b) noexcept { return (a[0] + a[1]) + (b[0] + b[1]); }

// std::frexp's exponent of a finite d ≥ 0 (d < 2^e), clamped; and 2^e. Bit arithmetic:
// frexp/ldexp are out-of-line calls that cost as much as a pass over a 50-value window.
int scale_exponent(double d) noexcept {
  const auto biased =
      static_cast<int>((std::bit_cast<std::uint64_t>(d) >> kMantissaBits) & kExponentMask);
  // Normal d: d < 2^(biased − 1022). Subnormal d (biased 0) is below 2^-1022 anyway.
  return std::clamp(biased - (kExponentBias - 1), kMinScaleExp, kMaxScaleExp);
}
constexpr double pow2(int e) noexcept {
  return std::bit_cast<double>(static_cast<std::uint64_t>(e + kExponentBias) << kMantissaBits);
}

constexpr double kUnscaledMin = pow2(-kUnscaledExp);
constexpr double kUnscaledMax = pow2(kUnscaledExp);

struct extremes {
  double min;
  double max;
};

extremes find_extremes(const double* v, std::size_t n) noexcept {
  double lo = v[0];
  double hi = v[0];
  std::size_t i = 0;
  if (n >= 8) {
    v2 lo0 = load2(v), lo1 = load2(v + 2), lo2 = load2(v + 4), lo3 = load2(v + 6);
    v2 hi0 = lo0, hi1 = lo1, hi2 = lo2, hi3 = lo3;
    for (i = 8; i + 8 <= n; i += 8) {
      const v2 x0 = load2(v + i), x1 = load2(v + i + 2);
      const v2 x2 = load2(v + i + 4), x3 = load2(v + i + 6);
      lo0 = min2(lo0, x0);
      lo1 = min2(lo1, x1);
      lo2 = min2(lo2, x2);
      lo3 = min2(lo3, x3);
      hi0 = max2(hi0, x0);
      hi1 = max2(hi1, x1);
      hi2 = max2(hi2, x2);
      hi3 = max2(hi3, x3);
    }
    for (; i + 2 <= n; i += 2) {
      const v2 x = load2(v + i);
      lo0 = min2(lo0, x);
      hi0 = max2(hi0, x);
    }
    lo0 = min2(min2(lo0, lo1), min2(lo2, lo3));
    hi0 = max2(max2(hi0, hi1), max2(hi2, hi3));
    lo = min1(lo0[0], lo0[1]);
    hi = max1(hi0[0], hi0[1]);
  }
  for (; i < n; ++i) {
    lo = min1(lo, v[i]);
    hi = max1(hi, v[i]);
  }
  return {lo, hi};
}

// Works on y = x / kDiv. kDiv is 2 only when max − min overflows (values of opposite sign
// near ±DBL_MAX); halving is exact there except for subnormal values, whose lost bit is
// far below the rounding of such a spread.
//
// Without kScaled the scale is 1 and its multiplications are left out. Scaling by a power
// of two is exact unless a result leaves the normal range, so for a spread within
// [2^-kUnscaledExp, 2^kUnscaledExp] (squares far from both ends of the range) that gives the
// same result as any scale, with one multiplication per value and pass fewer.
template <int kDiv, bool kScaled>
window_stats spread_stats(const double* v, std::size_t n, double min, double max) noexcept {
  constexpr double kPre = 1.0 / kDiv;
  const auto shrink = [](auto x) noexcept {
    if constexpr (kDiv == 1) {
      return x;
    } else {
      return x * kPre;
    }
  };

  const double lo = shrink(min);
  const double hi = shrink(max);
  const int exp = kScaled ? scale_exponent(hi - lo) : 0;  // s = 2^exp ≥ hi − lo, unless clamped
  const double scale = pow2(exp);
  const double inv_scale_value = pow2(-exp);
  const auto inv_scale = [=](auto x) noexcept {
    if constexpr (kScaled) {
      return x * inv_scale_value;
    } else {
      return x;
    }
  };
  const auto count = static_cast<double>(n);
  const std::size_t body = n & ~std::size_t{7};
  const std::size_t pairs = n & ~std::size_t{1};

  // y − lo is exact for values close to each other (Sterbenz), so a window around 1e9 with
  // a tiny spread loses nothing before the division by n.
  v2 s0 = {0.0, 0.0}, s1 = s0, s2 = s0, s3 = s0;
  std::size_t i = 0;
  for (; i < body; i += 8) {
    s0 += inv_scale(shrink(load2(v + i)) - lo);
    s1 += inv_scale(shrink(load2(v + i + 2)) - lo);
    s2 += inv_scale(shrink(load2(v + i + 4)) - lo);
    s3 += inv_scale(shrink(load2(v + i + 6)) - lo);
  }
  for (; i < pairs; i += 2) {
    s0 += inv_scale(shrink(load2(v + i)) - lo);
  }
  double sum = lanes_sum(s0 + s1, s2 + s3);
  if (i < n) {
    sum += inv_scale(shrink(v[i]) - lo);
  }
  const double mean = std::clamp(lo + sum / count * scale, lo, hi);

  // The mean is rounded (to an ulp of the values, which can be a sizeable fraction of the
  // spread around 1e9); Σe²/n alone would overstate the variance by that error squared.
  // Subtracting (Σe)²/n removes it (the corrected two-pass algorithm).
  v2 d0 = {0.0, 0.0}, d1 = d0, d2 = d0, d3 = d0;
  v2 q0 = d0, q1 = d0, q2 = d0, q3 = d0;
  for (i = 0; i < body; i += 8) {
    const v2 e0 = inv_scale(shrink(load2(v + i)) - mean);
    const v2 e1 = inv_scale(shrink(load2(v + i + 2)) - mean);
    const v2 e2 = inv_scale(shrink(load2(v + i + 4)) - mean);
    const v2 e3 = inv_scale(shrink(load2(v + i + 6)) - mean);
    d0 += e0;
    d1 += e1;
    d2 += e2;
    d3 += e3;
    q0 += e0 * e0;
    q1 += e1 * e1;
    q2 += e2 * e2;
    q3 += e3 * e3;
  }
  for (; i < pairs; i += 2) {
    const v2 e = inv_scale(shrink(load2(v + i)) - mean);
    d0 += e;
    q0 += e * e;
  }
  double dev_sum = lanes_sum(d0 + d1, d2 + d3);
  double sq_sum = lanes_sum(q0 + q1, q2 + q3);
  if (i < n) {
    const double e = inv_scale(shrink(v[i]) - mean);
    dev_sum += e;
    sq_sum += e * e;
  }
  const double var = std::max(0.0, (sq_sum - dev_sum * dev_sum / count) / count);
  const double std_dev = scale * std::sqrt(var);

  window_stats out;
  out.count = n;
  out.min = min;
  out.max = max;
  if constexpr (kDiv == 1) {
    out.mean = mean;
    out.std_dev = std_dev;
  } else {
    // mean ≤ max / 2 so doubling stays finite; the std is at most half the range, but
    // rounding at the very top of the range could still step past DBL_MAX.
    out.mean = mean * kDiv;
    out.std_dev = std::min(std_dev * kDiv, std::numeric_limits<double>::max());
  }
  return out;
}

}  // namespace

window_stats compute_window_stats(std::span<const double> values) noexcept {
  const std::size_t n = values.size();
  if (n == 0) {
    return {};
  }
  const auto [min, max] = find_extremes(values.data(), n);
  if (min == max) {
    // Exact, not computed: a mean one ulp away from the values must not invent a spread.
    return {.count = n, .mean = min, .std_dev = 0.0, .min = min, .max = max};
  }
  const double spread = max - min;
  if (spread >= kUnscaledMin && spread <= kUnscaledMax) {
    return spread_stats<1, false>(values.data(), n, min, max);
  }
  if (std::isfinite(spread)) {
    return spread_stats<1, true>(values.data(), n, min, max);
  }
  return spread_stats<2, true>(values.data(), n, min, max);
}

}  // namespace analyzer::analytics
