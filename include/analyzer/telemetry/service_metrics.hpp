// The service's Prometheus families, registered once at startup. Every series the request
// path touches is resolved through a fixed table of pointers, so recording a request is
// a few atomic operations: no label map lookup and no registry lock per request.
#pragma once

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/api/error_code.hpp"
#include "analyzer/storage/store.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace analyzer::telemetry {

enum class route : std::uint8_t { health, ready, metrics, analyze, other };
enum class method : std::uint8_t { get, head, post, other };
inline constexpr std::size_t kRouteCount = 5;
inline constexpr std::size_t kMethodCount = 4;

[[nodiscard]] std::string_view to_string(route r) noexcept;
[[nodiscard]] std::string_view to_string(method m) noexcept;

class service_metrics {
 public:
  // `analyzer` and `store` feed the gauges computed at scrape time; both outlive this.
  service_metrics(const analytics::analyzer& analyzer, const storage::store& store);
  ~service_metrics();
  service_metrics(const service_metrics&) = delete;
  service_metrics& operator=(const service_metrics&) = delete;

  void record_request(route r, method m, unsigned status, double seconds);
  void record_accepted(std::size_t samples, std::size_t cpu_anomalies, std::size_t rps_anomalies);
  void record_rejected(api::error_code reason);

  // The whole registry in the Prometheus text format.
  void write_text(std::string& out) const;

  [[nodiscard]] prometheus::Registry& registry() noexcept { return *registry_; }

 private:
  struct request_series {
    std::atomic<prometheus::Counter*> count{nullptr};
    std::atomic<prometheus::Histogram*> latency{nullptr};
  };
  // Statuses the service answers with; index 0 collects anything else.
  static constexpr std::array<unsigned, 12> kStatuses = {0,   200, 202, 400, 401, 404,
                                                         405, 413, 415, 431, 500, 503};
  static std::size_t status_index(unsigned status) noexcept;
  request_series& resolve(route r, method m, std::size_t status_idx);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Counter* accepted_;
  std::array<prometheus::Counter*, analytics::kMetricCount> anomalies_{};
  std::array<prometheus::Counter*, static_cast<std::size_t>(api::error_code::internal) + 1>
      rejected_{};
  std::array<request_series, kRouteCount * kMethodCount * kStatuses.size()> series_;
  std::mutex resolve_mutex_;  // only taken the first time a series is used
  std::shared_ptr<prometheus::Collectable> state_collector_;
  std::shared_ptr<prometheus::Collectable> process_collector_;
};

}  // namespace analyzer::telemetry
