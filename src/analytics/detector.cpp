// The z-score rule of architecture.md §3.
#include "analyzer/analytics/detector.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace analyzer::analytics {

metric_result score(double x, const window_stats& baseline, std::size_t warmup,
                    double threshold) noexcept {
  if (baseline.count < warmup || baseline.std_dev == 0.0) {
    return {.value = x, .z_score = 0.0, .anomaly = false};
  }
  // A tiny (subnormal) std or values near ±DBL_MAX can push the quotient past the double
  // range; the largest finite z keeps the result serialisable (JSON has no infinity) and
  // still far beyond any threshold.
  constexpr double kMaxZ = std::numeric_limits<double>::max();
  const double z = std::clamp((x - baseline.mean) / baseline.std_dev, -kMaxZ, kMaxZ);
  return {.value = x, .z_score = z, .anomaly = std::fabs(z) > threshold};
}

}  // namespace analyzer::analytics
