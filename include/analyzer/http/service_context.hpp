// Everything a handler needs, owned by app::service and shared by every io thread.
#pragma once

#include "analyzer/config/config.hpp"
#include "analyzer/http/lifecycle.hpp"
#include "analyzer/http/service_metrics.hpp"
#include "analyzer/storage/window_path.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>

namespace analyzer::http {

// A number no other service_context of the process has: per-thread caches keyed by it
// never serve one service's data to another (tests and fuzz targets run many services on
// one thread).
[[nodiscard]] inline std::uint64_t next_context_id() noexcept {
  static std::atomic<std::uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

struct service_context {
  const config::config& cfg;
  // The windows of either scope: POST /metrics, GET /analyze and the scrape go through it.
  storage::window_path& windows;
  service_metrics& metrics;
  lifecycle& life;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::uint64_t id = next_context_id();
};

}  // namespace analyzer::http
