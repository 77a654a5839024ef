// The std::mutex baseline the lock-free analyzer is benchmarked against: the same commit
// and read semantics (and the same arithmetic), with the state updated in place under a lock.
#pragma once

#include "analyzer/analytics/detector.hpp"
#include "analyzer/analytics/detector_config.hpp"
#include "analyzer/analytics/snapshot.hpp"
#include "analyzer/analytics/window_stats.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

namespace analyzer::bench {

class mutex_analyzer {
 public:
  explicit mutex_analyzer(const analytics::detector_config& config)
      : config_(config), rings_(analytics::kMetricCount * config.window_size, 0.0) {}

  analytics::commit_result commit(double timestamp, double cpu, double rps) {
    const std::array<double, analytics::kMetricCount> values{cpu, rps};
    const std::size_t w = config_.window_size;
    const std::lock_guard lock(mutex_);
    analytics::commit_result result;
    result.seq = ++state_.seq;
    result.timestamp = timestamp;
    const std::size_t pos = static_cast<std::size_t>((result.seq - 1) % w);
    if (count_ < w) {
      ++count_;
    }
    for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
      analytics::metric_snapshot& ms = state_.metrics[m];
      const analytics::metric_result r =
          analytics::score(values[m], ms.window, config_.warmup, config_.threshold);
      result.metrics[m] = r;
      double* ring = rings_.data() + m * w;
      ring[pos] = values[m];
      // Same value order as the lock-free analyzer (which starts empty here too).
      ms.window = analytics::compute_window_stats(std::span<const double>(ring, count_));
      ms.last = r;
      if (r.anomaly) {
        ++ms.anomalies_total;
        ms.last_anomaly = analytics::anomaly_record{timestamp, r.value, r.z_score};
      }
    }
    state_.last_timestamp = timestamp;
    return result;
  }

  [[nodiscard]] analytics::snapshot read() const {
    const std::lock_guard lock(mutex_);
    return state_;
  }

 private:
  analytics::detector_config config_;
  mutable std::mutex mutex_;
  analytics::snapshot state_;
  std::size_t count_ = 0;
  std::vector<double> rings_;
};

}  // namespace analyzer::bench
