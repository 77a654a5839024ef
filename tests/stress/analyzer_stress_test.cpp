// The lock-free analyzer under concurrent writers and readers (architecture.md §3,
// "Concurrency"): seqs are dense, a sequential replay of the commit order reproduces every
// commit result bit for bit, and every snapshot a reader took equals, bit for bit, the
// replay's state at that snapshot's seq.
//
// The machine running this may give the test one or two cores, on which writers would
// mostly take turns between commits and hardly ever race inside one. So a test hook yields
// in some commit attempts between the copy of the head's state and the compare-exchange:
// writers then lose compare-exchanges to each other, retry one or a few seqs later, and
// writers that slept meanwhile copy from slots written by such retries. Those are the
// interleavings in which a wrong ring_mark shows (tests/unit/analytics/
// analyzer_freeze_test.cpp reproduces them one by one, deterministically).
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
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace analyzer::analytics {
namespace {

constexpr std::size_t kReaders = 2;
constexpr std::size_t kBatch = 1000;
constexpr std::uint64_t kReadsPerYield = 4;
constexpr std::size_t kDefaultSamples = 200'000;
// Each reader must see at least this many distinct seqs strictly between 0 and the last
// one, i.e. while writers were committing; a run takes thousands.
constexpr std::uint64_t kMinDistinctSeqsWhileWriting = 20;

using test::expect_same_snapshot;
using test::same_bits;

std::size_t sample_count() {
  if (const char* env = std::getenv("ANALYZER_STRESS_SAMPLES"); env != nullptr && *env != '\0') {
    return std::max<std::size_t>(100, std::stoul(env));
  }
  return kDefaultSamples;
}

struct record {
  double timestamp = 0;
  double cpu = 0;
  double rps = 0;
  commit_result result;
};

// Every sample ties its fields together: rps = 2·cpu and timestamp = 3·cpu. Scaling a window
// by 2 scales its mean, std, min and max exactly and leaves every z unchanged, so each
// snapshot must satisfy these relations bit for bit; a snapshot mixing two states would
// break them. Values have two decimals, so two writers rarely commit the same one: a value
// in the wrong ring position changes the statistics.
record make_sample(std::mt19937_64& rng) {
  const std::uint64_t r = rng();
  double cpu = 40.0 + static_cast<double>(r % 2001) / 100.0;  // 40..60
  if ((r >> 32) % 50 == 0) {
    cpu = 90.0 + static_cast<double>((r >> 40) % 1001) / 100.0;  // spike
  } else if ((r >> 32) % 50 == 1) {
    cpu = static_cast<double>((r >> 40) % 501) / 100.0;  // dip
  }
  return {.timestamp = 3.0 * cpu, .cpu = cpu, .rps = 2.0 * cpu, .result = {}};
}

// Yields in one of `one_in` commit attempts (and counts the attempts), between the writer's
// copy of the head's state and its compare-exchange.
class yield_in_commit final : public analyzer::commit_hook {
 public:
  explicit yield_in_commit(std::uint32_t one_in) : one_in_(one_in) {}

  void before_publish(std::uint64_t /*seq*/) noexcept override {
    attempts_.fetch_add(1, std::memory_order_relaxed);
    thread_local std::uint32_t t_state = 0;
    if (t_state == 0) {
      t_state =
          static_cast<std::uint32_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()) | 1U);
    }
    t_state ^= t_state << 13;  // xorshift32
    t_state ^= t_state >> 17;
    t_state ^= t_state << 5;
    if (t_state % one_in_ == 0) {
      std::this_thread::yield();
    }
  }

  [[nodiscard]] std::uint64_t attempts() const noexcept {
    return attempts_.load(std::memory_order_relaxed);
  }

 private:
  std::uint32_t one_in_;
  std::atomic<std::uint64_t> attempts_{0};
};

bool same_result(const commit_result& a, const commit_result& b) {
  if (a.seq != b.seq || !same_bits(a.timestamp, b.timestamp)) {
    return false;
  }
  for (std::size_t m = 0; m < kMetricCount; ++m) {
    const metric_result& x = a.metrics[m];
    const metric_result& y = b.metrics[m];
    if (!same_bits(x.value, y.value) || !same_bits(x.z_score, y.z_score) ||
        x.anomaly != y.anomaly || a.anomalies_total[m] != b.anomalies_total[m]) {
      return false;
    }
  }
  return true;
}

bool same_stats(const window_stats& a, const window_stats& b) {
  return a.count == b.count && same_bits(a.mean, b.mean) && same_bits(a.std_dev, b.std_dev) &&
         same_bits(a.min, b.min) && same_bits(a.max, b.max);
}

// Bit for bit, every field (test::expect_same_snapshot reports the differences).
bool same_snapshot(const snapshot& a, const snapshot& b) {
  if (a.seq != b.seq || !same_bits(a.last_timestamp, b.last_timestamp)) {
    return false;
  }
  for (std::size_t m = 0; m < kMetricCount; ++m) {
    const metric_snapshot& x = a.metrics[m];
    const metric_snapshot& y = b.metrics[m];
    if (!same_stats(x.window, y.window) || x.anomalies_total != y.anomalies_total ||
        x.last.has_value() != y.last.has_value() ||
        x.last_anomaly.has_value() != y.last_anomaly.has_value()) {
      return false;
    }
    if (x.last &&
        (!same_bits(x.last->value, y.last->value) || !same_bits(x.last->z_score, y.last->z_score) ||
         x.last->anomaly != y.last->anomaly)) {
      return false;
    }
    if (x.last_anomaly && (!same_bits(x.last_anomaly->timestamp, y.last_anomaly->timestamp) ||
                           !same_bits(x.last_anomaly->value, y.last_anomaly->value) ||
                           !same_bits(x.last_anomaly->z_score, y.last_anomaly->z_score))) {
      return false;
    }
  }
  return true;
}

struct reader_log {
  // One snapshot per distinct seq seen, in the order seen (seqs only grow). A later read of
  // the same seq is compared with it on the spot, so every read is checked against the
  // replay: directly, or through an identical earlier one.
  std::vector<snapshot> distinct;
  std::uint64_t reads = 0;
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

struct stress_options {
  detector_config config;
  std::size_t max_writers = 64;
  std::size_t writers = 6;  // more than max_writers is allowed: claims then wait for a slot
  std::size_t total = 0;
  std::uint32_t yield_one_in = 0;  // 0: no hook
};

void run_stress(const stress_options& opt) {
  analyzer shared(opt.config, opt.max_writers);
  yield_in_commit hook(opt.yield_one_in == 0 ? 1 : opt.yield_one_in);
  if (opt.yield_one_in != 0) {
    shared.set_commit_hook(&hook);
  }
  const std::size_t writers = opt.writers;
  const std::size_t per_writer = opt.total / writers;
  std::vector<std::vector<record>> logs(writers);
  std::vector<reader_log> reads(kReaders);
  std::atomic<std::size_t> writers_left{writers};
  std::atomic<bool> start{false};

  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(1000 + w);
      std::vector<record>& log = logs[w];
      log.reserve(per_writer);
      while (!start.load(std::memory_order_acquire)) {
        std::this_thread::yield();
      }
      // A third of the writers commit 1000-sample batches back to back; the others trickle,
      // yielding between commits, so their copies of the state fall behind.
      const bool batches = w % 3 == 0;
      while (log.size() < per_writer) {
        const std::size_t run = batches ? std::min(kBatch, per_writer - log.size()) : 1;
        for (std::size_t i = 0; i < run; ++i) {
          record rec = make_sample(rng);
          rec.result = shared.commit(rec.timestamp, rec.cpu, rec.rps);
          log.push_back(rec);
        }
        if (!batches) {
          for (std::uint64_t y = rng() % 3; y != 0; --y) {
            std::this_thread::yield();
          }
        }
      }
      writers_left.fetch_sub(1, std::memory_order_release);
    });
  }
  for (std::size_t r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      reader_log& out = reads[r];
      out.distinct.reserve(opt.total / 4);
      std::uint64_t last_anomalies = 0;
      while (!start.load(std::memory_order_acquire)) {
        std::this_thread::yield();
      }
      // Reads until every writer is done, then once more.
      for (bool more = true; more;) {
        more = writers_left.load(std::memory_order_acquire) != 0;
        const snapshot s = shared.read();
        ++out.reads;
        std::string problem = check_snapshot(s, opt.config.window_size);
        if (problem.empty() && !out.distinct.empty()) {
          const snapshot& last = out.distinct.back();
          if (s.seq < last.seq) {
            problem = "seq went back from " + std::to_string(last.seq);
          } else if (s.seq == last.seq && !same_snapshot(s, last)) {
            problem = "two different states read at seq " + std::to_string(s.seq);
          }
        }
        if (problem.empty() && s.of(metric::cpu).anomalies_total < last_anomalies) {
          problem = "anomalies_total went back at seq " + std::to_string(s.seq);
        }
        if (!problem.empty() && out.failures++ == 0) {
          out.first_failure = problem;
        }
        last_anomalies = std::max(last_anomalies, s.of(metric::cpu).anomalies_total);
        if (out.distinct.empty() || s.seq > out.distinct.back().seq) {
          out.distinct.push_back(s);
        }
        // Readers that never yield could keep writers, which yield, off the cores.
        if (out.reads % kReadsPerYield == 0) {
          std::this_thread::yield();
        }
      }
    });
  }
  start.store(true, std::memory_order_release);
  for (std::thread& t : threads) {
    t.join();
  }

  const std::size_t n = per_writer * writers;
  for (std::size_t r = 0; r < kReaders; ++r) {
    EXPECT_EQ(reads[r].failures, 0U) << "reader " << r << ": " << reads[r].first_failure;
    // The reader checks mean something only if readers ran while writers committed.
    const auto during = static_cast<std::uint64_t>(
        std::count_if(reads[r].distinct.begin(), reads[r].distinct.end(),
                      [n](const snapshot& s) { return s.seq > 0 && s.seq < n; }));
    EXPECT_GE(during, kMinDistinctSeqsWhileWriting)
        << "reader " << r << " saw only " << during << " states while writers committed";
    ::testing::Test::RecordProperty("reader" + std::to_string(r) + "_reads",
                                    std::to_string(reads[r].reads));
    ::testing::Test::RecordProperty("reader" + std::to_string(r) + "_distinct_seqs_while_writing",
                                    std::to_string(during));
  }
  if (opt.yield_one_in != 0) {
    // Attempts beyond one per commit lost their compare-exchange: the interleavings this
    // test is about. The yields make thousands of them on one core as on many.
    const std::uint64_t attempts = hook.attempts();
    EXPECT_GE(attempts, n) << "the hook missed commits";
    const std::uint64_t retries = attempts > n ? attempts - n : 0;
    ::testing::Test::RecordProperty("lost_compare_exchanges", std::to_string(retries));
    EXPECT_GE(retries, n / 100) << "writers hardly ever raced";
  }

  // One thread commits in seq order: its seqs increase, batches included.
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

  // Replays the commit order on one thread; every commit result and every snapshot a
  // reader took must equal the replay's, bit for bit, at the same seq.
  analyzer replay(opt.config);
  std::vector<std::size_t> next_read(kReaders, 0);
  std::uint64_t compared = 0;
  const auto compare_reads = [&](const snapshot& expected) {
    for (std::size_t r = 0; r < kReaders; ++r) {
      const std::vector<snapshot>& seen = reads[r].distinct;
      std::size_t& i = next_read[r];
      for (; i < seen.size() && seen[i].seq == expected.seq; ++i, ++compared) {
        if (!same_snapshot(seen[i], expected)) {
          ADD_FAILURE() << "reader " << r << " read a state at seq " << expected.seq
                        << " that is not the replay's";
          expect_same_snapshot(seen[i], expected);
          return false;
        }
      }
    }
    return true;
  };
  ASSERT_TRUE(compare_reads(replay.read()));  // seq 0
  std::uint64_t anomalies = 0;
  for (std::size_t seq = 1; seq <= n; ++seq) {
    const record& rec = *by_seq[seq];
    const commit_result r = replay.commit(rec.timestamp, rec.cpu, rec.rps);
    ASSERT_EQ(r.seq, seq);
    if (!same_result(r, rec.result)) {
      for (std::size_t m = 0; m < kMetricCount; ++m) {
        EXPECT_TRUE(same_bits(r.metrics[m].z_score, rec.result.metrics[m].z_score))
            << "metric " << m << ": replay " << r.metrics[m].z_score << ", concurrent "
            << rec.result.metrics[m].z_score;
        EXPECT_EQ(r.anomalies_total[m], rec.result.anomalies_total[m]);
      }
      FAIL() << "the commit of seq " << seq << " differs from the replay's";
    }
    anomalies += static_cast<std::uint64_t>(r.anomaly_count());
    ASSERT_TRUE(compare_reads(replay.read()));
  }
  for (std::size_t r = 0; r < kReaders; ++r) {
    EXPECT_EQ(next_read[r], reads[r].distinct.size())
        << "reader " << r << " read seqs beyond " << n;
  }
  ::testing::Test::RecordProperty("reader_snapshots_compared", std::to_string(compared));
  const snapshot final_state = shared.read();
  EXPECT_EQ(final_state.seq, n);
  expect_same_snapshot(final_state, replay.read());
  // The data must exercise the detector, not just the plumbing.
  EXPECT_GT(anomalies, n / 200);
}

TEST(AnalyzerStressTest, concurrent_commits_replay_bit_for_bit) {
  // Six writers, max_writers 4: a pool of six slots, one the head and most others held by
  // writers stopped inside a commit, so a free slot is reused at once, and at times a
  // writer waits for one.
  run_stress({.config = detector_config{.window_size = 50, .threshold = 2.0, .warmup = 10},
              .max_writers = 4,
              .writers = 6,
              .total = sample_count(),
              .yield_one_in = 2});
}

TEST(AnalyzerStressTest, tiny_window_and_default_pool) {
  // W = 3: ring positions wrap on every third commit, so stale ring copies show at once.
  run_stress({.config = detector_config{.window_size = 3, .threshold = 1.0, .warmup = 2},
              .max_writers = 64,
              .writers = 6,
              .total = sample_count() / 2,
              .yield_one_in = 2});
}

TEST(AnalyzerStressTest, without_hook) {
  // The hook off: writers race only as far as the cores let them (on many cores, often).
  run_stress({.config = detector_config{.window_size = 50, .threshold = 2.0, .warmup = 10},
              .max_writers = 4,
              .writers = 4,
              .total = sample_count() / 2,
              .yield_one_in = 0});
}

}  // namespace
}  // namespace analyzer::analytics
