// Everything a handler needs, owned by main and shared by every io thread.
#pragma once

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/config/config.hpp"
#include "analyzer/http/lifecycle.hpp"
#include "analyzer/storage/shared_window.hpp"
#include "analyzer/storage/store.hpp"
#include "analyzer/telemetry/service_metrics.hpp"

#include <chrono>

namespace analyzer::http {

struct service_context {
  const config::config& cfg;
  analytics::analyzer& analyzer;
  storage::store& store;
  telemetry::service_metrics& metrics;
  lifecycle& life;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  // WINDOW_SCOPE=shared: the windows in Redis (POST /metrics and GET /analyze complete
  // asynchronously through it); null in instance scope.
  storage::shared_window* shared = nullptr;
};

}  // namespace analyzer::http
