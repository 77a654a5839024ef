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

redis_keys make_keys(std::string_view key_prefix, std::string_view instance_id) {
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

rebuilt_state rebuild_state(const std::vector<std::pair<std::string, std::string>>& hash_fields,
                            const std::vector<std::string>& history, std::size_t window_size) {
  const std::map<std::string, std::string> hash(hash_fields.begin(), hash_fields.end());
  rebuilt_state out;
  const auto seq = as_count(hash, "seq");
  if (!seq || *seq == 0) return out;  // nothing persisted yet

  analytics::restored_state state;
  state.seq = *seq;
  if (const auto it = hash.find("last_timestamp"); it != hash.end()) {
    const auto j = nlohmann::json::parse(it->second, nullptr, false);
    if (!j.is_number()) {
      out.error = "unreadable last_timestamp";
      return out;
    }
    state.last_timestamp = j.get<double>();
  }

  // Newest window_size records with seq <= the hash's seq, deduplicated by seq (a batch
  // retried after a lost reply can be in the list twice).
  std::map<std::uint64_t, analytics::commit_result> by_seq;
  for (const auto& element : history) {
    auto record = decode_record(element);
    if (!record) {
      out.error = "unreadable history element";
      return out;
    }
    if (record->seq <= state.seq) by_seq.emplace(record->seq, *record);
  }
  while (by_seq.size() > window_size) by_seq.erase(by_seq.begin());

  for (std::size_t m = 0; m < kMetricCount; ++m) {
    const std::string name(kMetricNames[m]);
    auto& metric = state.metrics[m];
    const auto total = as_count(hash, name + "_anomalies_total");
    if (!total) {
      out.error = "missing " + name + "_anomalies_total";
      return out;
    }
    metric.anomalies_total = *total;
    if (const auto it = hash.find(name + "_last_anomaly"); it != hash.end()) {
      metric.last_anomaly = decode_anomaly(it->second);
      if (!metric.last_anomaly) {
        out.error = "unreadable " + name + "_last_anomaly";
        return out;
      }
    }
    metric.window.reserve(by_seq.size());
    for (const auto& [s, record] : by_seq) metric.window.push_back(record.metrics[m].value);
    if (!by_seq.empty() && by_seq.rbegin()->first == state.seq) {
      metric.last = by_seq.rbegin()->second.metrics[m];
    }
  }
  out.state = std::move(state);
  return out;
}

}  // namespace analyzer::storage
