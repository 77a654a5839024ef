// The metric_writer that builds prometheus-cpp's data model (MetricFamily), which the
// text format writer serializes.
#pragma once

#include "analyzer/telemetry/collector.hpp"

#include <prometheus/metric_family.h>

#include <vector>

namespace analyzer::telemetry {

class family_writer final : public metric_writer {
 public:
  explicit family_writer(std::vector<prometheus::MetricFamily>& out) : out_(out) {}

  void family(std::string_view name, std::string_view help, metric_type type) override;
  void value(std::span<const label> labels, double v) override;
  void histogram(std::span<const label> labels, std::span<const double> upper_bounds,
                 std::span<const std::uint64_t> cumulative, std::uint64_t count,
                 double sum) override;

 private:
  prometheus::MetricFamily& current();

  std::vector<prometheus::MetricFamily>& out_;
};

}  // namespace analyzer::telemetry
