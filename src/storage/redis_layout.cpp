// Record encoding and state rebuild for the Redis key layout.
#include "analyzer/storage/redis_layout.hpp"

#include "analyzer/api/json_writer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <map>

namespace analyzer::storage {
namespace {

using analytics::kMetricCount;
using analytics::kMetricNames;

std::string number(double v) {
  std::string out;
  api::json_writer(out).value(v);
  return out;
}

std::optional<double> as_double(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::optional<analytics::anomaly_record> decode_anomaly(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  const auto ts = as_double(j, "timestamp");
  const auto value = as_double(j, "value");
  const auto z = as_double(j, "z_score");
  if (!ts || !value || !z) return std::nullopt;
  return analytics::anomaly_record{*ts, *value, *z};
}

std::optional<std::uint64_t> as_count(const std::map<std::string, std::string>& hash,
                                      const std::string& field) {
  const auto it = hash.find(field);
  if (it == hash.end()) return std::nullopt;
  std::uint64_t value = 0;
  const auto& text = it->second;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::string generation_key(std::string_view key_prefix, std::string_view instance_id) {
  return std::string(key_prefix) + ":" + std::string(instance_id) + ":generation";
}

redis_keys make_keys(std::string_view key_prefix, std::string_view instance_id,
                     std::string_view generation) {
  const std::string base = std::string(key_prefix) + ":" + std::string(instance_id) + ":g" +
                           std::string(generation) + ":";
  return {generation_key(key_prefix, instance_id), base + "samples", base + "state"};
}

legacy_redis_keys make_legacy_keys(std::string_view key_prefix, std::string_view instance_id) {
  const std::string base = std::string(key_prefix) + ":" + std::string(instance_id) + ":";
  return {base + "history", base + "state"};
}

std::string encode_record(const analytics::commit_result& c) {
  std::string out;
  out.reserve(160);
  api::json_writer w(out);
  w.begin_object();
  w.key("seq");
  w.value(c.seq);
  w.key("timestamp");
  w.value(c.timestamp);
  for (std::size_t m = 0; m < kMetricCount; ++m) {
    w.key(kMetricNames[m]);
    w.begin_object();
    w.key("value");
    w.value(c.metrics[m].value);
    w.key("z_score");
    w.value(c.metrics[m].z_score);
    w.key("anomaly");
    w.value(c.metrics[m].anomaly);
    w.end_object();
  }
  w.end_object();
  return out;
}

std::optional<analytics::commit_result> decode_record(std::string_view json) {
  const auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  analytics::commit_result c;
  const auto seq = j.find("seq");
  if (seq == j.end() || !seq->is_number_unsigned()) return std::nullopt;
  c.seq = seq->get<std::uint64_t>();
  const auto ts = as_double(j, "timestamp");
  if (!ts) return std::nullopt;
  c.timestamp = *ts;
  for (std::size_t m = 0; m < kMetricCount; ++m) {
    const auto it = j.find(std::string(kMetricNames[m]));
    if (it == j.end() || !it->is_object()) return std::nullopt;
    const auto value = as_double(*it, "value");
    const auto z = as_double(*it, "z_score");
    const auto flag = it->find("anomaly");
    if (!value || !z || flag == it->end() || !flag->is_boolean()) return std::nullopt;
    c.metrics[m] = {*value, *z, flag->get<bool>()};
  }
  return c;
}

std::vector<std::pair<std::string, std::string>> state_fields(
    const analytics::commit_result& newest,
    const std::array<std::optional<analytics::anomaly_record>, kMetricCount>& last_anomalies) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(6);
  out.emplace_back("seq", std::to_string(newest.seq));
  out.emplace_back("last_timestamp", number(newest.timestamp));
  for (std::size_t m = 0; m < kMetricCount; ++m) {
    const std::string name(kMetricNames[m]);
    out.emplace_back(name + "_anomalies_total", std::to_string(newest.anomalies_total[m]));
    if (const auto& a = last_anomalies[m]) {
      std::string json;
      api::json_writer w(json);
      w.begin_object();
      w.key("timestamp");
      w.value(a->timestamp);
      w.key("value");
      w.value(a->value);
      w.key("z_score");
      w.value(a->z_score);
      w.end_object();
      out.emplace_back(name + "_last_anomaly", std::move(json));
    }
  }
  return out;
}

namespace {

// The hash's part of a restored state (seq, timestamp, counters, last anomalies); the
// windows are filled in by the callers. Sets out.error when a field is unreadable.
std::optional<analytics::restored_state> parse_state_hash(
    const std::vector<std::pair<std::string, std::string>>& hash_fields, rebuilt_state& out) {
  const std::map<std::string, std::string> hash(hash_fields.begin(), hash_fields.end());
  const auto seq = as_count(hash, "seq");
  if (!seq || *seq == 0) {
    if (hash.count("seq") != 0 && !seq) out.error = "unreadable seq";
    return std::nullopt;  // nothing persisted yet
  }
  analytics::restored_state state;
  state.seq = *seq;
  if (const auto it = hash.find("last_timestamp"); it != hash.end()) {
    const auto j = nlohmann::json::parse(it->second, nullptr, false);
    if (!j.is_number()) {
      out.error = "unreadable last_timestamp";
      return std::nullopt;
    }
    state.last_timestamp = j.get<double>();
  }
  for (std::size_t m = 0; m < kMetricCount; ++m) {
    const std::string name(kMetricNames[m]);
    auto& metric = state.metrics[m];
    const auto total = as_count(hash, name + "_anomalies_total");
    if (!total) {
      out.error = "missing " + name + "_anomalies_total";
      return std::nullopt;
    }
    metric.anomalies_total = *total;
    if (const auto it = hash.find(name + "_last_anomaly"); it != hash.end()) {
      metric.last_anomaly = decode_anomaly(it->second);
      if (!metric.last_anomaly) {
        out.error = "unreadable " + name + "_last_anomaly";
        return std::nullopt;
      }
    }
  }
  return state;
}

// Fills the windows from `run` (consecutive seqs ending at state.seq, oldest first).
void fill_windows(analytics::restored_state& state,
                  const std::vector<analytics::commit_result>& run) {
  for (std::size_t m = 0; m < kMetricCount; ++m) {
    auto& metric = state.metrics[m];
    metric.window.reserve(run.size());
    for (const auto& record : run) metric.window.push_back(record.metrics[m].value);
    if (!run.empty() && run.back().seq == state.seq) metric.last = run.back().metrics[m];
  }
}

std::optional<std::uint64_t> parse_score(std::string_view text) {
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

rebuilt_state rebuild_state(const std::vector<std::pair<std::string, std::string>>& hash,
                            const std::vector<scored_record>& records, std::size_t window_size) {
  rebuilt_state out;
  auto state = parse_state_hash(hash, out);
  if (!state) return out;

  // seq → record; a seq with two different members is unusable (neither can be trusted).
  std::map<std::uint64_t, std::optional<analytics::commit_result>> by_seq;
  std::map<std::uint64_t, std::string_view> member_of;
  for (const auto& [member, score] : records) {
    const auto seq = parse_score(score);
    auto record = decode_record(member);
    if (!seq || !record || record->seq != *seq) {
      ++out.skipped_records;
      continue;
    }
    if (*seq > state->seq) continue;  // not part of the persisted state
    const auto [it, inserted] = by_seq.emplace(*seq, record);
    if (!inserted) {
      if (member_of[*seq] != member) {
        out.skipped_records += it->second ? 2 : 1;
        it->second.reset();
      }
      continue;
    }
    member_of[*seq] = member;
  }

  std::vector<analytics::commit_result> run;
  for (std::uint64_t s = state->seq; s > 0 && run.size() < window_size; --s) {
    const auto it = by_seq.find(s);
    if (it == by_seq.end() || !it->second) break;
    run.push_back(*it->second);
  }
  std::reverse(run.begin(), run.end());
  fill_windows(*state, run);
  out.window_records = std::move(run);
  out.state = std::move(state);
  return out;
}

rebuilt_state rebuild_legacy_state(const std::vector<std::pair<std::string, std::string>>& hash,
                                   const std::vector<std::string>& history,
                                   std::size_t window_size) {
  rebuilt_state out;
  auto state = parse_state_hash(hash, out);
  if (!state) return out;
  // The newest window_size records with seq <= the hash's seq, deduplicated by seq (a
  // batch retried after a lost reply can be in the list twice).
  std::map<std::uint64_t, analytics::commit_result> by_seq;
  for (const auto& element : history) {
    auto record = decode_record(element);
    if (!record) {
      ++out.skipped_records;
      continue;
    }
    if (record->seq <= state->seq) by_seq.emplace(record->seq, *record);
  }
  while (by_seq.size() > window_size) by_seq.erase(by_seq.begin());
  std::vector<analytics::commit_result> run;
  run.reserve(by_seq.size());
  for (auto& [seq, record] : by_seq) run.push_back(record);
  fill_windows(*state, run);
  out.window_records = std::move(run);
  out.state = std::move(state);
  return out;
}

}  // namespace analyzer::storage
