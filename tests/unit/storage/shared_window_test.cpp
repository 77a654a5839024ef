// WINDOW_SCOPE=shared: the Lua commit script against the in-process analyzer (the same
// stream through both: z-scores within architecture.md §3's tolerance, flags equal away
// from the threshold, counters and windows equal) on ordinary and on hostile streams (the
// incremental sums' recomputations), at WINDOW_SIZE 4096 with batches of 1000 (under 50 ms
// of Redis time a call), across a WINDOW_SIZE change; request-id deduplication, NOSCRIPT
// reloading, the read script, the failures (Redis down, too many calls in flight); and the
// upgrade from the list layout of the previous release (migrated once, fenced, a retry
// across it deduplicated). A real redis-server per test.
#include "analyzer/storage/shared_window.hpp"
#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/analytics/window_stats.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <future>
#include <iostream>
#include <iterator>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace analyzer::storage {
namespace {

using namespace std::chrono_literals;
using test::redis_server;

shared_window_options options_for(const redis_server& redis, std::size_t window, std::size_t warmup,
                                  double threshold, const std::string& prefix = "unit") {
  shared_window_options o;
  o.address = *config::parse_redis_address(redis.address());
  o.key_prefix = prefix;
  o.window_size = window;
  o.warmup = warmup;
  o.threshold = threshold;
  o.backoff_initial = 10ms;
  o.backoff_max = 100ms;
  return o;
}

bool wait_connected(const shared_window& w) {
  return test::eventually([&] { return w.status().connected; });
}

// The body the samples came from, as a client would send it again on a retry.
std::string body_of(const std::vector<api::sample>& samples) {
  std::string body;
  for (const auto& s : samples) {
    body += std::to_string(s.timestamp) + ' ' + std::to_string(s.cpu) + ' ' +
            std::to_string(s.rps) + ';';
  }
  return body;
}

shared_commit_outcome commit_sync(shared_window& w, const std::vector<api::sample>& samples,
                                  const std::string& id = {}) {
  std::promise<shared_commit_outcome> promise;
  auto future = promise.get_future();
  const std::string body = body_of(samples);
  w.commit(samples, id, body,
           [&](shared_commit_outcome out) { promise.set_value(std::move(out)); });
  if (future.wait_for(10s) != std::future_status::ready) {
    ADD_FAILURE() << "commit did not complete";
    return {};
  }
  return future.get();
}

shared_read_outcome read_sync(shared_window& w) {
  std::promise<shared_read_outcome> promise;
  auto future = promise.get_future();
  w.read([&](shared_read_outcome out) { promise.set_value(std::move(out)); });
  if (future.wait_for(10s) != std::future_status::ready) {
    ADD_FAILURE() << "read did not complete";
    return {};
  }
  return future.get();
}

double ulp(double x) {
  const double a = std::fabs(x);
  return std::nextafter(a, std::numeric_limits<double>::infinity()) - a;
}

// The analyzer beside the script: every result of the script is checked against it,
// keeping each metric's baseline window to know the §3 tolerance of every z.
class reference {
 public:
  reference(std::size_t window, std::size_t warmup, double threshold)
      : core_({window, threshold, warmup}),
        window_(window),
        warmup_(warmup),
        threshold_(threshold) {}

  // Commits `batch` to the analyzer without comparing (the script ran it elsewhere).
  void feed(const std::vector<api::sample>& batch) {
    for (const api::sample& s : batch) {
      (void)core_.commit(s.timestamp, s.cpu, s.rps);
      const std::array<double, 2> x{s.cpu, s.rps};
      for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
        windows_[m].push_back(x[m]);
        if (windows_[m].size() > window_) windows_[m].pop_front();
      }
    }
  }

  // Counters and last anomalies are not compared (the script scored part of the stream
  // with another configuration).
  void skip_counters() noexcept { counters_ = false; }

  // Commits `batch` to the analyzer and compares `got`, the script's results for it.
  void check(const std::vector<api::sample>& batch,
             const std::vector<analytics::commit_result>& got) {
    ASSERT_EQ(got.size(), batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const api::sample& s = batch[i];
      const analytics::commit_result want = core_.commit(s.timestamp, s.cpu, s.rps);
      const analytics::commit_result& g = got[i];
      ASSERT_EQ(g.seq, want.seq);
      ASSERT_EQ(g.timestamp, want.timestamp);
      const std::array<double, 2> x{s.cpu, s.rps};
      for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
        const auto& gm = g.metrics[m];
        const auto& e = want.metrics[m];
        EXPECT_EQ(gm.value, e.value);
        auto& win = windows_[m];
        const std::vector<double> baseline(win.begin(), win.end());
        const analytics::window_stats st = analytics::compute_window_stats(baseline);
        if (baseline.size() < warmup_ || st.std_dev == 0.0) {
          EXPECT_EQ(gm.z_score, 0.0) << "seq " << g.seq << " metric " << m;
          EXPECT_FALSE(gm.anomaly) << "seq " << g.seq;
        } else {
          double max_abs = std::fabs(x[m]);
          for (double v : baseline) max_abs = std::max(max_abs, std::fabs(v));
          // Both are within §3's bound of the exact z: they agree within twice that.
          const double tol =
              2.0 * (1e-9 * std::max(1.0, std::fabs(e.z_score)) + 8.0 * ulp(max_abs) / st.std_dev);
          EXPECT_NEAR(gm.z_score, e.z_score, tol) << "seq " << g.seq << " metric " << m;
          if (std::fabs(std::fabs(e.z_score) - threshold_) > tol) {
            EXPECT_EQ(gm.anomaly, e.anomaly) << "seq " << g.seq << " metric " << m;
          }
          ++compared_;
        }
        win.push_back(x[m]);
        if (win.size() > window_) win.pop_front();
      }
      if (counters_) {
        EXPECT_EQ(g.anomalies_total, want.anomalies_total) << "seq " << g.seq;
      }
    }
  }

  // The read script: the same state as the analyzer's snapshot.
  void check_read(shared_window& w) {
    const shared_read_outcome read = read_sync(w);
    ASSERT_FALSE(read.failure) << read.detail;
    const analytics::snapshot snap = core_.read();
    EXPECT_EQ(read.snap.seq, snap.seq);
    EXPECT_EQ(read.snap.last_timestamp, snap.last_timestamp);
    for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
      const auto& g = read.snap.metrics[m];
      const auto& e = snap.metrics[m];
      EXPECT_EQ(g.window.count, e.window.count);
      EXPECT_EQ(g.window.min, e.window.min);
      EXPECT_EQ(g.window.max, e.window.max);
      // The same values; the analyzer's ring may hold them rotated, so the last bits differ.
      const double max_abs = std::max(std::fabs(e.window.min), std::fabs(e.window.max));
      EXPECT_NEAR(g.window.mean, e.window.mean, 4.0 * ulp(max_abs));
      EXPECT_NEAR(g.window.std_dev, e.window.std_dev,
                  1e-9 * e.window.std_dev + 16.0 * ulp(max_abs));
      ASSERT_EQ(g.last.has_value(), e.last.has_value());
      if (g.last) {
        EXPECT_EQ(g.last->value, e.last->value);
        EXPECT_EQ(g.last->anomaly, e.last->anomaly);
      }
      if (!counters_) continue;
      EXPECT_EQ(g.anomalies_total, e.anomalies_total);
      ASSERT_EQ(g.last_anomaly.has_value(), e.last_anomaly.has_value());
      if (g.last_anomaly) {
        EXPECT_EQ(g.last_anomaly->timestamp, e.last_anomaly->timestamp);
        EXPECT_EQ(g.last_anomaly->value, e.last_anomaly->value);
      }
    }
  }

  [[nodiscard]] std::size_t compared() const noexcept { return compared_; }

 private:
  analytics::analyzer core_;
  std::size_t window_;
  std::size_t warmup_;
  double threshold_;
  std::array<std::deque<double>, analytics::kMetricCount> windows_;
  std::size_t compared_ = 0;
  bool counters_ = true;
};

// Feeds `stream` through the script in batches (of 1..max_batch samples, or all of
// `fixed_batch`) and through the analyzer, comparing every result and then the read.
void compare_stream(const redis_server& redis, const std::vector<api::sample>& stream,
                    std::size_t window, std::size_t warmup, double threshold,
                    const std::string& prefix, std::size_t max_batch = 37,
                    std::size_t fixed_batch = 0) {
  shared_window w(options_for(redis, window, warmup, threshold, prefix));
  ASSERT_TRUE(wait_connected(w));
  reference ref(window, warmup, threshold);
  std::mt19937 rng(7);
  std::size_t at = 0;
  while (at < stream.size()) {
    const std::size_t want = fixed_batch != 0 ? fixed_batch : 1 + rng() % max_batch;
    const std::size_t n = std::min(want, stream.size() - at);
    const std::vector<api::sample> batch(stream.begin() + static_cast<std::ptrdiff_t>(at),
                                         stream.begin() + static_cast<std::ptrdiff_t>(at + n));
    const shared_commit_outcome out = commit_sync(w, batch);
    ASSERT_FALSE(out.failure) << out.detail;
    ASSERT_NO_FATAL_FAILURE(ref.check(batch, out.results));
    at += n;
  }
  EXPECT_GT(ref.compared(), 0U);
  ref.check_read(w);
}

TEST(SharedWindowTest, script_matches_the_analyzer_on_ordinary_streams) {
  redis_server redis;
  std::mt19937_64 rng(42);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<api::sample> stream;
  for (int i = 0; i < 1500; ++i) {
    double cpu = std::clamp(40.0 + 5.0 * noise(rng), 0.0, 100.0);
    double rps = std::max(0.0, 1000.0 + 50.0 * noise(rng));
    if (i % 97 == 0) cpu = 99.5;  // spikes
    if (i % 131 == 0) rps = 1e5;
    stream.push_back({1700000000.0 + i * 0.25, cpu, rps});
  }
  compare_stream(redis, stream, 50, 50, 2.0, "ordinary");
  compare_stream(redis, stream, 7, 3, 1.5, "small-window");
}

TEST(SharedWindowTest, script_is_accurate_for_large_offsets_with_small_spread) {
  redis_server redis;
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int> step(-8, 8);
  std::vector<api::sample> stream;
  for (int i = 0; i < 800; ++i) {
    const double rps = 1e9 + step(rng) * 0.0625 + (i % 113 == 0 ? 50.0 : 0.0);
    const double cpu = 99.0 + step(rng) * 1e-12;
    stream.push_back({1700000000.0 + i, cpu, rps});
  }
  compare_stream(redis, stream, 50, 50, 2.0, "offset");
  compare_stream(redis, stream, 300, 20, 3.0, "offset-wide");
}

TEST(SharedWindowTest, all_equal_windows_give_z_zero_and_warmup_is_respected) {
  redis_server redis;
  std::vector<api::sample> stream;
  for (int i = 0; i < 200; ++i) {
    // Long runs of one value around 1e9 and a fraction whose mean is not exact.
    const double rps = i < 120 ? 1e9 + 0.1 : 123456789.123;
    const double cpu = i < 60 ? 33.3 : (i < 61 ? 90.0 : 0.1);
    stream.push_back({1700000000.0 + i, cpu, rps});
  }
  compare_stream(redis, stream, 10, 10, 2.0, "equal");
  compare_stream(redis, stream, 10, 2, 2.0, "warmup2");

  // Explicitly: a full all-equal window gives z exactly 0, the first value after it a
  // huge z, and nothing is scored before the warmup.
  shared_window w(options_for(redis, 5, 4, 2.0, "explicit"));
  ASSERT_TRUE(wait_connected(w));
  const auto out = commit_sync(
      w, {{1, 0.1, 7}, {2, 0.1, 7}, {3, 0.1, 7}, {4, 0.1, 8}, {5, 0.1, 7}, {6, 0.2, 7}});
  ASSERT_FALSE(out.failure) << out.detail;
  ASSERT_EQ(out.results.size(), 6U);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(out.results[i].metrics[0].z_score, 0.0);
    EXPECT_EQ(out.results[i].metrics[1].z_score, 0.0);  // fewer than 4 baseline values
  }
  EXPECT_EQ(out.results[4].metrics[0].z_score, 0.0);  // {0.1 ×4}: std exactly 0
  EXPECT_NE(out.results[4].metrics[1].z_score, 0.0);  // {7,7,7,8}
  // 0.2 after five 0.1: the baseline's std is exactly 0 (0.1 is not exact in binary, and
  // a mean one ulp off must not invent a spread), so z = 0 and no anomaly.
  EXPECT_EQ(out.results[5].metrics[0].z_score, 0.0);
  EXPECT_FALSE(out.results[5].metrics[0].anomaly);
}

TEST(SharedWindowTest, a_repeated_request_id_returns_the_stored_results) {
  redis_server redis;
  shared_window w(options_for(redis, 5, 2, 2.0, "dedup"));
  ASSERT_TRUE(wait_connected(w));
  const auto first = commit_sync(w, {{1, 10, 100}, {2, 11, 101}, {3, 50, 100}}, "req-1");
  ASSERT_FALSE(first.failure) << first.detail;
  EXPECT_FALSE(first.duplicate);
  const auto again = commit_sync(w, {{1, 10, 100}, {2, 11, 101}, {3, 50, 100}}, "req-1");
  ASSERT_FALSE(again.failure) << again.detail;
  EXPECT_TRUE(again.duplicate);
  ASSERT_EQ(again.results.size(), first.results.size());
  for (std::size_t i = 0; i < first.results.size(); ++i) {
    EXPECT_EQ(again.results[i].seq, first.results[i].seq);
    EXPECT_EQ(again.results[i].metrics[0].z_score, first.results[i].metrics[0].z_score);
  }
  const auto other = commit_sync(w, {{4, 10, 100}}, "req-2");
  ASSERT_EQ(other.results.size(), 1U);
  EXPECT_EQ(other.results[0].seq, 4U);  // nothing was committed twice
  const auto anonymous = commit_sync(w, {{5, 10, 100}});
  ASSERT_EQ(anonymous.results.size(), 1U);
  EXPECT_EQ(anonymous.results[0].seq, 5U);
  const long long ttl = std::stoll(redis.command("TTL", "dedup:shared:req:req-1"));
  EXPECT_GT(ttl, 500);
  EXPECT_LE(ttl, 600);
  EXPECT_EQ(redis.command("STRLEN", "dedup:shared:v2:window"), "80");  // 5 slots of 16 bytes
  EXPECT_EQ(read_sync(w).snap.seq, 5U);
}

TEST(SharedWindowTest, a_request_id_reused_with_other_samples_is_a_conflict_and_commits_nothing) {
  redis_server redis;
  shared_window w(options_for(redis, 5, 2, 2.0, "conflict"));
  ASSERT_TRUE(wait_connected(w));
  const auto first = commit_sync(w, {{1, 10, 100}, {2, 11, 101}, {3, 50, 100}}, "req-1");
  ASSERT_FALSE(first.failure) << first.detail;
  ASSERT_FALSE(first.conflict);
  // Fewer samples, another value, the same samples in another order: each a conflict.
  for (const std::vector<api::sample>& other :
       {std::vector<api::sample>{{1, 10, 100}, {2, 11, 101}},
        std::vector<api::sample>{{1, 10, 100}, {2, 11, 101}, {3, 50, 100.5}},
        std::vector<api::sample>{{2, 11, 101}, {1, 10, 100}, {3, 50, 100}}}) {
    const auto reused = commit_sync(w, other, "req-1");
    EXPECT_FALSE(reused.failure) << reused.detail;
    EXPECT_TRUE(reused.conflict);
    EXPECT_FALSE(reused.duplicate);
    EXPECT_TRUE(reused.results.empty());
  }
  EXPECT_EQ(read_sync(w).snap.seq, 3U) << "a conflicting request committed";
  const auto same = commit_sync(w, {{1, 10, 100}, {2, 11, 101}, {3, 50, 100}}, "req-1");
  EXPECT_TRUE(same.duplicate);
  EXPECT_FALSE(same.conflict);
  EXPECT_EQ(same.results.size(), 3U);
  // A request without an id gets a key of its own, kept only for its deadline.
  const auto anonymous = commit_sync(w, {{4, 10, 100}});
  ASSERT_EQ(anonymous.results.size(), 1U);
  const auto generated = redis.keys("conflict:shared:req:auto:*");
  ASSERT_EQ(generated.size(), 1U);
  const long long ttl = std::stoll(redis.command("TTL", generated.front()));
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 6);  // the 5 s default deadline, rounded up, plus one
}

TEST(SharedWindowTest, flushed_scripts_are_reloaded_on_noscript) {
  redis_server redis;
  shared_window w(options_for(redis, 5, 2, 2.0, "noscript"));
  ASSERT_TRUE(wait_connected(w));
  ASSERT_FALSE(commit_sync(w, {{1, 10, 100}}).failure);
  (void)redis.command("SCRIPT", "FLUSH");
  const auto out = commit_sync(w, {{2, 11, 100}});
  ASSERT_FALSE(out.failure) << out.detail;
  EXPECT_EQ(out.results.at(0).seq, 2U);
  (void)redis.command("SCRIPT", "FLUSH");
  const auto read = read_sync(w);
  ASSERT_FALSE(read.failure) << read.detail;
  EXPECT_EQ(read.snap.seq, 2U);
}

TEST(SharedWindowTest, redis_down_fails_calls_and_reconnects_when_it_returns) {
  redis_server redis;
  shared_window w(options_for(redis, 5, 2, 2.0, "down"));
  ASSERT_TRUE(wait_connected(w));
  ASSERT_FALSE(commit_sync(w, {{1, 10, 100}}).failure);
  redis.kill();
  ASSERT_TRUE(test::eventually([&] { return !w.status().connected; }));
  const auto failed = commit_sync(w, {{2, 10, 100}});
  ASSERT_TRUE(failed.failure);
  EXPECT_EQ(*failed.failure, shared_failure::unavailable);
  EXPECT_TRUE(read_sync(w).failure);
  redis.restart();  // no persistence: the state starts again empty
  ASSERT_TRUE(wait_connected(w));
  const auto out = commit_sync(w, {{3, 10, 100}});
  ASSERT_FALSE(out.failure) << out.detail;
  EXPECT_EQ(out.results.at(0).seq, 1U);
  EXPECT_GE(w.status().failures, 2U);
}

TEST(SharedWindowTest, calls_beyond_max_in_flight_are_refused) {
  redis_server redis;
  auto o = options_for(redis, 5, 2, 2.0, "limit");
  o.max_in_flight = 1;
  shared_window w(o);
  ASSERT_TRUE(wait_connected(w));
  std::vector<std::future<shared_commit_outcome>> futures;
  std::vector<std::shared_ptr<std::promise<shared_commit_outcome>>> promises;
  for (int i = 0; i < 50; ++i) {
    auto p = std::make_shared<std::promise<shared_commit_outcome>>();
    futures.push_back(p->get_future());
    promises.push_back(p);
    w.commit(std::vector<api::sample>{{1, 10, 100}}, {}, "1 10 100",
             [p](shared_commit_outcome out) { p->set_value(std::move(out)); });
  }
  std::size_t overloaded = 0;
  std::size_t committed = 0;
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    const auto out = f.get();
    if (out.failure && *out.failure == shared_failure::overloaded) ++overloaded;
    if (!out.failure) ++committed;
  }
  EXPECT_GT(overloaded, 0U);
  EXPECT_GE(committed, 1U);
  EXPECT_EQ(read_sync(w).snap.seq, committed);  // refused calls committed nothing
}

// Spikes far wider than the spread (leaving the window: recomputed sums), values beyond
// the sums' frame, magnitudes from subnormal to DBL_MAX, a ladder falling by 1e10 a
// sample, ramps (the level leaves the centre), steps, all-equal runs.
std::vector<api::sample> hostile_stream() {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<api::sample> stream;
  for (int i = 0; i < 2400; ++i) {
    double cpu = std::clamp(50.0 + 10.0 * noise(rng), 0.0, 100.0);
    double rps = std::max(0.0, 1000.0 + 50.0 * noise(rng));
    if (i < 300) {
      if (i % 97 == 0) rps = 1e12;
    } else if (i < 400) {
      cpu = 33.3;
      rps = 1e9 + std::round(8.0 * noise(rng)) * 0.0625;
      if (i == 350) rps = 1e300;
    } else if (i < 600) {
      cpu = i == 500 ? 50.0 : 99.0 + std::round(8.0 * noise(rng)) * 1e-12;
      rps = 1e-300 * (1.0 + std::fabs(noise(rng)));
      if (i % 50 == 0) rps = 0.0;
    } else if (i < 900) {
      cpu = (i - 600) * 0.3;
      rps = 1.7976931348623157e308 - std::fabs(noise(rng)) * 1e300;
      if (i == 750) rps = 0.0;
    } else if (i < 1100) {
      cpu = i % 2 == 0 ? 0.0 : 100.0;
      rps = 1e300 * std::pow(1e-10, (i - 900) % 60);
    } else if (i < 1300) {
      cpu = i < 1200 ? 0.1 : 0.2;
      rps = i < 1200 ? 0.0 : 5.0;
    } else if (i < 1500) {
      rps = 1e6 + (i - 1300) * 1e4 + noise(rng);
      if (i % 40 == 0) rps = 4.9406564584124654e-324;
    } else if (i % 61 == 0) {
      cpu = 100.0;
      rps = 1e15;
    }
    stream.push_back({1700000000.0 + i, cpu, rps});
  }
  return stream;
}

TEST(SharedWindowTest, script_matches_the_analyzer_on_hostile_streams) {
  redis_server redis;
  const auto stream = hostile_stream();
  // Thresholds no window of two levels meets exactly (z = 2 for 40 values of 1e9 and 10
  // of 0, say): a tie may fall either way by an ulp, and the counters with it.
  compare_stream(redis, stream, 50, 10, 2.05, "hostile");
  compare_stream(redis, stream, 300, 30, 3.03, "hostile-wide", 200);
  compare_stream(redis, stream, 7, 2, 1.55, "hostile-small", 3);
}

// "cmdstat_evalsha:calls=…,usec=…,usec_per_call=…" → usec_per_call.
double evalsha_usec_per_call(redis_server& redis) {
  const std::string info = redis.command("INFO", "commandstats");
  const auto at = info.find("cmdstat_evalsha:");
  if (at == std::string::npos) return 0.0;
  const auto per = info.find("usec_per_call=", at);
  return per == std::string::npos ? 0.0 : std::strtod(info.c_str() + per + 14, nullptr);
}

TEST(SharedWindowTest, a_batch_of_1000_at_window_4096_holds_redis_well_under_50_ms) {
  redis_server redis;
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<api::sample> stream;
  for (int i = 0; i < 12000; ++i) {
    double cpu = std::clamp(40.0 + 5.0 * noise(rng), 0.0, 100.0);
    double rps = std::max(0.0, 1000.0 + 50.0 * noise(rng));
    if (i % 997 == 0) rps = 1e14;  // each one leaves the window later: a recomputation
    stream.push_back({1700000000.0 + i * 0.5, cpu, rps});
  }
  (void)redis.command("CONFIG", "SET", "slowlog-log-slower-than", "50000");
  (void)redis.command("SLOWLOG", "RESET");
  (void)redis.command("CONFIG", "RESETSTAT");
  compare_stream(redis, stream, 4096, 4096, 2.0, "wide", 0, 1000);
  EXPECT_EQ(redis.command("SLOWLOG", "LEN"), "0") << "a call held Redis for 50 ms or more";
  const double per_call = evalsha_usec_per_call(redis);
  std::cout << "W=4096, batches of 1000: " << per_call << " us of Redis time per call\n";
  EXPECT_GT(per_call, 0.0);
  EXPECT_LT(per_call, 50000.0);
}

TEST(SharedWindowTest, a_smaller_window_size_keeps_the_newest_values) {
  redis_server redis;
  std::mt19937_64 rng(9);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<api::sample> stream;
  for (int i = 0; i < 400; ++i) {
    stream.push_back({1700000000.0 + i, 50.0 + 10.0 * noise(rng), 1000.0 + 50.0 * noise(rng)});
  }
  reference wide(50, 10, 2.0);
  reference narrow(20, 10, 2.0);
  narrow.skip_counters();
  const auto batch_at = [&](std::size_t at, std::size_t n) {
    return std::vector<api::sample>(stream.begin() + static_cast<std::ptrdiff_t>(at),
                                    stream.begin() + static_cast<std::ptrdiff_t>(at + n));
  };
  {
    shared_window w(options_for(redis, 50, 10, 2.0, "resize"));
    ASSERT_TRUE(wait_connected(w));
    for (std::size_t at = 0; at < 250; at += 25) {
      const auto batch = batch_at(at, 25);
      const auto out = commit_sync(w, batch);
      ASSERT_FALSE(out.failure) << out.detail;
      ASSERT_NO_FATAL_FAILURE(wide.check(batch, out.results));
      narrow.feed(batch);
    }
  }
  // The same keys with WINDOW_SIZE 20: the newest 20 values are the window.
  shared_window w(options_for(redis, 20, 10, 2.0, "resize"));
  ASSERT_TRUE(wait_connected(w));
  narrow.check_read(w);
  for (std::size_t at = 250; at < 400; at += 15) {
    const auto batch = batch_at(at, 15);
    const auto out = commit_sync(w, batch);
    ASSERT_FALSE(out.failure) << out.detail;
    ASSERT_NO_FATAL_FAILURE(narrow.check(batch, out.results));
  }
  narrow.check_read(w);
  EXPECT_EQ(redis.command("STRLEN", "resize:shared:v2:window"), "320");  // 20 slots
}

// The commit script of the previous release (layout 1: lists of decimal strings),
// verbatim: what an old replica runs during a rolling update.
constexpr std::string_view kLayout1CommitScript = R"lua(
local W = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
local warmup = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local fp = ARGV[6 + 3 * n] or ''
if ttl > 0 then
  local done = redis.call('GET', KEYS[4])
  if done then
    if string.sub(done, 1, 3) ~= 'fp:' then return {'dup', done} end
    local nl = string.find(done, '\n', 1, true)
    if not nl then nl = #done + 1 end
    local stored = string.sub(done, 4, nl - 1)
    if stored ~= fp then return {'conflict', stored} end
    return {'dup', string.sub(done, nl + 1)}
  end
end
local fmt = function(x) return string.format('%.17g', x) end
local kMaxZ = 1.7976931348623157e308
local abs, frexp, ldexp, sqrt = math.abs, math.frexp, math.ldexp, math.sqrt

-- mean and population std of w[first..last] (count = last - first + 1 >= 1).
-- Rare path: a spread outside [2^-300, 2^300] is scaled by a power of two (exact) so that
-- neither the sums nor the squares leave the normal range.
local function scaled_stats(w, first, last, lo, hi)
  local count = last - first + 1
  local _, e = frexp(hi - lo)
  if e < -1022 then e = -1022 elseif e > 1022 then e = 1022 end
  local scale, inv = ldexp(1, e), ldexp(1, -e)
  local s = 0
  for i = first, last do s = s + (w[i] - lo) * inv end
  local mean = lo + s / count * scale
  if mean < lo then mean = lo elseif mean > hi then mean = hi end
  local d, q = 0, 0
  for i = first, last do
    local t = (w[i] - mean) * inv
    d = d + t
    q = q + t * t
  end
  local var = (q - d * d / count) / count
  if var < 0 then var = 0 end
  return mean, scale * sqrt(var)
end

-- Pass 1: min, max and the sum of the values shifted by the oldest (x - shift is exact
-- for values close to each other, so a window around 1e9 with a tiny spread sums its
-- deviations, not its magnitude). Pass 2: the corrected two-pass sums of deviations from
-- that mean (Σe²/n − (Σe/n)²: the second term cancels the mean's own rounding error).
local function stats(w, first, last)
  local shift = w[first]
  local lo, hi = shift, shift
  local s = 0
  for i = first + 1, last do
    local v = w[i]
    if v < lo then lo = v elseif v > hi then hi = v end
    s = s + (v - shift)
  end
  if lo == hi then return lo, 0 end
  local spread = hi - lo
  if spread > 2.037035976334486e90 or spread < 4.909093465297727e-91 then
    return scaled_stats(w, first, last, lo, hi)
  end
  local count = last - first + 1
  local mean = shift + s / count
  if mean < lo then mean = lo elseif mean > hi then mean = hi end
  local d, q = 0, 0
  for i = first, last do
    local t = w[i] - mean
    d = d + t
    q = q + t * t
  end
  local var = (q - d * d / count) / count
  if var < 0 then var = 0 end
  return mean, sqrt(var)
end

-- The windows as rings w[first..last], oldest first, at most W values.
local win, first, last, total, lastv, lasta = {}, {}, {}, {}, {}, {}
local st = redis.call('HMGET', KEYS[1], 'seq', 'cpu_anomalies_total', 'rps_anomalies_total')
local seq = tonumber(st[1] or '0') or 0
total[1] = tonumber(st[2] or '0') or 0
total[2] = tonumber(st[3] or '0') or 0
for m = 1, 2 do
  local values = redis.call('LRANGE', KEYS[m + 1], 0, -1)
  local w = {}
  local skip = #values - W
  if skip < 0 then skip = 0 end
  for i = skip + 1, #values do w[i - skip] = tonumber(values[i]) end
  win[m], first[m], last[m] = w, 1, #values - skip
end

local out = {}
local pushed = {{}, {}}
local ts, ts_text
for k = 0, n - 1 do
  -- The service sends shortest round-trip decimals: kept as they are (no re-formatting).
  ts_text = ARGV[6 + 3 * k]
  ts = tonumber(ts_text)
  local text = {ARGV[7 + 3 * k], ARGV[8 + 3 * k]}
  local x = {tonumber(text[1]), tonumber(text[2])}
  seq = seq + 1
  for m = 1, 2 do
    local w = win[m]
    local count = last[m] - first[m] + 1
    local z, zt, flag = 0, '0', 0
    if count >= warmup and count > 0 then
      local mean, sd = stats(w, first[m], last[m])
      if sd > 0 then
        z = (x[m] - mean) / sd
        if z > kMaxZ then z = kMaxZ elseif z < -kMaxZ then z = -kMaxZ end
        zt = fmt(z)
        if abs(z) > threshold then flag = 1 end
      end
    end
    last[m] = last[m] + 1
    w[last[m]] = x[m]
    if last[m] - first[m] + 1 > W then
      w[first[m]] = nil
      first[m] = first[m] + 1
    end
    local p = pushed[m]
    p[#p + 1] = text[m]
    lastv[m] = text[m] .. ' ' .. zt .. ' ' .. flag
    if flag == 1 then
      total[m] = total[m] + 1
      lasta[m] = ts_text .. ' ' .. text[m] .. ' ' .. zt
    end
  end
  -- seq and the counters are integers far below 1e14: Lua's tostring writes them exactly.
  out[#out + 1] = seq .. ' ' .. ts_text .. ' ' .. lastv[1] .. ' ' .. lastv[2] .. ' ' ..
                  total[1] .. ' ' .. total[2]
end

if n > 0 then
  for m = 1, 2 do
    local p = pushed[m]
    local from = 1
    if #p > W then from = #p - W + 1 end
    while from <= #p do
      local to = from + 999
      if to > #p then to = #p end
      redis.call('RPUSH', KEYS[m + 1], unpack(p, from, to))
      from = to + 1
    end
    redis.call('LTRIM', KEYS[m + 1], -W, -1)
  end
  local fields = {'seq', string.format('%d', seq), 'last_timestamp', ts_text,
                  'cpu_anomalies_total', string.format('%d', total[1]),
                  'rps_anomalies_total', string.format('%d', total[2]),
                  'cpu_last', lastv[1], 'rps_last', lastv[2]}
  if lasta[1] then fields[#fields + 1] = 'cpu_last_anomaly'; fields[#fields + 1] = lasta[1] end
  if lasta[2] then fields[#fields + 1] = 'rps_last_anomaly'; fields[#fields + 1] = lasta[2] end
  redis.call('HSET', KEYS[1], unpack(fields))
end
local result = table.concat(out, '\n')
if ttl > 0 then redis.call('SET', KEYS[4], 'fp:' .. fp .. '\n' .. result, 'EX', ttl) end
return {'new', result}
)lua";

// The service's request fingerprint (FNV-1a, 64 bits, hex) of `body`.
std::string fingerprint_of(std::string_view body) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : body) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  std::ostringstream out;
  out << std::hex;
  out.width(16);
  out.fill('0');
  out << h;
  return out.str();
}

std::string shortest(double v) {
  char digits[32];
  const auto [end, ec] = std::to_chars(std::begin(digits), std::end(digits), v);
  (void)ec;
  return {std::begin(digits), end};
}

// `batch` committed by an old replica under request key `id`; its results.
std::vector<analytics::commit_result> layout1_commit(redis_server& redis, const std::string& prefix,
                                                     std::size_t window, std::size_t warmup,
                                                     double threshold, const std::string& id,
                                                     const std::vector<api::sample>& batch) {
  std::vector<std::string> args{"EVAL",
                                std::string(kLayout1CommitScript),
                                "4",
                                prefix + ":shared:state",
                                prefix + ":shared:cpu",
                                prefix + ":shared:rps",
                                prefix + ":shared:req:" + id,
                                std::to_string(window),
                                shortest(threshold),
                                std::to_string(warmup),
                                "600",
                                std::to_string(batch.size())};
  for (const auto& s : batch) {
    args.push_back(shortest(s.timestamp));
    args.push_back(shortest(s.cpu));
    args.push_back(shortest(s.rps));
  }
  args.push_back(fingerprint_of(body_of(batch)));
  const std::string reply = redis.command_argv(args);  // "new\n<line>\n<line>…"
  std::vector<analytics::commit_result> out;
  std::istringstream lines(reply);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "new");
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::array<std::string, 10> v;
    for (auto& x : v) f >> x;
    const auto num = [](const std::string& t) { return std::strtod(t.c_str(), nullptr); };
    analytics::commit_result r;
    r.seq = static_cast<std::uint64_t>(num(v[0]));
    r.timestamp = num(v[1]);
    for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
      r.metrics[m] = {num(v[2 + 3 * m]), num(v[3 + 3 * m]), v[4 + 3 * m] == "1"};
      r.anomalies_total[m] = static_cast<std::uint64_t>(num(v[8 + m]));
    }
    out.push_back(r);
  }
  return out;
}

TEST(SharedWindowTest, the_list_layout_of_the_previous_release_is_migrated_once_and_fenced) {
  redis_server redis;
  constexpr std::size_t kWindow = 50;
  constexpr std::size_t kWarmup = 20;
  std::mt19937_64 rng(13);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<api::sample> stream;
  for (int i = 0; i < 400; ++i) {
    double cpu = std::clamp(40.0 + 5.0 * noise(rng), 0.0, 100.0);
    const double rps = i % 37 == 0 ? 5000.0 : std::max(0.0, 1000.0 + 50.0 * noise(rng));
    if (i % 23 == 0) cpu = 95.5;
    stream.push_back({1700000000.0 + i, cpu, rps});
  }
  const auto batch_at = [&](std::size_t at) {
    return std::vector<api::sample>(stream.begin() + static_cast<std::ptrdiff_t>(at),
                                    stream.begin() + static_cast<std::ptrdiff_t>(at + 13));
  };
  reference ref(kWindow, kWarmup, 2.0);

  // The previous release commits the first 130 samples (the last request under an id).
  for (std::size_t at = 0; at < 130; at += 13) {
    const auto batch = batch_at(at);
    const auto got = layout1_commit(redis, "up", kWindow, kWarmup, 2.0,
                                    at == 117 ? "last-old" : "old-" + std::to_string(at), batch);
    ASSERT_NO_FATAL_FAILURE(ref.check(batch, got));
  }
  ASSERT_EQ(redis.llen("up:shared:cpu"), 50);

  // This release connects: the lists move into layout 2 once, the old state is fenced.
  shared_window w(options_for(redis, kWindow, kWarmup, 2.0, "up"));
  ASSERT_TRUE(wait_connected(w));
  EXPECT_EQ(redis.command("TYPE", "up:shared:state"), "string");
  EXPECT_EQ(redis.command("EXISTS", "up:shared:cpu"), "0");
  EXPECT_EQ(redis.command("EXISTS", "up:shared:rps"), "0");
  ref.check_read(w);  // the migrated window, counters and last values

  // A retry of a request the previous release committed: its stored answer, nothing new.
  const auto again = commit_sync(w, batch_at(117), "last-old");
  ASSERT_FALSE(again.failure) << again.detail;
  EXPECT_TRUE(again.duplicate);
  ASSERT_EQ(again.results.size(), 13U);
  EXPECT_EQ(again.results.front().seq, 118U);

  // An old replica is fenced: its commit fails before writing anything.
  EXPECT_THROW((void)layout1_commit(redis, "up", kWindow, kWarmup, 2.0, "fenced", batch_at(130)),
               std::runtime_error);
  EXPECT_EQ(redis.command("EXISTS", "up:shared:cpu"), "0");
  EXPECT_EQ(read_sync(w).snap.seq, 130U);

  // This release continues the one stream: every z as if one analyzer had seen it all.
  for (std::size_t at = 130; at + 13 <= stream.size(); at += 13) {
    const auto batch = batch_at(at);
    const auto out = commit_sync(w, batch);
    ASSERT_FALSE(out.failure) << out.detail;
    ASSERT_NO_FATAL_FAILURE(ref.check(batch, out.results));
  }
  ref.check_read(w);
  {
    shared_window next(options_for(redis, kWindow, kWarmup, 2.0, "up"));  // layout 2: current
    ASSERT_TRUE(wait_connected(next));
    ref.check_read(next);
  }

  // The fence removed by hand and an old replica committing again: the next connect keeps
  // layout 2 as the stream, renames the old keys and fences again.
  (void)redis.command("DEL", "up:shared:state");
  (void)layout1_commit(redis, "up", kWindow, kWarmup, 2.0, "orphan", batch_at(0));
  shared_window next(options_for(redis, kWindow, kWarmup, 2.0, "up"));
  ASSERT_TRUE(wait_connected(next));
  EXPECT_EQ(redis.command("TYPE", "up:shared:state"), "string");
  EXPECT_EQ(redis.command("EXISTS", "up:shared:cpu"), "0");
  EXPECT_EQ(redis.command("TYPE", "up:shared:state:orphaned"), "hash");
  EXPECT_EQ(redis.command("TYPE", "up:shared:cpu:orphaned"), "list");
  ref.check_read(next);
}

TEST(SharedWindowTest, a_list_layout_that_cannot_be_migrated_refuses_the_connection_until_fixed) {
  redis_server redis;
  (void)redis.command("HSET", "bad:shared:state", "seq", "5");
  (void)redis.command("SET", "bad:shared:cpu", "not a list");
  shared_window w(options_for(redis, 5, 2, 2.0, "bad"));
  EXPECT_FALSE(test::eventually([&] { return w.status().connected; }, 300ms));
  const auto refused = commit_sync(w, {{1, 10, 100}});
  ASSERT_TRUE(refused.failure);
  EXPECT_EQ(*refused.failure, shared_failure::unavailable);
  EXPECT_EQ(redis.command("TYPE", "bad:shared:state"), "hash");  // untouched
  EXPECT_EQ(redis.command("EXISTS", "bad:shared:v2:state"), "0");

  (void)redis.command("DEL", "bad:shared:cpu");
  ASSERT_TRUE(wait_connected(w));  // the next attempt migrates
  EXPECT_EQ(read_sync(w).snap.seq, 5U);
  EXPECT_EQ(commit_sync(w, {{2, 10, 100}}).results.at(0).seq, 6U);
}

}  // namespace
}  // namespace analyzer::storage
