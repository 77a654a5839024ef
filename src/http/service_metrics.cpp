// Registration of the service's metric families and the scrape-time state collector.
#include "analyzer/http/service_metrics.hpp"

#include "analyzer/build_info.hpp"
#include "analyzer/telemetry/family_writer.hpp"
#include "analyzer/telemetry/process_collector.hpp"
#include "analyzer/telemetry/text_format.hpp"

#include <limits>

namespace analyzer::http {
namespace {

using label_list = std::vector<prometheus::ClientMetric::Label>;

// The reasons an ingest request can be refused for: each gets a series from the start.
constexpr std::array kIngestRejections = {
    api::error_code::invalid_json,           api::error_code::invalid_body,
    api::error_code::missing_field,          api::error_code::invalid_type,
    api::error_code::out_of_range,           api::error_code::duplicate_key,
    api::error_code::invalid_query,          api::error_code::unauthorized,
    api::error_code::body_too_large,         api::error_code::batch_too_large,
    api::error_code::unsupported_media_type, api::error_code::unavailable,
    api::error_code::request_id_conflict,    api::error_code::outcome_unknown};

prometheus::MetricFamily make_family(std::string name, std::string help,
                                     prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

prometheus::MetricFamily gauge_family(std::string name, std::string help) {
  return make_family(std::move(name), std::move(help), prometheus::MetricType::Gauge);
}

prometheus::MetricFamily counter_family(std::string name, std::string help) {
  return make_family(std::move(name), std::move(help), prometheus::MetricType::Counter);
}

// Adds one series; the value goes where the family's type keeps it.
void add_series(prometheus::MetricFamily& f, label_list labels, double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (f.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

// The gauges of the windows (nothing of them without a snapshot: a shared-scope read that
// failed), the store and the configuration.
void collect_state(const analytics::snapshot* snap, const api::storage_status& st,
                   const analytics::detector_config& cfg,
                   std::vector<prometheus::MetricFamily>& out) {
  auto average =
      gauge_family("analyzer_rolling_average", "Mean of the current rolling window, by metric.");
  auto std_dev = gauge_family("analyzer_rolling_std_dev",
                              "Population standard deviation of the current window, by metric.");
  auto points = gauge_family("analyzer_window_data_points",
                             "Values in the current rolling window, by metric.");
  auto last = gauge_family("analyzer_last_value", "Newest committed value, by metric.");
  auto z = gauge_family("analyzer_last_z_score",
                        "z-score the newest value got when it was committed, by metric.");
  prometheus::MetricFamily commits;
  commits.name = "analyzer_commits_total";
  commits.help = "Samples committed to the analytics state (the newest seq).";
  commits.type = prometheus::MetricType::Counter;
  if (snap != nullptr) {
    for (std::size_t i = 0; i < analytics::kMetricCount; ++i) {
      const auto& m = snap->metrics[i];
      std::vector<prometheus::ClientMetric::Label> labels{
          {"metric", std::string(analytics::kMetricNames[i])}};
      add_series(points, labels, static_cast<double>(m.window.count));
      if (m.window.count > 0) {
        add_series(average, labels, m.window.mean);
        add_series(std_dev, labels, m.window.std_dev);
      }
      if (m.last) {
        add_series(last, labels, m.last->value);
        add_series(z, labels, m.last->z_score);
      }
    }
    commits.metric.emplace_back();
    commits.metric.back().counter.value = static_cast<double>(snap->seq);
  }

  const std::vector<prometheus::ClientMetric::Label> backend{{"backend", std::string(st.backend)}};
  auto connected =
      gauge_family("analyzer_storage_connected", "1 when the store can accept writes, else 0.");
  add_series(connected, backend, st.connected ? 1.0 : 0.0);
  auto pending = gauge_family("analyzer_storage_pending_writes",
                              "Samples queued for the store and not yet written.");
  add_series(pending, backend, static_cast<double>(st.pending_writes));
  auto failed = counter_family("analyzer_storage_failed_writes_total",
                               "Sample writes the store attempted and that failed.");
  add_series(failed, backend, static_cast<double>(st.failed_writes));
  auto dropped = counter_family("analyzer_storage_dropped_writes_total",
                                "Samples dropped because the store queue was full.");
  add_series(dropped, backend, static_cast<double>(st.dropped_writes));
  auto written =
      counter_family("analyzer_storage_written_total", "Samples the store confirmed written.");
  add_series(written, backend, static_cast<double>(st.written_writes));
  auto reconnects = counter_family(
      "analyzer_storage_reconnects_total",
      "Store connection attempts after the first (after a failure or a lost connection).");
  add_series(reconnects, backend, static_cast<double>(st.reconnects));

  auto threshold = gauge_family("analyzer_anomaly_threshold",
                                "Configured |z| above which a value is an anomaly.");
  add_series(threshold, {}, cfg.threshold);
  auto window_size = gauge_family("analyzer_window_size",
                                  "Configured rolling window capacity (values per metric).");
  add_series(window_size, {}, static_cast<double>(cfg.window_size));

  auto build = gauge_family("analyzer_build_info",
                            "Always 1; labels name the running version and revision.");
  add_series(build, {{"revision", build::kRevision}, {"version", build::kVersion}}, 1.0);

  for (auto* f : {&average, &std_dev, &points, &last, &z, &commits, &connected, &pending, &written,
                  &failed, &dropped, &reconnects, &threshold, &window_size, &build}) {
    out.push_back(std::move(*f));
  }
}

}  // namespace

service_metrics::service_metrics(const storage::window_path& windows)
    : shards_(std::make_unique<shard[]>(kShards)),
      windows_(windows),
      process_collector_(std::make_unique<telemetry::process_collector>()) {}

service_metrics::~service_metrics() = default;

service_metrics::shard& service_metrics::local_shard() noexcept {
  static std::atomic<std::size_t> next_thread{0};
  thread_local const std::size_t index =
      next_thread.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shards_[index];
}

std::size_t service_metrics::status_index(unsigned status) noexcept {
  for (std::size_t i = 1; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) return i;
  }
  return 0;
}

void service_metrics::record_request(route r, method m, unsigned status,
                                     std::chrono::nanoseconds elapsed) noexcept {
  const std::size_t index =
      (static_cast<std::size_t>(r) * kMethodCount + static_cast<std::size_t>(m)) *
          kStatuses.size() +
      status_index(status);
  local_shard().requests[index].observe(elapsed);
}

void service_metrics::record_accepted(std::size_t samples, std::size_t cpu_anomalies,
                                      std::size_t rps_anomalies) noexcept {
  shard& s = local_shard();
  s.accepted.fetch_add(samples, std::memory_order_relaxed);
  if (cpu_anomalies > 0) s.anomalies[0].fetch_add(cpu_anomalies, std::memory_order_relaxed);
  if (rps_anomalies > 0) s.anomalies[1].fetch_add(rps_anomalies, std::memory_order_relaxed);
}

void service_metrics::record_rejected(api::error_code reason) noexcept {
  local_shard().rejected[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
}

void service_metrics::record_shared_failure(storage::shared_failure reason) noexcept {
  local_shard().shared_failures[static_cast<std::size_t>(reason)].fetch_add(
      1, std::memory_order_relaxed);
}

void service_metrics::record_connection_opened() noexcept {
  connections_opened_.fetch_add(1, std::memory_order_relaxed);
}

void service_metrics::record_connection_refused() noexcept {
  connections_refused_.fetch_add(1, std::memory_order_relaxed);
}

void service_metrics::record_connection_closed() noexcept {
  connections_closed_.fetch_add(1, std::memory_order_relaxed);
}

void service_metrics::collect_requests(std::vector<prometheus::MetricFamily>& out) const {
  auto requests =
      counter_family("http_requests_total", "HTTP requests answered, by route, method and status.");
  auto latency = make_family("http_request_duration_seconds",
                             "Time from a request's complete head to its response written, "
                             "by route, method and status.",
                             prometheus::MetricType::Histogram);
  for (std::size_t r = 0; r < kRouteCount; ++r) {
    for (std::size_t m = 0; m < kMethodCount; ++m) {
      for (std::size_t s = 0; s < kStatuses.size(); ++s) {
        const std::size_t series = (r * kMethodCount + m) * kStatuses.size() + s;
        telemetry::latency_histogram::reading reading;
        for (std::size_t i = 0; i < kShards; ++i) shards_[i].requests[series].add_to(reading);
        if (reading.count == 0) continue;  // a series appears with its first request
        const label_list labels{
            {"method", std::string(to_string(static_cast<method>(m)))},
            {"route", std::string(to_string(static_cast<route>(r)))},
            {"status", s == 0 ? std::string("other") : std::to_string(kStatuses[s])}};
        add_series(requests, labels, static_cast<double>(reading.count));
        prometheus::ClientMetric metric;
        metric.label = labels;
        metric.histogram.sample_count = reading.count;
        metric.histogram.sample_sum = reading.sum_seconds;
        metric.histogram.bucket.reserve(telemetry::latency_histogram::kBuckets);
        for (std::size_t b = 0; b < telemetry::latency_histogram::kBuckets; ++b) {
          prometheus::ClientMetric::Bucket bucket;
          bucket.cumulative_count = reading.cumulative[b];
          bucket.upper_bound =
              b < telemetry::latency_histogram::kBoundsNs.size()
                  ? static_cast<double>(telemetry::latency_histogram::kBoundsNs[b]) / 1e9
                  : std::numeric_limits<double>::infinity();
          metric.histogram.bucket.push_back(bucket);
        }
        latency.metric.push_back(std::move(metric));
      }
    }
  }
  out.push_back(std::move(requests));
  out.push_back(std::move(latency));
}

void service_metrics::collect_counters(std::vector<prometheus::MetricFamily>& out) const {
  const auto load = [](const std::atomic<std::uint64_t>& a) {
    return static_cast<double>(a.load(std::memory_order_relaxed));
  };
  // Sums one counter over the shards.
  const auto total = [this](auto member) {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < kShards; ++i) {
      sum += member(shards_[i]).load(std::memory_order_relaxed);
    }
    return static_cast<double>(sum);
  };
  const std::uint64_t opened = connections_opened_.load(std::memory_order_relaxed);
  const std::uint64_t closed = connections_closed_.load(std::memory_order_relaxed);
  auto open =
      gauge_family("analyzer_http_open_connections", "Client connections currently being served.");
  add_series(open, {}, static_cast<double>(opened >= closed ? opened - closed : 0));
  auto connections = counter_family(
      "analyzer_http_connections_total",
      "Client connections accepted, by outcome (served, or refused at MAX_CONNECTIONS).");
  add_series(connections, {{"outcome", "served"}}, static_cast<double>(opened));
  add_series(connections, {{"outcome", "refused"}}, load(connections_refused_));

  auto accepted = counter_family("analyzer_samples_accepted_total",
                                 "Samples accepted by POST /metrics and committed.");
  add_series(accepted, {}, total([](shard & s) -> auto& { return s.accepted; }));
  auto anomalies =
      counter_family("analyzer_anomalies_total", "Values flagged as anomalies, by metric.");
  for (std::size_t i = 0; i < analytics::kMetricCount; ++i) {
    add_series(anomalies, {{"metric", std::string(analytics::kMetricNames[i])}},
               total([i](shard & s) -> auto& { return s.anomalies[i]; }));
  }
  auto rejected = counter_family("analyzer_ingest_rejected_total",
                                 "POST /metrics requests rejected, by error code.");
  for (const auto code : kIngestRejections) {
    add_series(
        rejected, {{"reason", std::string(api::to_string(code))}},
        total([code](shard & s) -> auto& { return s.rejected[static_cast<std::size_t>(code)]; }));
  }
  auto shared_failures = counter_family(
      "analyzer_shared_failures_total",
      "WINDOW_SCOPE=shared: Redis calls (commits, reads) that failed, by reason; answered 503.");
  for (std::size_t i = 0; i < storage::kSharedFailureCount; ++i) {
    add_series(
        shared_failures,
        {{"reason", std::string(storage::to_string(static_cast<storage::shared_failure>(i)))}},
        total([i](shard & s) -> auto& { return s.shared_failures[i]; }));
  }
  for (auto* f : {&open, &connections, &accepted, &anomalies, &rejected, &shared_failures}) {
    out.push_back(std::move(*f));
  }
}

std::vector<prometheus::MetricFamily> service_metrics::collect(
    const storage::read_outcome& window) const {
  std::vector<prometheus::MetricFamily> families;
  families.reserve(40);
  collect_requests(families);
  collect_counters(families);
  collect_state(window.snap, window.status, windows_.config(), families);
  telemetry::family_writer writer(families);
  windows_.collect(writer);
  auto process = process_collector_->Collect();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  return families;
}

void service_metrics::write_text(std::string& out, const storage::read_outcome& window) const {
  telemetry::write_text_format(collect(window), out);
}

}  // namespace analyzer::http
