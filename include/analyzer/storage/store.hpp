// Where committed samples are persisted. The request path only enqueues: a store never
// blocks the caller (architecture.md §1, §4).
#pragma once

#include "analyzer/analytics/snapshot.hpp"

#include <chrono>
#include <cstdint>
#include <string_view>

namespace analyzer::storage {

struct store_status {
  std::string_view backend;  // "memory" or "redis"
  bool connected = false;
  std::uint64_t pending_writes = 0;
  std::uint64_t failed_writes = 0;
  std::uint64_t dropped_writes = 0;
};

class store {
 public:
  virtual ~store() = default;

  // Records one committed sample; called concurrently from every io thread, never blocks.
  virtual void append(const analytics::commit_result& committed) noexcept = 0;

  [[nodiscard]] virtual store_status status() const noexcept = 0;

  // Waits at most `timeout` for queued writes to be written; true when nothing is pending.
  virtual bool flush(std::chrono::milliseconds timeout) = 0;
};

}  // namespace analyzer::storage
