// Prometheus text exposition format 0.0.4, written by us from prometheus-cpp's
// collected families (prometheus-cpp's own exposer is not used).
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <string_view>
#include <vector>

namespace analyzer::telemetry {

inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

// Appends the families in the text format to `out`.
void write_text_format(const std::vector<prometheus::MetricFamily>& families, std::string& out);

}  // namespace analyzer::telemetry
