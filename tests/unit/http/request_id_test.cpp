// Unit tests of X-Request-Id validation and generation (architecture.md §2: the client's
// id when it is 1–128 characters of [A-Za-z0-9._-], else a generated one).
#include "analyzer/http/request_id.hpp"

#include <gtest/gtest.h>

#include <string>
#include <unordered_set>

namespace analyzer::http {
namespace {

TEST(RequestIdTest, length_edges) {
  EXPECT_FALSE(is_valid_request_id(""));
  EXPECT_TRUE(is_valid_request_id("a"));
  EXPECT_TRUE(is_valid_request_id(std::string(128, 'x')));
  EXPECT_FALSE(is_valid_request_id(std::string(129, 'x')));
  EXPECT_FALSE(is_valid_request_id(std::string(4096, 'x')));
}

TEST(RequestIdTest, allowed_characters) {
  EXPECT_TRUE(is_valid_request_id("abcdefghijklmnopqrstuvwxyz"));
  EXPECT_TRUE(is_valid_request_id("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
  EXPECT_TRUE(is_valid_request_id("0123456789"));
  EXPECT_TRUE(is_valid_request_id("."));
  EXPECT_TRUE(is_valid_request_id("_"));
  EXPECT_TRUE(is_valid_request_id("-"));
  EXPECT_TRUE(is_valid_request_id("req-42_a.B"));
  EXPECT_TRUE(is_valid_request_id("550e8400-e29b-41d4-a716-446655440000"));
}

TEST(RequestIdTest, other_characters_are_invalid) {
  for (const std::string id :
       {"a b", " a",   "a ",  "a/b",  "a\\b",        "a:b",          "a;b",  "a,b",   "a+b",
        "a=b", "a\"b", "a'b", "a\tb", "a\nb",        "a\rb",         "a{b}", "a%20b", "a@b",
        "a#b", "a*b",  "a~b", "a!b",  "caf\xc3\xa9", "\xe2\x80\x94", "\x7f"}) {
    EXPECT_FALSE(is_valid_request_id(id)) << id;
  }
  EXPECT_FALSE(is_valid_request_id(std::string("a\0b", 3)));
  // One bad character anywhere in an otherwise valid id of maximum length.
  std::string id(128, 'x');
  id[127] = ' ';
  EXPECT_FALSE(is_valid_request_id(id));
  id[127] = 'x';
  id[0] = '/';
  EXPECT_FALSE(is_valid_request_id(id));
}

TEST(RequestIdTest, generated_id_is_16_lowercase_hex_and_valid) {
  for (int i = 0; i < 100; ++i) {
    const std::string id = generate_request_id();
    ASSERT_EQ(id.size(), 16U) << id;
    for (char c : id) {
      EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
    }
    EXPECT_TRUE(is_valid_request_id(id)) << id;
  }
}

TEST(RequestIdTest, generated_ids_are_distinct) {
  constexpr std::size_t kCount = 10000;
  std::unordered_set<std::string> seen;
  seen.reserve(kCount);
  for (std::size_t i = 0; i < kCount; ++i) {
    const std::string id = generate_request_id();
    EXPECT_TRUE(seen.insert(id).second) << "repeated id " << id << " after " << i;
  }
  EXPECT_EQ(seen.size(), kCount);
}

}  // namespace
}  // namespace analyzer::http
