// The Redis key layout and record format (documented in the README, "Redis keys"), as
// pure functions: what the store writes and what a restore reads back.
//
// Layout 2 (this release), per KEY_PREFIX and INSTANCE_ID:
//   {KEY_PREFIX}:{INSTANCE_ID}:generation      string: the generation of keys in use
//   {KEY_PREFIX}:{INSTANCE_ID}:g{GEN}:samples  sorted set, score = seq, member = one
//       committed sample as JSON:
//       {"seq":17,"timestamp":1700000000,"cpu":{"value":42.5,"z_score":0.31,"anomaly":false},
//        "rps":{"value":1200,"z_score":2.7,"anomaly":true}}
//       trimmed by seq to the newest HISTORY_SIZE.
//   {KEY_PREFIX}:{INSTANCE_ID}:g{GEN}:state    hash: seq (the newest persisted sample; every
//       sample up to it is in `samples`, unless trimmed), last_timestamp,
//       cpu_anomalies_total, rps_anomalies_total, and cpu_last_anomaly / rps_last_anomaly
//       as JSON {"timestamp":…,"value":…,"z_score":…} (absent until the first anomaly).
//
// Records are keyed by seq, so a batch executed twice (a retry after a lost reply) changes
// nothing. A new generation (REDIS_RESTORE_POLICY=start-empty after a failed restore)
// writes new keys and leaves the old ones as they were.
//
// Layout 1 (release 0.1.0), read once to migrate:
//   {KEY_PREFIX}:{INSTANCE_ID}:history  list of the same records, newest first
//   {KEY_PREFIX}:{INSTANCE_ID}:state    the same hash
#pragma once

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/analytics/snapshot.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace analyzer::storage {

// The generation a store writes when nothing was persisted before.
inline constexpr std::string_view kFirstGeneration = "1";

struct redis_keys {
  std::string generation;  // names the generation in use
  std::string samples;
  std::string state;
};

struct legacy_redis_keys {
  std::string history;
  std::string state;
};

[[nodiscard]] std::string generation_key(std::string_view key_prefix, std::string_view instance_id);
[[nodiscard]] redis_keys make_keys(std::string_view key_prefix, std::string_view instance_id,
                                   std::string_view generation);
[[nodiscard]] legacy_redis_keys make_legacy_keys(std::string_view key_prefix,
                                                 std::string_view instance_id);

// One record (a member of `samples`, an element of the legacy history).
[[nodiscard]] std::string encode_record(const analytics::commit_result& committed);
[[nodiscard]] std::optional<analytics::commit_result> decode_record(std::string_view json);

// Hash fields for the newest sample of a batch (and its metrics' newest anomalies).
[[nodiscard]] std::vector<std::pair<std::string, std::string>> state_fields(
    const analytics::commit_result& newest,
    const std::array<std::optional<analytics::anomaly_record>, analytics::kMetricCount>&
        last_anomalies);

struct rebuilt_state {
  std::optional<analytics::restored_state> state;  // nothing: no state persisted
  std::string error;                               // not empty: the hash is unreadable
  // Records that could not be used: undecodable, their seq not their score, or two
  // different records for one seq.
  std::uint64_t skipped_records = 0;
  // The window's records, oldest first (what a migration writes into layout 2).
  std::vector<analytics::commit_result> window_records;
};

// A scored member of `samples`: (member, score as Redis prints it).
using scored_record = std::pair<std::string, std::string>;

// Layout 2: rebuilds the state from the hash (field → value) and records of `samples`
// (any order). The window is the longest run of consecutive seqs ending at the hash's seq,
// at most `window_size` long: a gap (a record missing or unreadable) shortens it rather
// than letting values of other seqs in. Nothing when there is no state (seq missing or 0).
[[nodiscard]] rebuilt_state rebuild_state(
    const std::vector<std::pair<std::string, std::string>>& hash,
    const std::vector<scored_record>& records, std::size_t window_size);

// Layout 1: the same from the legacy hash and history list (any order, duplicates allowed).
[[nodiscard]] rebuilt_state rebuild_legacy_state(
    const std::vector<std::pair<std::string, std::string>>& hash,
    const std::vector<std::string>& history, std::size_t window_size);

}  // namespace analyzer::storage
