// Hostile input over real loopback sockets (issue 7, "Hardening"): malformed and abusive
// bodies, framing and heads, slow and idle clients, half-closed sockets and pipelined
// floods, against the in-process service.
//
// Every case checks the status of architecture.md §2's error catalogue (or a closed
// connection), that the server still serves (/health 200 on a new connection), that
// nothing already accepted changed (the analytics snapshot and /analyze are compared with
// the ones taken before the case, allowing only the samples the case itself had accepted),
// and, where a case sends a lot, that the process' resident memory stays bounded. Each case
// records what it observed; the table is printed at the end of the run.
#include "support/http_client.hpp"
#include "support/raw_socket.hpp"
#include "support/snapshot_compare.hpp"
#include "support/test_service.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

// Which sanitizer instruments this build (cmake/Sanitizers.cmake defines no macro of its
// own): g++ predefines __SANITIZE_*__, clang answers __has_feature.
#if defined(__SANITIZE_THREAD__)
#define ANALYZER_HOSTILE_TSAN 1
#elif defined(__SANITIZE_ADDRESS__)
#define ANALYZER_HOSTILE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ANALYZER_HOSTILE_TSAN 1
#elif __has_feature(address_sanitizer)
#define ANALYZER_HOSTILE_ASAN 1
#endif
#endif

namespace analyzer::test {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t kMiB = std::size_t{1} << 20;
// Resident memory 10 000 idle connections may add (architecture.md §6: at most 64 MiB for the
// whole service with 10 000 connections); ASan and TSan keep shadow state per allocation and
// per descriptor (TSan measured ~26 KiB per connection).
#if defined(ANALYZER_HOSTILE_TSAN)
constexpr std::size_t kIdleConnectionsMemoryBound = 512 * kMiB;
#elif defined(ANALYZER_HOSTILE_ASAN)
constexpr std::size_t kIdleConnectionsMemoryBound = 256 * kMiB;
#else
constexpr std::size_t kIdleConnectionsMemoryBound = 64 * kMiB;
#endif

// What one hostile connection may add to the resident set while it streams 100 MB: the
// service must not buffer what it refuses (its read buffer is tens of KiB).
constexpr std::size_t kStreamMemoryBound = 48 * kMiB;

// --- the summary table ------------------------------------------------------------------

struct case_row {
  std::string name;
  std::string observed;
  bool passed = true;
};

std::vector<case_row>& rows() {
  static std::vector<case_row> table;
  return table;
}

class summary_printer : public ::testing::Environment {
 public:
  void TearDown() override {
    if (rows().empty()) return;
    std::size_t width = 4;
    for (const auto& row : rows()) width = std::max(width, row.name.size());
    std::printf("\nhostile-input cases (%zu)\n", rows().size());
    std::printf("  %-*s  %-6s  %s\n", static_cast<int>(width), "case", "result", "observed");
    for (const auto& row : rows()) {
      std::printf("  %-*s  %-6s  %s\n", static_cast<int>(width), row.name.c_str(),
                  row.passed ? "ok" : "FAILED", row.observed.c_str());
    }
    std::fflush(stdout);
  }
};

[[maybe_unused]] const auto* const kSummary =
    ::testing::AddGlobalTestEnvironment(new summary_printer);

// --- requests ---------------------------------------------------------------------------

std::string post_request(std::string_view body, std::string_view target = "/metrics",
                         std::string_view extra_headers = "") {
  std::string out = "POST ";
  out.append(target).append(" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n");
  out.append(extra_headers);
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  out.append(body);
  return out;
}

std::string get_request(std::string_view target) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\n\r\n";
}

std::string repeat(std::string_view s, std::size_t times) {
  std::string out;
  out.reserve(s.size() * times);
  for (std::size_t i = 0; i < times; ++i) out.append(s);
  return out;
}

std::string chunk(std::string_view data, std::string_view extension = "") {
  std::ostringstream size;
  size << std::hex << data.size();
  return size.str() + std::string(extension) + "\r\n" + std::string(data) + "\r\n";
}

// "400 invalid_json", "202", "closed", ...
std::string describe(const std::optional<http_reply>& reply) {
  if (!reply) return "closed";
  std::string out = std::to_string(reply->status);
  if (reply->status >= 400) {
    const json body = json::parse(reply->body, nullptr, false);
    if (body.is_object() && body.contains("error") && body["error"].is_string()) {
      out += " " + body["error"].get<std::string>();
    }
  }
  return out;
}

// An error response of the catalogue: status, JSON body naming the code and a message,
// Content-Type, X-Request-Id, and Content-Length matching the body.
void expect_error(const std::optional<http_reply>& reply, unsigned status,
                  const std::string& code) {
  ASSERT_TRUE(reply.has_value()) << "expected " << status << " " << code << ", got a close";
  EXPECT_EQ(reply->status, status) << reply->body;
  EXPECT_EQ(reply->header("content-type"), "application/json");
  EXPECT_FALSE(reply->header("x-request-id").empty());
  EXPECT_EQ(reply->header("content-length"), std::to_string(reply->body.size()));
  const json body = json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(body.is_object()) << "error body is not valid JSON: " << reply->body;
  EXPECT_EQ(body.value("error", ""), code) << reply->body;
  ASSERT_TRUE(body.contains("message") && body["message"].is_string()) << reply->body;
  const std::string message = body["message"].get<std::string>();
  EXPECT_FALSE(message.empty());
  EXPECT_TRUE(std::none_of(message.begin(), message.end(),
                           [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
      << "control characters in the message: " << reply->body;
}

// Statuses whose response ends the connection.
void expect_closing(const std::optional<http_reply>& reply, raw_socket& sock) {
  ASSERT_TRUE(reply.has_value());
  EXPECT_FALSE(reply->keep_alive) << "a " << reply->status << " must carry Connection: close";
  EXPECT_TRUE(sock.wait_closed(5s)) << "the connection stayed open after " << reply->status;
}

// --- the fixture --------------------------------------------------------------------------

config::config hostile_config() {
  auto cfg = test_config();
  cfg.max_connections = 20000;
  return cfg;
}

constexpr std::string_view kSeedBatch =
    R"([{"timestamp":1700000000,"cpu":10,"rps":100},{"timestamp":1700000001,"cpu":12.5,"rps":110},
        {"timestamp":1700000002,"cpu":11,"rps":90},{"timestamp":1700000003,"cpu":13,"rps":105},
        {"timestamp":1700000004,"cpu":9.5,"rps":95}])";

class HostileInputTest : public ::testing::Test {
 protected:
  // Starts the service and commits the seed samples that every case must leave alone.
  void start(config::config cfg = hostile_config()) {
    svc_ = std::make_unique<test_service>(std::move(cfg));
    http_client client(svc_->port());
    const auto seeded = client.post_json("/metrics", kSeedBatch);
    ASSERT_EQ(seeded.status, 202U) << seeded.body;
    baseline_ = svc_->core->read();
    baseline_analyze_ = analyze_without_clock(client);
  }

  [[nodiscard]] std::uint16_t port() const { return svc_->port(); }

  // One request on a new connection; the reply or nothing if the server closed first.
  std::optional<http_reply> exchange(std::string_view raw, bool head = false) {
    raw_socket sock(port());
    sock.write_all(raw);
    return sock.read_reply(head);
  }

  // A body posted to /metrics that must be refused with `status` and `code`.
  void expect_refused(std::string_view body, unsigned status, const std::string& code,
                      std::string_view target = "/metrics") {
    SCOPED_TRACE(::testing::Message() << "body: " << printable(body));
    const auto reply = exchange(post_request(body, target));
    expect_error(reply, status, code);
    observe(describe(reply));
  }

  // A body posted to /metrics that is valid and accepted with `samples` samples.
  void expect_accepted(std::string_view body, std::size_t samples) {
    SCOPED_TRACE(::testing::Message() << "body: " << printable(body));
    const auto reply = exchange(post_request(body));
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, 202U) << reply->body;
    const json parsed = json::parse(reply->body, nullptr, false);
    EXPECT_EQ(parsed.value("accepted", std::size_t{0}), samples) << reply->body;
    accepted_ += samples;
    observe(describe(reply));
  }

  // Adds an observation for the summary ("400 invalid_json"); repeats are counted.
  void observe(const std::string& what) { ++observed_[what]; }

  static std::string printable(std::string_view text) {
    std::string out;
    for (const char c : text.substr(0, 120)) {
      const auto b = static_cast<unsigned char>(c);
      if (b >= 0x20 && b < 0x7f) {
        out.push_back(c);
      } else {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02x", b);
        out += hex;
      }
    }
    if (text.size() > 120) out += "...(" + std::to_string(text.size()) + " bytes)";
    return out;
  }

  static json analyze_without_clock(http_client& client) {
    const auto r = client.get("/analyze");
    EXPECT_EQ(r.status, 200U);
    json body = json::parse(r.body);
    body.erase("timestamp");
    body.erase("storage");
    return body;
  }

  // After every case: the server serves, and only the samples the case itself had
  // accepted were added to what was there before.
  void TearDown() override {
    if (svc_) {
      try {
        http_client client(port());
        const auto health = client.get("/health");
        EXPECT_EQ(health.status, 200U) << "the server no longer serves after the case";
        const auto now = svc_->core->read();
        if (accepted_ == 0) {
          expect_same_snapshot(baseline_, now);
          EXPECT_EQ(analyze_without_clock(client), baseline_analyze_);
        } else {
          EXPECT_EQ(now.seq, baseline_.seq + accepted_);
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "the server no longer serves after the case: " << e.what();
      }
      svc_.reset();
    }
    std::string summary;
    for (const auto& [what, count] : observed_) {
      if (!summary.empty()) summary += ", ";
      summary += what;
      if (count > 1) summary += " x" + std::to_string(count);
    }
    if (accepted_ > 0) summary += " (+" + std::to_string(accepted_) + " samples accepted)";
    RecordProperty("observed", summary);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    rows().push_back({info->name(), summary, !HasFailure()});
  }

  std::unique_ptr<test_service> svc_;
  analytics::snapshot baseline_;
  json baseline_analyze_;
  std::size_t accepted_ = 0;
  std::map<std::string, std::size_t> observed_;
};

// --- JSON bodies ---------------------------------------------------------------------------

TEST_F(HostileInputTest, malformed_json_is_400_invalid_json) {
  start();
  for (const std::string& body :
       std::vector<std::string>{R"({"cpu": 1,)",
                                R"({"cpu" 1, "rps": 2})",
                                R"({cpu: 1, rps: 2})",
                                R"({'cpu': 1, 'rps': 2})",
                                R"([{"cpu":1,"rps":1},])",
                                R"({"cpu":1,"rps":1,})",
                                R"({"cpu":1,"rps":1}})",
                                R"({"cpu":1,"rps":1} {"cpu":1,"rps":1})",
                                R"({"cpu":01,"rps":1})",
                                R"({"cpu":1.,"rps":1})",
                                R"({"cpu":.5,"rps":1})",
                                R"({"cpu":+1,"rps":1})",
                                R"({"cpu":0x10,"rps":1})",
                                R"(/* c */ {"cpu":1,"rps":1})",
                                R"({"cpu":1,"rps":1} // c)",
                                R"({"cpu":"1\x","rps":1})",
                                R"({"cpu":1,"rps":1)",
                                std::string(R"({"cpu":1,"rps":1})") + std::string(1, '\0') + "junk",
                                std::string("{\"cpu\":1,\0\"rps\":1}", 18),
                                "\x01",
                                "   ",
                                "\"unterminated",
                                R"({"cpu":tru,"rps":1})",
                                R"({"cpu":nul,"rps":1})",
                                "{\"cpu\":1,\n\"rps\":1\n"}) {
    expect_refused(body, 400, "invalid_json");
  }
}

TEST_F(HostileInputTest, truncated_json_is_400_invalid_json) {
  start();
  const std::string full =
      R"([{"timestamp":"2023-11-14T22:13:20.5Z","cpu":42.5,"rps":1200},{"cpu":1,"rps":2e3}])";
  for (std::size_t cut = 1; cut < full.size(); ++cut) {
    expect_refused(full.substr(0, cut), 400, "invalid_json");
  }
}

TEST_F(HostileInputTest, nan_and_infinity_literals_are_400_invalid_json) {
  start();
  for (const char* literal : {"NaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "+Inf"}) {
    expect_refused(std::string(R"({"cpu":)") + literal + R"(,"rps":1})", 400, "invalid_json");
    expect_refused(std::string(R"({"cpu":1,"rps":)") + literal + "}", 400, "invalid_json");
  }
  // As strings they are the wrong type, not numbers.
  expect_refused(R"({"cpu":"NaN","rps":1})", 400, "invalid_type");
  expect_refused(R"({"cpu":1,"rps":"Infinity"})", 400, "invalid_type");
}

TEST_F(HostileInputTest, numbers_out_of_range_are_400_out_of_range) {
  start();
  for (const char* body :
       {R"({"cpu":1e309,"rps":1})", R"({"cpu":-1e309,"rps":1})", R"({"cpu":1,"rps":1e309})",
        R"({"cpu":1,"rps":1E+99999})", R"({"cpu":1,"rps":-1e99999})",
        R"({"cpu":1,"rps":1,"timestamp":1e400})", R"({"cpu":1,"rps":1,"other":1e309})",
        R"({"cpu":100.000001,"rps":1})", R"({"cpu":-0.000001,"rps":1})", R"({"cpu":1,"rps":-1})",
        R"({"cpu":123456789012345678901234567890,"rps":1})",
        R"({"cpu":1,"rps":-18446744073709551616})", R"({"cpu":1,"rps":1,"timestamp":-1})",
        R"({"cpu":1,"rps":1,"timestamp":253402300800})",
        R"({"cpu":1,"rps":1,"timestamp":1700000000000})",
        R"({"cpu":1,"rps":1,"timestamp":"0000-01-01T00:00:00Z"})",
        R"([{"cpu":1,"rps":1},{"cpu":1,"rps":1e309}])"}) {
    expect_refused(body, 400, "out_of_range");
  }
}

TEST_F(HostileInputTest, negative_zero_underflow_and_huge_finite_numbers_are_accepted) {
  start();
  // -0 is a valid 0, 1e-400 underflows to 0, the largest double is a finite rps.
  expect_accepted(R"({"cpu":-0,"rps":-0.0,"timestamp":-0})", 1);
  expect_accepted(R"({"cpu":1e-400,"rps":4.9e-324})", 1);
  expect_accepted(R"({"cpu":100,"rps":1.7976931348623157e308,"timestamp":253402300799})", 1);
  expect_accepted(R"({"cpu":0.0000000000000000000000000001e28,"rps":18446744073709551615})", 1);
  // /analyze still renders valid JSON with such values in the window.
  http_client client(port());
  const auto r = client.get("/analyze");
  ASSERT_EQ(r.status, 200U);
  const json body = json::parse(r.body, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << r.body;
  EXPECT_EQ(body["metrics"]["rps"]["max"].get<double>(), 1.7976931348623157e308);
  EXPECT_EQ(r.body.find("-0,"), std::string::npos) << r.body;
  EXPECT_EQ(client.get("/metrics").status, 200U);
}

TEST_F(HostileInputTest, deep_nesting_of_10000_levels_is_refused_or_skipped_without_recursion) {
  start();
  constexpr std::size_t kDepth = 10000;
  const std::string open_arrays(kDepth, '[');
  const std::string close_arrays(kDepth, ']');
  expect_refused(open_arrays + close_arrays, 400, "invalid_body");
  expect_refused(open_arrays, 400, "invalid_body");
  expect_refused(R"({"x":)" + open_arrays + close_arrays + "}", 400, "missing_field");
  expect_refused(R"({"cpu":1,"rps":1,"x":)" + open_arrays, 400, "invalid_json");
  expect_refused(R"({"cpu":1,"rps":1,"x":)" + repeat(R"({"a":)", kDepth) + "1" +
                     std::string(kDepth, '}') + "}}",
                 400, "invalid_json");  // one brace too many
  // Nesting inside an unknown field is skipped: the sample is valid.
  expect_accepted(R"({"cpu":1,"rps":1,"x":)" + repeat(R"({"a":)", kDepth) + "[1]" +
                      std::string(kDepth, '}') + "}",
                  1);
  // As deep as the body limit allows (1 MiB of '[').
  expect_refused(std::string(1024 * 1024 - 2, '['), 400, "invalid_body");
}

TEST_F(HostileInputTest, invalid_utf8_in_strings_and_keys_is_400_and_the_error_is_valid_json) {
  start();
  for (const std::string& body : std::vector<std::string>{
           "{\"cpu\":1,\"rps\":1,\"\xff\":1}", "{\"cpu\":1,\"rps\":1,\"k\":\"\xc3\x28\"}",
           "{\"cpu\":1,\"rps\":1,\"timestamp\":\"\xed\xa0\x80\"}",  // UTF-16 surrogate
           "{\"cpu\":1,\"rps\":1,\"k\":\"\xc0\xaf\"}",              // overlong '/'
           "{\"cpu\":1,\"rps\":1,\"k\":\"\xf4\x90\x80\x80\"}",      // above U+10FFFF
           "{\"cpu\":1,\"rps\":1,\"k\":\"\xe2\x82\"}",              // truncated sequence
           "{\"\xfe\xff\":1,\"cpu\":1,\"rps\":1}", R"({"cpu":1,"rps":1,"k":"\ud800"})",
           R"({"cpu":1,"rps":1,"k":"\udc00\ud800"})",
           "{\"cpu\":1,\"rps\":1,\"k\":\"a\x01"
           "b\"}"}) {
    expect_refused(body, 400, "invalid_json");
  }
  // Keys the client controls come back in messages: cut on a character boundary, without
  // control characters, and always valid JSON.
  const std::string long_key = repeat("\xc3\xa9", 100);  // 200 bytes of "é"
  expect_refused("{\"" + long_key + "\":1,\"" + long_key + "\":2,\"cpu\":1,\"rps\":1}", 400,
                 "duplicate_key");
  expect_refused(R"({"a\u0000\n\u001b[31m":1,"a\u0000\n\u001b[31m":2,"cpu":1,"rps":1})", 400,
                 "duplicate_key");
  // Escaped NULs and valid non-ASCII text are fine in unknown fields.
  expect_accepted(R"({"cpu":1,"rps":1,"k\u0000":"\u00e9\ud83d\ude00","\u2028":"é"})", 1);
}

TEST_F(HostileInputTest, duplicate_keys_are_400_duplicate_key) {
  start();
  for (const std::string& body : std::vector<std::string>{
           R"({"cpu":1,"cpu":2,"rps":1})", R"({"cpu":1,"rps":1,"rps":1})",
           R"({"timestamp":1,"cpu":1,"rps":1,"timestamp":1})", R"({"x":1,"cpu":1,"rps":1,"x":1})",
           R"([{"cpu":1,"rps":1},{"cpu":1,"rps":1,"cpu":1}])",
           // 10 000 distinct unknown keys (the hashed path), then one of them again.
           "{" +
               [] {
                 std::string keys;
                 for (int i = 0; i < 10000; ++i) keys += "\"k" + std::to_string(i) + "\":0,";
                 return keys;
               }() +
               R"("cpu":1,"rps":1,"k9999":1})"}) {
    expect_refused(body, 400, "duplicate_key");
  }
  // Duplicates inside an unknown field's value are not the sample's keys.
  expect_accepted(R"({"cpu":1,"rps":1,"x":{"a":1,"a":2}})", 1);
}

TEST_F(HostileInputTest, wrong_types_are_400_invalid_type_or_invalid_body) {
  start();
  for (const char* body :
       {R"({"cpu":"1","rps":1})", R"({"cpu":true,"rps":1})", R"({"cpu":null,"rps":1})",
        R"({"cpu":[1],"rps":1})", R"({"cpu":{"v":1},"rps":1})", R"({"cpu":1,"rps":false})",
        R"({"cpu":1,"rps":1,"timestamp":true})", R"({"cpu":1,"rps":1,"timestamp":[1]})",
        R"({"cpu":1,"rps":1,"timestamp":"yesterday"})",
        R"({"cpu":1,"rps":1,"timestamp":"2023-02-29T00:00:00Z"})",
        R"({"cpu":1,"rps":1,"timestamp":"2023-11-14T22:13:60Z"})"}) {
    expect_refused(body, 400, "invalid_type");
  }
  for (const char* body : {"42", "\"sample\"", "null", "true", "[]", "[1,2]", "[[]]",
                           R"([{"cpu":1,"rps":1},"x"])", "[null]"}) {
    expect_refused(body, 400, "invalid_body");
  }
  expect_refused("{}", 400, "missing_field");
  expect_refused(R"({"CPU":1,"RPS":1})", 400, "missing_field");
}

TEST_F(HostileInputTest, batch_over_max_batch_is_413_batch_too_large) {
  start();
  std::string batch = "[";
  for (int i = 0; i < 1001; ++i) batch += std::string(i ? "," : "") + R"({"cpu":1,"rps":1})";
  batch += "]";
  expect_refused(batch, 413, "batch_too_large");
  // Refused at element 1001 even when the rest is garbage.
  expect_refused(batch.substr(0, batch.size() - 1) + ",garbage", 413, "batch_too_large");
}

// --- big bodies ------------------------------------------------------------------------------

TEST_F(HostileInputTest, body_of_100_mb_with_content_length_is_413_without_buffering) {
  start();
  const std::size_t before = resident_bytes();
  raw_socket sock(port());
  ASSERT_TRUE(
      sock.write_all("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: 104857600\r\n\r\n"));
  const auto streamed = sock.stream(100 * kMiB, R"({"cpu":1,"rps":1},)");
  EXPECT_TRUE(streamed.answered) << "sent " << streamed.sent;
  const auto reply = sock.read_reply();
  expect_error(reply, 413, "body_too_large");
  expect_closing(reply, sock);
  EXPECT_LT(streamed.peak_resident, before + kStreamMemoryBound);
  observe(
      describe(reply) + ", closed, " + std::to_string(streamed.sent / kMiB) + " MiB sent, RSS +" +
      std::to_string((streamed.peak_resident - std::min(before, streamed.peak_resident)) / kMiB) +
      " MiB");
}

TEST_F(HostileInputTest, body_of_100_mb_chunked_is_413_without_buffering) {
  start();
  const std::size_t before = resident_bytes();
  raw_socket sock(port());
  ASSERT_TRUE(
      sock.write_all("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"));
  // 100 MB of 64 KiB chunks.
  const std::string one = chunk(std::string(65536, ' '));
  const auto streamed = sock.stream(100 * kMiB, one);
  EXPECT_TRUE(streamed.answered) << "sent " << streamed.sent;
  const auto reply = sock.read_reply();
  expect_error(reply, 413, "body_too_large");
  expect_closing(reply, sock);
  EXPECT_LT(streamed.peak_resident, before + kStreamMemoryBound);
  observe(describe(reply) + ", closed, " + std::to_string(streamed.sent / kMiB) + " MiB sent");
}

TEST_F(HostileInputTest, body_of_100_mb_without_length_is_not_read_as_a_body) {
  start();
  const std::size_t before = resident_bytes();
  raw_socket sock(port());
  // No Content-Length and no Transfer-Encoding: a request without a body. What follows is
  // read as the next request, which is not HTTP.
  ASSERT_TRUE(sock.write_all(
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n"));
  const auto streamed =
      sock.stream(100 * kMiB, R"([{"cpu":1,"rps":1}],)", /*stop_when_answered=*/false);
  const auto first = sock.read_reply();
  expect_error(first, 400, "invalid_json");  // the empty body
  const auto second = sock.read_reply();
  expect_error(second, 400, "bad_request");
  expect_closing(second, sock);
  EXPECT_LT(streamed.peak_resident, before + kStreamMemoryBound);
  observe(describe(first) + ", then " + describe(second) + ", closed");
}

// --- chunked framing -------------------------------------------------------------------------

std::string chunked_post(std::string_view chunks, std::string_view extra_headers = "") {
  return "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Transfer-Encoding: chunked\r\n" +
         std::string(extra_headers) + "\r\n" + std::string(chunks);
}

TEST_F(HostileInputTest, valid_chunked_bodies_are_accepted) {
  start();
  const std::string body = R"([{"cpu":1,"rps":1},{"cpu":2,"rps":2}])";
  // One chunk, a chunk per byte, extensions, trailers, upper-case hex, leading zeros.
  std::string per_byte;
  for (const char c : body) per_byte += chunk(std::string(1, c));
  for (const std::string& chunks :
       std::vector<std::string>{chunk(body) + "0\r\n\r\n", per_byte + "0\r\n\r\n",
                                chunk(body, ";name=value;quoted=\"a b\"") + "0;last\r\n\r\n",
                                chunk(body) + "0\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n",
                                "00000" + chunk(body) + "000\r\n\r\n"}) {
    raw_socket sock(port());
    ASSERT_TRUE(sock.write_all(chunked_post(chunks)));
    const auto reply = sock.read_reply();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, 202U) << reply->body;
    EXPECT_TRUE(reply->keep_alive);
    accepted_ += 2;
    observe(describe(reply));
  }
  // Upper-case hex size.
  const std::string big = "[" + repeat(R"({"cpu":1,"rps":1},)", 30) + R"({"cpu":1,"rps":1}])";
  std::ostringstream size;
  size << std::uppercase << std::hex << big.size();
  raw_socket sock(port());
  ASSERT_TRUE(sock.write_all(chunked_post(size.str() + "\r\n" + big + "\r\n0\r\n\r\n")));
  const auto reply = sock.read_reply();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 202U) << reply->body;
  accepted_ += 31;
  observe(describe(reply));
}

TEST_F(HostileInputTest, invalid_chunk_sizes_are_400_bad_request_and_close) {
  start();
  const std::string body = R"({"cpu":1,"rps":1})";
  for (const std::string& chunks : std::vector<std::string>{
           "zz\r\n" + body + "\r\n0\r\n\r\n", "-11\r\n" + body + "\r\n0\r\n\r\n",
           "0x11\r\n" + body + "\r\n0\r\n\r\n", " 11\r\n" + body + "\r\n0\r\n\r\n",
           "11 \r\n" + body + "\r\n0\r\n\r\n",
           "1ffffffffffffffffffffffff\r\n" + body + "\r\n0\r\n\r\n",  // overflows 64 bits
           "11\r\n" + body + "XX0\r\n\r\n",                           // no CRLF after the data
           "5\r\n" + body + "\r\n0\r\n\r\n",                          // size shorter than data
           "11;=x\r\n" + body + "\r\n0\r\n\r\n",                      // empty extension name
           "11;a=\"unterminated\r\n" + body + "\r\n0\r\n\r\n", "\r\n" + body}) {
    raw_socket sock(port());
    ASSERT_TRUE(sock.write_all(chunked_post(chunks)));
    const auto reply = sock.read_reply();
    expect_error(reply, 400, "bad_request");
    expect_closing(reply, sock);
    observe(describe(reply) + ", closed");
  }
  // A chunk size larger than the data, then the client stops: closed, nothing answered.
  raw_socket sock(port());
  ASSERT_TRUE(sock.write_all(chunked_post("100\r\n" + body)));
  sock.shutdown_write();
  EXPECT_FALSE(sock.read_reply().has_value());
  EXPECT_TRUE(sock.closed());
  observe("closed");
}

TEST_F(HostileInputTest, chunk_extension_floods_are_parsed_or_refused_with_bounded_memory) {
  start();
  const std::string body = R"({"cpu":1,"rps":1})";
  {
    // 4 KiB of extensions on one chunk: legal, parsed, accepted.
    raw_socket sock(port());
    ASSERT_TRUE(sock.write_all(chunked_post(chunk(body, repeat(";a=b", 1024)) + "0\r\n\r\n")));
    const auto reply = sock.read_reply();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, 202U) << reply->body;
    accepted_ += 1;
    observe(describe(reply) + " (4 KiB of extensions)");
  }
  {
    // 100 000 one-byte chunks each with an extension.
    std::string chunks;
    const std::string padded = body + std::string(100000 - body.size(), ' ');
    for (const char c : padded) chunks += chunk(std::string(1, c), ";x");
    raw_socket sock(port());
    ASSERT_TRUE(sock.write_all(chunked_post(chunks + "0\r\n\r\n")));
    const auto reply = sock.read_reply(false, 30s);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, 202U) << reply->body;
    accepted_ += 1;
    observe(describe(reply) + " (100000 chunks)");
  }
  // One chunk line that never ends (100 MB of extensions), and a trailer section that
  // never ends: the service must not buffer either.
  for (const auto& [head, pattern] :
       std::vector<std::pair<std::string, std::string>>{{"1", ";a=b"}, {"0\r\n", "X-T: v\r\n"}}) {
    const std::size_t before = resident_bytes();
    raw_socket sock(port());
    ASSERT_TRUE(sock.write_all(chunked_post(head)));
    const auto streamed = sock.stream(100 * kMiB, pattern);
    EXPECT_LT(streamed.peak_resident, before + kStreamMemoryBound)
        << "the service buffered " << (streamed.peak_resident - before) / kMiB << " MiB";
    const auto reply = sock.read_reply();
    if (reply) {
      expect_error(reply, 400, "bad_request");
      expect_closing(reply, sock);
    } else {
      EXPECT_TRUE(sock.closed());
    }
    observe(
        describe(reply) + " after " + std::to_string(streamed.sent / kMiB) + " MiB of an endless " +
        (head == "1" ? "chunk line" : "trailer section") + ", RSS +" +
        std::to_string((streamed.peak_resident - std::min(before, streamed.peak_resident)) / kMiB) +
        " MiB");
  }
}

// --- heads ---------------------------------------------------------------------------------

TEST_F(HostileInputTest, header_floods_are_431_headers_too_large) {
  start();
  {
    // 10 000 small headers.
    raw_socket sock(port());
    sock.write_all("GET /health HTTP/1.1\r\nHost: x\r\n" + repeat("X-A: b\r\n", 10000) + "\r\n");
    const auto reply = sock.read_reply();
    expect_error(reply, 431, "headers_too_large");
    expect_closing(reply, sock);
    observe(describe(reply) + " (10000 headers)");
  }
  {
    // One 1 MiB header, streamed without an end.
    raw_socket sock(port());
    sock.write_all("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    const auto streamed = sock.stream(kMiB, "a");
    EXPECT_TRUE(streamed.answered);
    const auto reply = sock.read_reply();
    expect_error(reply, 431, "headers_too_large");
    expect_closing(reply, sock);
    observe(describe(reply) + " (one huge header)");
  }
  {
    // Over the limit by 1000 bytes in one write, with a long request line that arrives whole
    // in the server's first read (Beast then applies the limit to the fields alone): 431.
    raw_socket sock(port());
    const std::string line = "GET /health?" + std::string(1900, 'q') + " HTTP/1.1\r\n";
    sock.write_all(line + "Host: x\r\n" + repeat("X-A: b\r\n", (9192 - line.size()) / 8) + "\r\n");
    const auto reply = sock.read_reply();
    expect_error(reply, 431, "headers_too_large");
    expect_closing(reply, sock);
    observe(describe(reply) + " (9 KiB head in one write)");
  }
  {
    // Just under the limit: served.
    raw_socket sock(port());
    sock.write_all("GET /health HTTP/1.1\r\nHost: x\r\n" + repeat("X-A: b\r\n", 900) + "\r\n");
    const auto reply = sock.read_reply();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, 200U);
    observe(describe(reply) + " (900 headers, under the limit)");
  }
}

TEST_F(HostileInputTest, malformed_header_fields_are_400_bad_request) {
  start();
  for (const std::string& head : std::vector<std::string>{
           "GET /health HTTP/1.1\r\nHost: x\r\nNo-Colon\r\n\r\n",
           "GET /health HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
           "GET /health HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n",
           "GET /health HTTP/1.1\r\nHost: x\r\nX-Ctl: a\x01"
           "b\r\n\r\n",
           std::string("GET /health HTTP/1.1\r\nHost: x\r\nX-Nul: a\0b\r\n\r\n", 45),
           "GET /health HTTP/1.1\r\nHost: x\r\nX-Bare-CR: a\rb\r\n\r\n",
           "GET /health HTTP/1.1\nHost: x\n\n"}) {
    raw_socket sock(port());
    sock.write_all(head);
    const auto reply = sock.read_reply();
    expect_error(reply, 400, "bad_request");
    expect_closing(reply, sock);
    observe(describe(reply));
  }
}

// --- request smuggling shapes -----------------------------------------------------------------

TEST_F(HostileInputTest, content_length_with_transfer_encoding_is_400_and_closed) {
  start();
  const std::string smuggled = post_request(R"({"cpu":99,"rps":99})");
  const std::string chunked_body = "0\r\n\r\n" + smuggled;
  for (const std::string& head : std::vector<std::string>{
           // Both orders, and Transfer-Encoding values a front end may read differently.
           "Content-Length: " + std::to_string(chunked_body.size()) +
               "\r\nTransfer-Encoding: chunked\r\n",
           "Transfer-Encoding: chunked\r\nContent-Length: " + std::to_string(chunked_body.size()) +
               "\r\n",
           "Transfer-Encoding: gzip\r\nContent-Length: " + std::to_string(chunked_body.size()) +
               "\r\n",
           "Transfer-Encoding: identity\r\nContent-Length: " + std::to_string(chunked_body.size()) +
               "\r\n",
           "Transfer-Encoding: chunked, identity\r\n",
           "Transfer-Encoding: gzip\r\n",
           "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
           "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
       }) {
    SCOPED_TRACE(head);
    raw_socket sock(port());
    sock.write_all("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                   head + "\r\n" + chunked_body);
    const auto reply = sock.read_reply();
    expect_error(reply, 400, "bad_request");
    expect_closing(reply, sock);
    observe(describe(reply) + ", closed");
  }
}

TEST_F(HostileInputTest, conflicting_content_lengths_are_400_and_closed) {
  start();
  const std::string body = R"({"cpu":1,"rps":1})";
  for (const std::string& head : std::vector<std::string>{
           "Content-Length: 17\r\nContent-Length: 18\r\n", "Content-Length: 17, 18\r\n",
           "Content-Length: -17\r\n", "Content-Length: +17\r\n", "Content-Length: 0x11\r\n",
           "Content-Length: 17a\r\n", "Content-Length: 99999999999999999999999\r\n",
           "Content-Length: \r\n"}) {
    SCOPED_TRACE(head);
    raw_socket sock(port());
    sock.write_all("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                   head + "\r\n" + body + " ");
    const auto reply = sock.read_reply();
    expect_error(reply, 400, "bad_request");
    expect_closing(reply, sock);
    observe(describe(reply) + ", closed");
  }
  // The same length twice is one length (RFC 9110 §8.6).
  raw_socket sock(port());
  sock.write_all(
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\nContent-Length: "
      "17\r\n\r\n" +
      body);
  const auto reply = sock.read_reply();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 202U) << reply->body;
  accepted_ += 1;
  observe(describe(reply) + " (equal lengths)");
}

// --- methods and targets ------------------------------------------------------------------------

TEST_F(HostileInputTest, absurd_methods_get_400_404_405_or_431) {
  start();
  struct expectation {
    std::string raw;
    unsigned status;
    const char* code;
  };
  for (const auto& [raw, status, code] : std::vector<expectation>{
           {"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed"},
           {"get /health HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed"},
           {"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed"},
           {"CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not_found"},
           {"TRACE /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not_found"},
           {"G(T /health HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"},
           {"GET\t/health HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"},
           {" GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"},
           {std::string(20000, 'A') + " /health HTTP/1.1\r\nHost: x\r\n\r\n", 431,
            "headers_too_large"},
           {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "bad_request"},  // TLS hello
           {"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request"},
           {"GET /health\r\n\r\n", 400, "bad_request"},  // HTTP/0.9
       }) {
    SCOPED_TRACE(printable(raw));
    raw_socket sock(port());
    sock.write_all(raw);
    const auto reply = sock.read_reply();
    expect_error(reply, status, code);
    if (status == 400 || status == 431) expect_closing(reply, sock);
    observe(describe(reply));
  }
}

TEST_F(HostileInputTest, absurd_targets_get_400_404_or_431) {
  start();
  struct expectation {
    std::string target;
    unsigned status;
    const char* code;
  };
  for (const auto& [target, status, code] : std::vector<expectation>{
           {"/" + std::string(100000, 'a'), 431, "headers_too_large"},
           {"/health?" + std::string(7000, 'q'), 200, ""},
           {"*", 404, "not_found"},
           {"http://x/health", 404, "not_found"},
           {"//health", 404, "not_found"},
           {"/health%00", 404, "not_found"},
           {"/%2e%2e/health", 404, "not_found"},
           {"/health/../health", 404, "not_found"},
           {"health", 404, "not_found"},
           {"/health\x01", 400, "bad_request"},
           {"/hea\x7flth", 400, "bad_request"},
           {std::string("/health\0x", 9), 400, "bad_request"},
           {"/health x", 400, "bad_request"},
       }) {
    SCOPED_TRACE(printable(target));
    raw_socket sock(port());
    sock.write_all("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto reply = sock.read_reply();
    if (status == 200) {
      ASSERT_TRUE(reply.has_value());
      EXPECT_EQ(reply->status, 200U);
    } else {
      expect_error(reply, status, code);
    }
    if (status == 400 || status == 431) expect_closing(reply, sock);
    observe(describe(reply));
  }
  // The query string of a POST /metrics is validated, whatever it holds.
  for (const char* target : {"/metrics?analysis=true%00", "/metrics?analysis=true&",
                             "/metrics?%61nalysis=true", "/metrics??analysis=true"}) {
    expect_refused(R"({"cpu":1,"rps":1})", 400, "invalid_query", target);
  }
}

// --- slow clients ---------------------------------------------------------------------------

config::config slow_config() {
  auto cfg = hostile_config();
  cfg.read_timeout = 500ms;
  return cfg;
}

// Sends `pieces` 100 ms apart; returns when the server closed (relative to the first byte),
// or nothing if it kept the connection beyond `give_up`.
std::optional<std::chrono::milliseconds> trickle(raw_socket& sock,
                                                 const std::vector<std::string>& pieces,
                                                 std::chrono::milliseconds give_up) {
  const auto first = clock_type::now();
  const auto left = [](clock_type::time_point until) {
    return std::max(
        std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now()),
        std::chrono::milliseconds(1));
  };
  for (std::size_t i = 0; i < pieces.size() && !sock.closed(); ++i) {
    const auto due = first + i * 100ms;
    if (clock_type::now() < due) sock.silent_for(left(due));  // returns early on a close
    if (sock.closed() || !sock.write_all(pieces[i], 1s)) break;
  }
  if (!sock.closed()) sock.wait_closed(left(first + give_up));
  if (!sock.closed()) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - first);
}

std::vector<std::string> bytes_of(std::string_view text) {
  std::vector<std::string> out;
  for (const char c : text) out.emplace_back(1, c);
  return out;
}

// Closing between 0.9 and 1.5 × READ_TIMEOUT_MS after the first byte (sanitizers slow the
// service, not its timers).
void expect_closed_at_deadline(const std::optional<std::chrono::milliseconds>& closed_after) {
  ASSERT_TRUE(closed_after.has_value()) << "the connection was still open";
  EXPECT_GE(closed_after->count(), 450) << "closed before READ_TIMEOUT_MS";
  EXPECT_LE(closed_after->count(), 750) << "closed late: the deadline is not from the first byte";
}

TEST_F(HostileInputTest, slowloris_head_one_byte_per_100ms_is_closed_at_the_read_deadline) {
  start(slow_config());
  raw_socket sock(port());
  const auto closed_after =
      trickle(sock, bytes_of("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n\r\n"), 5s);
  expect_closed_at_deadline(closed_after);
  EXPECT_TRUE(sock.inbox().empty()) << "no response is sent to a timed-out request";
  observe("closed after " + std::to_string(closed_after ? closed_after->count() : -1) +
          " ms (READ_TIMEOUT_MS 500), no response");
}

TEST_F(HostileInputTest, slowloris_body_one_byte_per_100ms_is_closed_at_the_read_deadline) {
  start(slow_config());
  raw_socket sock(port());
  const std::string body = R"({"cpu":1,"rps":1})";
  std::vector<std::string> pieces{"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                                  std::to_string(body.size()) + "\r\n\r\n"};
  for (auto& b : bytes_of(body)) pieces.push_back(b);
  const auto closed_after = trickle(sock, pieces, 5s);
  expect_closed_at_deadline(closed_after);
  EXPECT_TRUE(sock.inbox().empty());
  observe("closed after " + std::to_string(closed_after ? closed_after->count() : -1) +
          " ms (READ_TIMEOUT_MS 500), no response");
}

TEST_F(HostileInputTest, slowloris_head_then_body_is_closed_at_the_deadline_from_the_first_byte) {
  start(slow_config());
  raw_socket sock(port());
  // The head takes 400 ms to arrive, then the body trickles: READ_TIMEOUT_MS covers both,
  // counted from the request's first byte, so the close comes ~500 ms after it (not 500 ms
  // after the head).
  const std::string body = R"({"cpu":1,"rps":1})";
  std::vector<std::string> pieces{
      "POST /metrics HTTP/1.1\r\n", "Host: x\r\n", "Content-Type: application/json\r\n",
      "Content-Length: " + std::to_string(body.size()) + "\r\n", "\r\n"};
  for (auto& b : bytes_of(body)) pieces.push_back(b);
  const auto closed_after = trickle(sock, pieces, 5s);
  expect_closed_at_deadline(closed_after);
  EXPECT_TRUE(sock.inbox().empty());
  observe("closed after " + std::to_string(closed_after ? closed_after->count() : -1) +
          " ms (READ_TIMEOUT_MS 500), no response");
}

TEST_F(HostileInputTest,
       slowloris_after_100_continue_is_closed_at_the_deadline_from_the_first_byte) {
  start(slow_config());
  raw_socket sock(port());
  const std::string body = R"({"cpu":1,"rps":1})";
  std::vector<std::string> pieces{
      "POST /metrics HTTP/1.1\r\nHost: x\r\n", "Expect: 100-continue\r\n",
      "Content-Length: " + std::to_string(body.size()) + "\r\n", "\r\n"};
  for (auto& b : bytes_of(body)) pieces.push_back(b);
  const auto closed_after = trickle(sock, pieces, 5s);
  expect_closed_at_deadline(closed_after);
  observe("closed after " + std::to_string(closed_after ? closed_after->count() : -1) +
          " ms (READ_TIMEOUT_MS 500)");
}

// --- many idle connections --------------------------------------------------------------------

// Opens `count` connections to 127.0.0.1:port from a child process (so that this process,
// which runs the service, holds only the server's ends), reports how many connected, and
// keeps them open until `release` is closed.
class idle_connection_holder {
 public:
  explicit idle_connection_holder(std::size_t count) {
    int to_child[2];
    int from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe");
    }
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      ::close(to_child[1]);
      ::close(from_child[0]);
      run_child(to_child[0], from_child[1], count);  // never returns
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    command_ = to_child[1];
    report_ = from_child[0];
  }

  ~idle_connection_holder() {
    release();
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }

  // Connects; returns how many connections the child holds.
  std::size_t connect(std::uint16_t port) {
    if (::write(command_, &port, sizeof port) != static_cast<ssize_t>(sizeof port)) return 0;
    std::size_t connected = 0;
    pollfd pfd{report_, POLLIN, 0};
    if (::poll(&pfd, 1, 120000) <= 0) return 0;
    if (::read(report_, &connected, sizeof connected) != static_cast<ssize_t>(sizeof connected)) {
      return 0;
    }
    return connected;
  }

  void release() {
    if (command_ >= 0) ::close(command_);
    command_ = -1;
    if (report_ >= 0) ::close(report_);
    report_ = -1;
  }

 private:
  // Only async-signal-safe system calls: the child of a threaded process.
  [[noreturn]] static void run_child(int commands, int reports, std::size_t count) {
    std::uint16_t port = 0;
    if (::read(commands, &port, sizeof port) != static_cast<ssize_t>(sizeof port)) ::_exit(1);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::size_t connected = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) break;
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        break;
      }
      ++connected;
    }
    if (::write(reports, &connected, sizeof connected) < 0) ::_exit(1);
    char byte = 0;
    while (::read(commands, &byte, 1) > 0) {
    }
    ::_exit(0);  // the kernel closes every connection
  }

  pid_t pid_ = -1;
  int command_ = -1;
  int report_ = -1;
};

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  while (!done()) {
    if (clock_type::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

TEST_F(HostileInputTest, ten_thousand_idle_connections_leave_the_service_responsive) {
  // The server's ends live in this process: raise the descriptor limit as far as allowed.
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  const std::size_t wanted = 10000;
  const std::size_t count =
      std::min<std::size_t>(wanted, static_cast<std::size_t>(limit.rlim_cur) - 200);
  if (count < wanted) {
    std::printf("note: RLIMIT_NOFILE %llu allows only %zu idle connections\n",
                static_cast<unsigned long long>(limit.rlim_cur), count);
  }
  idle_connection_holder holder(count);  // forked before the service's threads exist

  auto cfg = hostile_config();
  cfg.max_connections = count + 100;
  start(cfg);
  const std::size_t before = resident_bytes();
  const auto opened_at = clock_type::now();
  const std::size_t connected = holder.connect(port());
  ASSERT_EQ(connected, count);
  ASSERT_TRUE(wait_until([&] { return svc_->server().connections() >= count; }, 60s))
      << "the server holds " << svc_->server().connections() << " connections";
  const auto open_time = clock_type::now() - opened_at;
  const std::size_t with_idle = resident_bytes();

  // A new client is still served promptly.
  const auto asked = clock_type::now();
  http_client client(port());
  EXPECT_EQ(client.get("/health").status, 200U);
  EXPECT_EQ(client.post_json("/metrics", R"({"cpu":1,"rps":1})").status, 202U);
  accepted_ += 1;
  const auto latency = clock_type::now() - asked;
  EXPECT_LT(latency, 1s);

  EXPECT_LT(with_idle - std::min(before, with_idle), kIdleConnectionsMemoryBound);

  holder.release();
  EXPECT_TRUE(wait_until([&] { return svc_->server().connections() <= 1; }, 60s))
      << svc_->server().connections() << " connections still open";
  observe(std::to_string(count) + " idle connections opened in " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(open_time).count()) +
          " ms, RSS +" + std::to_string((with_idle - std::min(before, with_idle)) / kMiB) +
          " MiB, new request answered in " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(latency).count()) +
          " ms");
}

// --- half-closed sockets ------------------------------------------------------------------------

TEST_F(HostileInputTest, half_closed_after_a_full_request_still_gets_the_response) {
  start();
  raw_socket sock(port());
  sock.write_all(post_request(R"({"cpu":1,"rps":1})") + get_request("/health"));
  sock.shutdown_write();
  const auto first = sock.read_reply();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, 202U);
  accepted_ += 1;
  const auto second = sock.read_reply();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->status, 200U);
  EXPECT_TRUE(sock.wait_closed(5s));
  observe(describe(first) + ", " + describe(second) + ", then closed");
}

TEST_F(HostileInputTest, half_closed_after_a_partial_request_is_closed_without_a_response) {
  start();
  for (const std::string& partial :
       std::vector<std::string>{std::string("GET /health HTTP/1.1\r\nHost: x\r\n"),
                                post_request(R"({"cpu":1,"rps":1})").substr(0, 80),
                                std::string("G"), chunked_post(chunk(R"({"cpu":1,"rps":1})"))}) {
    raw_socket sock(port());
    sock.write_all(partial);
    sock.shutdown_write();
    EXPECT_FALSE(sock.read_reply(false, 5s).has_value());
    EXPECT_TRUE(sock.closed());
    observe("closed");
  }
}

// --- pipelining
// -----------------------------------------------------------------------------------

TEST_F(HostileInputTest, pipelined_flood_of_1000_requests_is_answered_in_order) {
  start();
  constexpr int kRequests = 1000;
  std::string flood;
  for (int i = 0; i < kRequests; ++i) {
    switch (i % 4) {
      case 0:
        flood += post_request(R"({"cpu":)" + std::to_string(i % 100) + R"(,"rps":1})");
        break;
      case 1:
        flood += get_request("/health");
        break;
      case 2:
        flood += get_request("/nope-" + std::to_string(i));
        break;
      default:
        flood += post_request("{");  // 400 invalid_json, connection kept
        break;
    }
  }
  raw_socket sock(port());
  ASSERT_TRUE(sock.write_all(flood));  // one write; responses are read meanwhile
  int answered = 0;
  for (int i = 0; i < kRequests; ++i) {
    const auto reply = sock.read_reply(false, 30s);
    ASSERT_TRUE(reply.has_value()) << "no response to request " << i;
    const unsigned expected[] = {202U, 200U, 404U, 400U};
    ASSERT_EQ(reply->status, expected[i % 4]) << "request " << i << " out of order";
    ++answered;
  }
  accepted_ += kRequests / 4;
  EXPECT_TRUE(sock.silent_for(100ms));
  observe(std::to_string(answered) + " answered in order (202/200/404/400)");
}

TEST_F(HostileInputTest, pipelined_requests_after_a_closing_error_are_not_served) {
  start();
  raw_socket sock(port());
  // The second request has a malformed head: 400 and close; the third is never read.
  sock.write_all(get_request("/health") + "GET /health HTTP/1.1\r\nBad Header\r\n\r\n" +
                 post_request(R"({"cpu":1,"rps":1})"));
  const auto first = sock.read_reply();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, 200U);
  const auto second = sock.read_reply();
  expect_error(second, 400, "bad_request");
  expect_closing(second, sock);
  observe(describe(first) + ", " + describe(second) + ", closed, third never served");
}

}  // namespace
}  // namespace analyzer::test
