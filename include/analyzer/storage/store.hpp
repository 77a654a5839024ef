// Where committed samples are persisted. The request path only enqueues: a store never
// blocks the caller (architecture.md §1, §4).
#pragma once

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/analytics/snapshot.hpp"
#include "analyzer/api/storage_status.hpp"
#include "analyzer/telemetry/collector.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace analyzer::storage {

using store_status = api::storage_status;

// The outcome of one startup restore attempt.
enum class restore_status : std::uint8_t {
  restored,  // `state` holds what a previous run persisted
  empty,     // nothing was persisted: start at seq 1
  failed,    // unreachable, timed out or unreadable: try again (or start a new generation)
};

struct restore_result {
  restore_status status = restore_status::empty;
  std::optional<analytics::restored_state> state;  // set when restored
  std::string detail;                              // for the log line
  std::uint64_t skipped_records = 0;               // unreadable records left out of the window
};

class store {
 public:
  virtual ~store() = default;

  // Records one committed sample; called concurrently from every io thread, never blocks.
  virtual void append(const analytics::commit_result& committed) noexcept = 0;

  [[nodiscard]] virtual store_status status() const noexcept = 0;

  // One attempt at reading back the state persisted by a previous run, waiting at most
  // `timeout`. Nothing is written before an attempt succeeded or start_new_generation().
  virtual restore_result restore(std::chrono::milliseconds timeout) {
    (void)timeout;
    return {restore_status::empty, std::nullopt, "nothing to restore from the memory store", 0};
  }

  // After a failed restore, with REDIS_RESTORE_POLICY=start-empty: write from seq 1 under
  // keys of a new generation, leaving what was persisted before untouched.
  virtual void start_new_generation() {}

  // Waits at most `timeout` for queued writes to be written; true when nothing is pending.
  virtual bool flush(std::chrono::milliseconds timeout) = 0;

  // Stops the store's own thread (if any) within `budget`; nothing is written afterwards.
  virtual void stop(std::chrono::milliseconds budget) { (void)budget; }

  // Backend-specific metric families for GET /metrics (e.g. command latency).
  virtual void collect(telemetry::metric_writer& out) const { (void)out; }
};

}  // namespace analyzer::storage
