// Store selection and the startup restore sequence shared by main and the tests.
#include "analyzer/storage/store_factory.hpp"

#include "analyzer/storage/memory_store.hpp"
#include "analyzer/storage/redis_store.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace analyzer::storage {

std::unique_ptr<store> make_store(const config::config& cfg) {
  if (cfg.redis_addr.empty()) return std::make_unique<memory_store>(cfg.history_size);
  return std::make_unique<redis_store>(redis_store_options::from(cfg));
}

void restore_on_startup(store& s, analytics::analyzer& core, std::chrono::milliseconds timeout) {
  const auto started = std::chrono::steady_clock::now();
  restore_result restored = s.restore(timeout);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  if (!restored.state) {
    spdlog::info("restore: starting empty ({}; {} ms)", restored.detail, ms);
    return;
  }
  try {
    core.restore(*restored.state);
    spdlog::info("restore: seq {} with a window of {} values restored in {} ms",
                 restored.state->seq, restored.state->metrics[0].window.size(), ms);
  } catch (const std::invalid_argument& e) {
    spdlog::error("restore: persisted state rejected ({}); starting empty", e.what());
  }
}

}  // namespace analyzer::storage
