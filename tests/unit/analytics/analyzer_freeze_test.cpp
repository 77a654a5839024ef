// A writer frozen inside a commit: after it copied the head's state and wrote its slot,
// before its compare-exchange (analyzer::commit_hook). Meanwhile other writers commit k
// samples and reuse every free slot; then the frozen writer resumes, loses its
// compare-exchange and retries, and a writer whose copy of the state is older than the
// freeze commits after it. Every step is deterministic (one writer runs at a time, handed
// its work and waited for without timeouts) and every result and snapshot must equal, bit
// for bit, a sequential replay of the same commit order.
//
// k runs from 1 (the retry follows the freeze by one seq, so the rings of both the retry's
// private copy and its slot are brought up to date by a delta that includes the position
// the frozen attempt wrote) to far beyond the window (everything is copied again).
#include "analyzer/analytics/analyzer.hpp"
#include "support/snapshot_compare.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace analyzer::analytics {
namespace {

using test::expect_same_snapshot;
using test::same_bits;

// A thread that runs the tasks it is handed, one at a time.
class worker {
 public:
  worker() : thread_([this] { loop(); }) {}
  ~worker() {
    {
      const std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  void start(std::function<void()> task) {
    {
      const std::lock_guard lock(mutex_);
      task_ = std::move(task);
      done_ = false;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return done_; });
  }
  void run(std::function<void()> task) {
    start(std::move(task));
    wait();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return stop_ || task_ != nullptr; });
        if (task_ == nullptr) {
          return;
        }
        task = std::exchange(task_, nullptr);
      }
      task();
      {
        const std::lock_guard lock(mutex_);
        done_ = true;
      }
      cv_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::function<void()> task_;
  bool done_ = true;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is initialised
};

// Freezes the next commit attempt of a thread that armed it, until resume(); records the
// seq of every attempt of that thread's commit.
class freezer final : public analyzer::commit_hook {
 public:
  // On the thread whose next commit is to freeze.
  void arm_this_thread(std::vector<std::uint64_t>* attempts) {
    t_armed = true;
    t_attempts = attempts;
  }
  void disarm_this_thread() {
    t_armed = false;
    t_attempts = nullptr;
  }

  void before_publish(std::uint64_t seq) noexcept override {
    if (t_attempts != nullptr) {
      t_attempts->push_back(seq);  // reserved: does not allocate
    }
    if (!t_armed) {
      return;
    }
    t_armed = false;
    frozen_seq_.store(seq, std::memory_order_relaxed);
    state_.store(kFrozen, std::memory_order_release);
    state_.notify_all();
    for (int s = kFrozen; s == kFrozen; s = state_.load(std::memory_order_acquire)) {
      state_.wait(kFrozen, std::memory_order_acquire);
    }
  }

  // Waits until a writer is frozen; returns the seq its attempt would publish.
  std::uint64_t wait_frozen() {
    for (int s = state_.load(std::memory_order_acquire); s != kFrozen;
         s = state_.load(std::memory_order_acquire)) {
      state_.wait(s, std::memory_order_acquire);
    }
    return frozen_seq_.load(std::memory_order_relaxed);
  }
  void resume() {
    state_.store(kRunning, std::memory_order_release);
    state_.notify_all();
  }

 private:
  static constexpr int kRunning = 0;
  static constexpr int kFrozen = 1;
  static thread_local bool t_armed;
  static thread_local std::vector<std::uint64_t>* t_attempts;
  std::atomic<int> state_{kRunning};
  std::atomic<std::uint64_t> frozen_seq_{0};
};
thread_local bool freezer::t_armed = false;
thread_local std::vector<std::uint64_t>* freezer::t_attempts = nullptr;

struct sample {
  double timestamp;
  double cpu;
  double rps;
};

// Each writer draws from its own range, so a value in the wrong ring position always
// changes the window's statistics.
class source {
 public:
  source(std::uint64_t seed, double low) : rng_(seed), low_(low) {}
  sample next() {
    const std::uint64_t r = rng_();
    const double cpu = low_ + static_cast<double>(r % 1000) / 100.0;
    const double rps = 10.0 * low_ + static_cast<double>((r >> 20) % 1000) / 10.0;
    return {ts_ += 1.0, cpu, rps};
  }

 private:
  std::mt19937_64 rng_;
  double low_;
  double ts_ = 1.7e9;
};

bool same_result(const commit_result& a, const commit_result& b) {
  if (a.seq != b.seq || !same_bits(a.timestamp, b.timestamp)) {
    return false;
  }
  for (std::size_t m = 0; m < kMetricCount; ++m) {
    if (!same_bits(a.metrics[m].value, b.metrics[m].value) ||
        !same_bits(a.metrics[m].z_score, b.metrics[m].z_score) ||
        a.metrics[m].anomaly != b.metrics[m].anomaly ||
        a.anomalies_total[m] != b.anomalies_total[m]) {
      return false;
    }
  }
  return true;
}

class frozen_writer_fixture {
 public:
  frozen_writer_fixture(const detector_config& config, std::size_t max_writers)
      : shared_(config, max_writers), replay_(config) {
    shared_.set_commit_hook(&hook_);
  }

  // Commits `s` on `w`, replays it, and checks the result and the state after it.
  void commit_on(worker& w, const sample& s, const std::string& what) {
    commit_result got;
    w.run([&] { got = shared_.commit(s.timestamp, s.cpu, s.rps); });
    expect_replayed(s, got, what);
  }

  void expect_replayed(const sample& s, const commit_result& got, const std::string& what) {
    const commit_result want = replay_.commit(s.timestamp, s.cpu, s.rps);
    EXPECT_TRUE(same_result(got, want))
        << what << ": the commit of seq " << got.seq << " (replay: seq " << want.seq
        << ") differs from the replay's";
    expect_state(what);
  }

  void expect_state(const std::string& what) {
    SCOPED_TRACE(what);
    expect_same_snapshot(shared_.read(), replay_.read());
  }

  // Fills the window, so that every round scores against a full one.
  void warm_up(worker& a, worker& b, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      commit_on(i % 2 == 0 ? a : b, other_source_.next(), "warm-up");
    }
  }

  // One round: `frozen` freezes in a commit, `others` commit k samples in turn, `frozen`
  // resumes, then `stale` (which has not committed since before the freeze) and
  // others[0] commit one sample each.
  void round(worker& frozen, std::vector<worker*> others, worker& stale, std::size_t k) {
    const std::string at = "k = " + std::to_string(k);
    const std::uint64_t seq = replay_.read().seq;
    const sample f = frozen_source_.next();
    std::vector<std::uint64_t> attempts;
    attempts.reserve(16);
    commit_result frozen_result;
    frozen.start([&] {
      hook_.arm_this_thread(&attempts);
      frozen_result = shared_.commit(f.timestamp, f.cpu, f.rps);
      hook_.disarm_this_thread();
    });
    EXPECT_EQ(hook_.wait_frozen(), seq + 1) << at;
    for (std::size_t i = 0; i < k && !::testing::Test::HasFailure(); ++i) {
      commit_on(*others[i % others.size()], other_source_.next(), at + ", while frozen");
    }
    hook_.resume();
    frozen.wait();
    if (::testing::Test::HasFailure()) {
      return;
    }
    // The frozen attempt lost its compare-exchange; the retry published right after the
    // k commits.
    ASSERT_EQ(attempts.size(), 2U) << at;
    EXPECT_EQ(attempts[0], seq + 1) << at;
    EXPECT_EQ(attempts[1], seq + k + 1) << at;
    EXPECT_EQ(frozen_result.seq, seq + k + 1) << at;
    expect_replayed(f, frozen_result, at + ", the frozen writer");

    commit_on(stale, stale_source_.next(), at + ", a stale writer after the frozen one");
    commit_on(*others[0], other_source_.next(), at + ", the next writer");
  }

 private:
  analyzer shared_;
  analyzer replay_;
  freezer hook_;
  source frozen_source_{1, 70.0};
  source other_source_{2, 40.0};
  source stale_source_{3, 10.0};
};

void run_freeze_rounds(const detector_config& config) {
  // A pool of four slots for four writer threads: while one is frozen holding a slot, the
  // others commit through the two slots that are neither its nor the head, over and over.
  frozen_writer_fixture fx(config, 2);
  worker frozen;
  worker other_a;
  worker other_b;
  worker stale;
  const std::size_t w = config.window_size;
  fx.warm_up(other_a, other_b, w + 2);
  for (const std::size_t k : {std::size_t{1}, std::size_t{2}, std::size_t{3}, w - 1, w, w + 1,
                              2 * w + 1, std::size_t{1}, std::size_t{500}, std::size_t{1}}) {
    fx.round(frozen, {&other_a, &other_b}, stale, k);
    if (::testing::Test::HasFailure()) {
      return;
    }
  }
}

TEST(AnalyzerFreezeTest, frozen_writer_resumes_and_replays_bit_for_bit) {
  run_freeze_rounds(detector_config{.window_size = 8, .threshold = 1.5, .warmup = 3});
}

TEST(AnalyzerFreezeTest, frozen_writer_with_a_window_of_three) {
  run_freeze_rounds(detector_config{.window_size = 3, .threshold = 1.0, .warmup = 2});
}

TEST(AnalyzerFreezeTest, frozen_writer_with_a_window_of_two) {
  run_freeze_rounds(detector_config{.window_size = 2, .threshold = 0.5, .warmup = 2});
}

}  // namespace
}  // namespace analyzer::analytics
