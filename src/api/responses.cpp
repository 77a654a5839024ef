// Encoders of the API's JSON response bodies.
#include "analyzer/api/responses.hpp"

#include "analyzer/api/json_writer.hpp"

namespace analyzer::api {
namespace {

std::size_t decimal_digits(std::size_t n) {
  std::size_t digits = 1;
  while (n >= 10) {
    n /= 10;
    ++digits;
  }
  return digits;
}

void write_metric_result(json_writer& w, const analytics::metric_result& r) {
  w.begin_object();
  w.key("value");
  w.value(r.value);
  w.key("z_score");
  w.value(r.z_score);
  w.key("anomaly");
  w.value(r.anomaly);
  w.end_object();
}

void write_metric_snapshot(json_writer& w, const analytics::metric_snapshot& m) {
  const bool has_data = m.window.count > 0;
  auto statistic = [&](std::string_view name, double v) {
    w.key(name);
    if (has_data) {
      w.value(v);
    } else {
      w.null();
    }
  };
  w.begin_object();
  w.key("data_points");
  w.value(static_cast<std::uint64_t>(m.window.count));
  statistic("rolling_average", m.window.mean);
  statistic("std_dev", m.window.std_dev);
  statistic("min", m.window.min);
  statistic("max", m.window.max);
  w.key("last");
  if (m.last)
    w.value(m.last->value);
  else
    w.null();
  w.key("z_score");
  if (m.last)
    w.value(m.last->z_score);
  else
    w.null();
  w.key("anomaly");
  if (m.last)
    w.value(m.last->anomaly);
  else
    w.null();
  w.key("anomalies_total");
  w.value(m.anomalies_total);
  w.key("last_anomaly");
  if (m.last_anomaly) {
    w.begin_object();
    w.key("timestamp");
    w.value(m.last_anomaly->timestamp);
    w.key("value");
    w.value(m.last_anomaly->value);
    w.key("z_score");
    w.value(m.last_anomaly->z_score);
    w.end_object();
  } else {
    w.null();
  }
  w.end_object();
}

}  // namespace

void encode_error(error_code code, std::string_view message, std::string& out) {
  json_writer w(out);
  w.begin_object();
  w.key("error");
  w.value(to_string(code));
  w.key("message");
  w.value(message);
  w.end_object();
}

void encode_ingest(std::size_t accepted, std::size_t anomalies,
                   std::span<const analytics::commit_result> results, bool with_results,
                   std::string& out) {
  json_writer w(out);
  w.begin_object();
  w.key("accepted");
  w.value(static_cast<std::uint64_t>(accepted));
  w.key("anomalies");
  w.value(static_cast<std::uint64_t>(anomalies));
  // Whitespace is insignificant in JSON: pad to the width of the largest possible count.
  const std::size_t width = decimal_digits(accepted * analytics::kMetricCount);
  out.append(width - decimal_digits(anomalies), ' ');
  if (with_results) {
    w.key("results");
    w.begin_array();
    for (const auto& r : results) {
      w.begin_object();
      w.key("timestamp");
      w.value(r.timestamp);
      w.key("seq");
      w.value(r.seq);
      for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
        w.key(analytics::kMetricNames[m]);
        write_metric_result(w, r.metrics[m]);
      }
      w.end_object();
    }
    w.end_array();
  }
  w.end_object();
}

namespace {

void write_analyze_metrics(json_writer& w, const analytics::snapshot& snap) {
  w.begin_object();
  for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
    w.key(analytics::kMetricNames[m]);
    write_metric_snapshot(w, snap.metrics[m]);
  }
  w.end_object();
}

// The body around its "metrics" object, which `metrics` writes.
template <class WriteMetrics>
void write_analyze(const analytics::snapshot& snap, const analytics::detector_config& config,
                   const storage_status& storage, double now, std::string& out,
                   std::string_view scope, WriteMetrics&& metrics) {
  json_writer w(out);
  w.begin_object();
  w.key("timestamp");
  w.value(now);
  w.key("window_size");
  w.value(static_cast<std::uint64_t>(config.window_size));
  w.key("threshold");
  w.value(config.threshold);
  w.key("warmup");
  w.value(static_cast<std::uint64_t>(config.warmup));
  if (!scope.empty()) {
    w.key("scope");
    w.value(scope);
  }
  w.key("samples_total");
  w.value(snap.seq);
  w.key("metrics");
  metrics(w);
  w.key("storage");
  w.begin_object();
  w.key("backend");
  w.value(storage.backend);
  w.key("connected");
  w.value(storage.connected);
  w.key("pending_writes");
  w.value(storage.pending_writes);
  w.key("failed_writes");
  w.value(storage.failed_writes);
  w.key("dropped_writes");
  w.value(storage.dropped_writes);
  w.end_object();
  w.end_object();
}

}  // namespace

void encode_analyze(const analytics::snapshot& snap, const analytics::detector_config& config,
                    const storage_status& storage, double now, std::string& out,
                    std::string_view scope) {
  write_analyze(snap, config, storage, now, out, scope,
                [&snap](json_writer& w) { write_analyze_metrics(w, snap); });
}

void encode_analyze_metrics(const analytics::snapshot& snap, std::string& out) {
  json_writer w(out);
  write_analyze_metrics(w, snap);
}

void encode_analyze(const analytics::snapshot& snap, const analytics::detector_config& config,
                    const storage_status& storage, double now, std::string& out,
                    std::string_view scope, std::string_view metrics_json) {
  write_analyze(snap, config, storage, now, out, scope,
                [metrics_json](json_writer& w) { w.raw(metrics_json); });
}

void encode_health(std::string_view version, double uptime_seconds, std::string& out) {
  json_writer w(out);
  w.begin_object();
  w.key("status");
  w.value(std::string_view{"ok"});
  w.key("version");
  w.value(version);
  w.key("uptime_seconds");
  w.value(uptime_seconds);
  w.end_object();
}

void encode_ready(std::string_view status, std::string& out) {
  json_writer w(out);
  w.begin_object();
  w.key("status");
  w.value(status);
  w.end_object();
}

}  // namespace analyzer::api
