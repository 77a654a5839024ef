// Unit tests of the response encoders and the JSON writer: exact shapes of architecture.md
// §2, escaping, padding of the ingest body and shortest round-trip numbers.
#include "analyzer/api/responses.hpp"

#include "analyzer/api/json_writer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace analyzer::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

std::string error_body(error_code code, std::string_view message) {
  std::string out;
  encode_error(code, message, out);
  return out;
}

std::string ingest_body(std::size_t accepted, std::size_t anomalies,
                        const std::vector<analytics::commit_result>& results = {},
                        bool with_results = false) {
  std::string out;
  encode_ingest(accepted, anomalies, results, with_results, out);
  return out;
}

std::string number(double v) {
  std::string out;
  json_writer w(out);
  w.value(v);
  return out;
}

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- errors --------------------------------------------------------------------------

TEST(ResponsesTest, error_body_shape) {
  EXPECT_EQ(error_body(error_code::not_found, "no route"),
            R"({"error":"not_found","message":"no route"})");
}

TEST(ResponsesTest, error_body_names_every_code) {
  for (auto code : {error_code::invalid_json, error_code::invalid_body, error_code::missing_field,
                    error_code::invalid_type, error_code::out_of_range, error_code::duplicate_key,
                    error_code::invalid_query, error_code::unauthorized, error_code::not_found,
                    error_code::method_not_allowed, error_code::body_too_large,
                    error_code::batch_too_large, error_code::unsupported_media_type,
                    error_code::headers_too_large, error_code::unavailable}) {
    const json body = json::parse(error_body(code, "m"));
    EXPECT_EQ(body, (json{{"error", std::string(to_string(code))}, {"message", "m"}}));
  }
}

TEST(ResponsesTest, error_message_escapes_quotes_and_backslashes) {
  const std::string message = R"(samples[0]."cpu\x": bad)";
  const std::string body = error_body(error_code::invalid_type, message);
  EXPECT_THAT(body, HasSubstr(R"(samples[0].\"cpu\\x\": bad)"));
  EXPECT_EQ(json::parse(body).at("message"), message);
}

TEST(ResponsesTest, error_message_escapes_control_characters) {
  std::string message = "a\nb\rc\td";
  message += '\x01';
  message += '\x1f';
  message += '\0';
  message += "\x7f end";
  const std::string body = error_body(error_code::bad_request, message);
  EXPECT_THAT(body, HasSubstr(R"(a\nb\rc\td\u0001\u001f\u0000)"));
  for (char c : body) {
    EXPECT_GE(static_cast<unsigned char>(c), 0x20) << body;  // no raw control character
  }
  EXPECT_EQ(json::parse(body).at("message"), message);
}

TEST(ResponsesTest, error_message_keeps_utf8) {
  const std::string message = "z-score \xce\xbc \xe2\x80\x94 ok";
  EXPECT_EQ(json::parse(error_body(error_code::invalid_body, message)).at("message"), message);
}

// ---- ingest --------------------------------------------------------------------------

TEST(ResponsesTest, ingest_body_without_results) {
  const std::string body = ingest_body(2, 1);
  EXPECT_EQ(json::parse(body), (json{{"accepted", 2}, {"anomalies", 1}}));
}

TEST(ResponsesTest, ingest_length_for_one_sample_does_not_depend_on_anomalies) {
  const std::string none = ingest_body(1, 0);
  const std::string one = ingest_body(1, 1);
  const std::string two = ingest_body(1, 2);
  EXPECT_EQ(none.size(), two.size()) << none << " vs " << two;
  EXPECT_EQ(none.size(), one.size());
  EXPECT_EQ(json::parse(two).at("anomalies"), 2);
}

TEST(ResponsesTest, ingest_length_for_100_samples_does_not_depend_on_anomalies) {
  const std::string five = ingest_body(100, 5);
  const std::string many = ingest_body(100, 150);
  EXPECT_EQ(five.size(), many.size()) << five << " vs " << many;
  for (std::size_t anomalies : {0, 9, 10, 99, 100, 199, 200}) {
    const std::string body = ingest_body(100, anomalies);
    EXPECT_EQ(body.size(), five.size()) << body;
    EXPECT_EQ(json::parse(body), (json{{"accepted", 100}, {"anomalies", anomalies}}));
  }
  EXPECT_EQ(json::parse(five).at("anomalies"), 5);
  EXPECT_EQ(json::parse(many).at("anomalies"), 150);
}

TEST(ResponsesTest, ingest_length_is_fixed_for_every_batch_size_edge) {
  // Where 2·accepted gains a digit the padding must follow it.
  for (std::size_t accepted : {1, 4, 5, 9, 49, 50, 499, 500, 1000, 5000}) {
    const std::size_t length = ingest_body(accepted, 0).size();
    for (std::size_t anomalies : {std::size_t{1}, accepted, 2 * accepted}) {
      EXPECT_EQ(ingest_body(accepted, anomalies).size(), length)
          << accepted << " accepted, " << anomalies << " anomalies";
    }
  }
}

TEST(ResponsesTest, ingest_padding_is_whitespace_only) {
  const std::string body = ingest_body(100, 5);
  EXPECT_THAT(body, HasSubstr(R"("accepted":100)"));
  EXPECT_THAT(body, HasSubstr(R"("anomalies":5  })"));
}

analytics::commit_result result(std::uint64_t seq, double timestamp, double cpu, double cpu_z,
                                bool cpu_anomaly, double rps, double rps_z, bool rps_anomaly) {
  analytics::commit_result r;
  r.seq = seq;
  r.timestamp = timestamp;
  r.metrics[0] = {cpu, cpu_z, cpu_anomaly};
  r.metrics[1] = {rps, rps_z, rps_anomaly};
  return r;
}

TEST(ResponsesTest, ingest_results_in_order) {
  const std::vector<analytics::commit_result> results = {
      result(17, 1700000000, 42.5, 0.31, false, 1200, 2.7, true),
      result(18, 1700000000.5, 0.1 + 0.2, -1.0 / 3.0, false, 0, 0, false)};
  const std::string body = ingest_body(2, 1, results, true);
  const json parsed = json::parse(body);
  EXPECT_EQ(parsed.at("accepted"), 2);
  EXPECT_EQ(parsed.at("anomalies"), 1);
  ASSERT_EQ(parsed.at("results").size(), 2U);
  const json& first = parsed.at("results")[0];
  EXPECT_EQ(first, (json{{"timestamp", 1700000000},
                         {"seq", 17},
                         {"cpu", {{"value", 42.5}, {"z_score", 0.31}, {"anomaly", false}}},
                         {"rps", {{"value", 1200}, {"z_score", 2.7}, {"anomaly", true}}}}));
  const json& second = parsed.at("results")[1];
  EXPECT_EQ(second.at("seq"), 18);
  EXPECT_EQ(second.at("timestamp").get<double>(), 1700000000.5);
  EXPECT_EQ(second.at("cpu").at("value").get<double>(), 0.1 + 0.2);
  EXPECT_EQ(second.at("cpu").at("z_score").get<double>(), -1.0 / 3.0);
}

TEST(ResponsesTest, ingest_results_keep_the_padding) {
  // The head before "results" has the same fixed width as without results.
  const std::vector<analytics::commit_result> results = {result(1, 1, 1, 0, false, 1, 0, false)};
  EXPECT_EQ(ingest_body(1, 0, results, true).size(), ingest_body(1, 2, results, true).size());
  const std::string calm = ingest_body(50, 0, results, true);
  const std::string alarm = ingest_body(50, 100, results, true);
  EXPECT_EQ(calm.find("\"results\""), alarm.find("\"results\""));
  EXPECT_EQ(calm.size(), alarm.size());
  EXPECT_TRUE(json::accept(calm)) << calm;
}

TEST(ResponsesTest, ingest_without_results_flag_omits_them) {
  const std::vector<analytics::commit_result> results = {result(1, 1, 1, 0, false, 1, 0, false)};
  const std::string body = ingest_body(1, 0, results, false);
  EXPECT_FALSE(json::parse(body).contains("results"));
}

TEST(ResponsesTest, ingest_with_results_flag_and_no_results_is_an_empty_array) {
  EXPECT_EQ(json::parse(ingest_body(0, 0, {}, true)).at("results"), json::array());
}

// ---- numbers -------------------------------------------------------------------------

TEST(JsonWriterTest, non_finite_doubles_are_null) {
  EXPECT_EQ(number(kNaN), "null");
  EXPECT_EQ(number(kInf), "null");
  EXPECT_EQ(number(-kInf), "null");
}

TEST(JsonWriterTest, negative_zero_is_zero) {
  EXPECT_EQ(number(-0.0), "0");
  EXPECT_EQ(number(0.0), "0");
}

TEST(JsonWriterTest, doubles_are_shortest_round_trip) {
  EXPECT_EQ(number(0.1), "0.1");
  EXPECT_EQ(number(42.5), "42.5");
  EXPECT_EQ(number(1200), "1200");
  EXPECT_EQ(number(-2.75), "-2.75");
  for (double v : {0.1 + 0.2, 1.0 / 3.0, -2.0 / 3.0, 1e-300, 5e-324, 1e21, 1.7976931348623157e308,
                   1700000123.25, 253402300799.0, 123456789.123456789, 1e9 + 1e-7}) {
    const std::string text = number(v);
    const json parsed = json::parse(text);
    ASSERT_TRUE(parsed.is_number()) << text;
    EXPECT_EQ(parsed.get<double>(), v) << text;
    EXPECT_LE(text.size(), 24U) << text;
  }
}

TEST(JsonWriterTest, integers_and_flags) {
  std::string out;
  json_writer w(out);
  w.begin_array();
  w.value(std::uint64_t{0});
  w.value(std::numeric_limits<std::uint64_t>::max());
  w.value(true);
  w.value(false);
  w.null();
  w.value(std::string_view{"s"});
  w.end_array();
  EXPECT_EQ(out, R"([0,18446744073709551615,true,false,null,"s"])");
}

TEST(JsonWriterTest, nesting_places_commas) {
  std::string out;
  json_writer w(out);
  w.begin_object();
  w.key("a");
  w.begin_array();
  w.begin_object();
  w.end_object();
  w.begin_object();
  w.key("x");
  w.value(1.0);
  w.end_object();
  w.end_array();
  w.key("b");
  w.begin_object();
  w.end_object();
  w.key("c");
  w.begin_array();
  w.end_array();
  w.key("d");
  w.null();
  w.end_object();
  EXPECT_EQ(out, R"({"a":[{},{"x":1}],"b":{},"c":[],"d":null})");
}

TEST(JsonWriterTest, keys_are_escaped) {
  std::string out;
  json_writer w(out);
  w.begin_object();
  w.key("q\"k\\\n");
  w.value(std::uint64_t{1});
  w.end_object();
  EXPECT_EQ(json::parse(out), (json{{"q\"k\\\n", 1}}));
}

TEST(JsonWriterTest, appends_to_existing_text) {
  std::string out = "prefix:";
  encode_ready("ready", out);
  EXPECT_EQ(out, R"(prefix:{"status":"ready"})");
}

// ---- analyze -------------------------------------------------------------------------

storage_status memory_status() { return storage_status{.backend = "memory", .connected = true}; }

TEST(ResponsesTest, analyze_of_an_empty_snapshot_is_null_statistics) {
  analytics::snapshot snap;
  std::string out;
  encode_analyze(snap, analytics::detector_config{}, memory_status(), 1700000123.25, out);
  const json body = json::parse(out);
  const json empty_metric = {{"data_points", 0},     {"rolling_average", nullptr},
                             {"std_dev", nullptr},   {"min", nullptr},
                             {"max", nullptr},       {"last", nullptr},
                             {"z_score", nullptr},   {"anomaly", nullptr},
                             {"anomalies_total", 0}, {"last_anomaly", nullptr}};
  const json expected = {{"timestamp", 1700000123.25},
                         {"window_size", 50},
                         {"threshold", 2.0},
                         {"warmup", 50},
                         {"samples_total", 0},
                         {"metrics", {{"cpu", empty_metric}, {"rps", empty_metric}}},
                         {"storage",
                          {{"backend", "memory"},
                           {"connected", true},
                           {"pending_writes", 0},
                           {"failed_writes", 0},
                           {"dropped_writes", 0}}}};
  EXPECT_EQ(body, expected) << out;
}

TEST(ResponsesTest, analyze_nulls_statistics_whenever_the_window_is_empty) {
  // Statistics of an empty window are meaningless whatever the fields hold.
  analytics::snapshot snap;
  snap.metrics[0].window = {0, 1.5, 2.5, 3.5, 4.5};
  std::string out;
  encode_analyze(snap, analytics::detector_config{}, memory_status(), 1, out);
  const json cpu = json::parse(out).at("metrics").at("cpu");
  for (const char* key : {"rolling_average", "std_dev", "min", "max"}) {
    EXPECT_TRUE(cpu.at(key).is_null()) << key;
  }
}

TEST(ResponsesTest, analyze_of_a_filled_snapshot_round_trips_exactly) {
  analytics::snapshot snap;
  snap.seq = 1234;
  snap.last_timestamp = 1700000120.125;
  auto& cpu = snap.metrics[0];
  cpu.window = {50, 41.9, 3.2, 35.0, 49.5};
  cpu.last = analytics::metric_result{42.5, 0.31, false};
  cpu.anomalies_total = 7;
  cpu.last_anomaly = analytics::anomaly_record{1700000100, 88.0, 9.1};
  auto& rps = snap.metrics[1];
  rps.window = {3, 1e9 + 1.0 / 3.0, 0.1 + 0.2, 1e9 - 0.5, 1e9 + 0.75};
  rps.last = analytics::metric_result{1e9 + 0.75, -1.0 / 7.0, true};
  rps.anomalies_total = 18446744073709551615ULL;
  rps.last_anomaly = analytics::anomaly_record{1700000119.999, 5e-324, -2.0000000000000004};

  std::string out;
  encode_analyze(snap, analytics::detector_config{64, 2.5, 10},
                 storage_status{.backend = "redis",
                                .connected = false,
                                .pending_writes = 3,
                                .failed_writes = 4,
                                .dropped_writes = 5},
                 1700000123.25, out);
  const json body = json::parse(out);

  EXPECT_EQ(body.at("timestamp").get<double>(), 1700000123.25);
  EXPECT_EQ(body.at("window_size"), 64);
  EXPECT_EQ(body.at("threshold").get<double>(), 2.5);
  EXPECT_EQ(body.at("warmup"), 10);
  EXPECT_EQ(body.at("samples_total"), 1234);
  for (std::size_t i = 0; i < analytics::kMetricCount; ++i) {
    const analytics::metric_snapshot& m = snap.metrics[i];
    const json& got = body.at("metrics").at(std::string(analytics::kMetricNames[i]));
    EXPECT_EQ(got.size(), 10U);
    EXPECT_EQ(got.at("data_points").get<std::size_t>(), m.window.count);
    EXPECT_EQ(got.at("rolling_average").get<double>(), m.window.mean) << i;
    EXPECT_EQ(got.at("std_dev").get<double>(), m.window.std_dev) << i;
    EXPECT_EQ(got.at("min").get<double>(), m.window.min) << i;
    EXPECT_EQ(got.at("max").get<double>(), m.window.max) << i;
    EXPECT_EQ(got.at("last").get<double>(), m.last->value) << i;
    EXPECT_EQ(got.at("z_score").get<double>(), m.last->z_score) << i;
    EXPECT_EQ(got.at("anomaly").get<bool>(), m.last->anomaly) << i;
    EXPECT_EQ(got.at("anomalies_total").get<std::uint64_t>(), m.anomalies_total) << i;
    const json& a = got.at("last_anomaly");
    EXPECT_EQ(a.size(), 3U);
    EXPECT_EQ(a.at("timestamp").get<double>(), m.last_anomaly->timestamp) << i;
    EXPECT_EQ(a.at("value").get<double>(), m.last_anomaly->value) << i;
    EXPECT_EQ(a.at("z_score").get<double>(), m.last_anomaly->z_score) << i;
  }
  EXPECT_EQ(body.at("storage"), (json{{"backend", "redis"},
                                      {"connected", false},
                                      {"pending_writes", 3},
                                      {"failed_writes", 4},
                                      {"dropped_writes", 5}}));
}

TEST(ResponsesTest, analyze_with_a_pre_encoded_metrics_object_is_the_same_body) {
  analytics::snapshot snap;
  snap.seq = 77;
  snap.metrics[0].window = {3, 41.5, 1.25, 40.0, 43.0};
  snap.metrics[0].last = analytics::metric_result{43.0, 1.2, false};
  snap.metrics[1].window = {3, 400.0, 0.0, 400.0, 400.0};
  const storage_status status{.backend = "memory", .connected = true};
  std::string whole;
  encode_analyze(snap, analytics::detector_config{}, status, 1700000000.5, whole);
  std::string metrics;
  encode_analyze_metrics(snap, metrics);
  EXPECT_EQ(json::parse(metrics), json::parse(whole).at("metrics"));
  std::string parts;
  encode_analyze(snap, analytics::detector_config{}, status, 1700000000.5, parts, {}, metrics);
  EXPECT_EQ(parts, whole);
}

TEST(ResponsesTest, analyze_without_a_last_anomaly_is_null) {
  analytics::snapshot snap;
  snap.seq = 1;
  snap.metrics[0].window = {1, 5, 0, 5, 5};
  snap.metrics[0].last = analytics::metric_result{5, 0, false};
  std::string out;
  encode_analyze(snap, analytics::detector_config{}, memory_status(), 1, out);
  const json cpu = json::parse(out).at("metrics").at("cpu");
  EXPECT_TRUE(cpu.at("last_anomaly").is_null());
  EXPECT_EQ(cpu.at("anomaly"), false);
  EXPECT_EQ(cpu.at("z_score"), 0);
  EXPECT_EQ(cpu.at("std_dev"), 0);
}

TEST(ResponsesTest, analyze_writes_negative_zero_and_non_finite_safely) {
  analytics::snapshot snap;
  snap.seq = 1;
  snap.metrics[0].window = {1, -0.0, 0, -0.0, -0.0};
  snap.metrics[0].last = analytics::metric_result{-0.0, kNaN, false};
  std::string out;
  encode_analyze(snap, analytics::detector_config{}, memory_status(), 1, out);
  EXPECT_THAT(out, Not(HasSubstr("-0")));
  EXPECT_THAT(out, Not(HasSubstr("nan")));
  const json cpu = json::parse(out).at("metrics").at("cpu");
  EXPECT_TRUE(cpu.at("z_score").is_null());
  EXPECT_EQ(cpu.at("rolling_average"), 0);
}

// ---- health and ready ----------------------------------------------------------------

TEST(ResponsesTest, health_body) {
  std::string out;
  encode_health("1.2.3", 12.5, out);
  EXPECT_EQ(json::parse(out),
            (json{{"status", "ok"}, {"version", "1.2.3"}, {"uptime_seconds", 12.5}}));
}

TEST(ResponsesTest, ready_body) {
  for (std::string_view status : {"ready", "starting", "stopping", "draining"}) {
    std::string out;
    encode_ready(status, out);
    EXPECT_EQ(json::parse(out), (json{{"status", status}}));
  }
}

}  // namespace
}  // namespace analyzer::api
