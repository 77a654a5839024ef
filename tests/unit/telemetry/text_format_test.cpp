// Unit tests of the Prometheus text format writer and of service_metrics' scrape output
// (architecture.md §2 "GET /metrics").
#include "analyzer/telemetry/text_format.hpp"

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/build_info.hpp"
#include "analyzer/http/service_metrics.hpp"
#include "analyzer/storage/instance_window_path.hpp"
#include "analyzer/storage/memory_store.hpp"
#include "support/inline_window_call.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace analyzer::telemetry {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using labels = std::map<std::string, std::string>;

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

prometheus::ClientMetric with_labels(std::vector<prometheus::ClientMetric::Label> l) {
  prometheus::ClientMetric m;
  m.label = std::move(l);
  return m;
}

std::string write(const std::vector<prometheus::MetricFamily>& families) {
  std::string out;
  write_text_format(families, out);
  return out;
}

// One sample line of the exposition, its label values unescaped.
struct sample_line {
  std::string name;
  labels label;
  std::string value;
};

// Parses the sample lines of a text exposition (comments skipped). Fails the test on a
// line it cannot read.
std::vector<sample_line> parse_samples(const std::string& text) {
  std::vector<sample_line> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    sample_line s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') s.name += line[i++];
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string name;
        while (i < line.size() && line[i] != '=') name += line[i++];
        if (i + 1 >= line.size() || line[i + 1] != '"') {
          ADD_FAILURE() << "bad label in: " << line;
          return out;
        }
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\' && i + 1 < line.size()) {
            ++i;
            value += line[i] == 'n' ? '\n' : line[i];
          } else {
            value += line[i];
          }
          ++i;
        }
        ++i;  // closing quote
        s.label[name] = value;
        if (i < line.size() && line[i] == ',') ++i;
      }
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') {
      ADD_FAILURE() << "bad sample line: " << line;
      return out;
    }
    s.value = line.substr(i + 1);
    out.push_back(std::move(s));
  }
  return out;
}

// The value of the sample with exactly this name and these labels, if present.
std::optional<std::string> find_value(const std::string& text, std::string_view name,
                                      const labels& l) {
  for (const auto& s : parse_samples(text)) {
    if (s.name == name && s.label == l) return s.value;
  }
  return std::nullopt;
}

bool has_family(const std::string& text, std::string_view name) {
  for (const auto& s : parse_samples(text)) {
    if (s.name == name) return true;
  }
  return false;
}

// ---- write_text_format ---------------------------------------------------------------

TEST(TextFormatTest, counter) {
  auto f = family("jobs_total", "Jobs done.", prometheus::MetricType::Counter);
  auto m = with_labels({{"queue", "a"}, {"kind", "b"}});
  m.counter.value = 3;
  f.metric.push_back(m);
  prometheus::ClientMetric bare;
  bare.counter.value = 0.5;
  f.metric.push_back(bare);
  EXPECT_EQ(write({f}),
            "# HELP jobs_total Jobs done.\n"
            "# TYPE jobs_total counter\n"
            "jobs_total{queue=\"a\",kind=\"b\"} 3\n"
            "jobs_total 0.5\n");
}

TEST(TextFormatTest, gauge) {
  auto f = family("temperature", "Degrees.", prometheus::MetricType::Gauge);
  auto m = with_labels({{"room", "x"}});
  m.gauge.value = -12.25;
  f.metric.push_back(m);
  EXPECT_EQ(write({f}),
            "# HELP temperature Degrees.\n"
            "# TYPE temperature gauge\n"
            "temperature{room=\"x\"} -12.25\n");
}

TEST(TextFormatTest, untyped) {
  auto f = family("thing", "A thing.", prometheus::MetricType::Untyped);
  prometheus::ClientMetric m;
  m.untyped.value = 7;
  f.metric.push_back(m);
  EXPECT_EQ(write({f}), "# HELP thing A thing.\n# TYPE thing untyped\nthing 7\n");
}

TEST(TextFormatTest, histogram_buckets_sum_and_count) {
  auto f = family("latency_seconds", "Latency.", prometheus::MetricType::Histogram);
  auto m = with_labels({{"route", "/x"}});
  m.histogram.bucket = {{1, 0.005}, {2, 0.5}, {4, 1}, {5, std::numeric_limits<double>::infinity()}};
  m.histogram.sample_sum = 2.75;
  m.histogram.sample_count = 5;
  f.metric.push_back(m);
  EXPECT_EQ(write({f}),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{route=\"/x\",le=\"0.005\"} 1\n"
            "latency_seconds_bucket{route=\"/x\",le=\"0.5\"} 2\n"
            "latency_seconds_bucket{route=\"/x\",le=\"1\"} 4\n"
            "latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 5\n"
            "latency_seconds_sum{route=\"/x\"} 2.75\n"
            "latency_seconds_count{route=\"/x\"} 5\n");
}

TEST(TextFormatTest, histogram_without_labels) {
  auto f = family("h", "H.", prometheus::MetricType::Histogram);
  prometheus::ClientMetric m;
  m.histogram.bucket = {{0, std::numeric_limits<double>::infinity()}};
  f.metric.push_back(m);
  EXPECT_EQ(write({f}),
            "# HELP h H.\n# TYPE h histogram\n"
            "h_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

TEST(TextFormatTest, prometheus_histogram_collect_gets_an_inf_bucket) {
  prometheus::Histogram histogram({0.1, 1});
  histogram.Observe(0.05);
  histogram.Observe(0.5);
  histogram.Observe(10);
  auto f = family("x_seconds", "X.", prometheus::MetricType::Histogram);
  f.metric.push_back(histogram.Collect());
  const std::string text = write({f});
  EXPECT_EQ(find_value(text, "x_seconds_bucket", {{"le", "0.1"}}), "1");
  EXPECT_EQ(find_value(text, "x_seconds_bucket", {{"le", "1"}}), "2");
  EXPECT_EQ(find_value(text, "x_seconds_bucket", {{"le", "+Inf"}}), "3");
  EXPECT_EQ(find_value(text, "x_seconds_count", {}), "3");
  EXPECT_EQ(find_value(text, "x_seconds_sum", {}), "10.55");
}

TEST(TextFormatTest, summary) {
  auto f = family("s", "S.", prometheus::MetricType::Summary);
  prometheus::ClientMetric m;
  m.summary.quantile = {{0.5, 1.5}, {0.99, 3}};
  m.summary.sample_sum = 10;
  m.summary.sample_count = 4;
  f.metric.push_back(m);
  EXPECT_EQ(write({f}),
            "# HELP s S.\n# TYPE s summary\n"
            "s{quantile=\"0.5\"} 1.5\ns{quantile=\"0.99\"} 3\ns_sum 10\ns_count 4\n");
}

TEST(TextFormatTest, label_values_are_escaped) {
  auto f = family("g", "G.", prometheus::MetricType::Gauge);
  auto m = with_labels({{"path", "a\\b\"c\nd"}});
  m.gauge.value = 1;
  f.metric.push_back(m);
  const std::string text = write({f});
  EXPECT_THAT(text, HasSubstr("g{path=\"a\\\\b\\\"c\\nd\"} 1\n"));
  EXPECT_EQ(find_value(text, "g", {{"path", "a\\b\"c\nd"}}), "1");
}

TEST(TextFormatTest, help_is_escaped) {
  auto f = family("g", "Back\\slash, new\nline and \"quotes\".", prometheus::MetricType::Gauge);
  f.metric.emplace_back();
  const std::string text = write({f});
  // HELP escapes backslash and newline only; quotes stay as they are.
  EXPECT_THAT(text, HasSubstr("# HELP g Back\\\\slash, new\\nline and \"quotes\".\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE g gauge\ng 0\n"));
}

TEST(TextFormatTest, non_finite_values) {
  auto f = family("g", "G.", prometheus::MetricType::Gauge);
  for (double v :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity()}) {
    prometheus::ClientMetric m;
    m.gauge.value = v;
    f.metric.push_back(m);
  }
  EXPECT_EQ(write({f}), "# HELP g G.\n# TYPE g gauge\ng NaN\ng +Inf\ng -Inf\n");
}

TEST(TextFormatTest, numbers_round_trip) {
  auto f = family("g", "G.", prometheus::MetricType::Gauge);
  for (double v : {0.1 + 0.2, 1e9 + 0.25, 1e-300, 1.0 / 3.0}) {
    prometheus::ClientMetric m;
    m.gauge.value = v;
    f.metric.push_back(m);
  }
  const std::vector<sample_line> samples = parse_samples(write({f}));
  ASSERT_EQ(samples.size(), 4U);
  EXPECT_EQ(std::stod(samples[0].value), 0.1 + 0.2);
  EXPECT_EQ(std::stod(samples[1].value), 1e9 + 0.25);
  EXPECT_EQ(std::stod(samples[2].value), 1e-300);
  EXPECT_EQ(std::stod(samples[3].value), 1.0 / 3.0);
}

TEST(TextFormatTest, empty_families_are_skipped) {
  auto empty = family("empty_total", "Nothing.", prometheus::MetricType::Counter);
  auto full = family("full_total", "Something.", prometheus::MetricType::Counter);
  full.metric.emplace_back();
  const std::string text = write({empty, full, empty});
  EXPECT_THAT(text, Not(HasSubstr("empty_total")));
  EXPECT_EQ(text, "# HELP full_total Something.\n# TYPE full_total counter\nfull_total 0\n");
}

TEST(TextFormatTest, appends_to_existing_text) {
  auto f = family("c_total", "C.", prometheus::MetricType::Counter);
  f.metric.emplace_back();
  std::string out = "# previous\n";
  write_text_format({f}, out);
  EXPECT_EQ(out, "# previous\n# HELP c_total C.\n# TYPE c_total counter\nc_total 0\n");
}

// ---- service_metrics (http), read through the text it scrapes ---------------------------

using http::method;
using http::route;
using http::service_metrics;

struct metrics_fixture {
  storage::instance_window_path windows{
      analytics::detector_config{4, 2.0, 2}, 4, std::make_unique<storage::memory_store>(16), {}};
  analytics::analyzer& core = windows.analyzer();
  storage::store& store = windows.persisted();
  service_metrics metrics{windows};

  std::string scrape() { return test::scrape_inline(metrics, windows); }
};

TEST(ServiceMetricsTest, record_request_counts_by_route_method_and_status) {
  metrics_fixture f;
  f.metrics.record_request(route::health, method::get, 200, std::chrono::microseconds(200));
  const std::string text = f.scrape();
  const labels l{{"route", "/health"}, {"method", "GET"}, {"status", "200"}};
  EXPECT_EQ(find_value(text, "http_requests_total", l), "1") << text;
  EXPECT_EQ(find_value(text, "http_request_duration_seconds_count", l), "1");
  const auto sum = find_value(text, "http_request_duration_seconds_sum", l);
  ASSERT_TRUE(sum.has_value());
  EXPECT_EQ(std::stod(*sum), 0.0002);
  labels inf = l;
  inf["le"] = "+Inf";
  EXPECT_EQ(find_value(text, "http_request_duration_seconds_bucket", inf), "1");
  // Buckets below the observation hold 0, those above it 1 (compared by their value: the
  // writer may spell 0.0001 as 1e-04).
  std::size_t buckets = 0;
  for (const auto& s : parse_samples(text)) {
    if (s.name != "http_request_duration_seconds_bucket" || s.label.at("route") != "/health") {
      continue;
    }
    ++buckets;
    const double le = s.label.at("le") == "+Inf" ? std::numeric_limits<double>::infinity()
                                                 : std::stod(s.label.at("le"));
    EXPECT_EQ(s.value, le < 0.0002 ? "0" : "1") << "le=" << s.label.at("le");
  }
  EXPECT_GE(buckets, 2U);
  EXPECT_THAT(text, HasSubstr("# TYPE http_requests_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE http_request_duration_seconds histogram\n"));
}

TEST(ServiceMetricsTest, repeated_requests_accumulate) {
  metrics_fixture f;
  for (int i = 0; i < 3; ++i)
    f.metrics.record_request(route::metrics, method::post, 202, std::chrono::milliseconds(1));
  f.metrics.record_request(route::metrics, method::post, 400, std::chrono::milliseconds(1));
  const std::string text = f.scrape();
  EXPECT_EQ(find_value(text, "http_requests_total",
                       {{"route", "/metrics"}, {"method", "POST"}, {"status", "202"}}),
            "3");
  EXPECT_EQ(find_value(text, "http_requests_total",
                       {{"route", "/metrics"}, {"method", "POST"}, {"status", "400"}}),
            "1");
}

TEST(ServiceMetricsTest, unknown_status_is_other) {
  metrics_fixture f;
  f.metrics.record_request(route::analyze, method::get, 418, std::chrono::milliseconds(1));
  const std::string text = f.scrape();
  EXPECT_EQ(find_value(text, "http_requests_total",
                       {{"route", "/analyze"}, {"method", "GET"}, {"status", "other"}}),
            "1");
  EXPECT_THAT(text, Not(HasSubstr("status=\"418\"")));
}

TEST(ServiceMetricsTest, every_status_the_service_sends_has_its_own_label) {
  metrics_fixture f;
  const std::vector<unsigned> statuses = {200, 202, 400, 401, 404, 405, 413, 415, 431, 500, 503};
  for (unsigned status : statuses) {
    f.metrics.record_request(route::other, method::other, status, std::chrono::milliseconds(1));
  }
  const std::string text = f.scrape();
  for (unsigned status : statuses) {
    EXPECT_EQ(
        find_value(text, "http_requests_total",
                   {{"route", "other"}, {"method", "OTHER"}, {"status", std::to_string(status)}}),
        "1")
        << status;
  }
}

TEST(ServiceMetricsTest, route_and_method_names) {
  EXPECT_EQ(to_string(route::health), "/health");
  EXPECT_EQ(to_string(route::ready), "/ready");
  EXPECT_EQ(to_string(route::metrics), "/metrics");
  EXPECT_EQ(to_string(route::analyze), "/analyze");
  EXPECT_EQ(to_string(route::other), "other");
  EXPECT_EQ(to_string(method::get), "GET");
  EXPECT_EQ(to_string(method::head), "HEAD");
  EXPECT_EQ(to_string(method::post), "POST");
  EXPECT_EQ(to_string(method::other), "OTHER");
}

TEST(ServiceMetricsTest, build_info_is_present) {
  metrics_fixture f;
  const std::string text = f.scrape();
  EXPECT_EQ(find_value(text, "analyzer_build_info",
                       {{"version", build::kVersion}, {"revision", build::kRevision}}),
            "1")
      << text;
}

TEST(ServiceMetricsTest, accepted_rejected_and_anomalies) {
  metrics_fixture f;
  f.metrics.record_accepted(5, 2, 1);
  f.metrics.record_accepted(1, 0, 0);
  f.metrics.record_rejected(api::error_code::invalid_json);
  f.metrics.record_rejected(api::error_code::invalid_json);
  f.metrics.record_rejected(api::error_code::batch_too_large);
  const std::string text = f.scrape();
  EXPECT_EQ(find_value(text, "analyzer_samples_accepted_total", {}), "6");
  EXPECT_EQ(find_value(text, "analyzer_anomalies_total", {{"metric", "cpu"}}), "2");
  EXPECT_EQ(find_value(text, "analyzer_anomalies_total", {{"metric", "rps"}}), "1");
  EXPECT_EQ(find_value(text, "analyzer_ingest_rejected_total", {{"reason", "invalid_json"}}), "2");
  EXPECT_EQ(find_value(text, "analyzer_ingest_rejected_total", {{"reason", "batch_too_large"}}),
            "1");
  EXPECT_EQ(find_value(text, "analyzer_ingest_rejected_total", {{"reason", "duplicate_key"}}), "0");
}

TEST(ServiceMetricsTest, state_gauges_are_absent_for_an_empty_window) {
  metrics_fixture f;
  const std::string text = f.scrape();
  EXPECT_FALSE(find_value(text, "analyzer_rolling_average", {{"metric", "cpu"}}).has_value());
  EXPECT_FALSE(find_value(text, "analyzer_rolling_std_dev", {{"metric", "cpu"}}).has_value());
  EXPECT_FALSE(find_value(text, "analyzer_last_value", {{"metric", "cpu"}}).has_value());
  EXPECT_FALSE(find_value(text, "analyzer_last_z_score", {{"metric", "rps"}}).has_value());
  // The families with no sample are skipped entirely, HELP and TYPE included.
  EXPECT_THAT(text, Not(HasSubstr("analyzer_rolling_average")));
  EXPECT_EQ(find_value(text, "analyzer_window_data_points", {{"metric", "cpu"}}), "0");
  EXPECT_EQ(find_value(text, "analyzer_commits_total", {}), "0");
}

TEST(ServiceMetricsTest, state_gauges_follow_the_commits) {
  metrics_fixture f;
  (void)f.core.commit(1, 10, 100);
  (void)f.core.commit(2, 20, 300);
  const analytics::commit_result last = f.core.commit(3, 30, 200);
  const analytics::snapshot snap = f.core.read();
  const std::string text = f.scrape();
  EXPECT_EQ(find_value(text, "analyzer_rolling_average", {{"metric", "cpu"}}), "20") << text;
  EXPECT_EQ(find_value(text, "analyzer_rolling_average", {{"metric", "rps"}}), "200");
  EXPECT_EQ(std::stod(*find_value(text, "analyzer_rolling_std_dev", {{"metric", "cpu"}})),
            snap.of(analytics::metric::cpu).window.std_dev);
  EXPECT_EQ(find_value(text, "analyzer_window_data_points", {{"metric", "cpu"}}), "3");
  EXPECT_EQ(find_value(text, "analyzer_last_value", {{"metric", "cpu"}}), "30");
  EXPECT_EQ(find_value(text, "analyzer_last_value", {{"metric", "rps"}}), "200");
  EXPECT_EQ(std::stod(*find_value(text, "analyzer_last_z_score", {{"metric", "cpu"}})),
            last.of(analytics::metric::cpu).z_score);
  EXPECT_EQ(find_value(text, "analyzer_commits_total", {}), "3");
}

TEST(ServiceMetricsTest, storage_state_is_exported) {
  metrics_fixture f;
  const std::string text = f.scrape();
  EXPECT_EQ(find_value(text, "analyzer_storage_connected", {{"backend", "memory"}}), "1");
  EXPECT_EQ(find_value(text, "analyzer_storage_pending_writes", {{"backend", "memory"}}), "0");
}

// architecture.md §2: "storage queue depth, write failures, drops, connection state".
TEST(ServiceMetricsTest, storage_write_failures_and_drops_are_exported) {
  metrics_fixture f;
  const std::string text = f.scrape();
  bool failures = false;
  bool drops = false;
  for (const auto& s : parse_samples(text)) {
    if (s.name.find("storage") == std::string::npos) continue;
    failures = failures || s.name.find("fail") != std::string::npos;
    drops = drops || s.name.find("drop") != std::string::npos;
  }
  EXPECT_TRUE(failures) << "no storage write-failure series in:\n" << text;
  EXPECT_TRUE(drops) << "no storage drop series in:\n" << text;
}

// architecture.md §2: "process CPU seconds, resident memory, open fds, start time
// (prometheus-cpp has no process collector: write one)". The names are Prometheus' own.
TEST(ServiceMetricsTest, process_metrics_are_exported) {
  metrics_fixture f;
  const std::string text = f.scrape();
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_open_fds", "process_start_time_seconds"}) {
    EXPECT_TRUE(has_family(text, name)) << name;
  }
}

TEST(ServiceMetricsTest, scrape_is_well_formed) {
  metrics_fixture f;
  f.metrics.record_request(route::health, method::head, 200, std::chrono::milliseconds(500));
  (void)f.core.commit(1, 10, 100);
  const std::string text = f.scrape();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  // Every sample's family is announced by a TYPE line before it.
  std::istringstream in(text);
  std::string line;
  std::string typed;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      typed = line.substr(7, line.find(' ', 7) - 7);
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    EXPECT_EQ(line.rfind(typed, 0), 0U) << line << " not under " << typed;
  }
  EXPECT_NO_FATAL_FAILURE((void)parse_samples(text));
}

TEST(ServiceMetricsTest, connections_served_refused_and_open) {
  metrics_fixture f;
  f.metrics.record_connection_opened();
  f.metrics.record_connection_opened();
  f.metrics.record_connection_opened();
  f.metrics.record_connection_closed();
  f.metrics.record_connection_refused();
  const std::string text = f.scrape();
  EXPECT_EQ(find_value(text, "analyzer_http_open_connections", {}), "2") << text;
  EXPECT_EQ(find_value(text, "analyzer_http_connections_total", {{"outcome", "served"}}), "3");
  EXPECT_EQ(find_value(text, "analyzer_http_connections_total", {{"outcome", "refused"}}), "1");
}

// The dashboard draws mean ± threshold·σ bands from these.
TEST(ServiceMetricsTest, detector_configuration_is_exported) {
  metrics_fixture f;
  const std::string text = f.scrape();
  EXPECT_EQ(find_value(text, "analyzer_anomaly_threshold", {}), "2") << text;
  EXPECT_EQ(find_value(text, "analyzer_window_size", {}), "4");
}

TEST(ServiceMetricsTest, latency_sum_is_exact_in_nanoseconds) {
  metrics_fixture f;
  for (int i = 0; i < 3; ++i) {
    f.metrics.record_request(route::ready, method::get, 200, std::chrono::nanoseconds(333));
  }
  const std::string text = f.scrape();
  const labels l{{"route", "/ready"}, {"method", "GET"}, {"status", "200"}};
  EXPECT_EQ(std::stod(*find_value(text, "http_request_duration_seconds_sum", l)), 999e-9);
}

// ---- latency_histogram ---------------------------------------------------------------

TEST(LatencyHistogramTest, bounds_are_inclusive_like_prometheus_le) {
  latency_histogram h;
  h.observe(std::chrono::nanoseconds(latency_histogram::kBoundsNs[0]));      // le bucket 0
  h.observe(std::chrono::nanoseconds(latency_histogram::kBoundsNs[0] + 1));  // bucket 1
  const auto r = h.read();
  EXPECT_EQ(r.cumulative[0], 1U);
  EXPECT_EQ(r.cumulative[1], 2U);
  EXPECT_EQ(r.count, 2U);
}

TEST(LatencyHistogramTest, beyond_the_last_bound_lands_in_inf_only) {
  latency_histogram h;
  h.observe(std::chrono::seconds(10));
  const auto r = h.read();
  EXPECT_EQ(r.cumulative[latency_histogram::kBuckets - 2], 0U);
  EXPECT_EQ(r.cumulative[latency_histogram::kBuckets - 1], 1U);
  EXPECT_EQ(r.sum_seconds, 10.0);
}

TEST(LatencyHistogramTest, negative_durations_count_as_zero) {
  latency_histogram h;
  EXPECT_TRUE(h.empty());
  h.observe(std::chrono::nanoseconds(-5));
  const auto r = h.read();
  EXPECT_FALSE(h.empty());
  EXPECT_EQ(r.cumulative[0], 1U);
  EXPECT_EQ(r.sum_seconds, 0.0);
}

TEST(LatencyHistogramTest, cumulative_counts_never_decrease) {
  latency_histogram h;
  for (std::int64_t ns = 1; ns < 5'000'000'000; ns *= 3) h.observe(std::chrono::nanoseconds(ns));
  const auto r = h.read();
  for (std::size_t i = 1; i < latency_histogram::kBuckets; ++i) {
    EXPECT_GE(r.cumulative[i], r.cumulative[i - 1]) << i;
  }
  EXPECT_EQ(r.count, r.cumulative.back());
  EXPECT_EQ(r.count, 21U);  // 3^0 .. 3^20 < 5e9
}

}  // namespace
}  // namespace analyzer::telemetry
