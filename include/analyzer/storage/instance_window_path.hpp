// WINDOW_SCOPE=instance: the windows are this process's lock-free analyzer; every commit is
// also handed to the write-behind store (memory, or Redis with REDIS_ADDR), from which the
// next start restores. Every call completes inline, allocation-free once the per-thread
// result buffer has grown to the largest batch.
#pragma once

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/storage/store.hpp"
#include "analyzer/storage/store_factory.hpp"
#include "analyzer/storage/window_path.hpp"

#include <atomic>
#include <cstddef>
#include <memory>

namespace analyzer::storage {

class instance_window_path final : public window_path {
 public:
  // `max_writers`: threads that may commit at once (the io thread pool). Throws
  // std::invalid_argument for an invalid detector configuration.
  instance_window_path(const analytics::detector_config& detector, std::size_t max_writers,
                       std::unique_ptr<store> persisted, restore_options restore);

  [[nodiscard]] std::string_view scope() const noexcept override { return "instance"; }
  [[nodiscard]] const analytics::detector_config& config() const noexcept override {
    return core_.config();
  }
  void commit(const commit_request& req, window_receiver& to) override;
  void read(window_receiver& to) override;
  [[nodiscard]] api::storage_status status() const noexcept override { return store_->status(); }
  void collect(telemetry::metric_writer& out) const override { store_->collect(out); }
  restore_outcome open(const std::function<bool()>& keep_trying) override;
  void stop(std::chrono::milliseconds budget) override;

  [[nodiscard]] analytics::analyzer& analyzer() noexcept { return core_; }
  [[nodiscard]] store& persisted() noexcept { return *store_; }

 private:
  analytics::analyzer core_;
  std::unique_ptr<store> store_;
  restore_options restore_;
  std::atomic<bool> stopped_{false};
};

}  // namespace analyzer::storage
