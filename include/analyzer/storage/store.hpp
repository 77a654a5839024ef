// Where committed samples are persisted. The request path only enqueues: a store never
// blocks the caller (architecture.md §1, §4).
#pragma once

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/analytics/snapshot.hpp"

#include <prometheus/metric_family.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace analyzer::storage {

struct store_status {
  std::string_view backend;  // "memory" or "redis"
  bool connected = false;
  std::uint64_t pending_writes = 0;  // queued or in flight
  std::uint64_t written_writes = 0;  // samples confirmed written
  std::uint64_t failed_writes = 0;   // sample writes that failed (retried while queued)
  std::uint64_t dropped_writes = 0;  // samples dropped because the queue was full
  std::uint64_t reconnects = 0;      // connection attempts after the first, successful or not
};

// The outcome of a startup restore.
struct restore_result {
  std::optional<analytics::restored_state> state;  // nothing: start empty
  std::string detail;                              // for the log line
};

class store {
 public:
  virtual ~store() = default;

  // Records one committed sample; called concurrently from every io thread, never blocks.
  virtual void append(const analytics::commit_result& committed) noexcept = 0;

  [[nodiscard]] virtual store_status status() const noexcept = 0;

  // Reads back the state persisted by a previous run, waiting at most `timeout`.
  virtual restore_result restore(std::chrono::milliseconds timeout) {
    (void)timeout;
    return {std::nullopt, "nothing to restore from the memory store"};
  }

  // Waits at most `timeout` for queued writes to be written; true when nothing is pending.
  virtual bool flush(std::chrono::milliseconds timeout) = 0;

  // Backend-specific metric families for GET /metrics (e.g. command latency).
  virtual void collect(std::vector<prometheus::MetricFamily>& out) const { (void)out; }
};

}  // namespace analyzer::storage
