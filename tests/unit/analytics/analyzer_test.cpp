// analyzer: window semantics against an independent reference, counters, restore.
#include "analyzer/analytics/analyzer.hpp"
#include "support/snapshot_compare.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace analyzer::analytics {
namespace {

constexpr std::size_t kCpu = 0;
constexpr std::size_t kRps = 1;

double ulp(double x) {
  const double a = std::fabs(x);
  return std::nextafter(a, std::numeric_limits<double>::infinity()) - a;
}

using test::expect_same_snapshot;
using test::same_bits;

// The rule of architecture.md §3 written the obvious way: a deque per metric, a
// long double two-pass mean and std over it.
class reference {
 public:
  struct outcome {
    bool scored = false;  // false: warmup or zero spread, z must be exactly 0
    long double z = 0;
    long double tolerance = 0;  // §3: 1e-9·max(1,|z|) + 8·ulp(max|value|)/std
  };

  explicit reference(const detector_config& config) : config_(config) {}

  outcome commit(std::size_t m, double x) {
    std::deque<double>& win = windows_[m];
    outcome out;
    if (win.size() >= config_.warmup) {
      const auto [lo, hi] = std::minmax_element(win.begin(), win.end());
      if (*lo != *hi) {
        long double sum = 0;
        for (const double v : win) {
          sum += v;
        }
        const long double mean = sum / static_cast<long double>(win.size());
        long double sq = 0;
        for (const double v : win) {
          sq += (v - mean) * (v - mean);
        }
        const long double sd = std::sqrt(sq / static_cast<long double>(win.size()));
        const double max_abs = std::max({std::fabs(*lo), std::fabs(*hi), std::fabs(x)});
        out.scored = true;
        out.z = (x - mean) / sd;
        out.tolerance = 1e-9L * std::max(1.0L, std::fabs(out.z)) + 8.0L * ulp(max_abs) / sd;
      }
    }
    win.push_back(x);
    if (win.size() > config_.window_size) {
      win.pop_front();
    }
    return out;
  }

  [[nodiscard]] const std::deque<double>& window(std::size_t m) const { return windows_[m]; }
  void seed(std::size_t m, const std::vector<double>& values) {
    windows_[m].assign(values.begin(), values.end());
  }

 private:
  detector_config config_;
  std::array<std::deque<double>, kMetricCount> windows_;
};

void expect_matches(const reference::outcome& ref, const metric_result& got, double threshold,
                    std::uint64_t seq) {
  if (!ref.scored) {
    EXPECT_EQ(got.z_score, 0.0) << "seq " << seq;
    EXPECT_FALSE(got.anomaly) << "seq " << seq;
    return;
  }
  EXPECT_LE(std::fabs(static_cast<long double>(got.z_score) - ref.z), ref.tolerance)
      << "seq " << seq << " z " << got.z_score << " ref " << static_cast<double>(ref.z);
  if (std::fabs(std::fabs(ref.z) - threshold) > ref.tolerance) {
    EXPECT_EQ(got.anomaly, std::fabs(ref.z) > threshold) << "seq " << seq;
  }
}

void expect_window_matches(const std::deque<double>& win, const window_stats& got) {
  ASSERT_EQ(got.count, win.size());
  if (win.empty()) {
    return;
  }
  const auto [lo, hi] = std::minmax_element(win.begin(), win.end());
  EXPECT_EQ(got.min, *lo);
  EXPECT_EQ(got.max, *hi);
  long double sum = 0;
  for (const double v : win) {
    sum += v;
  }
  const long double mean = sum / static_cast<long double>(win.size());
  const double max_abs = std::max(std::fabs(*lo), std::fabs(*hi));
  // Rounding of the result plus a summation error that grows with n times the spread.
  const long double tolerance = 4.0L * ulp(max_abs) + static_cast<long double>(win.size()) *
                                                          std::numeric_limits<double>::epsilon() *
                                                          (*hi - *lo);
  EXPECT_LE(std::fabs(static_cast<long double>(got.mean) - mean), tolerance);
}

struct sample {
  double timestamp;
  double cpu;
  double rps;
};

// Noise with level shifts, spikes and flat stretches (zero spread).
std::vector<sample> generate(std::size_t n, std::uint64_t seed, double offset = 0.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<sample> out;
  double level = 40.0;
  for (std::size_t i = 0; i < n; ++i) {
    if (u(rng) < 0.01) {
      level = 20.0 + 60.0 * u(rng);
    }
    double cpu = level + 3.0 * noise(rng);
    double rps = offset + 1000.0 + 50.0 * noise(rng);
    if (u(rng) < 0.02) {
      cpu += 30.0;
      rps += 400.0;
    }
    if ((i / 200) % 5 == 4) {  // flat stretch: windows with std exactly 0
      cpu = 42.5;
      rps = offset + 7.0;
    }
    out.push_back({1.7e9 + static_cast<double>(i), std::clamp(cpu, 0.0, 100.0), rps});
  }
  return out;
}

void run_against_reference(const detector_config& config, const std::vector<sample>& samples) {
  analyzer a(config);
  reference ref(config);
  std::uint64_t expected_seq = 0;
  std::size_t scored = 0;
  std::size_t unscored = 0;
  std::uint64_t anomalies = 0;
  for (const sample& s : samples) {
    const commit_result r = a.commit(s.timestamp, s.cpu, s.rps);
    ++expected_seq;
    ASSERT_EQ(r.seq, expected_seq);
    EXPECT_EQ(r.timestamp, s.timestamp);
    EXPECT_EQ(r.of(metric::cpu).value, s.cpu);
    EXPECT_EQ(r.of(metric::rps).value, s.rps);
    for (const std::size_t m : {kCpu, kRps}) {
      const reference::outcome expected = ref.commit(m, m == kCpu ? s.cpu : s.rps);
      expect_matches(expected, r.metrics[m], config.threshold, r.seq);
      (expected.scored ? scored : unscored) += 1;
    }
    anomalies += static_cast<std::uint64_t>(r.anomaly_count());
    if (::testing::Test::HasFailure()) {
      return;
    }
  }
  // The data must reach every branch: warmup or flat windows, scores, anomalies.
  EXPECT_GT(scored, samples.size() / 10);
  EXPECT_GT(unscored, 0U);
  EXPECT_GT(anomalies, 0U);
  const snapshot snap = a.read();
  EXPECT_EQ(snap.seq, samples.size());
  EXPECT_EQ(snap.of(metric::cpu).anomalies_total + snap.of(metric::rps).anomalies_total, anomalies);
  expect_window_matches(ref.window(kCpu), snap.of(metric::cpu).window);
  expect_window_matches(ref.window(kRps), snap.of(metric::rps).window);
}

TEST(AnalyzerTest, empty_snapshot) {
  const analyzer a(detector_config{});
  const snapshot s = a.read();
  EXPECT_EQ(s.seq, 0U);
  EXPECT_EQ(s.last_timestamp, 0.0);
  for (const metric_snapshot& m : s.metrics) {
    EXPECT_EQ(m.window.count, 0U);
    EXPECT_EQ(m.window.mean, 0.0);
    EXPECT_EQ(m.window.std_dev, 0.0);
    EXPECT_FALSE(m.last.has_value());
    EXPECT_EQ(m.anomalies_total, 0U);
    EXPECT_FALSE(m.last_anomaly.has_value());
  }
}

TEST(AnalyzerTest, config_is_kept) {
  const detector_config config{.window_size = 7, .threshold = 3.5, .warmup = 3};
  const analyzer a(config);
  EXPECT_EQ(a.config().window_size, 7U);
  EXPECT_EQ(a.config().threshold, 3.5);
  EXPECT_EQ(a.config().warmup, 3U);
}

TEST(AnalyzerTest, rejects_invalid_config) {
  EXPECT_THROW(analyzer(detector_config{.window_size = 1, .threshold = 2, .warmup = 1}),
               std::invalid_argument);
  EXPECT_THROW(analyzer(detector_config{.window_size = 4097, .threshold = 2, .warmup = 50}),
               std::invalid_argument);
  EXPECT_THROW(analyzer(detector_config{.window_size = 50, .threshold = 2, .warmup = 51}),
               std::invalid_argument);
  EXPECT_THROW(analyzer(detector_config{.window_size = 50, .threshold = 0, .warmup = 50}),
               std::invalid_argument);
  EXPECT_THROW(analyzer(detector_config{}, 0), std::invalid_argument);
  EXPECT_THROW(analyzer(detector_config{}, 65534), std::invalid_argument);
}

TEST(AnalyzerTest, seq_is_dense_and_last_is_the_newest_sample) {
  analyzer a(detector_config{.window_size = 5, .threshold = 2.0, .warmup = 5});
  for (std::uint64_t i = 1; i <= 20; ++i) {
    const double ts = 100.0 + static_cast<double>(i);
    const commit_result r = a.commit(ts, static_cast<double>(i), 2.0 * static_cast<double>(i));
    EXPECT_EQ(r.seq, i);
    const snapshot s = a.read();
    EXPECT_EQ(s.seq, i);
    EXPECT_EQ(s.last_timestamp, ts);
    ASSERT_TRUE(s.of(metric::cpu).last.has_value());
    EXPECT_EQ(s.of(metric::cpu).last->value, static_cast<double>(i));
    EXPECT_EQ(s.of(metric::rps).last->value, 2.0 * static_cast<double>(i));
    EXPECT_EQ(s.of(metric::cpu).window.count, std::min<std::uint64_t>(i, 5));
  }
}

TEST(AnalyzerTest, full_window_evicts_the_oldest_value) {
  analyzer a(detector_config{.window_size = 4, .threshold = 2.0, .warmup = 4});
  for (const double v : {1.0, 2.0, 3.0, 4.0}) {
    a.commit(0.0, v, v * 10.0);
  }
  snapshot s = a.read();
  EXPECT_EQ(s.of(metric::cpu).window.count, 4U);
  EXPECT_EQ(s.of(metric::cpu).window.min, 1.0);
  EXPECT_EQ(s.of(metric::cpu).window.mean, 2.5);
  a.commit(0.0, 5.0, 50.0);
  s = a.read();
  EXPECT_EQ(s.of(metric::cpu).window.count, 4U);  // W + 1 commits, W data points
  EXPECT_EQ(s.of(metric::cpu).window.min, 2.0);   // 1 is gone
  EXPECT_EQ(s.of(metric::cpu).window.max, 5.0);
  EXPECT_EQ(s.of(metric::cpu).window.mean, 3.5);
  EXPECT_EQ(s.of(metric::rps).window.min, 20.0);
  EXPECT_EQ(s.of(metric::rps).window.mean, 35.0);
  a.commit(0.0, 0.5, 5.0);
  s = a.read();
  EXPECT_EQ(s.of(metric::cpu).window.min, 0.5);
  EXPECT_EQ(s.of(metric::cpu).window.max, 5.0);
  EXPECT_EQ(s.of(metric::cpu).window.mean, 3.125);
}

TEST(AnalyzerTest, z_is_against_the_previous_window_only) {
  // Window {−1, 1, −1, 1}: mean 0, std 1. The fifth value scores against exactly those.
  analyzer a(detector_config{.window_size = 4, .threshold = 2.0, .warmup = 4});
  for (const double v : {-1.0, 1.0, -1.0, 1.0}) {
    EXPECT_EQ(a.commit(0.0, v, v).of(metric::cpu).z_score, 0.0);  // warmup
  }
  commit_result r = a.commit(0.0, 2.0, -3.0);
  EXPECT_EQ(r.of(metric::cpu).z_score, 2.0);
  EXPECT_FALSE(r.of(metric::cpu).anomaly);  // strictly greater
  EXPECT_EQ(r.of(metric::rps).z_score, -3.0);
  EXPECT_TRUE(r.of(metric::rps).anomaly);
  // Now the window is {1, −1, 1, 2} for cpu: mean 0.75, std sqrt(1.1875).
  r = a.commit(0.0, 0.75, 0.0);
  EXPECT_EQ(r.of(metric::cpu).z_score, 0.0);
  const snapshot s = a.read();
  EXPECT_EQ(s.of(metric::cpu).last->z_score, 0.0);
}

TEST(AnalyzerTest, anomalies_total_and_last_anomaly) {
  analyzer a(detector_config{.window_size = 4, .threshold = 2.0, .warmup = 4});
  for (const double v : {-1.0, 1.0, -1.0, 1.0}) {
    a.commit(10.0, v, 1.0);
  }
  const commit_result r = a.commit(11.0, 100.0, 1.0);
  EXPECT_TRUE(r.of(metric::cpu).anomaly);
  EXPECT_EQ(r.of(metric::cpu).z_score, 100.0);
  EXPECT_FALSE(r.of(metric::rps).anomaly);  // std 0
  EXPECT_EQ(r.anomaly_count(), 1);
  snapshot s = a.read();
  EXPECT_EQ(s.of(metric::cpu).anomalies_total, 1U);
  EXPECT_EQ(s.of(metric::rps).anomalies_total, 0U);
  ASSERT_TRUE(s.of(metric::cpu).last_anomaly.has_value());
  EXPECT_EQ(s.of(metric::cpu).last_anomaly->timestamp, 11.0);
  EXPECT_EQ(s.of(metric::cpu).last_anomaly->value, 100.0);
  EXPECT_EQ(s.of(metric::cpu).last_anomaly->z_score, 100.0);
  EXPECT_TRUE(s.of(metric::cpu).last->anomaly);
  EXPECT_FALSE(s.of(metric::rps).last_anomaly.has_value());

  a.commit(12.0, 1.0, 1.0);
  s = a.read();
  EXPECT_FALSE(s.of(metric::cpu).last->anomaly);
  EXPECT_EQ(s.of(metric::cpu).anomalies_total, 1U);
  ASSERT_TRUE(s.of(metric::cpu).last_anomaly.has_value());  // kept until the next one
  EXPECT_EQ(s.of(metric::cpu).last_anomaly->timestamp, 11.0);

  const commit_result low = a.commit(13.0, -1000.0, 1.0);
  EXPECT_TRUE(low.of(metric::cpu).anomaly);
  EXPECT_LT(low.of(metric::cpu).z_score, -2.0);
  s = a.read();
  EXPECT_EQ(s.of(metric::cpu).anomalies_total, 2U);
  EXPECT_EQ(s.of(metric::cpu).last_anomaly->timestamp, 13.0);
  EXPECT_EQ(s.of(metric::cpu).last_anomaly->value, -1000.0);
  EXPECT_EQ(s.of(metric::cpu).last_anomaly->z_score, low.of(metric::cpu).z_score);
}

TEST(AnalyzerTest, matches_reference_default_config) {
  run_against_reference(detector_config{}, generate(5000, 1));
}

TEST(AnalyzerTest, matches_reference_small_warmup_and_threshold) {
  run_against_reference(detector_config{.window_size = 30, .threshold = 1.5, .warmup = 2},
                        generate(3000, 2));
}

TEST(AnalyzerTest, matches_reference_large_offset) {
  run_against_reference(detector_config{}, generate(3000, 3, 1e9));
}

TEST(AnalyzerTest, matches_reference_window_of_two) {
  run_against_reference(detector_config{.window_size = 2, .threshold = 0.5, .warmup = 2},
                        generate(2000, 4));
}

TEST(AnalyzerTest, matches_reference_window_of_4096) {
  run_against_reference(detector_config{.window_size = 4096, .threshold = 2.0, .warmup = 4096},
                        generate(4096 + 600, 5));
}

TEST(AnalyzerTest, window_of_4096_fills_and_evicts) {
  analyzer a(detector_config{.window_size = 4096, .threshold = 2.0, .warmup = 2});
  for (int i = 0; i < 4097; ++i) {
    a.commit(0.0, static_cast<double>(i), 0.0);
  }
  const snapshot s = a.read();
  EXPECT_EQ(s.of(metric::cpu).window.count, 4096U);
  EXPECT_EQ(s.of(metric::cpu).window.min, 1.0);
  EXPECT_EQ(s.of(metric::cpu).window.max, 4096.0);
  EXPECT_EQ(s.of(metric::cpu).window.mean, 2048.5);
  EXPECT_EQ(s.of(metric::rps).window.std_dev, 0.0);
}

// Builds what persistence would hand back after `samples` were committed.
restored_state state_after(const analyzer& a, const std::vector<sample>& samples,
                           std::size_t keep) {
  const snapshot snap = a.read();
  restored_state st;
  st.seq = snap.seq;
  st.last_timestamp = snap.last_timestamp;
  const std::size_t n = std::min(keep, samples.size());
  for (std::size_t m = 0; m < kMetricCount; ++m) {
    for (std::size_t i = samples.size() - n; i < samples.size(); ++i) {
      st.metrics[m].window.push_back(m == kCpu ? samples[i].cpu : samples[i].rps);
    }
    st.metrics[m].last = snap.metrics[m].last;
    st.metrics[m].anomalies_total = snap.metrics[m].anomalies_total;
    st.metrics[m].last_anomaly = snap.metrics[m].last_anomaly;
  }
  return st;
}

TEST(AnalyzerTest, restore_round_trip_continues_bit_for_bit) {
  const detector_config config{.window_size = 50, .threshold = 2.0, .warmup = 20};
  const std::vector<sample> samples = generate(400, 6);
  for (const std::size_t cut : {0U, 1U, 17U, 49U, 50U, 51U, 137U, 300U}) {
    analyzer full(config);
    std::vector<sample> history(samples.begin(),
                                samples.begin() + static_cast<std::ptrdiff_t>(cut));
    for (const sample& s : history) {
      full.commit(s.timestamp, s.cpu, s.rps);
    }
    analyzer restored(config);
    restored.restore(state_after(full, history, config.window_size));
    expect_same_snapshot(full.read(), restored.read());
    for (std::size_t i = cut; i < samples.size(); ++i) {
      const sample& s = samples[i];
      const commit_result a = full.commit(s.timestamp, s.cpu, s.rps);
      const commit_result b = restored.commit(s.timestamp, s.cpu, s.rps);
      ASSERT_EQ(a.seq, b.seq);
      for (std::size_t m = 0; m < kMetricCount; ++m) {
        ASSERT_TRUE(same_bits(a.metrics[m].z_score, b.metrics[m].z_score))
            << "cut " << cut << " seq " << a.seq;
        ASSERT_EQ(a.metrics[m].anomaly, b.metrics[m].anomaly);
      }
    }
    expect_same_snapshot(full.read(), restored.read());
  }
}

TEST(AnalyzerTest, restore_of_a_short_window_wraps_the_ring) {
  // 5 values restored at seq 10 with W = 8 occupy ring positions 5, 6, 7, 0, 1.
  const detector_config config{.window_size = 8, .threshold = 1.0, .warmup = 2};
  restored_state st;
  st.seq = 10;
  st.last_timestamp = 99.0;
  const std::vector<double> cpu{3.0, 9.0, 4.0, 1.0, 7.0};
  const std::vector<double> rps{30.0, 10.0, 20.0, 20.0, 50.0};
  st.metrics[kCpu].window = cpu;
  st.metrics[kRps].window = rps;
  analyzer a(config);
  a.restore(st);
  const snapshot s = a.read();
  EXPECT_EQ(s.seq, 10U);
  EXPECT_EQ(s.last_timestamp, 99.0);
  EXPECT_EQ(s.of(metric::cpu).window.count, 5U);
  EXPECT_EQ(s.of(metric::cpu).window.min, 1.0);
  EXPECT_EQ(s.of(metric::cpu).window.max, 9.0);
  EXPECT_DOUBLE_EQ(s.of(metric::cpu).window.mean, 4.8);
  EXPECT_EQ(s.of(metric::rps).window.mean, 26.0);
  EXPECT_FALSE(s.of(metric::cpu).last.has_value());

  reference ref(config);
  ref.seed(kCpu, cpu);
  ref.seed(kRps, rps);
  for (const sample& x : generate(100, 8)) {
    const commit_result r = a.commit(x.timestamp, x.cpu, x.rps);
    expect_matches(ref.commit(kCpu, x.cpu), r.metrics[kCpu], config.threshold, r.seq);
    expect_matches(ref.commit(kRps, x.rps), r.metrics[kRps], config.threshold, r.seq);
    const snapshot now = a.read();
    expect_window_matches(ref.window(kCpu), now.of(metric::cpu).window);
    expect_window_matches(ref.window(kRps), now.of(metric::rps).window);
  }
  EXPECT_EQ(a.read().seq, 110U);
}

TEST(AnalyzerTest, restore_empty_windows_keeps_seq) {
  analyzer a(detector_config{});
  restored_state st;
  st.seq = 5;
  st.metrics[kCpu].anomalies_total = 3;
  st.metrics[kCpu].last_anomaly = anomaly_record{.timestamp = 1.0, .value = 2.0, .z_score = 3.0};
  a.restore(st);
  snapshot s = a.read();
  EXPECT_EQ(s.seq, 5U);
  EXPECT_EQ(s.of(metric::cpu).window.count, 0U);
  EXPECT_EQ(s.of(metric::cpu).anomalies_total, 3U);
  ASSERT_TRUE(s.of(metric::cpu).last_anomaly.has_value());
  EXPECT_EQ(s.of(metric::cpu).last_anomaly->z_score, 3.0);
  EXPECT_EQ(a.commit(7.0, 1.0, 2.0).seq, 6U);
  s = a.read();
  EXPECT_EQ(s.of(metric::cpu).window.count, 1U);
  EXPECT_EQ(s.of(metric::cpu).window.mean, 1.0);
  EXPECT_EQ(s.of(metric::cpu).anomalies_total, 3U);
}

TEST(AnalyzerTest, restore_rejects_inconsistent_state) {
  analyzer a(detector_config{.window_size = 4, .threshold = 2.0, .warmup = 4});
  restored_state too_long;
  too_long.seq = 10;
  too_long.metrics[kCpu].window = {1, 2, 3, 4, 5};
  too_long.metrics[kRps].window = {1, 2, 3, 4, 5};
  EXPECT_THROW(a.restore(too_long), std::invalid_argument);

  restored_state uneven;
  uneven.seq = 10;
  uneven.metrics[kCpu].window = {1, 2, 3};
  uneven.metrics[kRps].window = {1, 2};
  EXPECT_THROW(a.restore(uneven), std::invalid_argument);

  restored_state more_than_seq;
  more_than_seq.seq = 2;
  more_than_seq.metrics[kCpu].window = {1, 2, 3};
  more_than_seq.metrics[kRps].window = {1, 2, 3};
  EXPECT_THROW(a.restore(more_than_seq), std::invalid_argument);

  restored_state non_finite;
  non_finite.seq = 3;
  non_finite.metrics[kCpu].window = {1, std::numeric_limits<double>::quiet_NaN(), 3};
  non_finite.metrics[kRps].window = {1, 2, 3};
  EXPECT_THROW(a.restore(non_finite), std::invalid_argument);

  // A rejected restore leaves the state alone.
  EXPECT_EQ(a.read().seq, 0U);
}

// Expects a std::logic_error that is not a std::invalid_argument: the startup restore
// retries on invalid_argument (a rejected persisted state), and a refused restore must not
// look like one.
template <typename F>
void expect_refused(F&& f) {
  try {
    f();
    ADD_FAILURE() << "restore was not refused";
  } catch (const std::invalid_argument& e) {
    ADD_FAILURE() << "refused with std::invalid_argument, not std::logic_error: " << e.what();
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("fresh"), std::string::npos) << e.what();
  }
}

// The head word is (seq << 16) | slot: a restore to a lower seq (or the same one) after
// commits could publish a word the head had before, and a reader or writer that loaded it
// then would take the new state for the old one (ABA). So restore only sets up a fresh
// analyzer.
TEST(AnalyzerTest, restore_is_refused_after_a_commit) {
  const detector_config config{.window_size = 6, .threshold = 2.0, .warmup = 3};
  const std::vector<sample> history = generate(25, 10);
  analyzer source(config);
  for (const sample& s : history) {
    source.commit(s.timestamp, s.cpu, s.rps);
  }
  const restored_state lower = state_after(source, history, config.window_size);  // seq 25

  analyzer a(config);
  for (const sample& s : generate(40, 9)) {
    a.commit(s.timestamp, s.cpu, s.rps);
  }
  const snapshot before = a.read();
  expect_refused([&] { a.restore(lower); });
  restored_state higher = lower;
  higher.seq = 1000;
  expect_refused([&] { a.restore(higher); });
  // Refused before looking at the state: an invalid one is refused the same way.
  restored_state invalid = lower;
  invalid.metrics[kCpu].window.push_back(1.0);
  expect_refused([&] { a.restore(invalid); });

  // Nothing changed: the state, and commits go on from it.
  expect_same_snapshot(before, a.read());
  EXPECT_EQ(a.commit(1.0, 50.0, 900.0).seq, 41U);

  // Even a single commit makes an analyzer used.
  analyzer once(config);
  once.commit(1.0, 2.0, 3.0);
  expect_refused([&] { once.restore(restored_state{}); });
  EXPECT_EQ(once.read().seq, 1U);
}

TEST(AnalyzerTest, restore_is_refused_after_a_restore) {
  const detector_config config{.window_size = 6, .threshold = 2.0, .warmup = 3};
  const std::vector<sample> history = generate(25, 10);
  analyzer source(config);
  for (const sample& s : history) {
    source.commit(s.timestamp, s.cpu, s.rps);
  }
  const restored_state st = state_after(source, history, config.window_size);

  analyzer a(config);
  a.restore(st);
  expect_same_snapshot(source.read(), a.read());
  // The same state again would publish the same head word, a lower seq an older one.
  expect_refused([&] { a.restore(st); });
  restored_state lower = st;
  lower.seq = 10;
  expect_refused([&] { a.restore(lower); });
  expect_refused([&] { a.restore(restored_state{}); });
  expect_same_snapshot(source.read(), a.read());

  // A restore to seq 0 counts too.
  analyzer zero(config);
  zero.restore(restored_state{});
  expect_refused([&] { zero.restore(restored_state{}); });

  // The restored analyzer continues bit for bit.
  const commit_result x = a.commit(1.0, 50.0, 900.0);
  const commit_result y = source.commit(1.0, 50.0, 900.0);
  EXPECT_EQ(x.seq, 26U);
  EXPECT_TRUE(same_bits(x.metrics[kCpu].z_score, y.metrics[kCpu].z_score));
  EXPECT_TRUE(same_bits(x.metrics[kRps].z_score, y.metrics[kRps].z_score));
  expect_same_snapshot(source.read(), a.read());
}

// The startup restore retries after a rejected persisted state: a rejection
// (std::invalid_argument) leaves the analyzer fresh.
TEST(AnalyzerTest, restore_after_a_rejected_restore) {
  const detector_config config{.window_size = 6, .threshold = 2.0, .warmup = 3};
  const std::vector<sample> history = generate(25, 10);
  analyzer source(config);
  for (const sample& s : history) {
    source.commit(s.timestamp, s.cpu, s.rps);
  }
  const restored_state st = state_after(source, history, config.window_size);
  restored_state invalid = st;
  invalid.metrics[kRps].window.pop_back();

  analyzer a(config);
  EXPECT_THROW(a.restore(invalid), std::invalid_argument);
  EXPECT_THROW(a.restore(invalid), std::invalid_argument);
  a.restore(st);
  expect_same_snapshot(source.read(), a.read());
}

TEST(AnalyzerTest, separate_analyzers_on_one_thread_are_independent) {
  analyzer small(detector_config{.window_size = 2, .threshold = 2.0, .warmup = 2});
  analyzer big(detector_config{.window_size = 300, .threshold = 2.0, .warmup = 2});
  for (int i = 0; i < 400; ++i) {
    small.commit(0.0, static_cast<double>(i % 3), 1.0);
    big.commit(0.0, static_cast<double>(i), 1.0);
  }
  EXPECT_EQ(small.read().of(metric::cpu).window.count, 2U);
  EXPECT_EQ(big.read().of(metric::cpu).window.count, 300U);
  EXPECT_EQ(big.read().of(metric::cpu).window.min, 100.0);
}

}  // namespace
}  // namespace analyzer::analytics
