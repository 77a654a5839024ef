// Key names, record format and the state rebuild that the startup restore relies on.
#include "analyzer/storage/redis_layout.hpp"
#include "analyzer/config/redis_address.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace analyzer::storage {
namespace {

analytics::commit_result record(std::uint64_t seq, double cpu, double rps,
                                bool cpu_anomaly = false) {
  analytics::commit_result c;
  c.seq = seq;
  c.timestamp = 1700000000.0 + static_cast<double>(seq) + 0.25;
  c.metrics[0] = {cpu, cpu_anomaly ? 3.5 : 0.125, cpu_anomaly};
  c.metrics[1] = {rps, -0.1, false};
  c.anomalies_total = {cpu_anomaly ? 1U : 0U, 0U};
  return c;
}

TEST(RedisLayoutTest, keys_are_per_prefix_instance_and_generation) {
  const auto keys = make_keys("metrics-analyzer", "pod-7", "1");
  EXPECT_EQ(keys.generation, "metrics-analyzer:pod-7:generation");
  EXPECT_EQ(keys.samples, "metrics-analyzer:pod-7:g1:samples");
  EXPECT_EQ(keys.state, "metrics-analyzer:pod-7:g1:state");
  EXPECT_EQ(make_keys("p", "i", "1733300000000").state, "p:i:g1733300000000:state");
  const auto legacy = make_legacy_keys("metrics-analyzer", "pod-7");
  EXPECT_EQ(legacy.history, "metrics-analyzer:pod-7:history");
  EXPECT_EQ(legacy.state, "metrics-analyzer:pod-7:state");
}

std::vector<scored_record> scored(const std::vector<analytics::commit_result>& records) {
  std::vector<scored_record> out;
  for (const auto& r : records) out.emplace_back(encode_record(r), std::to_string(r.seq));
  return out;
}

TEST(RedisLayoutTest, rebuild_takes_the_consecutive_run_ending_at_the_persisted_seq) {
  std::vector<analytics::commit_result> records;
  for (std::uint64_t seq = 1; seq <= 12; ++seq) {
    const auto v = static_cast<double>(seq);
    records.push_back(record(seq, v, 10.0 * v));
  }
  auto newest = records.back();
  newest.anomalies_total = {4, 2};
  std::array<std::optional<analytics::anomaly_record>, analytics::kMetricCount> anomalies{
      analytics::anomaly_record{1700000005.0, 99.0, 7.5}, std::nullopt};
  auto input = scored(records);
  input.push_back(scored({record(13, 13, 130)}).front());  // newer than the hash: ignored
  std::shuffle(input.begin(), input.end(), std::mt19937{7});

  const auto full = rebuild_state(state_fields(newest, anomalies), input, 5);
  ASSERT_TRUE(full.state) << full.error;
  EXPECT_EQ(full.state->seq, 12U);
  EXPECT_EQ(full.state->metrics[0].window, (std::vector<double>{8, 9, 10, 11, 12}));
  EXPECT_EQ(full.state->metrics[1].window, (std::vector<double>{80, 90, 100, 110, 120}));
  EXPECT_EQ(full.state->metrics[0].anomalies_total, 4U);
  ASSERT_TRUE(full.state->metrics[0].last);
  EXPECT_EQ(full.state->metrics[0].last->value, 12.0);
  EXPECT_EQ(full.skipped_records, 0U);
  ASSERT_EQ(full.window_records.size(), 5U);
  EXPECT_EQ(full.window_records.front().seq, 8U);

  // A hole (seq 10 unreadable) shortens the window to the run after it; it never lets
  // seqs before the hole in.
  auto holed = input;
  for (auto& [member, score] : holed) {
    if (score == "10") member = "{broken";
  }
  const auto shortened = rebuild_state(state_fields(newest, anomalies), holed, 5);
  ASSERT_TRUE(shortened.state) << shortened.error;
  EXPECT_EQ(shortened.state->metrics[0].window, (std::vector<double>{11, 12}));
  EXPECT_EQ(shortened.skipped_records, 1U);

  // Two different members for one seq: neither is trusted.
  auto doubled = input;
  auto other = record(11, 111, 1110);
  doubled.emplace_back(encode_record(other), "11");
  const auto conflict = rebuild_state(state_fields(newest, anomalies), doubled, 5);
  ASSERT_TRUE(conflict.state);
  EXPECT_EQ(conflict.state->metrics[0].window, (std::vector<double>{12}));
  EXPECT_EQ(conflict.skipped_records, 2U);

  // A record whose seq is not its score is skipped; the same member twice is not a conflict.
  auto mislabeled = input;
  for (auto& [member, score] : mislabeled) {
    if (score == "9") score = "3";
  }
  mislabeled.push_back(scored({records[11]}).front());
  const auto relabeled = rebuild_state(state_fields(newest, anomalies), mislabeled, 5);
  ASSERT_TRUE(relabeled.state);
  EXPECT_EQ(relabeled.state->metrics[0].window, (std::vector<double>{10, 11, 12}));
  EXPECT_EQ(relabeled.skipped_records, 1U);

  // The newest record missing: an empty window, no `last`, counters still restored.
  std::vector<scored_record> without_newest;
  for (const auto& r : input) {
    if (r.second != "12") without_newest.push_back(r);
  }
  const auto headless = rebuild_state(state_fields(newest, anomalies), without_newest, 5);
  ASSERT_TRUE(headless.state);
  EXPECT_TRUE(headless.state->metrics[0].window.empty());
  EXPECT_FALSE(headless.state->metrics[0].last);
  EXPECT_EQ(headless.state->metrics[1].anomalies_total, 2U);
}

TEST(RedisLayoutTest, record_round_trips_exactly) {
  auto c = record(17, 42.5, 1200.1);
  c.metrics[0].z_score = 0.1 + 0.2;  // needs all 17 digits
  const std::string json = encode_record(c);
  EXPECT_EQ(json.rfind(R"({"seq":17,"timestamp":1700000017.25,"cpu":{"value":42.5,)", 0), 0U);
  const auto back = decode_record(json);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->seq, 17U);
  EXPECT_EQ(back->timestamp, c.timestamp);
  EXPECT_EQ(back->metrics[0].z_score, c.metrics[0].z_score);
  EXPECT_EQ(back->metrics[1].value, 1200.1);
  EXPECT_FALSE(decode_record(R"({"seq":1})"));
  EXPECT_FALSE(decode_record("not json"));
}

TEST(RedisLayoutTest, legacy_rebuild_takes_the_newest_window_in_seq_order_without_duplicates) {
  std::vector<std::string> history;
  for (std::uint64_t seq = 1; seq <= 12; ++seq) {
    const auto v = static_cast<double>(seq);
    history.push_back(encode_record(record(seq, v, 10.0 * v)));
  }
  history.push_back(encode_record(record(11, 11, 110)));  // a retried batch
  history.push_back(encode_record(record(13, 13, 130)));  // newer than the hash: ignored
  std::shuffle(history.begin(), history.end(), std::mt19937{7});
  auto newest = record(12, 12, 120);
  newest.anomalies_total = {4, 2};
  std::array<std::optional<analytics::anomaly_record>, analytics::kMetricCount> anomalies{
      analytics::anomaly_record{1700000005.0, 99.0, 7.5}, std::nullopt};
  const auto rebuilt = rebuild_legacy_state(state_fields(newest, anomalies), history, 5);
  ASSERT_TRUE(rebuilt.state) << rebuilt.error;
  const auto& s = *rebuilt.state;
  EXPECT_EQ(s.seq, 12U);
  EXPECT_EQ(s.last_timestamp, newest.timestamp);
  EXPECT_EQ(s.metrics[0].window, (std::vector<double>{8, 9, 10, 11, 12}));
  EXPECT_EQ(s.metrics[1].window, (std::vector<double>{80, 90, 100, 110, 120}));
  EXPECT_EQ(s.metrics[0].anomalies_total, 4U);
  EXPECT_EQ(s.metrics[1].anomalies_total, 2U);
  ASSERT_TRUE(s.metrics[0].last_anomaly);
  EXPECT_EQ(s.metrics[0].last_anomaly->z_score, 7.5);
  EXPECT_FALSE(s.metrics[1].last_anomaly);
  ASSERT_TRUE(s.metrics[0].last);
  EXPECT_EQ(s.metrics[0].last->value, 12.0);
}

TEST(RedisLayoutTest, no_hash_means_nothing_to_restore_and_garbage_is_an_error) {
  EXPECT_FALSE(rebuild_state({}, {}, 5).state);
  EXPECT_TRUE(rebuild_state({}, {}, 5).error.empty());
  EXPECT_FALSE(rebuild_legacy_state({}, {}, 5).state);
  auto fields = state_fields(record(1, 1, 1), {});
  // An unreadable record is skipped and counted, not fatal.
  const auto skipped = rebuild_legacy_state(fields, {"{broken"}, 5);
  EXPECT_TRUE(skipped.state);
  EXPECT_EQ(skipped.skipped_records, 1U);
  // An unreadable hash is.
  fields.emplace_back("cpu_last_anomaly", "{broken");
  EXPECT_FALSE(rebuild_state(fields, {}, 5).error.empty());
  EXPECT_FALSE(rebuild_state({{"seq", "x"}}, {}, 5).error.empty());
}

TEST(RedisAddressTest, accepted_forms) {
  auto tcp = config::parse_redis_address("redis.default.svc:6379");
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->host, "redis.default.svc");
  EXPECT_EQ(tcp->port, 6379);
  auto v6 = config::parse_redis_address("[::1]:7000");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->to_string(), "[::1]:7000");
  auto unix_socket = config::parse_redis_address("unix:/run/redis.sock");
  ASSERT_TRUE(unix_socket);
  EXPECT_TRUE(unix_socket->is_unix());
  EXPECT_EQ(unix_socket->to_string(), "unix:/run/redis.sock");
  for (const char* bad : {"", "host", "host:", "host:0", "[::1]6379", "unix:x", "a:b:c"}) {
    EXPECT_FALSE(config::parse_redis_address(bad)) << bad;
  }
}

}  // namespace
}  // namespace analyzer::storage
