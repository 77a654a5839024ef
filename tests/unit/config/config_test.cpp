// Unit tests of config::load, help_text and describe: defaults, environment and flags,
// the range of every option and the exit requests of architecture.md §5.
#include "analyzer/config/config.hpp"

#include "analyzer/build_info.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace analyzer::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

using env_map = std::map<std::string, std::string, std::less<>>;

env_lookup lookup_in(env_map vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// Loads a configuration that must be valid.
config load_ok(const env_map& vars, const std::vector<std::string>& args = {}) {
  auto loaded = load(args, lookup_in(vars));
  if (const auto* failure = std::get_if<exit_request>(&loaded)) {
    ADD_FAILURE() << "unexpected exit " << failure->exit_code << ": " << failure->text;
    return config{};
  }
  return std::get<config>(loaded);
}

// Loads a configuration that must be refused; returns the exit request.
exit_request load_exit(const env_map& vars, const std::vector<std::string>& args = {}) {
  auto loaded = load(args, lookup_in(vars));
  if (!std::holds_alternative<exit_request>(loaded)) {
    ADD_FAILURE() << "configuration was accepted";
    return exit_request{-1, ""};
  }
  return std::get<exit_request>(loaded);
}

// Every variable of architecture.md §5, and the two extra ones this build has.
const std::vector<std::string>& all_variables() {
  static const std::vector<std::string> names = {
      "BIND_ADDR",
      "PORT",
      "THREADS",
      "WINDOW_SIZE",
      "ANOMALY_THRESHOLD",
      "WARMUP",
      "MAX_BODY_BYTES",
      "MAX_BATCH",
      "MAX_HEADER_BYTES",
      "MAX_CONNECTIONS",
      "READ_TIMEOUT_MS",
      "WRITE_TIMEOUT_MS",
      "IDLE_TIMEOUT_MS",
      "REDIS_ADDR",
      "REDIS_PASSWORD",
      "REDIS_DB",
      "KEY_PREFIX",
      "INSTANCE_ID",
      "WINDOW_SCOPE",
      "INGEST_TOKEN",
      "SHARED_MAX_IN_FLIGHT",
      "HISTORY_SIZE",
      "REDIS_QUEUE_LIMIT",
      "REDIS_RESTORE_TIMEOUT_MS",
      "SHUTDOWN_DELAY_MS",
      "SHUTDOWN_TIMEOUT_MS",
      "LOG_LEVEL",
      "LOG_FORMAT",
  };
  return names;
}

// WINDOW_SIZE → --window-size
std::string flag_of(std::string_view variable) {
  std::string flag = "--";
  for (char c : variable) {
    flag += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return flag;
}

// One option's accepted edges and rejected neighbours.
struct range_case {
  std::string variable;
  std::vector<std::string> accepted;
  std::vector<std::string> rejected;
  std::string range_text;  // must appear in the refusal message
};

const std::vector<range_case>& range_cases() {
  static const std::vector<range_case> cases = {
      {"PORT", {"0", "65535"}, {"65536", "-1"}, "0..65535"},
      {"THREADS", {"1", "256"}, {"0", "257"}, "1..256"},
      {"WINDOW_SIZE", {"2", "4096"}, {"1", "4097", "0"}, "2..4096"},
      {"MAX_BODY_BYTES", {"64", "1073741824"}, {"63", "1073741825"}, "64..1073741824"},
      {"MAX_BATCH", {"1", "1000000"}, {"0", "1000001"}, "1..1000000"},
      {"MAX_HEADER_BYTES", {"512", "1048576"}, {"511", "1048577"}, "512..1048576"},
      {"MAX_CONNECTIONS", {"1", "1000000"}, {"0", "1000001"}, "1..1000000"},
      {"READ_TIMEOUT_MS", {"1", "3600000"}, {"0", "3600001", "-5"}, "1..3600000"},
      {"WRITE_TIMEOUT_MS", {"1", "3600000"}, {"0", "3600001"}, "1..3600000"},
      {"IDLE_TIMEOUT_MS", {"1", "3600000"}, {"0", "3600001"}, "1..3600000"},
      {"REDIS_DB", {"0", "1048576"}, {"-1", "1048577"}, "0..1048576"},
      {"HISTORY_SIZE", {"50", "10000000"}, {"10000001"}, "10000000"},
      {"REDIS_QUEUE_LIMIT", {"1", "100000000"}, {"0", "100000001"}, "1..100000000"},
      {"REDIS_RESTORE_TIMEOUT_MS", {"1", "3600000"}, {"0", "3600001"}, "1..3600000"},
      {"SHUTDOWN_DELAY_MS", {"0", "3600000"}, {"-1", "3600001"}, "0..3600000"},
      {"SHUTDOWN_TIMEOUT_MS", {"1", "3600000"}, {"0", "3600001"}, "1..3600000"},
      {"ANOMALY_THRESHOLD",
       {"0.000001", "2.5", "1000000"},
       {"0", "-1", "abc", "nan", "inf"},
       "> 0"},
      {"WARMUP", {"2", "50"}, {"1", "51"}, "2.."},
      {"LOG_FORMAT", {"text", "json"}, {"xml", "TEXT", ""}, "json"},
      {"LOG_LEVEL",
       {"trace", "debug", "info", "warn", "error", "critical", "off"},
       {"loud", "INFO", ""},
       "critical"},
      {"WINDOW_SCOPE", {"instance"}, {"Shared", "global", ""}, "instance shared"},
      {"SHARED_MAX_IN_FLIGHT", {"1", "1000000"}, {"0", "1000001"}, "1..1000000"},
      {"KEY_PREFIX", {"k", std::string(128, 'k')}, {"", std::string(129, 'k')}, "128"},
      {"INSTANCE_ID", {"i", std::string(253, 'i')}, {"", std::string(254, 'i')}, "253"},
      {"INGEST_TOKEN", {"", std::string(4096, 't')}, {std::string(4097, 't')}, "4096"},
      {"REDIS_PASSWORD", {"", std::string(1024, 'p')}, {std::string(1025, 'p')}, "1024"},
      {"BIND_ADDR", {"127.0.0.1", "::1"}, {""}, "address"},
  };
  return cases;
}

TEST(ConfigTest, defaults) {
  const config cfg = load_ok({});
  EXPECT_EQ(cfg.bind_address, "0.0.0.0");
  EXPECT_EQ(cfg.port, 8080);
  EXPECT_EQ(cfg.threads, default_thread_count());
  EXPECT_GE(cfg.threads, 1U);
  EXPECT_EQ(cfg.window_size, 50U);
  EXPECT_EQ(cfg.anomaly_threshold, 2.0);
  EXPECT_EQ(cfg.warmup, 50U);
  EXPECT_EQ(cfg.max_body_bytes, 1048576U);
  EXPECT_EQ(cfg.max_batch, 1000U);
  EXPECT_EQ(cfg.max_header_bytes, 8192U);
  EXPECT_EQ(cfg.max_connections, 10000U);
  EXPECT_EQ(cfg.read_timeout, 10000ms);
  EXPECT_EQ(cfg.write_timeout, 10000ms);
  EXPECT_EQ(cfg.idle_timeout, 60000ms);
  EXPECT_EQ(cfg.redis_addr, "");
  EXPECT_EQ(cfg.redis_password, "");
  EXPECT_EQ(cfg.redis_db, 0);
  EXPECT_EQ(cfg.key_prefix, "metrics-analyzer");
  EXPECT_FALSE(cfg.instance_id.empty());  // the host name
  EXPECT_EQ(cfg.window_scope, "instance");
  EXPECT_EQ(cfg.ingest_token, "");
  EXPECT_EQ(cfg.history_size, 1000U);
  EXPECT_EQ(cfg.redis_queue_limit, 100000U);
  EXPECT_EQ(cfg.redis_restore_timeout, 5000ms);
  EXPECT_EQ(cfg.shutdown_delay, 0ms);
  EXPECT_EQ(cfg.shutdown_timeout, 10000ms);
  EXPECT_EQ(cfg.log_level, "info");
  EXPECT_EQ(cfg.log_fmt, log_format::text);
}

TEST(ConfigTest, warmup_follows_window_size_when_unset) {
  EXPECT_EQ(load_ok({{"WINDOW_SIZE", "20"}}).warmup, 20U);
  EXPECT_EQ(load_ok({{"WINDOW_SIZE", "4096"}}).warmup, 4096U);
  EXPECT_EQ(load_ok({}, {"--window-size", "7"}).warmup, 7U);
}

TEST(ConfigTest, explicit_warmup_is_kept) {
  const config cfg = load_ok({{"WINDOW_SIZE", "20"}, {"WARMUP", "5"}});
  EXPECT_EQ(cfg.window_size, 20U);
  EXPECT_EQ(cfg.warmup, 5U);
}

TEST(ConfigTest, history_size_is_raised_to_window_size_when_unset) {
  EXPECT_EQ(load_ok({{"WINDOW_SIZE", "2000"}}).history_size, 2000U);
  // Never lowered: the default 1000 stays when the window is smaller.
  EXPECT_EQ(load_ok({{"WINDOW_SIZE", "20"}}).history_size, 1000U);
}

TEST(ConfigTest, history_size_below_window_size_is_refused) {
  const exit_request failure = load_exit({{"WINDOW_SIZE", "100"}, {"HISTORY_SIZE", "99"}});
  EXPECT_EQ(failure.exit_code, 2);
  EXPECT_THAT(failure.text, HasSubstr("HISTORY_SIZE"));
  EXPECT_THAT(failure.text, HasSubstr("WINDOW_SIZE"));
  EXPECT_THAT(failure.text, HasSubstr("100"));
  EXPECT_EQ(load_ok({{"WINDOW_SIZE", "100"}, {"HISTORY_SIZE", "100"}}).history_size, 100U);
}

TEST(ConfigTest, warmup_above_window_size_is_refused) {
  const exit_request failure = load_exit({{"WINDOW_SIZE", "10"}, {"WARMUP", "11"}});
  EXPECT_EQ(failure.exit_code, 2);
  EXPECT_THAT(failure.text, HasSubstr("WARMUP"));
  EXPECT_THAT(failure.text, HasSubstr("2..WINDOW_SIZE"));
  EXPECT_EQ(load_ok({{"WINDOW_SIZE", "10"}, {"WARMUP", "10"}}).warmup, 10U);
}

TEST(ConfigTest, environment_sets_every_field) {
  const config cfg = load_ok({
      {"BIND_ADDR", "127.0.0.1"},
      {"PORT", "9001"},
      {"THREADS", "3"},
      {"WINDOW_SIZE", "64"},
      {"ANOMALY_THRESHOLD", "3.5"},
      {"WARMUP", "10"},
      {"MAX_BODY_BYTES", "2048"},
      {"MAX_BATCH", "7"},
      {"MAX_HEADER_BYTES", "4096"},
      {"MAX_CONNECTIONS", "12"},
      {"READ_TIMEOUT_MS", "11"},
      {"WRITE_TIMEOUT_MS", "12"},
      {"IDLE_TIMEOUT_MS", "13"},
      {"REDIS_PASSWORD", "pw"},
      {"REDIS_DB", "4"},
      {"KEY_PREFIX", "kp"},
      {"INSTANCE_ID", "pod-1"},
      {"WINDOW_SCOPE", "instance"},
      {"INGEST_TOKEN", "tok"},
      {"HISTORY_SIZE", "500"},
      {"REDIS_QUEUE_LIMIT", "77"},
      {"REDIS_RESTORE_TIMEOUT_MS", "14"},
      {"SHUTDOWN_DELAY_MS", "15"},
      {"SHUTDOWN_TIMEOUT_MS", "16"},
      {"LOG_LEVEL", "debug"},
      {"LOG_FORMAT", "json"},
  });
  EXPECT_EQ(cfg.bind_address, "127.0.0.1");
  EXPECT_EQ(cfg.port, 9001);
  EXPECT_EQ(cfg.threads, 3U);
  EXPECT_EQ(cfg.window_size, 64U);
  EXPECT_EQ(cfg.anomaly_threshold, 3.5);
  EXPECT_EQ(cfg.warmup, 10U);
  EXPECT_EQ(cfg.max_body_bytes, 2048U);
  EXPECT_EQ(cfg.max_batch, 7U);
  EXPECT_EQ(cfg.max_header_bytes, 4096U);
  EXPECT_EQ(cfg.max_connections, 12U);
  EXPECT_EQ(cfg.read_timeout, 11ms);
  EXPECT_EQ(cfg.write_timeout, 12ms);
  EXPECT_EQ(cfg.idle_timeout, 13ms);
  EXPECT_EQ(cfg.redis_password, "pw");
  EXPECT_EQ(cfg.redis_db, 4);
  EXPECT_EQ(cfg.key_prefix, "kp");
  EXPECT_EQ(cfg.instance_id, "pod-1");
  EXPECT_EQ(cfg.window_scope, "instance");
  EXPECT_EQ(cfg.ingest_token, "tok");
  EXPECT_EQ(cfg.history_size, 500U);
  EXPECT_EQ(cfg.redis_queue_limit, 77U);
  EXPECT_EQ(cfg.redis_restore_timeout, 14ms);
  EXPECT_EQ(cfg.shutdown_delay, 15ms);
  EXPECT_EQ(cfg.shutdown_timeout, 16ms);
  EXPECT_EQ(cfg.log_level, "debug");
  EXPECT_EQ(cfg.log_fmt, log_format::json);
}

TEST(ConfigTest, port_flag_with_separate_value) {
  EXPECT_EQ(load_ok({}, {"--port", "9000"}).port, 9000);
}

TEST(ConfigTest, port_flag_with_equals_value) {
  EXPECT_EQ(load_ok({}, {"--port=9000"}).port, 9000);
}

TEST(ConfigTest, flags_win_over_environment) {
  const config cfg = load_ok({{"PORT", "7000"}, {"LOG_FORMAT", "json"}, {"WINDOW_SIZE", "30"}},
                             {"--port", "9000", "--log-format=text", "--window-size", "40"});
  EXPECT_EQ(cfg.port, 9000);
  EXPECT_EQ(cfg.log_fmt, log_format::text);
  EXPECT_EQ(cfg.window_size, 40U);
  EXPECT_EQ(cfg.warmup, 40U);
}

TEST(ConfigTest, later_flag_wins_over_earlier_flag) {
  EXPECT_EQ(load_ok({}, {"--port", "9000", "--port=9001"}).port, 9001);
}

TEST(ConfigTest, every_variable_has_a_matching_flag) {
  for (const auto& name : all_variables()) {
    const std::string flag = flag_of(name);
    auto loaded = load({flag + "=definitely-not-valid-\x01"}, lookup_in({}));
    // Unknown flags are refused with "unknown option"; known ones reach validation.
    if (const auto* failure = std::get_if<exit_request>(&loaded)) {
      EXPECT_THAT(failure->text, Not(HasSubstr("unknown option"))) << flag;
    }
  }
}

TEST(ConfigTest, accepted_range_edges) {
  for (const auto& c : range_cases()) {
    for (const auto& value : c.accepted) {
      auto loaded = load({}, lookup_in({{c.variable, value}}));
      const auto* failure = std::get_if<exit_request>(&loaded);
      EXPECT_EQ(failure, nullptr) << c.variable << "='" << value
                                  << "' refused: " << (failure ? failure->text : "");
    }
  }
}

TEST(ConfigTest, values_just_beyond_the_range_are_refused_naming_variable_and_range) {
  for (const auto& c : range_cases()) {
    for (const auto& value : c.rejected) {
      auto loaded = load({}, lookup_in({{c.variable, value}}));
      const auto* failure = std::get_if<exit_request>(&loaded);
      ASSERT_NE(failure, nullptr) << c.variable << "='" << value << "' accepted";
      EXPECT_EQ(failure->exit_code, 2) << c.variable << "='" << value << "'";
      EXPECT_THAT(failure->text, HasSubstr(c.variable)) << value;
      EXPECT_THAT(failure->text, HasSubstr(c.range_text)) << c.variable << "='" << value << "'";
    }
  }
}

TEST(ConfigTest, flag_values_are_validated_like_the_environment) {
  const exit_request failure = load_exit({}, {"--port=65536"});
  EXPECT_EQ(failure.exit_code, 2);
  EXPECT_THAT(failure.text, HasSubstr("--port"));
  EXPECT_THAT(failure.text, HasSubstr("0..65535"));

  const exit_request window = load_exit({}, {"--window-size", "1"});
  EXPECT_EQ(window.exit_code, 2);
  EXPECT_THAT(window.text, HasSubstr("2..4096"));
}

TEST(ConfigTest, non_numeric_values_are_refused) {
  for (const std::string value :
       {"abc", "80x", "", " 80", "80 ", "8.0", "0x50", "1e3", "99999999999999999999", "-"}) {
    const exit_request failure = load_exit({{"PORT", value}});
    EXPECT_EQ(failure.exit_code, 2) << "'" << value << "'";
    EXPECT_THAT(failure.text, HasSubstr("PORT")) << "'" << value << "'";
    EXPECT_THAT(failure.text, HasSubstr("0..65535")) << "'" << value << "'";
  }
  for (const std::string value : {"abc", "1000x", "", "1.5"}) {
    const exit_request failure = load_exit({{"READ_TIMEOUT_MS", value}});
    EXPECT_EQ(failure.exit_code, 2) << "'" << value << "'";
    EXPECT_THAT(failure.text, HasSubstr("READ_TIMEOUT_MS")) << "'" << value << "'";
  }
  for (const std::string value : {"2.0x", "", "1e999"}) {
    const exit_request failure = load_exit({{"ANOMALY_THRESHOLD", value}});
    EXPECT_EQ(failure.exit_code, 2) << "'" << value << "'";
    EXPECT_THAT(failure.text, HasSubstr("ANOMALY_THRESHOLD")) << "'" << value << "'";
  }
}

TEST(ConfigTest, unknown_flag_exits_2) {
  for (const std::string arg : {"--no-such-flag", "--no-such-flag=1", "positional", "-p"}) {
    const exit_request failure = load_exit({}, {arg});
    EXPECT_EQ(failure.exit_code, 2) << arg;
  }
  EXPECT_THAT(load_exit({}, {"--no-such-flag"}).text, HasSubstr("--no-such-flag"));
}

TEST(ConfigTest, flag_without_value_exits_2) {
  const exit_request failure = load_exit({}, {"--port"});
  EXPECT_EQ(failure.exit_code, 2);
  EXPECT_THAT(failure.text, HasSubstr("--port"));
  EXPECT_EQ(load_exit({}, {"--window-size=1", "--port"}).exit_code, 2);
  EXPECT_EQ(load_exit({}, {"--port="}).exit_code, 2);
}

TEST(ConfigTest, help_exits_0_and_lists_every_variable) {
  const exit_request help = load_exit({}, {"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(help.text, help_text());
  for (const auto& name : all_variables()) {
    EXPECT_THAT(help.text, HasSubstr(name));
    EXPECT_THAT(help.text, HasSubstr(flag_of(name)));
  }
  EXPECT_THAT(help.text, HasSubstr("default"));
  EXPECT_EQ(load_exit({}, {"-h"}).exit_code, 0);
}

TEST(ConfigTest, version_exits_0) {
  const exit_request version = load_exit({}, {"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.text, HasSubstr(build::kVersion));
}

TEST(ConfigTest, describe_redacts_secrets) {
  const config from_env = load_ok({{"INGEST_TOKEN", "s3cret"}, {"REDIS_PASSWORD", "s3cret"}});
  ASSERT_EQ(from_env.ingest_token, "s3cret");
  ASSERT_EQ(from_env.redis_password, "s3cret");
  EXPECT_THAT(describe(from_env), Not(HasSubstr("s3cret")));

  const config from_flags = load_ok({}, {"--ingest-token", "s3cret", "--redis-password=s3cret"});
  EXPECT_THAT(describe(from_flags), Not(HasSubstr("s3cret")));
}

TEST(ConfigTest, describe_shows_effective_values) {
  const config cfg = load_ok({{"PORT", "9123"}, {"WINDOW_SIZE", "77"}});
  const std::string line = describe(cfg);
  EXPECT_THAT(line, HasSubstr("9123"));
  EXPECT_THAT(line, HasSubstr("77"));
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(ConfigTest, redis_addr_accepts_host_port_ipv6_and_unix_socket) {
  EXPECT_EQ(load_ok({{"REDIS_ADDR", "localhost:6379"}}).redis_addr, "localhost:6379");
  EXPECT_EQ(load_ok({{"REDIS_ADDR", "[::1]:6380"}}).redis_addr, "[::1]:6380");
  EXPECT_EQ(load_ok({}, {"--redis-addr", "unix:/tmp/redis.sock"}).redis_addr,
            "unix:/tmp/redis.sock");
}

TEST(ConfigTest, malformed_redis_addr_exits_2_naming_the_forms) {
  for (const char* bad : {"localhost", "localhost:0", "localhost:65536", ":6379", "::1:6379",
                          "unix:", "unix:relative.sock", "host:63x9"}) {
    const exit_request failure = load_exit({{"REDIS_ADDR", bad}});
    EXPECT_EQ(failure.exit_code, 2) << bad;
    EXPECT_THAT(failure.text, HasSubstr("REDIS_ADDR")) << bad;
    EXPECT_THAT(failure.text, HasSubstr("unix:/path")) << bad;
  }
}

TEST(ConfigTest, empty_redis_addr_means_the_memory_store) {
  EXPECT_EQ(load_ok({{"REDIS_ADDR", ""}}).redis_addr, "");
}

TEST(ConfigTest, shared_window_scope_needs_redis_addr) {
  const exit_request failure = load_exit({{"WINDOW_SCOPE", "shared"}});
  EXPECT_EQ(failure.exit_code, 2);
  EXPECT_THAT(failure.text, HasSubstr("WINDOW_SCOPE"));
  EXPECT_THAT(failure.text, HasSubstr("REDIS_ADDR"));
  const exit_request flagged = load_exit({}, {"--window-scope", "shared"});
  EXPECT_EQ(flagged.exit_code, 2);
  EXPECT_THAT(flagged.text, HasSubstr("REDIS_ADDR"));
}

TEST(ConfigTest, shared_window_scope_with_redis_is_accepted) {
  const config cfg = load_ok({{"WINDOW_SCOPE", "shared"}, {"REDIS_ADDR", "127.0.0.1:6379"}});
  EXPECT_EQ(cfg.window_scope, "shared");
  EXPECT_EQ(cfg.shared_max_in_flight, 1024U);
  const config flagged = load_ok({{"REDIS_ADDR", "127.0.0.1:6379"}},
                                 {"--window-scope=shared", "--shared-max-in-flight", "8"});
  EXPECT_EQ(flagged.window_scope, "shared");
  EXPECT_EQ(flagged.shared_max_in_flight, 8U);
  EXPECT_THAT(describe(flagged), HasSubstr("window_scope=shared"));
}

// A shared-scope batch is one Redis script call: its size is bounded so that no call holds
// Redis over ~50 ms. The edge is accepted, one more is refused naming the variable.
TEST(ConfigTest, shared_scope_caps_max_batch) {
  auto with = [](std::size_t batch) {
    return env_map{{"WINDOW_SCOPE", "shared"},
                   {"REDIS_ADDR", "127.0.0.1:6379"},
                   {"MAX_BATCH", std::to_string(batch)}};
  };
  EXPECT_EQ(load_ok(with(kSharedMaxBatch)).max_batch, kSharedMaxBatch);
  const exit_request over = load_exit(with(kSharedMaxBatch + 1));
  EXPECT_EQ(over.exit_code, 2);
  EXPECT_THAT(over.text, HasSubstr("MAX_BATCH"));
  EXPECT_THAT(over.text, HasSubstr("WINDOW_SCOPE=shared"));
  // The instance scope keeps its own, larger range.
  EXPECT_EQ(load_ok({{"MAX_BATCH", std::to_string(kSharedMaxBatch + 1)}}).max_batch,
            kSharedMaxBatch + 1);
}

TEST(ConfigTest, first_invalid_value_stops_loading) {
  // An invalid environment is reported even when flags would be valid.
  const exit_request failure = load_exit({{"MAX_BATCH", "0"}}, {"--port", "9000"});
  EXPECT_EQ(failure.exit_code, 2);
  EXPECT_THAT(failure.text, HasSubstr("MAX_BATCH"));
}

}  // namespace
}  // namespace analyzer::config
