// The Redis store: commits are queued in seq order (bounded by REDIS_QUEUE_LIMIT samples,
// oldest dropped and counted beyond it) and written in pipelined batches of consecutive
// seqs, each one atomic script, by one connection on its own io thread. A batch that is
// not confirmed goes back to its place in seq order and is sent again; writes are
// idempotent by seq (redis_layout.hpp). The request path only takes a short queue lock.
// Reconnects with capped exponential backoff and jitter; AUTH and SELECT on every connect.
#pragma once

#include "analyzer/config/config.hpp"
#include "analyzer/config/redis_address.hpp"
#include "analyzer/storage/store.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace analyzer::storage {

struct redis_store_options {
  config::redis_address address;
  std::string password;
  int db = 0;
  std::string key_prefix = "metrics-analyzer";
  std::string instance_id = "local";
  std::size_t history_size = 1000;
  std::size_t queue_limit = 100000;
  std::size_t window_size = 50;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{2000};
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
  std::size_t batch_size = 512;   // samples per MULTI/EXEC
  std::size_t max_in_flight = 4;  // batches pipelined at once

  static redis_store_options from(const config::config& cfg);
};

class redis_store final : public store {
 public:
  explicit redis_store(redis_store_options options);
  ~redis_store() override;
  redis_store(const redis_store&) = delete;
  redis_store& operator=(const redis_store&) = delete;

  void append(const analytics::commit_result& committed) noexcept override;
  [[nodiscard]] store_status status() const noexcept override;
  restore_result restore(std::chrono::milliseconds timeout) override;
  void start_new_generation() override;
  bool flush(std::chrono::milliseconds timeout) override;
  void collect(telemetry::metric_writer& out) const override;

  // Closes the connection (batches in flight fail and stay queued) and joins the storage
  // thread within `budget` (e.g. what remains of SHUTDOWN_TIMEOUT_MS); afterwards nothing
  // is written. Idempotent; the destructor does it with a budget of 2 s.
  void stop(std::chrono::milliseconds budget) override;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace analyzer::storage
