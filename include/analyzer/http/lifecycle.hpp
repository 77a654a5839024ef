// Where the process is in its life, as routes and sessions see it (architecture.md §2, §4).
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

namespace analyzer::http {

enum class phase : std::uint8_t {
  starting,  // restoring state: /ready 503, ingest 503
  ready,     // serving
  stopping,  // signal received: /ready 503, every other route still served
  draining,  // listener closed: in-flight requests finish, new ones get 503 + close
};

class lifecycle {
 public:
  explicit lifecycle(phase initial = phase::starting) : phase_(initial) {}
  [[nodiscard]] phase current() const noexcept { return phase_.load(std::memory_order_acquire); }
  void set(phase p) noexcept { phase_.store(p, std::memory_order_release); }
  // starting → ready, unless a shutdown began meanwhile (then the phase stays as it is).
  bool finish_starting() noexcept {
    phase expected = phase::starting;
    return phase_.compare_exchange_strong(expected, phase::ready, std::memory_order_acq_rel);
  }
  [[nodiscard]] static std::string_view name(phase p) noexcept {
    switch (p) {
      case phase::starting:
        return "starting";
      case phase::ready:
        return "ready";
      case phase::stopping:
        return "stopping";
      case phase::draining:
        break;
    }
    return "draining";
  }

 private:
  std::atomic<phase> phase_;
};

}  // namespace analyzer::http
