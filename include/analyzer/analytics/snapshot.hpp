// What readers (/analyze, scrapes, persistence) see of the analytics state: one
// consistent cut of the commit order.
#pragma once

#include "analyzer/analytics/detector.hpp"
#include "analyzer/analytics/window_stats.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace analyzer::analytics {

enum class metric : std::uint8_t { cpu = 0, rps = 1 };
inline constexpr std::size_t kMetricCount = 2;
inline constexpr std::array<std::string_view, kMetricCount> kMetricNames{"cpu", "rps"};

struct anomaly_record {
  double timestamp = 0.0;
  double value = 0.0;
  double z_score = 0.0;
};

struct metric_snapshot {
  window_stats window;                // the current window (after the last commit)
  std::optional<metric_result> last;  // newest value with the z and flag it got
  std::uint64_t anomalies_total = 0;
  std::optional<anomaly_record> last_anomaly;
};

struct snapshot {
  std::uint64_t seq = 0;  // seq of the newest commit == samples committed in total
  double last_timestamp = 0.0;
  std::array<metric_snapshot, kMetricCount> metrics;

  [[nodiscard]] const metric_snapshot& of(metric m) const noexcept {
    return metrics[static_cast<std::size_t>(m)];
  }
};

// One committed sample as the commit saw it.
struct commit_result {
  std::uint64_t seq = 0;  // 1-based, dense, one total order
  double timestamp = 0.0;
  std::array<metric_result, kMetricCount> metrics;
  // Each metric's anomalies_total including this commit: lets persistence store counters
  // that match exactly the samples it has written.
  std::array<std::uint64_t, kMetricCount> anomalies_total{};

  [[nodiscard]] const metric_result& of(metric m) const noexcept {
    return metrics[static_cast<std::size_t>(m)];
  }
  [[nodiscard]] int anomaly_count() const noexcept {
    return (metrics[0].anomaly ? 1 : 0) + (metrics[1].anomaly ? 1 : 0);
  }
};

}  // namespace analyzer::analytics
