// The Redis store against a real redis-server: the documented keys and record format,
// history trimming, per-instance keys, unix sockets, AUTH and SELECT, and the startup
// restore that makes a restarted service continue exactly like one that never stopped.
#include "analyzer/storage/redis_layout.hpp"
#include "support/http_client.hpp"
#include "support/persisted_state.hpp"
#include "support/redis_server.hpp"
#include "support/service_probe.hpp"
#include "support/test_service.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace analyzer::test {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using namespace std::chrono_literals;

// Sample i of a deterministic stream: a small regular spread (|z| < 2 with window 5 and
// warmup 3), a cpu spike every 9th sample and an rps spike every 13th, explicit
// fractional timestamps.
json sample(int i) {
  const double cpu = 40.0 + (i % 2) + (i % 9 == 8 ? 50.0 : 0.0);
  const double rps = 1000.0 + 7.25 * (i % 3) + (i % 13 == 12 ? 4000.0 : 0.0);
  return json{{"timestamp", 1700000000.25 + i}, {"cpu", cpu}, {"rps", rps}};
}

json batch(int from, int to) {
  json out = json::array();
  for (int i = from; i < to; ++i) out.push_back(sample(i));
  return out;
}

// POST /metrics?analysis=true; the parsed 202 body.
json post(http_client& client, const json& body) {
  const auto r = client.post_json("/metrics?analysis=true", body.dump());
  EXPECT_EQ(r.status, 202U) << r.body;
  return json::parse(r.body);
}

// Samples [from, to) in a fixed mix of single posts and batches of up to 7.
void feed(http_client& client, int from, int to) {
  int i = from;
  bool single = true;
  while (i < to) {
    const int n = single ? 1 : std::min(7, to - i);
    post(client, n == 1 ? sample(i) : batch(i, i + n));
    i += n;
    single = !single;
  }
}

// /analyze without what may differ across a restart.
json stable(json analysis) {
  analysis.erase("timestamp");
  analysis.erase("storage");
  return analysis;
}

config::config redis_config(const redis_server& redis, const std::string& instance) {
  auto cfg = test_config();
  cfg.redis_addr = redis.address();
  cfg.redis_password = redis.password();
  cfg.instance_id = instance;
  cfg.window_size = 5;
  cfg.warmup = 3;
  cfg.redis_restore_timeout = 5000ms;
  cfg.shutdown_timeout = 5000ms;
  return cfg;
}

// The keys of generation 1, the one a fresh instance writes.
storage::redis_keys keys_of(const config::config& cfg) {
  return storage::make_keys(cfg.key_prefix, cfg.instance_id, storage::kFirstGeneration);
}
std::string history_key(const config::config& cfg) { return keys_of(cfg).samples; }
std::string state_key(const config::config& cfg) { return keys_of(cfg).state; }
std::string generation_key(const config::config& cfg) { return keys_of(cfg).generation; }

long long history_len(redis_server& redis, const config::config& cfg) {
  return std::stoll(redis.command("ZCARD", history_key(cfg)));
}

// The persisted records, oldest first.
std::vector<std::string> history_records(redis_server& redis, const config::config& cfg) {
  std::vector<std::string> out;
  for (auto& [score, member] : read_persisted(redis, cfg.key_prefix, cfg.instance_id).records) {
    out.push_back(member);
  }
  return out;
}

// Waits until the first `total` samples are written: queue empty, the hash at seq
// `total`, the history as long as it can be.
bool wait_written(test_service& svc, redis_server& redis, std::uint64_t total) {
  const auto expected_len =
      static_cast<long long>(std::min<std::uint64_t>(total, svc.cfg.history_size));
  return eventually([&] {
    if (svc.store->status().pending_writes != 0) return false;
    const auto state = redis.hgetall(state_key(svc.cfg));
    const auto seq = state.find("seq");
    return seq != state.end() && seq->second == std::to_string(total) &&
           history_len(redis, svc.cfg) == expected_len;
  });
}

std::vector<std::uint64_t> history_seqs(redis_server& redis, const config::config& cfg) {
  return read_persisted(redis, cfg.key_prefix, cfg.instance_id).seqs();
}

// Feeds `count` samples to a Redis-backed service, stops it, starts another on the same
// keys, and checks that it reports what the first did and continues exactly like a
// memory-store service fed the same stream that never restarted.
void expect_restart_continues_like_control(const config::config& cfg, int count,
                                           const std::function<void()>& after_stop = {}) {
  json before;
  {
    test_service first(cfg);
    http_client client(first.port());
    feed(client, 0, count);
    before = analyze(client);
    // No waiting for the queue here: the graceful stop flushes it.
    EXPECT_EQ(first.stop(), 0);
  }
  ASSERT_EQ(before.at("samples_total"), count);
  for (const char* metric : {"cpu", "rps"}) {
    ASSERT_GT(before.at("metrics").at(metric).at("anomalies_total"), 0)
        << "no " << metric << " anomaly to restore";
  }
  if (after_stop) after_stop();

  test_service second(cfg);
  http_client client(second.port());
  const json restored = analyze(client);
  EXPECT_EQ(stable(restored), stable(before))
      << "before: " << before.dump() << "\nafter:  " << restored.dump();
  EXPECT_EQ(restored.at("storage").at("backend"), "redis");

  auto control_cfg = cfg;
  control_cfg.redis_addr.clear();
  test_service control(control_cfg);
  http_client control_client(control.port());
  feed(control_client, 0, count);
  ASSERT_EQ(stable(analyze(control_client)), stable(before)) << "the control is not equivalent";

  // A spike on both metrics, so that the next z-scores depend on the whole window.
  json next = sample(count);
  next["cpu"] = 97.5;
  next["rps"] = 9000.5;
  const json after_restart = post(client, next);
  const json never_restarted = post(control_client, next);
  EXPECT_EQ(after_restart, never_restarted);
  EXPECT_EQ(after_restart.at("results").at(0).at("seq"), count + 1);
  EXPECT_EQ(stable(analyze(client)), stable(analyze(control_client)));
}

TEST(RedisPersistenceTest, samples_are_written_with_the_documented_keys_and_records) {
  redis_server redis;
  const auto cfg = redis_config(redis, "records");
  test_service svc(cfg);
  http_client client(svc.port());

  std::map<std::uint64_t, json> results;  // seq → the analysis the POST returned
  auto remember = [&](const json& reply) {
    for (const auto& r : reply.at("results")) results[r.at("seq").get<std::uint64_t>()] = r;
  };
  remember(post(client, sample(0)));
  const json first_batch = post(client, batch(1, 9));  // sample 8: a cpu spike
  EXPECT_EQ(first_batch.at("anomalies"), 1);
  remember(first_batch);
  ASSERT_TRUE(wait_written(svc, redis, 9)) << svc.store->status().pending_writes;

  EXPECT_THAT(redis.keys("*"),
              UnorderedElementsAre(history_key(cfg), state_key(cfg), generation_key(cfg)));
  EXPECT_EQ(redis.command("GET", generation_key(cfg)), "1");
  EXPECT_EQ(redis.command("TYPE", history_key(cfg)), "zset");
  // In seq order (the score), each element exactly the analysis the sample got.
  const auto history = history_records(redis, cfg);
  EXPECT_EQ(history_seqs(redis, cfg), (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  ASSERT_EQ(history.size(), 9U);
  for (std::size_t i = 0; i < history.size(); ++i) {
    const json record = json::parse(history[i]);
    const auto seq = i + 1;
    EXPECT_EQ(record.at("seq"), seq) << history[i];
    EXPECT_EQ(record, results.at(seq)) << history[i];
    std::set<std::string> keys;
    for (const auto& [key, value] : record.items()) keys.insert(key);
    EXPECT_THAT(keys, UnorderedElementsAre("seq", "timestamp", "cpu", "rps"));
    for (const char* metric : {"cpu", "rps"}) {
      EXPECT_EQ(record.at(metric).size(), 3U) << history[i];
      EXPECT_TRUE(record.at(metric).at("anomaly").is_boolean());
    }
    EXPECT_EQ(record.at("cpu").at("value"), sample(static_cast<int>(seq) - 1).at("cpu"));
    EXPECT_EQ(record.at("timestamp"), sample(static_cast<int>(seq) - 1).at("timestamp"));
  }
  EXPECT_EQ(json::parse(history.back()).at("cpu").at("anomaly"), true);

  auto expect_state_matches_analyze = [&](std::uint64_t seq) -> std::set<std::string> {
    const auto state = redis.hgetall(state_key(cfg));
    const json analysis = analyze(client);
    EXPECT_EQ(state.at("seq"), std::to_string(seq));
    EXPECT_EQ(json::parse(state.at("last_timestamp")),
              sample(static_cast<int>(seq) - 1).at("timestamp"));
    for (const std::string metric : {"cpu", "rps"}) {
      const auto& m = analysis.at("metrics").at(metric);
      EXPECT_EQ(state.at(metric + "_anomalies_total"), m.at("anomalies_total").dump()) << metric;
      const auto last = state.find(metric + "_last_anomaly");
      if (m.at("last_anomaly").is_null()) {
        EXPECT_EQ(last, state.end()) << metric << " has no anomaly yet";
      } else {
        EXPECT_NE(last, state.end()) << metric;
        if (last != state.end()) {
          EXPECT_EQ(json::parse(last->second), m.at("last_anomaly")) << last->second;
        }
      }
    }
    std::set<std::string> fields;
    for (const auto& [field, value] : state) fields.insert(field);
    return fields;
  };
  EXPECT_THAT(expect_state_matches_analyze(9),
              UnorderedElementsAre("seq", "last_timestamp", "cpu_anomalies_total",
                                   "rps_anomalies_total", "cpu_last_anomaly"));

  remember(post(client, batch(9, 13)));  // sample 12: an rps spike
  ASSERT_TRUE(wait_written(svc, redis, 13));
  EXPECT_THAT(expect_state_matches_analyze(13),
              UnorderedElementsAre("seq", "last_timestamp", "cpu_anomalies_total",
                                   "rps_anomalies_total", "cpu_last_anomaly", "rps_last_anomaly"));
  EXPECT_EQ(redis.hgetall(state_key(cfg)).at("rps_anomalies_total"), "1");

  const json storage = analyze(client).at("storage");
  EXPECT_EQ(storage, (json{{"backend", "redis"},
                           {"connected", true},
                           {"pending_writes", 0},
                           {"failed_writes", 0},
                           {"dropped_writes", 0}}));
  const auto status = svc.store->status();
  EXPECT_EQ(status.written_writes, 13U);
  EXPECT_EQ(status.reconnects, 0U);
  EXPECT_EQ(metric_value(client, "analyzer_storage_connected"), 1.0);
  EXPECT_EQ(metric_value(client, "analyzer_storage_pending_writes"), 0.0);
  EXPECT_EQ(metric_value(client, "analyzer_storage_written_total"), 13.0);
  EXPECT_EQ(metric_value(client, "analyzer_storage_failed_writes_total"), 0.0);
  EXPECT_EQ(metric_value(client, "analyzer_storage_dropped_writes_total"), 0.0);
  EXPECT_EQ(metric_value(client, "analyzer_storage_reconnects_total"), 0.0);
}

TEST(RedisPersistenceTest, restart_restores_analyze_and_continues_like_a_service_never_stopped) {
  redis_server redis;
  auto cfg = redis_config(redis, "restart");
  cfg.window_size = 10;
  cfg.warmup = 5;
  expect_restart_continues_like_control(cfg, 60, [&] {
    EXPECT_EQ(history_len(redis, cfg), 60) << "the graceful stop flushes the queue";
    EXPECT_EQ(redis.hgetall(state_key(cfg))["seq"], "60");
  });
}

TEST(RedisPersistenceTest, history_is_capped_and_the_restore_still_works) {
  redis_server redis;
  auto cfg = redis_config(redis, "capped");
  cfg.history_size = 20;
  expect_restart_continues_like_control(cfg, 50, [&] {
    EXPECT_EQ(history_len(redis, cfg), 20);
    const auto seqs = history_seqs(redis, cfg);
    ASSERT_EQ(seqs.size(), 20U);
    for (std::size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], 31 + i);
  });
  // The restarted service appended its sample to the same capped history.
  EXPECT_EQ(history_len(redis, cfg), 20);
  EXPECT_EQ(history_seqs(redis, cfg).front(), 32U);
  EXPECT_EQ(history_seqs(redis, cfg).back(), 51U);
}

TEST(RedisPersistenceTest, instances_keep_separate_keys_and_restore_their_own_state) {
  redis_server redis;
  const auto alpha_cfg = redis_config(redis, "alpha");
  const auto beta_cfg = redis_config(redis, "beta");
  json alpha_before;
  json beta_before;
  {
    test_service alpha(alpha_cfg);
    test_service beta(beta_cfg);
    http_client alpha_client(alpha.port());
    http_client beta_client(beta.port());
    feed(alpha_client, 0, 12);
    feed(beta_client, 20, 27);
    ASSERT_TRUE(wait_written(alpha, redis, 12));
    ASSERT_TRUE(wait_written(beta, redis, 7));
    alpha_before = analyze(alpha_client);
    beta_before = analyze(beta_client);
  }
  EXPECT_THAT(
      redis.keys("*"),
      UnorderedElementsAre(history_key(alpha_cfg), state_key(alpha_cfg), generation_key(alpha_cfg),
                           history_key(beta_cfg), state_key(beta_cfg), generation_key(beta_cfg)));
  EXPECT_EQ(redis.hgetall(state_key(beta_cfg)).at("seq"), "7");
  const auto beta_seqs = history_seqs(redis, beta_cfg);
  EXPECT_EQ(beta_seqs.size(), 7U);
  EXPECT_EQ(json::parse(history_records(redis, beta_cfg).back()).at("cpu").at("value"),
            sample(26).at("cpu"));
  ASSERT_NE(stable(alpha_before), stable(beta_before));

  test_service alpha(alpha_cfg);
  test_service beta(beta_cfg);
  http_client alpha_client(alpha.port());
  http_client beta_client(beta.port());
  EXPECT_EQ(stable(analyze(alpha_client)), stable(alpha_before));
  EXPECT_EQ(stable(analyze(beta_client)), stable(beta_before));
}

// Release 0.1.0 kept a list (newest first) and a hash under {prefix}:{instance}:history
// and :state. The keys are written here exactly as it wrote them, from the answers of a
// memory-store service fed the same stream; the new release restores them, continues
// like that service, persists in its own layout and leaves the old keys as they were.
TEST(RedisPersistenceTest, keys_of_the_0_1_0_layout_are_restored_and_migrated) {
  redis_server redis;
  auto cfg = redis_config(redis, "upgrade");
  cfg.window_size = 10;
  cfg.warmup = 5;
  constexpr int kCount = 40;

  auto control_cfg = cfg;
  control_cfg.redis_addr.clear();
  test_service control(control_cfg);
  http_client control_client(control.port());
  std::vector<json> results;
  for (int i = 0; i < kCount; i += 8) {
    const json reply = post(control_client, batch(i, i + 8));
    for (const auto& r : reply.at("results")) results.push_back(r);
  }
  const json before = analyze(control_client);
  ASSERT_GT(before.at("metrics").at("cpu").at("anomalies_total"), 0);

  const std::string legacy_history = cfg.key_prefix + ":" + cfg.instance_id + ":history";
  const std::string legacy_state = cfg.key_prefix + ":" + cfg.instance_id + ":state";
  for (const auto& r : results) redis.command("LPUSH", legacy_history, r.dump());
  redis.command("HSET", legacy_state, "seq", std::to_string(kCount), "last_timestamp",
                results.back().at("timestamp").dump());
  for (const std::string metric : {"cpu", "rps"}) {
    const auto& m = before.at("metrics").at(metric);
    redis.command("HSET", legacy_state, metric + "_anomalies_total",
                  m.at("anomalies_total").dump());
    if (!m.at("last_anomaly").is_null()) {
      redis.command("HSET", legacy_state, metric + "_last_anomaly", m.at("last_anomaly").dump());
    }
  }
  const auto legacy_list = redis.lrange(legacy_history, 0, -1);
  const auto legacy_hash = redis.hgetall(legacy_state);

  json next = sample(kCount);
  next["cpu"] = 97.5;
  {
    test_service upgraded(cfg);
    http_client client(upgraded.port());
    EXPECT_EQ(stable(analyze(client)), stable(before));
    EXPECT_EQ(post(client, next), post(control_client, next));
    EXPECT_EQ(upgraded.stop(), 0);
  }
  // Layout 2 holds the migrated window and the new sample; layout 1 is untouched.
  const auto persisted = read_persisted(redis, cfg.key_prefix, cfg.instance_id);
  EXPECT_EQ(persisted.generation, "1");
  EXPECT_EQ(persisted.seq(), static_cast<std::uint64_t>(kCount + 1));
  ASSERT_FALSE(persisted.records.empty());
  EXPECT_EQ(persisted.seqs().back(), static_cast<std::uint64_t>(kCount + 1));
  EXPECT_EQ(redis.lrange(legacy_history, 0, -1), legacy_list);
  EXPECT_EQ(redis.hgetall(legacy_state), legacy_hash);

  // The next start restores layout 2 and still matches the service that never stopped.
  test_service again(cfg);
  http_client client(again.port());
  EXPECT_EQ(stable(analyze(client)), stable(analyze(control_client)));
  json after = sample(kCount + 1);
  after["rps"] = 9000.5;
  EXPECT_EQ(post(client, after), post(control_client, after));
}

// Writes a few samples, checks they arrived and the service is connected, then restores
// them in a second service.
void expect_round_trip(redis_server& redis, const config::config& cfg) {
  json before;
  {
    test_service svc(cfg);
    http_client client(svc.port());
    feed(client, 0, 11);
    ASSERT_TRUE(wait_written(svc, redis, 11)) << svc.store->status().pending_writes;
    before = analyze(client);
    EXPECT_EQ(before.at("storage").at("connected"), true);
    EXPECT_EQ(before.at("storage").at("failed_writes"), 0);
    EXPECT_EQ(history_seqs(redis, cfg).back(), 11U);
  }
  test_service svc(cfg);
  http_client client(svc.port());
  EXPECT_EQ(stable(analyze(client)), stable(before));
}

TEST(RedisPersistenceTest, unix_socket_address_works_end_to_end) {
  redis_server_options options;
  options.unix_socket = true;
  redis_server redis(options);
  ASSERT_EQ(redis.address().rfind("unix:/", 0), 0U) << redis.address();
  expect_round_trip(redis, redis_config(redis, "unix"));
}

TEST(RedisPersistenceTest, password_protected_redis_works_with_the_right_password) {
  redis_server_options options;
  options.password = "s3cret pass";
  redis_server redis(options);
  const auto cfg = redis_config(redis, "auth");
  ASSERT_EQ(cfg.redis_password, "s3cret pass");
  expect_round_trip(redis, cfg);
}

TEST(RedisPersistenceTest, keys_land_in_the_configured_database) {
  redis_server redis;
  auto cfg = redis_config(redis, "db3");
  cfg.redis_db = 3;
  redis.use_db(3);
  expect_round_trip(redis, cfg);
  EXPECT_THAT(redis.keys("*"),
              UnorderedElementsAre(history_key(cfg), state_key(cfg), generation_key(cfg)));
  redis.use_db(0);
  EXPECT_THAT(redis.keys("*"), ElementsAre());
}

}  // namespace
}  // namespace analyzer::test
