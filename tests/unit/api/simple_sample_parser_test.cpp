// The fast path of the sample decoder against the full one: whatever the fast path
// accepts, the full decoder accepts with bit-identical samples; whatever it declines is
// left to the full decoder (so errors and their messages are unchanged).
#include "analyzer/api/simple_sample_parser.hpp"

#include "analyzer/api/sample_codec.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace analyzer::api {
namespace {

decode_options options(bool fast) {
  decode_options o;
  o.max_batch = 5;
  o.now = 1'700'000'123.25;
  o.fast_path = fast;
  return o;
}

// Runs both paths; returns whether the fast path took the body.
bool check_agreement(const std::string& body) {
  std::vector<sample> fast;
  const bool took = parse_simple_samples(body, options(true), fast);
  std::vector<sample> full;
  const auto error = decode_samples(body, options(false), full);
  if (took) {
    EXPECT_FALSE(error.has_value())
        << "fast path accepted what the decoder rejects: " << body << " -> " << error->message;
    EXPECT_EQ(fast.size(), full.size()) << body;
    for (std::size_t i = 0; i < std::min(fast.size(), full.size()); ++i) {
      EXPECT_EQ(std::bit_cast<std::uint64_t>(fast[i].cpu),
                std::bit_cast<std::uint64_t>(full[i].cpu))
          << body;
      EXPECT_EQ(std::bit_cast<std::uint64_t>(fast[i].rps),
                std::bit_cast<std::uint64_t>(full[i].rps))
          << body;
      EXPECT_EQ(std::bit_cast<std::uint64_t>(fast[i].timestamp),
                std::bit_cast<std::uint64_t>(full[i].timestamp))
          << body;
    }
  }
  // And decode_samples with the fast path on gives the full decoder's verdict.
  std::vector<sample> combined;
  const auto combined_error = decode_samples(body, options(true), combined);
  EXPECT_EQ(combined_error.has_value(), error.has_value()) << body;
  if (combined_error && error) {
    EXPECT_EQ(combined_error->message, error->message) << body;
    EXPECT_EQ(combined_error->code, error->code) << body;
  }
  return took;
}

TEST(SimpleSampleParserTest, takes_the_bodies_load_generators_send) {
  for (const std::string& body : std::vector<std::string>{
           R"({"timestamp": 1700000000, "cpu": 42.5, "rps": 1200})", R"({"cpu":0,"rps":0})",
           R"( [ {"cpu": 100, "rps": 1e3}, {"rps": 2.5E-3, "cpu": 1.0, "timestamp": 0} ] )",
           "{\"cpu\":\t1,\n\"rps\":\r2}",
           R"({"cpu": 99.99999999999999999, "rps": 9223372036854775807})",
           R"({"cpu": 3, "rps": 1234567890123456789, "timestamp": 253402300799})"}) {
    EXPECT_TRUE(check_agreement(body)) << body;
  }
}

TEST(SimpleSampleParserTest, leaves_everything_else_to_the_full_decoder) {
  for (
      const std::string& body : std::vector<std::string>{
          R"({"cpu": -0, "rps": 1})",
          R"({"cpu": -1, "rps": 1})",
          R"({"cpu": 101, "rps": 1})",
          R"({"cpu": 1, "rps": 1e309})",
          R"({"cpu": 1, "rps": 1e-400})",
          R"({"cpu": 01, "rps": 1})",
          R"({"cpu": 1., "rps": 1})",
          R"({"cpu": .5, "rps": 1})",
          R"({"cpu": 1, "rps": 12345678901234567890})",
          R"({"cpu": 1, "rps": 1, "cpu": 2})",
          R"({"cpu": 1})",
          R"({"rps": 1})",
          R"({})",
          R"([])",
          R"({"cpu": 1, "rps": 1, "host": "a"})",
          R"({"cpu": "1", "rps": 1})",
          R"({"c\u0070u": 1, "rps": 1})",
          R"({"cpu": 1, "rps": 1, "timestamp": "2023-11-14T22:13:20Z"})",
          R"({"cpu": 1, "rps": 1, "timestamp": 253402300800})",
          R"({"cpu": 1, "rps": 1} x)",
          std::string(R"({"cpu": 1, "rps": 1})") + '\0',
          R"({"cpu": 1, "rps": 1,})",
          R"([{"cpu":1,"rps":1},{"cpu":1,"rps":1},{"cpu":1,"rps":1},{"cpu":1,"rps":1},{"cpu":1,"rps":1},{"cpu":1,"rps":1}])",
          "\xEF\xBB\xBF{\"cpu\": 1, \"rps\": 1}",
          R"({"cpu": NaN, "rps": 1})",
          R"({"cpu": 1, "rps": +1})",
          R"({"cpu": 1e, "rps": 1})",
          R"({"cpu": 1e+, "rps": 1})",
          ""}) {
    EXPECT_FALSE(check_agreement(body)) << body;
  }
}

// Random bodies built from the simple grammar's pieces and its near misses: whatever the
// fast path takes, the full decoder takes with the same bits.
TEST(SimpleSampleParserTest, random_bodies_agree_with_the_full_decoder) {
  std::mt19937_64 rng(20261126);
  const std::vector<std::string> numbers = {"0",
                                            "1",
                                            "42.5",
                                            "100",
                                            "100.0",
                                            "1e2",
                                            "1E-3",
                                            "0.1",
                                            "7.0e+1",
                                            "123456789012345678",
                                            "5e-324",
                                            "2.2250738585072014e-308",
                                            "1e308",
                                            "-0",
                                            "00",
                                            "1.7976931348623157e308",
                                            "99.999999999999999999",
                                            "253402300799",
                                            "253402300799.0001",
                                            "3.14159e0"};
  const std::vector<std::string> keys = {"cpu", "rps", "timestamp", "cpu", "rps", "CPU", "x"};
  const std::vector<std::string> spaces = {"", " ", "\n", "\t ", "\r\n"};
  int took = 0;
  for (int round = 0; round < 20'000; ++round) {
    const auto pick = [&rng](const std::vector<std::string>& v) -> const std::string& {
      return v[rng() % v.size()];
    };
    const int objects = static_cast<int>(rng() % 3);
    std::string body = objects > 0 ? "[" : "";
    for (int o = 0; o < std::max(objects, 1); ++o) {
      if (o > 0) body += "," + pick(spaces);
      body += "{";
      const int members = 2 + static_cast<int>(rng() % 2);
      for (int m = 0; m < members; ++m) {
        if (m > 0) body += ",";
        body += pick(spaces) + "\"" + pick(keys) + "\"" + pick(spaces) + ":" + pick(spaces) +
                pick(numbers) + pick(spaces);
      }
      body += "}";
    }
    if (objects > 0) body += "]";
    body += pick(spaces);
    took += check_agreement(body) ? 1 : 0;
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(took, 500);  // the generator does reach the fast path
}

}  // namespace
}  // namespace analyzer::api
