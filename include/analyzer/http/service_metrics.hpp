// The service's Prometheus metrics. Everything the request path records is a relaxed
// atomic addition into a table fixed at construction (request latency histograms by route,
// method and status; sample, anomaly and rejection counters): no label map lookup, no
// mutex and no allocation per request. Each thread records into its own cache-aligned shard
// (threads beyond kShards share), so io threads never bounce a cache line between cores;
// a scrape sums the shards. The families are built at scrape time, together with the
// gauges of a read of the active window path (either scope), that path's own families and
// /proc.
#pragma once

#include "analyzer/analytics/snapshot.hpp"
#include "analyzer/api/error_code.hpp"
#include "analyzer/http/route.hpp"
#include "analyzer/storage/shared_failure.hpp"
#include "analyzer/storage/window_path.hpp"
#include "analyzer/telemetry/latency_histogram.hpp"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace analyzer::http {

class service_metrics {
 public:
  // `windows` (the active path, which outlives this) gives the configuration gauges and its
  // own families at scrape time.
  explicit service_metrics(const storage::window_path& windows);
  ~service_metrics();
  service_metrics(const service_metrics&) = delete;
  service_metrics& operator=(const service_metrics&) = delete;

  // Request path: each is a few relaxed atomic additions.
  void record_request(route r, method m, unsigned status,
                      std::chrono::nanoseconds elapsed) noexcept;
  void record_accepted(std::size_t samples, std::size_t cpu_anomalies,
                       std::size_t rps_anomalies) noexcept;
  void record_rejected(api::error_code reason) noexcept;
  // WINDOW_SCOPE=shared: a call to Redis that failed (answered 503 or 504).
  void record_shared_failure(storage::shared_failure reason) noexcept;
  // Connection lifecycle, from the server: a connection served, one refused at
  // MAX_CONNECTIONS, one closed (after being served).
  void record_connection_opened() noexcept;
  void record_connection_refused() noexcept;
  void record_connection_closed() noexcept;

  // Every family, in the order of the text format; the window and storage gauges from
  // `window` (a read of the active path: without the window gauges when it failed).
  [[nodiscard]] std::vector<prometheus::MetricFamily> collect(
      const storage::read_outcome& window) const;
  // The same, serialized in the Prometheus text format 0.0.4.
  void write_text(std::string& out, const storage::read_outcome& window) const;

 private:
  // Statuses the service answers with; index 0 collects anything else.
  static constexpr std::array<unsigned, 14> kStatuses = {0,   200, 202, 400, 401, 404, 405,
                                                         409, 413, 415, 431, 500, 503, 504};
  static constexpr std::size_t kRejectReasons =
      static_cast<std::size_t>(api::error_code::internal) + 1;
  static std::size_t status_index(unsigned status) noexcept;
  static constexpr std::size_t kSeries = kRouteCount * kMethodCount * kStatuses.size();
  static constexpr std::size_t kShards = 8;
  struct alignas(64) shard {
    std::array<telemetry::latency_histogram, kSeries> requests;
    std::atomic<std::uint64_t> accepted{0};
    std::array<std::atomic<std::uint64_t>, analytics::kMetricCount> anomalies{};
    std::array<std::atomic<std::uint64_t>, kRejectReasons> rejected{};
    std::array<std::atomic<std::uint64_t>, storage::kSharedFailureCount> shared_failures{};
  };
  [[nodiscard]] shard& local_shard() noexcept;
  void collect_requests(std::vector<prometheus::MetricFamily>& out) const;
  void collect_counters(std::vector<prometheus::MetricFamily>& out) const;

  std::unique_ptr<shard[]> shards_;  // kShards of them, ~30 KiB each
  // Per connection, not per request: one set is enough.
  std::atomic<std::uint64_t> connections_opened_{0};
  std::atomic<std::uint64_t> connections_refused_{0};
  std::atomic<std::uint64_t> connections_closed_{0};
  const storage::window_path& windows_;
  std::unique_ptr<prometheus::Collectable> process_collector_;
};

}  // namespace analyzer::http
