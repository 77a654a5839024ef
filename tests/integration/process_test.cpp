// The real binary: configuration errors exit 2 naming the variable, --help lists every
// option, and SIGTERM/SIGINT drain and exit 0.
#include "support/process.hpp"
#include "support/http_client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <sstream>

namespace analyzer::test {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

const std::string kBinary = ANALYZER_BINARY;

std::uint16_t wait_listening(child_process& p) {
  const auto line = p.wait_for_line("listening on", 30s);
  if (!line) return 0;
  // "... listening on 127.0.0.1:PORT with ..."
  const auto at = line->find("listening on ");
  const auto colon = line->find(':', at);
  const auto space = line->find(' ', colon);
  if (at == std::string::npos || colon == std::string::npos || space == std::string::npos) {
    return 0;
  }
  return static_cast<std::uint16_t>(std::stoi(line->substr(colon + 1, space - colon - 1)));
}

// "listening" comes before the (empty) restore: poll /ready until it is 200.
bool wait_ready(std::uint16_t port) {
  http_client client(port);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (client.get("/ready").status == 200) return true;
  }
  return false;
}

TEST(ProcessTest, invalid_configuration_exits_2_naming_the_variable) {
  struct bad {
    std::string name, value, expect;
  };
  for (const auto& b : std::vector<bad>{{"PORT", "70000", "0..65535"},
                                        {"WINDOW_SIZE", "1", "2..4096"},
                                        {"ANOMALY_THRESHOLD", "0", "> 0"},
                                        {"LOG_FORMAT", "xml", "text json"},
                                        {"THREADS", "many", "1..256"}}) {
    child_process p(kBinary, {}, {{b.name, b.value}});
    EXPECT_EQ(p.wait_exit(30s), 2) << b.name;
    EXPECT_THAT(p.output(), HasSubstr(b.name)) << p.output();
    EXPECT_THAT(p.output(), HasSubstr(b.expect)) << p.output();
  }
  child_process flag(kBinary, {"--port", "-1"}, {});
  EXPECT_EQ(flag.wait_exit(30s), 2);
  EXPECT_THAT(flag.output(), HasSubstr("--port"));
}

TEST(ProcessTest, help_lists_every_option_with_its_default) {
  child_process p(kBinary, {"--help"}, {});
  EXPECT_EQ(p.wait_exit(30s), 0);
  for (const char* name : {"PORT",
                           "THREADS",
                           "WINDOW_SIZE",
                           "ANOMALY_THRESHOLD",
                           "WARMUP",
                           "MAX_BODY_BYTES",
                           "MAX_BATCH",
                           "MAX_HEADER_BYTES",
                           "MAX_CONNECTIONS",
                           "READ_TIMEOUT_MS",
                           "IDLE_TIMEOUT_MS",
                           "REDIS_ADDR",
                           "REDIS_PASSWORD",
                           "REDIS_DB",
                           "KEY_PREFIX",
                           "INSTANCE_ID",
                           "WINDOW_SCOPE",
                           "INGEST_TOKEN",
                           "HISTORY_SIZE",
                           "REDIS_QUEUE_LIMIT",
                           "REDIS_RESTORE_TIMEOUT_MS",
                           "SHUTDOWN_DELAY_MS",
                           "SHUTDOWN_TIMEOUT_MS",
                           "LOG_LEVEL",
                           "LOG_FORMAT"}) {
    EXPECT_THAT(p.output(), HasSubstr(std::string("(") + name + ")")) << name;
  }
  EXPECT_THAT(p.output(), HasSubstr("[default: 8080]"));
}

TEST(ProcessTest, sigterm_drains_and_exits_zero) {
  for (int signo : {SIGTERM, SIGINT}) {
    child_process p(kBinary, {}, {{"PORT", "0"}, {"BIND_ADDR", "127.0.0.1"}, {"THREADS", "2"}});
    const auto port = wait_listening(p);
    ASSERT_NE(port, 0) << p.output();
    ASSERT_TRUE(wait_ready(port));
    p.signal(signo);
    EXPECT_EQ(p.wait_exit(30s), 0) << p.output();
    EXPECT_THAT(p.output(), HasSubstr("shutdown complete"));
  }
}

TEST(ProcessTest, json_log_format_writes_one_object_per_line) {
  child_process p(kBinary, {"--log-format", "json"},
                  {{"PORT", "0"}, {"BIND_ADDR", "127.0.0.1"}, {"THREADS", "1"}});
  const auto port = wait_listening(p);
  ASSERT_NE(port, 0) << p.output();
  ASSERT_TRUE(wait_ready(port)) << p.output();
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait_exit(30s), 0) << p.output();
  std::istringstream lines(p.output());
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ASSERT_EQ(line.front(), '{') << line;
    ASSERT_EQ(line.back(), '}') << line;
    EXPECT_THAT(line, HasSubstr("\"level\":\""));
    ++count;
  }
  EXPECT_GE(count, 3);
}

}  // namespace
}  // namespace analyzer::test
