// Unit tests of to_string(error_code): the wire names of the error catalogue.
#include "analyzer/api/error_code.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string_view>
#include <utility>

namespace analyzer::api {
namespace {

TEST(ErrorCodeTest, EveryCodeHasItsOwnName) {
  constexpr std::pair<error_code, std::string_view> kNames[] = {
      {error_code::invalid_json, "invalid_json"},
      {error_code::invalid_body, "invalid_body"},
      {error_code::missing_field, "missing_field"},
      {error_code::invalid_type, "invalid_type"},
      {error_code::out_of_range, "out_of_range"},
      {error_code::duplicate_key, "duplicate_key"},
      {error_code::invalid_query, "invalid_query"},
      {error_code::bad_request, "bad_request"},
      {error_code::unauthorized, "unauthorized"},
      {error_code::not_found, "not_found"},
      {error_code::method_not_allowed, "method_not_allowed"},
      {error_code::body_too_large, "body_too_large"},
      {error_code::batch_too_large, "batch_too_large"},
      {error_code::unsupported_media_type, "unsupported_media_type"},
      {error_code::headers_too_large, "headers_too_large"},
      {error_code::unavailable, "unavailable"},
      {error_code::request_id_conflict, "request_id_conflict"},
      {error_code::outcome_unknown, "outcome_unknown"},
      {error_code::internal, "internal"},
  };
  for (const auto& [code, name] : kNames) {
    EXPECT_EQ(to_string(code), name);
  }
}

TEST(ErrorCodeTest, NamesAreDistinct) {
  // Walks the enumeration by value, so a code added without a name shows up here.
  std::set<std::string_view> names;
  constexpr auto kLast = static_cast<int>(error_code::internal);
  for (int value = 0; value <= kLast; ++value) {
    const std::string_view name = to_string(static_cast<error_code>(value));
    EXPECT_FALSE(name.empty()) << value;
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(kLast) + 1);
}

TEST(ErrorCodeTest, IsNoexcept) { static_assert(noexcept(to_string(error_code::internal))); }

}  // namespace
}  // namespace analyzer::api
