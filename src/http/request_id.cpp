// Validation and generation of X-Request-Id values.
#include "analyzer/http/request_id.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>

namespace analyzer::http {
namespace {

std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27U)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31U);
}

std::uint64_t process_seed() {
  std::random_device device;
  const auto now =
      static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  return (static_cast<std::uint64_t>(device()) << 32U) ^ device() ^ now;
}

std::atomic<std::uint64_t> counter{0};

}  // namespace

bool is_valid_request_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string generate_request_id() {
  std::string id;
  generate_request_id(id);
  return id;
}

void generate_request_id(std::string& out) {
  static const std::uint64_t seed = process_seed();
  // A bijection of (seed + counter): unique within the process.
  const std::uint64_t value = splitmix64(seed + counter.fetch_add(1, std::memory_order_relaxed));
  static constexpr char kHex[] = "0123456789abcdef";
  out.assign(16, '0');
  for (std::size_t i = 0; i < 16; ++i) out[i] = kHex[(value >> (60U - 4U * i)) & 0xfU];
}

}  // namespace analyzer::http
