// The embedded default store: the most recent `capacity` commits, newest first, kept in
// process memory. Appends are wait-free: commit seqs are dense, so seq picks the ring
// slot and a per-slot version word makes each record's read untorn.
#pragma once

#include "analyzer/storage/store.hpp"

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

namespace analyzer::storage {

class memory_store final : public store {
 public:
  explicit memory_store(std::size_t capacity);
  ~memory_store() override;

  void append(const analytics::commit_result& committed) noexcept override;
  [[nodiscard]] store_status status() const noexcept override;
  bool flush(std::chrono::milliseconds timeout) override;

  // Up to `limit` most recent records, newest first (records being overwritten are skipped).
  [[nodiscard]] std::vector<analytics::commit_result> recent(std::size_t limit) const;
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

 private:
  struct record;
  std::size_t capacity_;
  std::unique_ptr<record[]> records_;
  std::atomic<std::uint64_t> newest_seq_{0};
};

}  // namespace analyzer::storage
