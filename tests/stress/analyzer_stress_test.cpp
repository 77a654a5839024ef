// The lock-free analyzer under concurrent writers and readers (architecture.md §3,
// "Concurrency"): seqs are dense, a sequential replay of the commit order reproduces every
// z-score bit for bit, and no reader ever sees a torn snapshot.
//
// ANALYZER_STRESS_SAMPLES overrides the number of samples of the main test.
#include "analyzer/analytics/analyzer.hpp"
#include "support/snapshot_compare.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace analyzer::analytics {
namespace {

constexpr std::size_t kWriters = 4;
constexpr std::size_t kReaders = 2;
constexpr std::size_t kBatch = 1000;
constexpr std::size_t kDefaultSamples = 200'000;

using test::expect_same_snapshot;
using test::same_bits;

std::size_t sample_count() {
  if (const char* env = std::getenv("ANALYZER_STRESS_SAMPLES"); env != nullptr && *env != '\0') {
    return std::max<std::size_t>(kWriters, std::stoul(env));
  }
  return kDefaultSamples;
}

struct record {
  double timestamp = 0;
  double cpu = 0;
  double rps = 0;
  commit_result result;
};

// Every sample ties its fields together: rps = 2·cpu and timestamp = 3·cpu, all small
// integers. Scaling a window by 2 scales its mean, std, min and max exactly and leaves every
// z unchanged, so each snapshot must satisfy these relations bit for bit; a snapshot mixing
// two states would break them.
record make_sample(std::mt19937_64& rng) {
  const std::uint64_t r = rng();
  double cpu = 40.0 + static_cast<double>(r % 21);  // 40..60
  if ((r >> 32) % 50 == 0) {
    cpu = 90.0 + static_cast<double>((r >> 40) % 11);  // spike
  } else if ((r >> 32) % 50 == 1) {
    cpu = static_cast<double>((r >> 40) % 5);  // dip
  }
  return {.timestamp = 3.0 * cpu, .cpu = cpu, .rps = 2.0 * cpu, .result = {}};
}

struct reader_stats {
  std::uint64_t snapshots = 0;
  std::uint64_t failures = 0;
  std::string first_failure;
};

// Checks one snapshot; returns an empty string when it is consistent.
std::string check_snapshot(const snapshot& s, std::size_t window) {
  const metric_snapshot& cpu = s.of(metric::cpu);
  const metric_snapshot& rps = s.of(metric::rps);
  const std::uint64_t expected_count = std::min<std::uint64_t>(s.seq, window);
  if (cpu.window.count != expected_count || rps.window.count != expected_count) {
    return "window count " + std::to_string(cpu.window.count) + " at seq " + std::to_string(s.seq);
  }
  if (s.seq == 0) {
    return cpu.last || rps.last ? "last set at seq 0" : "";
  }
  if (!cpu.last || !rps.last) {
    return "last missing at seq " + std::to_string(s.seq);
  }
  for (const metric_snapshot* m : {&cpu, &rps}) {
    if (!(m->window.min <= m->window.mean && m->window.mean <= m->window.max)) {
      return "mean outside [min, max] at seq " + std::to_string(s.seq);
    }
  }
  if (!same_bits(rps.window.mean, 2 * cpu.window.mean) ||
      !same_bits(rps.window.std_dev, 2 * cpu.window.std_dev) ||
      !same_bits(rps.window.min, 2 * cpu.window.min) ||
      !same_bits(rps.window.max, 2 * cpu.window.max)) {
    return "window stats of rps and cpu disagree at seq " + std::to_string(s.seq);
  }
  if (!same_bits(rps.last->value, 2 * cpu.last->value) ||
      !same_bits(rps.last->z_score, cpu.last->z_score) || rps.last->anomaly != cpu.last->anomaly) {
    return "last of rps and cpu disagree at seq " + std::to_string(s.seq);
  }
  if (!same_bits(s.last_timestamp, 3 * cpu.last->value)) {
    return "last_timestamp does not belong to last at seq " + std::to_string(s.seq);
  }
  if (cpu.anomalies_total != rps.anomalies_total ||
      cpu.last_anomaly.has_value() != rps.last_anomaly.has_value()) {
    return "anomaly counters disagree at seq " + std::to_string(s.seq);
  }
  if (cpu.last_anomaly) {
    const anomaly_record& a = *cpu.last_anomaly;
    const anomaly_record& b = *rps.last_anomaly;
    if (!same_bits(a.timestamp, 3 * a.value) || !same_bits(b.value, 2 * a.value) ||
        !same_bits(b.timestamp, a.timestamp) || !same_bits(b.z_score, a.z_score)) {
      return "last_anomaly torn at seq " + std::to_string(s.seq);
    }
  }
  if ((cpu.anomalies_total == 0) == cpu.last_anomaly.has_value()) {
    return "anomalies_total and last_anomaly disagree at seq " + std::to_string(s.seq);
  }
  return "";
}

void run_stress(const detector_config& config, std::size_t max_writers, std::size_t total) {
  analyzer shared(config, max_writers);
  const std::size_t per_writer = total / kWriters;
  std::vector<std::vector<record>> logs(kWriters);
  std::vector<reader_stats> reads(kReaders);
  std::atomic<std::size_t> writers_left{kWriters};
  std::atomic<bool> start{false};

  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(1000 + w);
      std::vector<record>& log = logs[w];
      log.reserve(per_writer);
      while (!start.load(std::memory_order_acquire)) {
        std::this_thread::yield();
      }
      // Writers 0 and 1 commit 1000-sample batches back to back; 2 and 3 trickle.
      const bool batches = w < 2;
      while (log.size() < per_writer) {
        const std::size_t run = batches ? std::min(kBatch, per_writer - log.size()) : 1;
        for (std::size_t i = 0; i < run; ++i) {
          record rec = make_sample(rng);
          rec.result = shared.commit(rec.timestamp, rec.cpu, rec.rps);
          log.push_back(rec);
        }
        if (!batches && log.size() % 64 == 0) {
          std::this_thread::yield();
        }
      }
      writers_left.fetch_sub(1, std::memory_order_release);
    });
  }
  for (std::size_t r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      reader_stats& out = reads[r];
      std::uint64_t last_seq = 0;
      std::uint64_t last_anomalies = 0;
      while (!start.load(std::memory_order_acquire)) {
        std::this_thread::yield();
      }
      // Reads until every writer is done, then once more.
      for (bool more = true; more;) {
        more = writers_left.load(std::memory_order_acquire) != 0;
        const snapshot s = shared.read();
        ++out.snapshots;
        std::string problem = check_snapshot(s, config.window_size);
        if (problem.empty() && s.seq < last_seq) {
          problem = "seq went back from " + std::to_string(last_seq);
        }
        if (problem.empty() && s.of(metric::cpu).anomalies_total < last_anomalies) {
          problem = "anomalies_total went back at seq " + std::to_string(s.seq);
        }
        if (!problem.empty() && out.failures++ == 0) {
          out.first_failure = problem;
        }
        last_seq = std::max(last_seq, s.seq);
        last_anomalies = std::max(last_anomalies, s.of(metric::cpu).anomalies_total);
      }
    });
  }
  start.store(true, std::memory_order_release);
  for (std::thread& t : threads) {
    t.join();
  }

  for (std::size_t r = 0; r < kReaders; ++r) {
    EXPECT_EQ(reads[r].failures, 0U) << "reader " << r << ": " << reads[r].first_failure;
    EXPECT_GT(reads[r].snapshots, 0U);
  }

  // One thread commits in seq order: its seqs increase, batches included.
  const std::size_t n = per_writer * kWriters;
  std::vector<const record*> by_seq(n + 1, nullptr);
  for (const std::vector<record>& log : logs) {
    std::uint64_t previous = 0;
    for (const record& rec : log) {
      ASSERT_GT(rec.result.seq, previous);
      previous = rec.result.seq;
      ASSERT_GE(rec.result.seq, 1U);
      ASSERT_LE(rec.result.seq, n);
      ASSERT_EQ(by_seq[rec.result.seq], nullptr) << "seq " << rec.result.seq << " twice";
      by_seq[rec.result.seq] = &rec;
    }
  }
  for (std::size_t seq = 1; seq <= n; ++seq) {
    ASSERT_NE(by_seq[seq], nullptr) << "seq " << seq << " missing";
  }

  analyzer replay(config);
  std::uint64_t anomalies = 0;
  for (std::size_t seq = 1; seq <= n; ++seq) {
    const record& rec = *by_seq[seq];
    const commit_result r = replay.commit(rec.timestamp, rec.cpu, rec.rps);
    ASSERT_EQ(r.seq, seq);
    for (std::size_t m = 0; m < kMetricCount; ++m) {
      ASSERT_TRUE(same_bits(r.metrics[m].z_score, rec.result.metrics[m].z_score))
          << "seq " << seq << " metric " << m << ": replay " << r.metrics[m].z_score
          << ", concurrent " << rec.result.metrics[m].z_score;
      ASSERT_EQ(r.metrics[m].anomaly, rec.result.metrics[m].anomaly) << "seq " << seq;
      ASSERT_TRUE(same_bits(r.metrics[m].value, rec.result.metrics[m].value));
    }
    ASSERT_TRUE(same_bits(r.timestamp, rec.result.timestamp));
    anomalies += static_cast<std::uint64_t>(r.anomaly_count());
  }
  const snapshot final_state = shared.read();
  EXPECT_EQ(final_state.seq, n);
  expect_same_snapshot(final_state, replay.read());
  // The data must exercise the detector, not just the plumbing.
  EXPECT_GT(anomalies, n / 200);
}

TEST(AnalyzerStressTest, concurrent_commits_replay_bit_for_bit) {
  // A pool with no spare slot beyond the writers: slots are reused as fast as possible.
  run_stress(detector_config{.window_size = 50, .threshold = 2.0, .warmup = 10}, kWriters,
             sample_count());
}

TEST(AnalyzerStressTest, tiny_window_and_default_pool) {
  // W = 3: ring positions wrap on every third commit, so stale ring copies show at once.
  run_stress(detector_config{.window_size = 3, .threshold = 1.0, .warmup = 2}, 64,
             sample_count() / 4);
}

}  // namespace
}  // namespace analyzer::analytics
