// The Redis key layout and record format (documented in the README, "Redis keys"), as
// pure functions: what the store writes and what a restore reads back.
//
//   {KEY_PREFIX}:{INSTANCE_ID}:history  list, newest first, trimmed to HISTORY_SIZE; each
//       element one committed sample as JSON:
//       {"seq":17,"timestamp":1700000000,"cpu":{"value":42.5,"z_score":0.31,"anomaly":false},
//        "rps":{"value":1200,"z_score":2.7,"anomaly":true}}
//   {KEY_PREFIX}:{INSTANCE_ID}:state    hash: seq, last_timestamp, cpu_anomalies_total,
//       rps_anomalies_total, and cpu_last_anomaly / rps_last_anomaly as JSON
//       {"timestamp":…,"value":…,"z_score":…} (absent until the first anomaly).
//
// A batch of samples is written as one MULTI/EXEC (LPUSH, LTRIM, HSET), so history and
// counters never disagree.
#pragma once

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/analytics/snapshot.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace analyzer::storage {

struct redis_keys {
  std::string history;
  std::string state;
};

[[nodiscard]] redis_keys make_keys(std::string_view key_prefix, std::string_view instance_id);

// One history element.
[[nodiscard]] std::string encode_record(const analytics::commit_result& committed);
[[nodiscard]] std::optional<analytics::commit_result> decode_record(std::string_view json);

// Hash fields for the newest sample of a batch (and its metrics' newest anomalies).
[[nodiscard]] std::vector<std::pair<std::string, std::string>> state_fields(
    const analytics::commit_result& newest,
    const std::array<std::optional<analytics::anomaly_record>, analytics::kMetricCount>&
        last_anomalies);

// Rebuilds the analytics state from the hash (field → value) and history elements (any
// order, duplicates allowed): the window is the newest `window_size` samples with
// seq <= the hash's seq, oldest first. Nothing when there is no state (seq missing or 0);
// an error text when the data are not readable.
struct rebuilt_state {
  std::optional<analytics::restored_state> state;
  std::string error;
};
[[nodiscard]] rebuilt_state rebuild_state(
    const std::vector<std::pair<std::string, std::string>>& hash,
    const std::vector<std::string>& history, std::size_t window_size);

}  // namespace analyzer::storage
