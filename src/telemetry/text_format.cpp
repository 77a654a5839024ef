// Serializer of collected metric families into the Prometheus text format.
#include "analyzer/telemetry/text_format.hpp"

#include <array>
#include <charconv>
#include <cmath>

namespace analyzer::telemetry {
namespace {

void write_number(double v, std::string& out) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    std::array<char, 32> buffer{};
    // Shortest round-trip digits in %g style, as Prometheus' own clients print them
    // (0.0001, not 1e-04), so that le="0.0001" matchers find the bucket.
    auto [end, ec] =
        std::to_chars(buffer.data(), buffer.data() + buffer.size(), v, std::chars_format::general);
    out.append(buffer.data(), static_cast<std::size_t>(end - buffer.data()));
  }
}

void write_count(std::uint64_t v, std::string& out) {
  std::array<char, 24> buffer{};
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), v);
  out.append(buffer.data(), static_cast<std::size_t>(end - buffer.data()));
}

void write_escaped(std::string_view text, bool quote_too, std::string& out) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote_too && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// name{labels[,extra_name="extra_value"]} value
void write_sample(std::string_view name, std::string_view suffix,
                  const std::vector<prometheus::ClientMetric::Label>& labels,
                  std::string_view extra_name, std::string_view extra_value, std::string& out) {
  out += name;
  out += suffix;
  if (!labels.empty() || !extra_name.empty()) {
    out += '{';
    bool first = true;
    for (const auto& label : labels) {
      if (!first) out += ',';
      first = false;
      out += label.name;
      out += "=\"";
      write_escaped(label.value, true, out);
      out += '"';
    }
    if (!extra_name.empty()) {
      if (!first) out += ',';
      out += extra_name;
      out += "=\"";
      out += extra_value;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

std::string_view type_name(prometheus::MetricType type) {
  switch (type) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    case prometheus::MetricType::Summary:
      return "summary";
    case prometheus::MetricType::Histogram:
      return "histogram";
    case prometheus::MetricType::Untyped:
      break;
  }
  return "untyped";
}

}  // namespace

void write_text_format(const std::vector<prometheus::MetricFamily>& families, std::string& out) {
  for (const auto& family : families) {
    if (family.metric.empty()) continue;
    out += "# HELP ";
    out += family.name;
    out += ' ';
    write_escaped(family.help, false, out);
    out += "\n# TYPE ";
    out += family.name;
    out += ' ';
    out += type_name(family.type);
    out += '\n';
    for (const auto& m : family.metric) {
      switch (family.type) {
        case prometheus::MetricType::Counter:
          write_sample(family.name, "", m.label, "", "", out);
          write_number(m.counter.value, out);
          out += '\n';
          break;
        case prometheus::MetricType::Gauge:
          write_sample(family.name, "", m.label, "", "", out);
          write_number(m.gauge.value, out);
          out += '\n';
          break;
        case prometheus::MetricType::Untyped:
          write_sample(family.name, "", m.label, "", "", out);
          write_number(m.untyped.value, out);
          out += '\n';
          break;
        case prometheus::MetricType::Summary:
          for (const auto& q : m.summary.quantile) {
            std::string quantile;
            write_number(q.quantile, quantile);
            write_sample(family.name, "", m.label, "quantile", quantile, out);
            write_number(q.value, out);
            out += '\n';
          }
          write_sample(family.name, "_sum", m.label, "", "", out);
          write_number(m.summary.sample_sum, out);
          out += '\n';
          write_sample(family.name, "_count", m.label, "", "", out);
          write_count(m.summary.sample_count, out);
          out += '\n';
          break;
        case prometheus::MetricType::Histogram: {
          for (const auto& b : m.histogram.bucket) {
            std::string bound;
            write_number(b.upper_bound, bound);
            write_sample(family.name, "_bucket", m.label, "le", bound, out);
            write_count(b.cumulative_count, out);
            out += '\n';
          }
          write_sample(family.name, "_sum", m.label, "", "", out);
          write_number(m.histogram.sample_sum, out);
          out += '\n';
          write_sample(family.name, "_count", m.label, "", "", out);
          write_count(m.histogram.sample_count, out);
          out += '\n';
          break;
        }
      }
    }
  }
}

}  // namespace analyzer::telemetry
