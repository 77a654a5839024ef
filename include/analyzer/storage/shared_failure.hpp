// Why a shared-scope call (WINDOW_SCOPE=shared) did not complete: the label of
// analyzer_shared_failures_total{reason}.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace analyzer::storage {

enum class shared_failure : std::uint8_t {
  unavailable,      // not connected to Redis, or the connection was lost before the reply
  overloaded,       // SHARED_MAX_IN_FLIGHT calls already in flight
  error,            // Redis answered with an error (script error, OOM, wrong type...)
  outcome_unknown,  // sent, and no answer by SHARED_REQUEST_DEADLINE_MS despite retries
};
inline constexpr std::size_t kSharedFailureCount = 4;

[[nodiscard]] constexpr std::string_view to_string(shared_failure f) noexcept {
  switch (f) {
    case shared_failure::unavailable:
      return "unavailable";
    case shared_failure::overloaded:
      return "overloaded";
    case shared_failure::error:
      return "error";
    case shared_failure::outcome_unknown:
      return "outcome_unknown";
  }
  return "error";
}

}  // namespace analyzer::storage
