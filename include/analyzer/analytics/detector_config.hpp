// Parameters of the per-metric rolling window and z-score detector (architecture.md §3).
#pragma once

#include <cstddef>

namespace analyzer::analytics {

struct detector_config {
  std::size_t window_size = 50;  // W: values kept per metric, 2..4096
  double threshold = 2.0;        // anomaly when |z| > threshold (strictly)
  std::size_t warmup = 50;       // baseline size needed before z is computed, 2..W
};

}  // namespace analyzer::analytics
