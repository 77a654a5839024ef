// Registration of the service's metric families and the scrape-time state collector.
#include "analyzer/telemetry/service_metrics.hpp"

#include "analyzer/build_info.hpp"
#include "analyzer/telemetry/process_collector.hpp"
#include "analyzer/telemetry/text_format.hpp"

#include <prometheus/collectable.h>

namespace analyzer::telemetry {
namespace {

const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  return buckets;
}

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
void add_series(prometheus::MetricFamily& f, std::vector<prometheus::ClientMetric::Label> labels,
                double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (f.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

// Gauges read from the analytics snapshot and the store at scrape time: nothing on the
// ingest path has to maintain them.
class state_collector final : public prometheus::Collectable {
 public:
  state_collector(const analytics::analyzer& analyzer, const storage::store& store)
      : analyzer_(analyzer), store_(store) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    const analytics::snapshot snap = analyzer_.read();
    auto average =
        gauge_family("analyzer_rolling_average", "Mean of the current rolling window, by metric.");
    auto std_dev = gauge_family("analyzer_rolling_std_dev",
                                "Population standard deviation of the current window, by metric.");
    auto points = gauge_family("analyzer_window_data_points",
                               "Values in the current rolling window, by metric.");
    auto last = gauge_family("analyzer_last_value", "Newest committed value, by metric.");
    auto z = gauge_family("analyzer_last_z_score",
                          "z-score the newest value got when it was committed, by metric.");
    for (std::size_t i = 0; i < analytics::kMetricCount; ++i) {
      const auto& m = snap.metrics[i];
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
    prometheus::MetricFamily commits;
    commits.name = "analyzer_commits_total";
    commits.help = "Samples committed to the analytics state (the newest seq).";
    commits.type = prometheus::MetricType::Counter;
    commits.metric.emplace_back();
    commits.metric.back().counter.value = static_cast<double>(snap.seq);

    const storage::store_status st = store_.status();
    const std::vector<prometheus::ClientMetric::Label> backend{
        {"backend", std::string(st.backend)}};
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

    auto build = gauge_family("analyzer_build_info",
                              "Always 1; labels name the running version and revision.");
    add_series(build, {{"revision", build::kRevision}, {"version", build::kVersion}}, 1.0);

    std::vector<prometheus::MetricFamily> out;
    out.reserve(14);
    for (auto* f : {&average, &std_dev, &points, &last, &z, &commits, &connected, &pending,
                    &written, &failed, &dropped, &reconnects, &build}) {
      out.push_back(std::move(*f));
    }
    store_.collect(out);
    return out;
  }

 private:
  const analytics::analyzer& analyzer_;
  const storage::store& store_;
};

}  // namespace

std::string_view to_string(route r) noexcept {
  switch (r) {
    case route::health:
      return "/health";
    case route::ready:
      return "/ready";
    case route::metrics:
      return "/metrics";
    case route::analyze:
      return "/analyze";
    case route::other:
      break;
  }
  return "other";
}

std::string_view to_string(method m) noexcept {
  switch (m) {
    case method::get:
      return "GET";
    case method::head:
      return "HEAD";
    case method::post:
      return "POST";
    case method::other:
      break;
  }
  return "OTHER";
}

service_metrics::service_metrics(const analytics::analyzer& analyzer, const storage::store& store)
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(&prometheus::BuildCounter()
                     .Name("http_requests_total")
                     .Help("HTTP requests answered, by route, method and status.")
                     .Register(*registry_)),
      latency_(&prometheus::BuildHistogram()
                    .Name("http_request_duration_seconds")
                    .Help("Time from a request's complete head to its response written, "
                          "by route, method and status.")
                    .Register(*registry_)),
      accepted_(&prometheus::BuildCounter()
                     .Name("analyzer_samples_accepted_total")
                     .Help("Samples accepted by POST /metrics and committed.")
                     .Register(*registry_)
                     .Add({})),
      state_collector_(std::make_shared<state_collector>(analyzer, store)),
      process_collector_(std::make_shared<process_collector>()) {
  auto& anomalies = prometheus::BuildCounter()
                        .Name("analyzer_anomalies_total")
                        .Help("Values flagged as anomalies, by metric.")
                        .Register(*registry_);
  for (std::size_t i = 0; i < analytics::kMetricCount; ++i) {
    anomalies_[i] = &anomalies.Add({{"metric", std::string(analytics::kMetricNames[i])}});
  }
  auto& rejected = prometheus::BuildCounter()
                       .Name("analyzer_ingest_rejected_total")
                       .Help("POST /metrics requests rejected, by error code.")
                       .Register(*registry_);
  // Only the reasons an ingest request can be refused for get a series.
  for (const auto code : {api::error_code::invalid_json, api::error_code::invalid_body,
                          api::error_code::missing_field, api::error_code::invalid_type,
                          api::error_code::out_of_range, api::error_code::duplicate_key,
                          api::error_code::invalid_query, api::error_code::unauthorized,
                          api::error_code::body_too_large, api::error_code::batch_too_large,
                          api::error_code::unsupported_media_type, api::error_code::unavailable}) {
    rejected_[static_cast<std::size_t>(code)] =
        &rejected.Add({{"reason", std::string(api::to_string(code))}});
  }
}

service_metrics::~service_metrics() = default;

std::size_t service_metrics::status_index(unsigned status) noexcept {
  for (std::size_t i = 1; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) return i;
  }
  return 0;
}

service_metrics::request_series& service_metrics::resolve(route r, method m,
                                                          std::size_t status_idx) {
  auto& s = series_[(static_cast<std::size_t>(r) * kMethodCount + static_cast<std::size_t>(m)) *
                        kStatuses.size() +
                    status_idx];
  if (s.count.load(std::memory_order_acquire) == nullptr) {
    std::lock_guard lock(resolve_mutex_);
    if (s.count.load(std::memory_order_relaxed) == nullptr) {
      const std::string status = status_idx == 0 ? "other" : std::to_string(kStatuses[status_idx]);
      const prometheus::Labels labels{{"route", std::string(to_string(r))},
                                      {"method", std::string(to_string(m))},
                                      {"status", status}};
      s.latency.store(&latency_->Add(labels, latency_buckets()), std::memory_order_release);
      s.count.store(&requests_->Add(labels), std::memory_order_release);
    }
  }
  return s;
}

void service_metrics::record_request(route r, method m, unsigned status, double seconds) {
  auto& s = resolve(r, m, status_index(status));
  s.count.load(std::memory_order_acquire)->Increment();
  s.latency.load(std::memory_order_acquire)->Observe(seconds);
}

void service_metrics::record_accepted(std::size_t samples, std::size_t cpu_anomalies,
                                      std::size_t rps_anomalies) {
  accepted_->Increment(static_cast<double>(samples));
  if (cpu_anomalies > 0) anomalies_[0]->Increment(static_cast<double>(cpu_anomalies));
  if (rps_anomalies > 0) anomalies_[1]->Increment(static_cast<double>(rps_anomalies));
}

void service_metrics::record_rejected(api::error_code reason) {
  if (auto* counter = rejected_[static_cast<std::size_t>(reason)]) counter->Increment();
}

void service_metrics::write_text(std::string& out) const {
  // prometheus-cpp 1.0 registries cannot hold extra collectables: collect both here.
  auto families = registry_->Collect();
  for (const auto* collector : {state_collector_.get(), process_collector_.get()}) {
    auto more = collector->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  write_text_format(families, out);
}

}  // namespace analyzer::telemetry
