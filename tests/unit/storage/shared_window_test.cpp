// WINDOW_SCOPE=shared: the Lua commit script against the in-process analyzer (the same
// stream through both: z-scores within architecture.md §3's tolerance, flags equal away
// from the threshold, counters and windows equal), request-id deduplication, NOSCRIPT
// reloading, the read script, and the failures (Redis down, too many calls in flight).
// A real redis-server per test.
#include "analyzer/storage/shared_window.hpp"
#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/analytics/window_stats.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <future>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace analyzer::storage {
namespace {

using namespace std::chrono_literals;
using test::redis_server;

shared_window_options options_for(const redis_server& redis, std::size_t window, std::size_t warmup,
                                  double threshold, const std::string& prefix = "unit") {
  shared_window_options o;
  o.address = *parse_redis_address(redis.address());
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

shared_commit_outcome commit_sync(shared_window& w, const std::vector<api::sample>& samples,
                                  const std::string& id = {}) {
  std::promise<shared_commit_outcome> promise;
  auto future = promise.get_future();
  // The body the samples came from, as a client would send it again on a retry.
  std::string body;
  for (const auto& s : samples) {
    body += std::to_string(s.timestamp) + ' ' + std::to_string(s.cpu) + ' ' +
            std::to_string(s.rps) + ';';
  }
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

// Feeds `stream` through the script (in batches of varying size) and through the analyzer,
// keeping each metric's baseline window to know the §3 tolerance of every z.
void compare_stream(const redis_server& redis, const std::vector<api::sample>& stream,
                    std::size_t window, std::size_t warmup, double threshold,
                    const std::string& prefix) {
  shared_window w(options_for(redis, window, warmup, threshold, prefix));
  ASSERT_TRUE(wait_connected(w));
  analytics::analyzer core({window, threshold, warmup});
  std::array<std::deque<double>, analytics::kMetricCount> windows;
  std::mt19937 rng(7);
  std::size_t at = 0;
  std::size_t compared = 0;
  while (at < stream.size()) {
    const std::size_t n = std::min<std::size_t>(1 + rng() % 37, stream.size() - at);
    const std::vector<api::sample> batch(stream.begin() + static_cast<std::ptrdiff_t>(at),
                                         stream.begin() + static_cast<std::ptrdiff_t>(at + n));
    const shared_commit_outcome out = commit_sync(w, batch);
    ASSERT_FALSE(out.failure) << out.detail;
    ASSERT_EQ(out.results.size(), n);
    for (std::size_t i = 0; i < n; ++i) {
      const api::sample& s = batch[i];
      const analytics::commit_result want = core.commit(s.timestamp, s.cpu, s.rps);
      const analytics::commit_result& got = out.results[i];
      ASSERT_EQ(got.seq, want.seq);
      ASSERT_EQ(got.timestamp, want.timestamp);
      const std::array<double, 2> x{s.cpu, s.rps};
      for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
        const auto& g = got.metrics[m];
        const auto& e = want.metrics[m];
        EXPECT_EQ(g.value, e.value);
        auto& win = windows[m];
        const std::vector<double> baseline(win.begin(), win.end());
        const analytics::window_stats st = analytics::compute_window_stats(baseline);
        if (baseline.size() < warmup || st.std_dev == 0.0) {
          EXPECT_EQ(g.z_score, 0.0) << "seq " << got.seq;
          EXPECT_FALSE(g.anomaly) << "seq " << got.seq;
        } else {
          double max_abs = std::fabs(x[m]);
          for (double v : baseline) max_abs = std::max(max_abs, std::fabs(v));
          // Both are within §3's bound of the exact z: they agree within twice that.
          const double tol =
              2.0 * (1e-9 * std::max(1.0, std::fabs(e.z_score)) + 8.0 * ulp(max_abs) / st.std_dev);
          EXPECT_NEAR(g.z_score, e.z_score, tol) << "seq " << got.seq << " metric " << m;
          if (std::fabs(std::fabs(e.z_score) - threshold) > tol) {
            EXPECT_EQ(g.anomaly, e.anomaly) << "seq " << got.seq << " metric " << m;
          }
          ++compared;
        }
        win.push_back(x[m]);
        if (win.size() > window) win.pop_front();
      }
      EXPECT_EQ(got.anomalies_total, want.anomalies_total) << "seq " << got.seq;
    }
    at += n;
  }
  EXPECT_GT(compared, 0U);

  // The read script: the same state as the analyzer's snapshot.
  const shared_read_outcome read = read_sync(w);
  ASSERT_FALSE(read.failure) << read.detail;
  const analytics::snapshot snap = core.read();
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
    EXPECT_NEAR(g.window.std_dev, e.window.std_dev, 1e-9 * e.window.std_dev + 16.0 * ulp(max_abs));
    EXPECT_EQ(g.anomalies_total, e.anomalies_total);
    ASSERT_EQ(g.last.has_value(), e.last.has_value());
    if (g.last) {
      EXPECT_EQ(g.last->value, e.last->value);
      EXPECT_EQ(g.last->anomaly, e.last->anomaly);
    }
    ASSERT_EQ(g.last_anomaly.has_value(), e.last_anomaly.has_value());
    if (g.last_anomaly) {
      EXPECT_EQ(g.last_anomaly->timestamp, e.last_anomaly->timestamp);
      EXPECT_EQ(g.last_anomaly->value, e.last_anomaly->value);
    }
  }
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
  EXPECT_EQ(redis.llen("dedup:shared:cpu"), 5);
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

}  // namespace
}  // namespace analyzer::storage
