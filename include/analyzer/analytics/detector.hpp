// The z-score rule of architecture.md §3, applied to a baseline window.
#pragma once

#include "analyzer/analytics/window_stats.hpp"

#include <cstddef>

namespace analyzer::analytics {

struct metric_result {
  double value = 0.0;
  double z_score = 0.0;
  bool anomaly = false;
};

// Scores x against `baseline` (the window before x is added): z = 0 and no anomaly while
// the baseline holds fewer than `warmup` values or its std is 0; otherwise
// z = (x − mean) / std and anomaly = |z| > threshold.
[[nodiscard]] metric_result score(double x, const window_stats& baseline, std::size_t warmup,
                                  double threshold) noexcept;

}  // namespace analyzer::analytics
