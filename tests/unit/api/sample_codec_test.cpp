// Unit tests of decode_samples: every rule of architecture.md §2 "POST /metrics" and the
// error catalogue entries the codec produces.
#include "analyzer/api/sample_codec.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace analyzer::api {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr double kNow = 1700000123.25;

struct decoded {
  std::optional<decode_error> error;
  std::vector<sample> samples;
};

decoded decode(std::string_view body, std::size_t max_batch = 1000) {
  decoded result;
  result.error = decode_samples(body, decode_options{max_batch, kNow}, result.samples);
  return result;
}

// Decodes a body that must be valid and holds exactly one sample.
sample decode_one(std::string_view body) {
  const decoded result = decode(body);
  EXPECT_FALSE(result.error) << body << " → " << result.error->message;
  EXPECT_EQ(result.samples.size(), 1U) << body;
  return result.samples.empty() ? sample{} : result.samples.front();
}

// Decodes a body that must fail; checks the code and the exact message, and that nothing
// was returned alongside the error.
void expect_error(std::string_view body, error_code code, std::string_view message,
                  std::size_t max_batch = 1000) {
  const decoded result = decode(body, max_batch);
  ASSERT_TRUE(result.error) << body;
  EXPECT_EQ(to_string(result.error->code), to_string(code)) << body;
  EXPECT_EQ(result.error->message, message) << body;
  EXPECT_TRUE(result.samples.empty()) << body;
}

std::string batch_of(std::size_t count) {
  std::string body = "[";
  for (std::size_t i = 0; i < count; ++i) {
    body += i == 0 ? "" : ",";
    body += R"({"cpu": 1, "rps": )" + std::to_string(i) + "}";
  }
  return body + "]";
}

// --- valid bodies ---------------------------------------------------------------------------

TEST(SampleCodecTest, DecodesSingleObject) {
  const sample s = decode_one(R"({"timestamp": 1700000000, "cpu": 42.5, "rps": 1200})");
  EXPECT_EQ(s.timestamp, 1700000000.0);
  EXPECT_EQ(s.cpu, 42.5);
  EXPECT_EQ(s.rps, 1200.0);
}

TEST(SampleCodecTest, DecodesArrayInOrder) {
  const decoded result = decode(
      R"([{"timestamp": 1, "cpu": 10, "rps": 100}, {"cpu": 20.25, "rps": 200.5, "timestamp": 2}])");
  ASSERT_FALSE(result.error);
  ASSERT_EQ(result.samples.size(), 2U);
  EXPECT_EQ(result.samples[0].timestamp, 1.0);
  EXPECT_EQ(result.samples[0].cpu, 10.0);
  EXPECT_EQ(result.samples[0].rps, 100.0);
  EXPECT_EQ(result.samples[1].timestamp, 2.0);
  EXPECT_EQ(result.samples[1].cpu, 20.25);
  EXPECT_EQ(result.samples[1].rps, 200.5);
}

TEST(SampleCodecTest, SingleElementArrayIsABatch) {
  const decoded result = decode(R"([{"cpu": 1, "rps": 2}])");
  ASSERT_FALSE(result.error);
  ASSERT_EQ(result.samples.size(), 1U);
  EXPECT_EQ(result.samples[0].rps, 2.0);
}

TEST(SampleCodecTest, FieldsInAnyOrder) {
  const sample s = decode_one(R"({"rps": 3, "timestamp": 5, "cpu": 4})");
  EXPECT_EQ(s.timestamp, 5.0);
  EXPECT_EQ(s.cpu, 4.0);
  EXPECT_EQ(s.rps, 3.0);
}

TEST(SampleCodecTest, AbsentTimestampIsNow) {
  EXPECT_EQ(decode_one(R"({"cpu": 1, "rps": 2})").timestamp, kNow);
  const decoded result = decode(R"([{"cpu": 1, "rps": 2}, {"cpu": 1, "rps": 2, "timestamp": 7}])");
  ASSERT_FALSE(result.error);
  EXPECT_EQ(result.samples[0].timestamp, kNow);
  EXPECT_EQ(result.samples[1].timestamp, 7.0);
}

TEST(SampleCodecTest, FractionalTimestamp) {
  EXPECT_EQ(decode_one(R"({"timestamp": 1700000000.25, "cpu": 1, "rps": 2})").timestamp,
            1700000000.25);
  EXPECT_EQ(decode_one(R"({"timestamp": 0.5, "cpu": 1, "rps": 2})").timestamp, 0.5);
}

TEST(SampleCodecTest, NumberForms) {
  EXPECT_EQ(decode_one(R"({"cpu": 4.25e1, "rps": 12E2})").cpu, 42.5);
  EXPECT_EQ(decode_one(R"({"cpu": 4.25e1, "rps": 12E2})").rps, 1200.0);
  EXPECT_EQ(decode_one(R"({"cpu": 1e-400, "rps": 0})").cpu, 0.0);  // underflow is just 0
  EXPECT_EQ(decode_one(R"({"timestamp": 1.7e9, "cpu": 0, "rps": 0})").timestamp, 1.7e9);
}

TEST(SampleCodecTest, Rfc3339Timestamps) {
  const auto ts = [](std::string_view text) {
    return decode_one(R"({"cpu": 1, "rps": 2, "timestamp": ")" + std::string(text) + "\"}")
        .timestamp;
  };
  EXPECT_EQ(ts("2023-11-14T22:13:20Z"), 1700000000.0);
  EXPECT_EQ(ts("2023-11-15T00:13:20+02:00"), 1700000000.0);
  EXPECT_EQ(ts("2023-11-14T17:13:20-05:00"), 1700000000.0);
  EXPECT_EQ(ts("2023-11-14t22:13:20z"), 1700000000.0);
  EXPECT_EQ(ts("2023-11-14T22:13:20.5Z"), 1700000000.5);
  EXPECT_EQ(ts("1970-01-01T00:00:00Z"), 0.0);
  EXPECT_EQ(ts("1970-01-01T01:00:00+01:00"), 0.0);
  EXPECT_EQ(ts("9999-12-31T23:59:59Z"), 253402300799.0);
  EXPECT_EQ(ts("2024-02-29T00:00:00Z"), 1709164800.0);
}

TEST(SampleCodecTest, BoundaryValuesAccepted) {
  EXPECT_EQ(decode_one(R"({"cpu": 0, "rps": 0})").cpu, 0.0);
  EXPECT_EQ(decode_one(R"({"cpu": 100, "rps": 0})").cpu, 100.0);
  EXPECT_EQ(decode_one(R"({"cpu": 100.0, "rps": 0})").cpu, 100.0);
  EXPECT_EQ(decode_one(R"({"cpu": 0, "rps": 0})").rps, 0.0);
  EXPECT_EQ(decode_one(R"({"cpu": 0, "rps": 1e30})").rps, 1e30);
  EXPECT_EQ(decode_one(R"({"cpu": 0, "rps": 1.7976931348623157e308})").rps, 1.7976931348623157e308);
  EXPECT_EQ(decode_one(R"({"timestamp": 0, "cpu": 0, "rps": 0})").timestamp, 0.0);
  EXPECT_EQ(decode_one(R"({"timestamp": 253402300799, "cpu": 0, "rps": 0})").timestamp,
            253402300799.0);
}

TEST(SampleCodecTest, NegativeZeroStoredAsPositiveZero) {
  const sample s = decode_one(R"({"timestamp": -0.0, "cpu": -0.0, "rps": -0})");
  EXPECT_EQ(s.cpu, 0.0);
  EXPECT_FALSE(std::signbit(s.cpu));
  EXPECT_FALSE(std::signbit(s.rps));
  EXPECT_FALSE(std::signbit(s.timestamp));
  EXPECT_FALSE(std::signbit(decode_one(R"({"cpu": -0e5, "rps": -0.000})").rps));
}

TEST(SampleCodecTest, HugeIntegerLiteralsBecomeDoubles) {
  // Past uint64: nlohmann falls back to a double, which is in range for rps.
  EXPECT_EQ(decode_one(R"({"cpu": 1, "rps": 18446744073709551616})").rps, 18446744073709551616.0);
  EXPECT_EQ(decode_one(R"({"cpu": 1, "rps": 18446744073709551615})").rps, 18446744073709551615.0);
}

TEST(SampleCodecTest, UnknownFieldsIgnored) {
  const sample s = decode_one(
      R"({"host": "web-1", "cpu": 5, "tags": {"cpu": "x", "rps": [null, {"cpu": -1}]},)"
      R"( "n": null, "b": true, "f": false, "x": 1e5, "neg": -1, "arr": [[], {}, [[1]]],)"
      R"( "rps": 6, "empty": {}, "s": "\u0000\ud83d\ude00", "big": 1e308})");
  EXPECT_EQ(s.cpu, 5.0);
  EXPECT_EQ(s.rps, 6.0);
  EXPECT_EQ(s.timestamp, kNow);
}

TEST(SampleCodecTest, UnknownFieldNested10000LevelsDecodes) {
  constexpr std::size_t kDepth = 10000;
  std::string body = R"({"cpu": 1, "deep": )";
  for (std::size_t i = 0; i < kDepth; ++i) {
    body += i % 2 == 0 ? R"({"a": )" : "[";
  }
  body += "0";
  for (std::size_t i = kDepth; i-- > 0;) {
    body += i % 2 == 0 ? "}" : "]";
  }
  body += R"(, "rps": 2})";
  const sample s = decode_one(body);
  EXPECT_EQ(s.cpu, 1.0);
  EXPECT_EQ(s.rps, 2.0);
}

TEST(SampleCodecTest, WhitespaceAroundBody) {
  const sample s = decode_one(" \t\r\n{ \"cpu\" : 1 ,\n\"rps\"\t:\r2 } \n\t\r ");
  EXPECT_EQ(s.cpu, 1.0);
  EXPECT_EQ(s.rps, 2.0);
  EXPECT_FALSE(decode("\n[ {\"cpu\":1,\"rps\":2} ]\n").error);
}

TEST(SampleCodecTest, LeadingByteOrderMarkIgnored) {
  // RFC 8259 §8.1 lets a parser ignore a BOM; nlohmann does, and so do we.
  EXPECT_EQ(decode_one("\xef\xbb\xbf{\"cpu\": 1, \"rps\": 2}").rps, 2.0);
}

TEST(SampleCodecTest, ReusesCallerCapacityAndClears) {
  std::vector<sample> out(500, sample{9, 9, 9});
  out.reserve(2000);
  const auto capacity = out.capacity();
  ASSERT_FALSE(decode_samples(R"({"cpu": 1, "rps": 2})", decode_options{}, out));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].cpu, 1.0);
  EXPECT_EQ(out.capacity(), capacity);
  ASSERT_TRUE(decode_samples(R"({"cpu": 1})", decode_options{}, out));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(out.capacity(), capacity);
}

TEST(SampleCodecTest, DefaultOptions) {
  std::vector<sample> out;
  ASSERT_FALSE(decode_samples(batch_of(1000), decode_options{}, out));
  EXPECT_EQ(out.size(), 1000U);
  const auto error = decode_samples(batch_of(1001), decode_options{}, out);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, error_code::batch_too_large);
  EXPECT_EQ(error->message, "batch has more than 1000 samples (MAX_BATCH)");
}

// --- batch size -------------------------------------------------------------------------------

TEST(SampleCodecTest, BatchOfExactlyMaxBatchAccepted) {
  const decoded result = decode(batch_of(1000), 1000);
  ASSERT_FALSE(result.error);
  ASSERT_EQ(result.samples.size(), 1000U);
  EXPECT_EQ(result.samples[999].rps, 999.0);
  EXPECT_FALSE(decode(batch_of(3), 3).error);
}

TEST(SampleCodecTest, BatchOverMaxBatchRejected) {
  expect_error(batch_of(1001), error_code::batch_too_large,
               "batch has more than 1000 samples (MAX_BATCH)");
  expect_error(batch_of(4), error_code::batch_too_large,
               "batch has more than 3 samples (MAX_BATCH)", 3);
}

TEST(SampleCodecTest, BatchOverflowDetectedWithoutParsingTheRest) {
  // Element max_batch+1 is refused as it starts: what follows is never read, not even
  // whether it is valid JSON or a valid sample.
  std::string body = batch_of(3);
  body.pop_back();
  expect_error(body + R"(, {"cpu": "garbage" @@@)", error_code::batch_too_large,
               "batch has more than 3 samples (MAX_BATCH)", 3);
  expect_error(body + ", 42", error_code::batch_too_large,
               "batch has more than 3 samples (MAX_BATCH)", 3);
}

TEST(SampleCodecTest, BatchIsAllOrNothing) {
  expect_error(R"([{"cpu": 1, "rps": 1}, {"cpu": 2, "rps": 2}, {"cpu": 3, "rps": -3}])",
               error_code::out_of_range, "samples[2].rps: must be a finite number >= 0");
  std::string body = batch_of(999);
  body.pop_back();
  expect_error(body + R"(, {"cpu": 101, "rps": 1}])", error_code::out_of_range,
               "samples[999].cpu: must be between 0 and 100");
}

// --- body shape -------------------------------------------------------------------------------

TEST(SampleCodecTest, BodyThatIsNotObjectOrArrayIsInvalidBody) {
  constexpr std::string_view kMessage =
      "body must be a sample object or a non-empty array of samples";
  for (const std::string_view body :
       {"42", "-1.5", "\"text\"", "null", "true", "false", "[]", " [ ] ", "1e309"}) {
    expect_error(body, error_code::invalid_body, kMessage);
  }
}

TEST(SampleCodecTest, NonObjectElementIsInvalidBody) {
  expect_error("[1]", error_code::invalid_body, "samples[0]: must be an object");
  expect_error("[null]", error_code::invalid_body, "samples[0]: must be an object");
  expect_error("[[]]", error_code::invalid_body, "samples[0]: must be an object");
  expect_error("[1e309]", error_code::invalid_body, "samples[0]: must be an object");
  expect_error(R"([{"cpu": 1, "rps": 1}, {"cpu": 1, "rps": 1}, "x"])", error_code::invalid_body,
               "samples[2]: must be an object");
  expect_error(R"([{"cpu": 1, "rps": 1}, true, {"cpu": 1}])", error_code::invalid_body,
               "samples[1]: must be an object");
}

TEST(SampleCodecTest, DeepNestingAtTopLevelIsInvalidBody) {
  constexpr std::size_t kDepth = 100000;
  const auto started = std::chrono::steady_clock::now();
  expect_error(std::string(kDepth, '['), error_code::invalid_body, "samples[0]: must be an object");
  expect_error(std::string(kDepth, '[') + std::string(kDepth, ']'), error_code::invalid_body,
               "samples[0]: must be an object");
  // A generous bound that still catches anything quadratic or recursive-and-slow.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST(SampleCodecTest, DeepNestingInsideSampleDoesNotCrash) {
  constexpr std::size_t kDepth = 100000;
  std::string body = R"({"cpu": 1, "rps": 1, "x": )";
  for (std::size_t i = 0; i < kDepth; ++i) {
    body += R"({"a":)";
  }
  // Truncated: the parser reaches the end of input at depth 100 000.
  const decoded truncated = decode(body);
  ASSERT_TRUE(truncated.error);
  EXPECT_EQ(truncated.error->code, error_code::invalid_json);
  body += "1" + std::string(kDepth, '}') + "}";
  EXPECT_EQ(decode_one(body).rps, 1.0);
  expect_error(R"({"cpu": )" + std::string(kDepth, '['), error_code::invalid_type,
               "cpu: must be a number");
}

// --- malformed JSON ---------------------------------------------------------------------------

TEST(SampleCodecTest, EmptyBodyIsInvalidJson) {
  expect_error("", error_code::invalid_json, "empty body");
  expect_error(" \r\n\t ", error_code::invalid_json, "empty body");
}

TEST(SampleCodecTest, MalformedJsonIsInvalidJson) {
  for (const std::string_view body : {
           R"({"cpu": })",
           R"({cpu: 1, "rps": 2})",
           R"({'cpu': 1, 'rps': 2})",
           R"({"cpu": 1, "rps": 2,})",
           R"([{"cpu": 1, "rps": 2},])",
           R"({"cpu": NaN, "rps": 2})",
           R"({"cpu": Infinity, "rps": 2})",
           R"({"cpu": -Infinity, "rps": 2})",
           R"({"cpu": nan, "rps": 2})",
           R"({"cpu": 01, "rps": 2})",
           R"({"cpu": 1., "rps": 2})",
           R"({"cpu": .5, "rps": 2})",
           R"({"cpu": +1, "rps": 2})",
           R"({"cpu": 0x10, "rps": 2})",
           R"({"cpu": 1 /* comment */, "rps": 2})",
           R"({"cpu": 1, "rps": 2, "x": tru})",
           "{\"cpu\": 1, \"rps\": 2, \"x\": \"a\tb\"}",  // raw control character
           "}",
           "]",
           "x",
       }) {
    const decoded result = decode(body);
    ASSERT_TRUE(result.error) << body;
    EXPECT_EQ(result.error->code, error_code::invalid_json) << body;
    EXPECT_THAT(result.error->message, StartsWith("malformed JSON at byte ")) << body;
    EXPECT_TRUE(result.samples.empty());
  }
}

TEST(SampleCodecTest, InvalidJsonMessageNamesByteAndReason) {
  const decoded result = decode(R"({"cpu": 1, "rps": })");
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->code, error_code::invalid_json);
  EXPECT_THAT(result.error->message, StartsWith("malformed JSON at byte 19: "));
  EXPECT_THAT(result.error->message, HasSubstr("unexpected '}'"));
  EXPECT_THAT(result.error->message, ::testing::Not(HasSubstr("[json.exception")));
}

TEST(SampleCodecTest, TrailingGarbageIsInvalidJson) {
  for (const std::string_view body : {
           R"({"cpu": 1, "rps": 2} x)",
           R"({"cpu": 1, "rps": 2}})",
           R"({"cpu": 1, "rps": 2}{"cpu": 1, "rps": 2})",
           R"([{"cpu": 1, "rps": 2}]])",
           R"([{"cpu": 1, "rps": 2}],)",
       }) {
    const decoded result = decode(body);
    ASSERT_TRUE(result.error) << body;
    EXPECT_EQ(result.error->code, error_code::invalid_json) << body;
    EXPECT_THAT(result.error->message, HasSubstr("expected end of input")) << body;
    EXPECT_TRUE(result.samples.empty());
  }
  // nlohmann's lexer reads a NUL byte as the end of input; the codec must not.
  using namespace std::string_literals;
  for (const std::string& body : {"{\"cpu\": 1, \"rps\": 2}\0"s, "{\"cpu\": 1, \"rps\": 2}\0junk"s,
                                  "[{\"cpu\": 1, \"rps\": 2}] \0 ]"s}) {
    const decoded result = decode(body);
    ASSERT_TRUE(result.error) << body;
    EXPECT_EQ(result.error->code, error_code::invalid_json) << body;
    EXPECT_THAT(result.error->message, StartsWith("malformed JSON at byte ")) << body;
    EXPECT_TRUE(result.samples.empty());
  }
  const decoded inside = decode("{\"cpu\": 1\0, \"rps\": 2}"s);
  ASSERT_TRUE(inside.error);
  EXPECT_EQ(inside.error->code, error_code::invalid_json);
}

TEST(SampleCodecTest, InvalidUtf8IsInvalidJsonWithPrintableMessage) {
  const decoded result = decode("{\"cpu\": 1, \"rps\": 2, \"x\": \"\xff\xfe\"}");
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->code, error_code::invalid_json);
  // The parser echoes the rejected bytes; they must not reach the JSON error response.
  for (const char c : result.error->message) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7F) << static_cast<int>(c);
  }
  const decoded in_key = decode("{\"\xc3\x28\": 1}");
  ASSERT_TRUE(in_key.error);
  EXPECT_EQ(in_key.error->code, error_code::invalid_json);
}

TEST(SampleCodecTest, InvalidJsonMessageIsBounded) {
  const decoded result = decode("{\"x\": \"" + std::string(100000, 'a') + "\x01\"}");
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->code, error_code::invalid_json);
  EXPECT_LT(result.error->message.size(), 300U);
}

TEST(SampleCodecTest, EveryTruncationIsAnError) {
  const std::string body =
      R"( [{"timestamp": 1700000000, "cpu": 42.5, "rps": 1200},)"
      R"( {"cpu": -0.0, "rps": 1e3, "timestamp": "2023-11-14T22:13:20.25+01:00",)"
      R"( "meta": {"a": [1, "two", null, true, false, {"b": []}], "s": "\"\\\u00e9"}},)"
      R"( {"rps": 18446744073709551616, "cpu": 1E2}] )";
  ASSERT_FALSE(decode(body).error);
  // Up to the closing bracket: the trailing space after it makes a complete document.
  const std::size_t complete = body.rfind(']') + 1;
  for (std::size_t length = 0; length < complete; ++length) {
    const decoded result = decode(std::string_view(body).substr(0, length));
    ASSERT_TRUE(result.error) << length;
    EXPECT_TRUE(result.samples.empty()) << length;
  }
  const std::string single = R"({"timestamp": "1970-01-01T00:00:00Z", "cpu": 42.5, "rps": 1200})";
  for (std::size_t length = 0; length < single.size(); ++length) {
    const decoded result = decode(std::string_view(single).substr(0, length));
    ASSERT_TRUE(result.error) << length;
    EXPECT_EQ(result.error->code, error_code::invalid_json) << length;
  }
}

TEST(SampleCodecTest, MutatedBodiesNeverThrowOrHalfSucceed) {
  const std::string body =
      R"([{"timestamp": "2023-11-14T22:13:20Z", "cpu": 42.5, "rps": 1200, "x": [{"y": -1e3}]},)"
      R"( {"cpu": 0, "rps": 0}])";
  for (std::size_t i = 0; i < body.size(); ++i) {
    for (const char replacement :
         {'\0', '"', '[', '{', '}', ']', ',', ':', '-', '9', 'e', '\\', '\xff', ' '}) {
      std::string mutated = body;
      mutated[i] = replacement;
      std::vector<sample> out;
      std::optional<decode_error> error;
      ASSERT_NO_THROW(error = decode_samples(mutated, decode_options{}, out)) << mutated;
      EXPECT_TRUE(error.has_value() == out.empty()) << mutated;
      if (error) {
        EXPECT_NE(to_string(error->code), to_string(error_code::internal)) << mutated;
      }
    }
  }
}

// --- missing fields ---------------------------------------------------------------------------

TEST(SampleCodecTest, MissingFieldsAreReported) {
  expect_error(R"({"rps": 1})", error_code::missing_field, "cpu: required");
  expect_error(R"({"cpu": 1})", error_code::missing_field, "rps: required");
  expect_error(R"({"cpu": 1, "timestamp": 5, "other": {"rps": 1}})", error_code::missing_field,
               "rps: required");
  // Both missing: cpu is named first.
  expect_error("{}", error_code::missing_field, "cpu: required");
  expect_error(R"([{"cpu": 1, "rps": 1}, {"cpu": 1, "rps": 1}, {"cpu": 1, "rps": 1}, {"cpu": 1}])",
               error_code::missing_field, "samples[3].rps: required");
  expect_error(R"([{}])", error_code::missing_field, "samples[0].cpu: required");
}

// --- wrong types ------------------------------------------------------------------------------

TEST(SampleCodecTest, NonNumberCpuIsInvalidType) {
  for (const std::string_view value :
       {R"("42")", "true", "false", "null", "{}", R"({"v": 1})", "[]", "[42]"}) {
    expect_error(R"({"cpu": )" + std::string(value) + R"(, "rps": 1})", error_code::invalid_type,
                 "cpu: must be a number");
  }
}

TEST(SampleCodecTest, NonNumberRpsIsInvalidType) {
  for (const std::string_view value : {R"("1200")", "true", "null", "{}", "[1200]"}) {
    expect_error(R"([{"cpu": 1, "rps": 1}, {"cpu": 1, "rps": )" + std::string(value) + "}]",
                 error_code::invalid_type, "samples[1].rps: must be a number");
  }
}

TEST(SampleCodecTest, BadTimestampTypeIsInvalidType) {
  constexpr std::string_view kMessage =
      "timestamp: must be a number of Unix seconds or an RFC 3339 string";
  for (const std::string_view value :
       {"null", "true", "{}", "[1700000000]", R"("1700000000")", R"("")", R"("yesterday")",
        R"("2023-11-14 22:13:20Z")", R"("2023-11-14T22:13:20")", R"("2023-02-29T00:00:00Z")",
        R"("2023-11-14T22:13:60Z")", R"("2023-11-14T24:00:00Z")",
        R"("2023-11-14T22:13:20+24:00")"}) {
    expect_error(R"({"cpu": 1, "rps": 1, "timestamp": )" + std::string(value) + "}",
                 error_code::invalid_type, kMessage);
  }
  expect_error(R"([{"timestamp": false, "cpu": 1, "rps": 1}])", error_code::invalid_type,
               "samples[0].timestamp: must be a number of Unix seconds or an RFC 3339 string");
}

// --- ranges -----------------------------------------------------------------------------------

TEST(SampleCodecTest, CpuOutOfRange) {
  for (const std::string_view value : {"100.0000001", "-0.0000001", "101", "-1", "1e3", "1e309",
                                       "-1e309", "18446744073709551616"}) {
    expect_error(R"({"cpu": )" + std::string(value) + R"(, "rps": 1})", error_code::out_of_range,
                 "cpu: must be between 0 and 100");
  }
  expect_error(R"([{"cpu": 1, "rps": 1}, {"cpu": 1, "rps": 1}, {"cpu": 1, "rps": 1},)"
               R"( {"cpu": 100.5, "rps": 1}])",
               error_code::out_of_range, "samples[3].cpu: must be between 0 and 100");
  expect_error(R"([{"cpu": 1e309, "rps": 1}])", error_code::out_of_range,
               "samples[0].cpu: must be between 0 and 100");
}

TEST(SampleCodecTest, RpsOutOfRange) {
  for (const std::string_view value :
       {"-1", "-0.0000001", "-1e-300", "1e309", "-1e309", "-18446744073709551616"}) {
    expect_error(R"({"cpu": 1, "rps": )" + std::string(value) + "}", error_code::out_of_range,
                 "rps: must be a finite number >= 0");
  }
  // An integer literal of 400 digits overflows a double just like 1e400.
  expect_error(R"({"cpu": 1, "rps": 1)" + std::string(400, '0') + "}", error_code::out_of_range,
               "rps: must be a finite number >= 0");
}

TEST(SampleCodecTest, TimestampOutOfRange) {
  constexpr std::string_view kMessage =
      "timestamp: must be between 0 and 253402300799 Unix seconds";
  for (const std::string_view value :
       {"-1", "-0.5", "253402300800", "253402300799.5", "1700000000000", "1e309", "-1e309",
        R"("1969-12-31T23:59:59Z")", R"("1970-01-01T00:00:00+00:01")",
        R"("9999-12-31T23:59:59-00:01")", R"("9999-12-31T23:59:59.5Z")",
        R"("0000-01-01T00:00:00Z")"}) {
    expect_error(R"({"cpu": 1, "rps": 1, "timestamp": )" + std::string(value) + "}",
                 error_code::out_of_range, kMessage);
  }
  expect_error(R"([{"cpu": 1, "rps": 1}, {"timestamp": 1700000000000, "cpu": 1, "rps": 1}])",
               error_code::out_of_range,
               "samples[1].timestamp: must be between 0 and 253402300799 Unix seconds");
}

TEST(SampleCodecTest, NumberOverflowInUnknownFieldIsOutOfRange) {
  // nlohmann stops at a number it cannot represent, so the field cannot be skipped.
  expect_error(R"({"cpu": 1, "rps": 1, "extra": 1e309})", error_code::out_of_range,
               "extra: number is too large");
  expect_error(R"([{"cpu": 1, "rps": 1, "extra": {"deep": [-1e999]}}])", error_code::out_of_range,
               "samples[0].extra: number is too large");
}

// --- duplicate keys ---------------------------------------------------------------------------

TEST(SampleCodecTest, DuplicateKnownKeysRejected) {
  expect_error(R"({"cpu": 1, "cpu": 2, "rps": 1})", error_code::duplicate_key,
               "cpu: duplicate key");
  expect_error(R"({"cpu": 1, "rps": 1, "rps": 1})", error_code::duplicate_key,
               "rps: duplicate key");
  expect_error(R"({"timestamp": 1, "cpu": 1, "rps": 1, "timestamp": 1})", error_code::duplicate_key,
               "timestamp: duplicate key");
  // The duplicate is found before the missing rps at the object's end.
  expect_error(R"([{"cpu": 1, "rps": 1}, {"cpu": 1, "cpu": 1}])", error_code::duplicate_key,
               "samples[1].cpu: duplicate key");
}

TEST(SampleCodecTest, DuplicateUnknownKeysRejected) {
  expect_error(R"({"cpu": 1, "rps": 1, "note": "a", "note": {"b": 1}})", error_code::duplicate_key,
               "note: duplicate key");
  expect_error(R"([{"cpu": 1, "rps": 1}, {"x": 1, "cpu": 1, "x": [], "rps": 1}])",
               error_code::duplicate_key, "samples[1].x: duplicate key");
  // Many distinct keys first: the duplicate is still found once they are hashed.
  std::string body = R"({"cpu": 1, "rps": 1)";
  for (int i = 0; i < 100; ++i) {
    body += R"(, "k)" + std::to_string(i) + R"(": 0)";
  }
  EXPECT_EQ(decode_one(body + "}").cpu, 1.0);
  expect_error(body + R"(, "k7": 0})", error_code::duplicate_key, "k7: duplicate key");
  expect_error(body + R"(, "k99": 0})", error_code::duplicate_key, "k99: duplicate key");
}

TEST(SampleCodecTest, EquivalentKeySpellingsAreDuplicates) {
  // "\u0063pu" is "cpu": keys are compared after unescaping, as JSON defines them.
  expect_error(R"({"cpu": 1, "\u0063pu": 2, "rps": 1})", error_code::duplicate_key,
               "cpu: duplicate key");
}

TEST(SampleCodecTest, SameKeysInOtherScopesAreNotDuplicates) {
  const decoded result = decode(
      R"([{"cpu": 1, "rps": 1, "x": {"x": 1, "cpu": 2, "y": {"x": 3}}, "y": [{"x": 1}, {"x": 2}]},)"
      R"( {"cpu": 2, "rps": 2, "x": 1, "y": 2}])");
  ASSERT_FALSE(result.error) << result.error->message;
  ASSERT_EQ(result.samples.size(), 2U);
  EXPECT_EQ(result.samples[0].cpu, 1.0);
  EXPECT_EQ(result.samples[1].cpu, 2.0);
}

TEST(SampleCodecTest, DuplicateKeyMessageIsBounded) {
  const std::string key(1000, 'k');
  const decoded result = decode(R"({")" + key + R"(": 1, ")" + key + R"(": 2})");
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->code, error_code::duplicate_key);
  EXPECT_EQ(result.error->message, std::string(64, 'k') + ": duplicate key");
  // Cut inside a multibyte character: the cut backs off to a character boundary.
  const std::string accented = std::string(63, 'k') + "\xc3\xa9";
  const decoded utf8 = decode(R"({")" + accented + R"(": 1, ")" + accented + R"(": 2})");
  ASSERT_TRUE(utf8.error);
  EXPECT_EQ(utf8.error->message, std::string(63, 'k') + ": duplicate key");
}

TEST(SampleCodecTest, ControlCharactersInEchoedKeysReplaced) {
  // A key reaches the message, and perhaps a text log: it must not carry a line break.
  expect_error(R"({"a\nb": 1, "a\u000ab": 2})", error_code::duplicate_key, "a?b: duplicate key");
  expect_error(R"({"cpu": 1, "rps": 1, "t\tx": 1e999})", error_code::out_of_range,
               "t?x: number is too large");
}

// --- order of errors --------------------------------------------------------------------------

TEST(SampleCodecTest, FirstProblemInDocumentOrderWins) {
  expect_error(R"({"cpu": "x", "rps": -1})", error_code::invalid_type, "cpu: must be a number");
  expect_error(R"({"rps": -1, "cpu": "x"})", error_code::out_of_range,
               "rps: must be a finite number >= 0");
  expect_error(R"([{"cpu": 1, "rps": 1}, {"cpu": 200, "rps": 1}, {"cpu": "x"}])",
               error_code::out_of_range, "samples[1].cpu: must be between 0 and 100");
  expect_error(R"([{"cpu": 1}, 5])", error_code::missing_field, "samples[0].rps: required");
  expect_error(R"({"cpu": 500, "rps": 1} trailing)", error_code::out_of_range,
               "cpu: must be between 0 and 100");
  // A body that would also turn out truncated still reports the earlier problem.
  expect_error(R"([{"cpu": 1}, {"cpu": )", error_code::missing_field, "samples[0].rps: required");
}

}  // namespace
}  // namespace analyzer::api
