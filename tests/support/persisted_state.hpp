// What the Redis store persisted for one instance (key layout 2, redis_layout.hpp), read
// with a test's blocking client: the generation in use, its state hash and every record
// of its samples set with its score, so that tests see duplicates, gaps and order.
#pragma once

#include "support/redis_server.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace analyzer::test {

struct persisted_state {
  std::string generation;  // empty when the instance has written nothing
  std::map<std::string, std::string> state;
  std::vector<std::pair<std::uint64_t, std::string>> records;  // (score, member), by score

  // The score of every record, in order (a seq twice means two members for it).
  [[nodiscard]] std::vector<std::uint64_t> seqs() const;
  // The state hash's seq, 0 when absent.
  [[nodiscard]] std::uint64_t seq() const;
};

[[nodiscard]] persisted_state read_persisted(redis_server& redis, const std::string& key_prefix,
                                             const std::string& instance_id);

}  // namespace analyzer::test
