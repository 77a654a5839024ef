// WINDOW_SCOPE → window path.
#include "analyzer/storage/window_path_factory.hpp"

#include "analyzer/storage/instance_window_path.hpp"
#include "analyzer/storage/shared_window_path.hpp"

namespace analyzer::storage {

std::unique_ptr<window_path> make_window_path(const config::config& cfg) {
  if (cfg.window_scope == "shared") {
    return std::make_unique<shared_window_path>(shared_window_options::from(cfg));
  }
  // Every io thread may commit at once, with two to spare.
  return std::make_unique<instance_window_path>(
      analytics::detector_config{cfg.window_size, cfg.anomaly_threshold, cfg.warmup},
      cfg.threads + 2, make_store(cfg), restore_options::from(cfg));
}

}  // namespace analyzer::storage
