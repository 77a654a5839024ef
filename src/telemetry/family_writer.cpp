// metric_writer → prometheus::MetricFamily.
#include "analyzer/telemetry/family_writer.hpp"

#include <limits>
#include <stdexcept>
#include <string>

namespace analyzer::telemetry {
namespace {

prometheus::MetricType to_prometheus(metric_type type) noexcept {
  switch (type) {
    case metric_type::counter:
      return prometheus::MetricType::Counter;
    case metric_type::gauge:
      return prometheus::MetricType::Gauge;
    case metric_type::histogram:
      break;
  }
  return prometheus::MetricType::Histogram;
}

std::vector<prometheus::ClientMetric::Label> to_labels(std::span<const label> labels) {
  std::vector<prometheus::ClientMetric::Label> out;
  out.reserve(labels.size());
  for (const auto& l : labels) out.push_back({std::string(l.name), std::string(l.value)});
  return out;
}

}  // namespace

void family_writer::family(std::string_view name, std::string_view help, metric_type type) {
  prometheus::MetricFamily f;
  f.name = std::string(name);
  f.help = std::string(help);
  f.type = to_prometheus(type);
  out_.push_back(std::move(f));
}

prometheus::MetricFamily& family_writer::current() {
  if (out_.empty()) throw std::logic_error("family_writer: a series before any family()");
  return out_.back();
}

void family_writer::value(std::span<const label> labels, double v) {
  prometheus::MetricFamily& f = current();
  prometheus::ClientMetric m;
  m.label = to_labels(labels);
  if (f.type == prometheus::MetricType::Counter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
  f.metric.push_back(std::move(m));
}

void family_writer::histogram(std::span<const label> labels, std::span<const double> upper_bounds,
                              std::span<const std::uint64_t> cumulative, std::uint64_t count,
                              double sum) {
  prometheus::MetricFamily& f = current();
  prometheus::ClientMetric m;
  m.label = to_labels(labels);
  m.histogram.bucket.reserve(upper_bounds.size() + 1);
  for (std::size_t i = 0; i < upper_bounds.size() && i < cumulative.size(); ++i) {
    prometheus::ClientMetric::Bucket b;
    b.upper_bound = upper_bounds[i];
    b.cumulative_count = cumulative[i];
    m.histogram.bucket.push_back(b);
  }
  prometheus::ClientMetric::Bucket inf;
  inf.upper_bound = std::numeric_limits<double>::infinity();
  inf.cumulative_count = count;
  m.histogram.bucket.push_back(inf);
  m.histogram.sample_count = count;
  m.histogram.sample_sum = sum;
  f.metric.push_back(std::move(m));
}

}  // namespace analyzer::telemetry
