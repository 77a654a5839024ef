// Statistics of one window of values, computed exactly enough for architecture.md §3:
// a power-of-two scaled, min-shifted two-pass algorithm (no E[x²] − E[x]², no drift).
#pragma once

#include <cstddef>
#include <span>

namespace analyzer::analytics {

struct window_stats {
  std::size_t count = 0;
  double mean = 0.0;
  double std_dev = 0.0;  // population standard deviation; exactly 0 when all values are equal
  double min = 0.0;
  double max = 0.0;
};

// Statistics of `values` (any order). Values must be finite. Works across the whole
// double range: no intermediate overflows, and values around 1e9 with a tiny spread
// keep their precision.
[[nodiscard]] window_stats compute_window_stats(std::span<const double> values) noexcept;

}  // namespace analyzer::analytics
