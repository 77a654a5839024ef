// The analytics state shared by every io_context thread: a rolling window per metric,
// committed without a mutex.
//
// Commits are lock-free: the whole state (both windows, their statistics, counters and
// last anomaly) lives in one slot of a small pool; the current slot is published through
// an atomic word holding (slot index, seq). A writer claims a free slot, copies the
// current state into it, appends its sample, and publishes with compare-exchange,
// retrying on conflict. Because seq is part of the published word and only grows (restore
// is refused once the analyzer has been used, so it cannot lower it), the word never
// repeats a value, and a reader that copies a slot and finds the word unchanged has an
// untorn copy.
#pragma once

#include "analyzer/analytics/detector_config.hpp"
#include "analyzer/analytics/snapshot.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace analyzer::analytics {

// What a restore (from persistence) hands the analyzer: windows oldest first.
struct restored_state {
  std::uint64_t seq = 0;
  double last_timestamp = 0.0;
  struct metric_state {
    std::vector<double> window;  // oldest first, at most window_size values
    std::optional<metric_result> last;
    std::uint64_t anomalies_total = 0;
    std::optional<anomaly_record> last_anomaly;
  };
  std::array<metric_state, kMetricCount> metrics;
};

class analyzer {
 public:
  // max_writers bounds the number of threads committing at the same time (pool size).
  // Throws std::invalid_argument outside the ranges of detector_config or 1..65533 writers.
  explicit analyzer(const detector_config& config, std::size_t max_writers = 64);
  ~analyzer();
  analyzer(const analyzer&) = delete;
  analyzer& operator=(const analyzer&) = delete;

  // Commits one sample (its cpu and rps together). Values must be finite.
  commit_result commit(double timestamp, double cpu, double rps) noexcept;

  // A consistent snapshot of the newest state.
  [[nodiscard]] snapshot read() const noexcept;

  // Sets the state of a fresh analyzer (the startup restore from persistence): allowed
  // only while nothing has been committed or restored, and only while no commit runs (reads
  // may run concurrently: the new state is published like a commit).
  // Throws std::logic_error (and no subclass of it) once the analyzer has committed or
  // restored anything: the head word tags its slot with the seq, and a second restore (to a
  // lower seq, or to the same one) could make it repeat a value a concurrent reader or
  // writer still compares against (ABA). Build a new analyzer to start over.
  // Throws std::invalid_argument (state unchanged, so it may be retried) if a window is
  // longer than window_size or than seq, the two windows differ in length, or a value is
  // not finite.
  void restore(const restored_state& state);

  [[nodiscard]] const detector_config& config() const noexcept { return config_; }

  // Test hook, for tests that widen the race window of a commit or freeze a writer in it.
  // before_publish runs in every commit attempt after the writer has copied the head's
  // state and written its own slot, just before the compare-exchange that publishes it;
  // `seq` is the seq that attempt would publish. It runs on the committing thread and may
  // block (other commits and reads go on). Unset (nullptr) in the service: a commit then
  // pays one relaxed load of the pointer per attempt.
  class commit_hook {
   public:
    virtual void before_publish(std::uint64_t seq) noexcept = 0;

   protected:
    commit_hook() = default;
    commit_hook(const commit_hook&) = default;
    commit_hook& operator=(const commit_hook&) = default;
    virtual ~commit_hook() = default;
  };
  // Only while no commit runs; the hook must outlive every commit that may call it.
  void set_commit_hook(commit_hook* hook) noexcept { hook_.store(hook, std::memory_order_relaxed); }

 private:
  struct slot;
  slot& claim_slot() noexcept;
  void release_slot(slot& s) noexcept;

  detector_config config_;
  std::size_t state_words_;  // header words + one ring of window_size values per metric
  // Names this analyzer's commit history (new on every restore): writers' thread-local
  // copies of the rings are only reused within one history.
  std::uint64_t generation_;
  std::atomic<commit_hook*> hook_{nullptr};
  std::vector<std::unique_ptr<slot>> pool_;
  alignas(64) std::atomic<std::uint64_t> head_;  // (seq << 16) | slot index
};

}  // namespace analyzer::analytics
