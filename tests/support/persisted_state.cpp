// Reads layout 2 through the test's blocking Redis client.
#include "support/persisted_state.hpp"

#include "analyzer/storage/redis_layout.hpp"

#include <sstream>
#include <stdexcept>

namespace analyzer::test {

std::vector<std::uint64_t> persisted_state::seqs() const {
  std::vector<std::uint64_t> out;
  out.reserve(records.size());
  for (const auto& [score, member] : records) out.push_back(score);
  return out;
}

std::uint64_t persisted_state::seq() const {
  const auto it = state.find("seq");
  return it == state.end() ? 0 : std::stoull(it->second);
}

persisted_state read_persisted(redis_server& redis, const std::string& key_prefix,
                               const std::string& instance_id) {
  persisted_state out;
  out.generation = redis.command("GET", storage::generation_key(key_prefix, instance_id));
  if (out.generation.empty()) return out;
  const auto keys = storage::make_keys(key_prefix, instance_id, out.generation);
  out.state = redis.hgetall(keys.state);
  // Members are JSON without newlines; the client joins array elements with '\n'.
  std::istringstream lines(redis.command("ZRANGE", keys.samples, "0", "-1", "WITHSCORES"));
  std::string member;
  std::string score;
  while (std::getline(lines, member) && std::getline(lines, score)) {
    out.records.emplace_back(std::stoull(score), member);
  }
  return out;
}

}  // namespace analyzer::test
