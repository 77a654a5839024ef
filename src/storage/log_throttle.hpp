// Rate limit for repeated log lines (a Redis that refuses every reconnect must not write
// a line per attempt): at most one line per interval, and the next line says how many
// were left out. Not thread-safe: one throttle per thread of use.
#pragma once

#include <chrono>
#include <cstdint>

namespace analyzer::storage {

class log_throttle {
 public:
  using clock = std::chrono::steady_clock;

  explicit log_throttle(clock::duration interval) : interval_(interval) {}

  // True when a line may be written at `now`; `suppressed` is then set to the number of
  // lines refused since the last one allowed.
  bool allow(std::uint64_t& suppressed, clock::time_point now = clock::now()) {
    if (allowed_once_ && now - last_ < interval_) {
      ++suppressed_;
      return false;
    }
    allowed_once_ = true;
    last_ = now;
    suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

  // Forgets the interval: the next line is written (after a recovery, say).
  void reset() noexcept { allowed_once_ = false; }

 private:
  clock::duration interval_;
  clock::time_point last_{};
  bool allowed_once_ = false;
  std::uint64_t suppressed_ = 0;
};

}  // namespace analyzer::storage
