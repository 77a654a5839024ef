// process_* metrics from /proc (prometheus-cpp has no process collector): CPU seconds,
// resident and virtual memory, open and maximum fds, start time.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

namespace analyzer::telemetry {

class process_collector final : public prometheus::Collectable {
 public:
  process_collector();
  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double start_time_seconds_ = 0.0;  // Unix time the process started
};

}  // namespace analyzer::telemetry
