// WINDOW_SCOPE=shared: the windows in Redis (shared_window), one stream for every instance
// on that Redis. Calls complete on the storage thread; the receiver is retained until then.
#pragma once

#include "analyzer/storage/shared_window.hpp"
#include "analyzer/storage/window_path.hpp"

#include <memory>

namespace analyzer::storage {

class shared_window_path final : public window_path {
 public:
  // Starts the connection in the background (shared_window).
  explicit shared_window_path(shared_window_options options);

  [[nodiscard]] std::string_view scope() const noexcept override { return "shared"; }
  [[nodiscard]] const analytics::detector_config& config() const noexcept override {
    return detector_;
  }
  void commit(const commit_request& req, window_receiver& to) override;
  void read(window_receiver& to) override;
  [[nodiscard]] api::storage_status status() const noexcept override;
  // analyzer_shared_connected, analyzer_shared_in_flight, analyzer_shared_commits_total.
  void collect(telemetry::metric_writer& out) const override;
  // Nothing to restore: the state is in Redis.
  restore_outcome open(const std::function<bool()>& keep_trying) override;
  void stop(std::chrono::milliseconds budget) override;

  [[nodiscard]] shared_window& windows() noexcept { return windows_; }

 private:
  analytics::detector_config detector_;
  shared_window windows_;
};

}  // namespace analyzer::storage
