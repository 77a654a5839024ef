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

// Ingest needs the analyzer restored, whatever the phase: a shutdown that begins during
// the startup restore moves the phase on, but ingest stays refused (a commit racing the
// restore would hand out seqs twice).
class lifecycle {
 public:
  explicit lifecycle(phase initial = phase::starting)
      : phase_(initial), restored_(initial != phase::starting) {}
  [[nodiscard]] phase current() const noexcept { return phase_.load(std::memory_order_acquire); }
  // Moving to `ready` also marks the state restored.
  void set(phase p) noexcept {
    if (p == phase::ready) restored_.store(true, std::memory_order_release);
    phase_.store(p, std::memory_order_release);
  }
  // The restore is over: ingest may commit. Then starting → ready, unless a shutdown
  // began meanwhile (then the phase stays as it is).
  bool finish_starting() noexcept {
    restored_.store(true, std::memory_order_release);
    phase expected = phase::starting;
    return phase_.compare_exchange_strong(expected, phase::ready, std::memory_order_acq_rel);
  }
  // False until finish_starting() (or set(ready)): ingest is refused.
  [[nodiscard]] bool restored() const noexcept { return restored_.load(std::memory_order_acquire); }
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
  std::atomic<bool> restored_;
};

}  // namespace analyzer::http
