// Unit tests of parse_rfc3339: the RFC 3339 date-time grammar and calendar rules it enforces.
#include "analyzer/api/sample_codec.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string_view>

namespace analyzer::api {
namespace {

static_assert(noexcept(parse_rfc3339(std::string_view{})));

TEST(Rfc3339Test, UtcDesignator) {
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20Z"), 1700000000.0);
  EXPECT_EQ(parse_rfc3339("2023-11-14t22:13:20z"), 1700000000.0);
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0.0);
  EXPECT_EQ(parse_rfc3339("9999-12-31T23:59:59Z"), kMaxTimestamp);
  EXPECT_EQ(parse_rfc3339("1999-12-31T23:59:59Z"), 946684799.0);
}

TEST(Rfc3339Test, NumericOffsets) {
  EXPECT_EQ(parse_rfc3339("2023-11-15T00:13:20+02:00"), 1700000000.0);
  EXPECT_EQ(parse_rfc3339("2023-11-14T17:13:20-05:00"), 1700000000.0);
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20+00:00"), 1700000000.0);
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20-00:00"), 1700000000.0);
  EXPECT_EQ(parse_rfc3339("2023-11-15T03:43:20+05:30"), 1700000000.0);
  EXPECT_EQ(parse_rfc3339("2023-11-15T22:12:20+23:59"), 1700000000.0);
  EXPECT_EQ(parse_rfc3339("2023-11-13T22:14:20-23:59"), 1700000000.0);
  // Offsets cross day, month and year boundaries.
  EXPECT_EQ(parse_rfc3339("1969-12-31T23:00:00-01:00"), 0.0);
  EXPECT_EQ(parse_rfc3339("1970-01-01T01:00:00+01:00"), 0.0);
}

TEST(Rfc3339Test, FractionalSeconds) {
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20.5Z"), 1700000000.5);
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20.25+02:00"), 1699992800.25);
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00.125Z"), 0.125);
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00.000000001Z"), 1e-9);
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20.0Z"), 1700000000.0);
  // Digits beyond what a double carries are accepted and do not disturb the value.
  EXPECT_EQ(parse_rfc3339("2023-11-14T22:13:20.500000000000000000000000000000Z"), 1700000000.5);
  const std::optional<double> nines = parse_rfc3339("1970-01-01T00:00:00.99999999999999999999Z");
  ASSERT_TRUE(nines);
  EXPECT_NEAR(*nines, 1.0, 1e-15);
}

TEST(Rfc3339Test, LeapYears) {
  EXPECT_EQ(parse_rfc3339("2024-02-29T00:00:00Z"), 1709164800.0);
  EXPECT_EQ(parse_rfc3339("2000-02-29T12:00:00Z"), 951825600.0);
  EXPECT_FALSE(parse_rfc3339("2023-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("1900-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2024-02-30T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339("2023-02-28T00:00:00Z"));
}

TEST(Rfc3339Test, MonthAndDayRanges) {
  EXPECT_TRUE(parse_rfc3339("2023-01-31T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339("2023-12-31T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339("2023-04-30T00:00:00Z"));
  for (const std::string_view text :
       {"2023-04-31T00:00:00Z", "2023-06-31T00:00:00Z", "2023-09-31T00:00:00Z",
        "2023-11-31T00:00:00Z", "2023-01-32T00:00:00Z", "2023-00-10T00:00:00Z",
        "2023-13-10T00:00:00Z", "2023-01-00T00:00:00Z"}) {
    EXPECT_FALSE(parse_rfc3339(text)) << text;
  }
}

TEST(Rfc3339Test, TimeRanges) {
  EXPECT_TRUE(parse_rfc3339("2023-11-14T23:59:59Z"));
  EXPECT_FALSE(parse_rfc3339("2023-11-14T24:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2023-11-14T23:60:00Z"));
  // Leap seconds are refused: Unix time cannot represent them.
  EXPECT_FALSE(parse_rfc3339("2016-12-31T23:59:60Z"));
  EXPECT_FALSE(parse_rfc3339("2023-11-14T22:13:20+24:00"));
  EXPECT_FALSE(parse_rfc3339("2023-11-14T22:13:20+02:60"));
}

TEST(Rfc3339Test, YearsBeforeTheEpochGiveNegativeSeconds) {
  // The codec range-checks; the parser only reads the calendar.
  EXPECT_EQ(parse_rfc3339("0000-01-01T00:00:00Z"), -62167219200.0);
  EXPECT_EQ(parse_rfc3339("1969-12-31T23:59:59Z"), -1.0);
  EXPECT_EQ(parse_rfc3339("1969-12-31T23:59:59.5Z"), -0.5);
}

TEST(Rfc3339Test, RejectsOtherFormats) {
  for (const std::string_view text : {
           "",
           "2023",
           "2023-11-14",
           "2023-11-14T22:13:20",   // offset is mandatory
           "2023-11-14 22:13:20Z",  // space separator
           "2023-11-14_22:13:20Z",
           "2023-11-14T22:13:20.Z",     // fraction needs a digit
           "2023-11-14T22:13:20,5Z",    // comma fraction (ISO 8601, not RFC 3339)
           "2023-11-14T22:13:20+0200",  // offset needs its colon
           "2023-11-14T22:13:20+02",
           "2023-11-14T22:13:20+2:00",
           "2023-11-14T22:13:20+02:00Z",
           "2023-11-14T22:13:20ZZ",
           "2023-11-14T22:13:20Z ",
           " 2023-11-14T22:13:20Z",
           "2023-11-14T22:13Z",
           "2023-11-14T22:13:2Z",
           "23-11-14T22:13:20Z",
           "+2023-11-14T22:13:20Z",
           "12023-11-14T22:13:20Z",
           "2023/11/14T22:13:20Z",
           "2023-1a-14T22:13:20Z",
           "2023-11-14T22:13:20UTC",
           "2023-11-14T22:13:20.5.5Z",
           "2023-11-14T-2:13:20Z",
           "1700000000",
           "2023-11-14T22:13:20+02:00:00",
       }) {
    EXPECT_FALSE(parse_rfc3339(text)) << text;
  }
}

TEST(Rfc3339Test, EveryTruncationIsRejected) {
  constexpr std::string_view kText = "2023-11-14T22:13:20.125+02:00";
  ASSERT_TRUE(parse_rfc3339(kText));
  for (std::size_t length = 0; length < kText.size(); ++length) {
    EXPECT_FALSE(parse_rfc3339(kText.substr(0, length))) << kText.substr(0, length);
  }
}

}  // namespace
}  // namespace analyzer::api
