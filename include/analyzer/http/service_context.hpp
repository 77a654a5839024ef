// Everything a handler needs, owned by app::service and shared by every io thread.
#pragma once

#include "analyzer/config/config.hpp"
#include "analyzer/http/lifecycle.hpp"
#include "analyzer/http/service_metrics.hpp"
#include "analyzer/storage/window_path.hpp"

#include <chrono>

namespace analyzer::http {

struct service_context {
  const config::config& cfg;
  // The windows of either scope: POST /metrics, GET /analyze and the scrape go through it.
  storage::window_path& windows;
  service_metrics& metrics;
  lifecycle& life;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

}  // namespace analyzer::http
