// Everything a handler needs, owned by main and shared by every io thread.
#pragma once

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/config/config.hpp"
#include "analyzer/http/lifecycle.hpp"
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
};

}  // namespace analyzer::http
