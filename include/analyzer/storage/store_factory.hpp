// Chooses the store from the configuration and runs the startup restore.
#pragma once

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/config/config.hpp"
#include "analyzer/storage/store.hpp"

#include <chrono>
#include <functional>
#include <memory>

namespace analyzer::storage {

// The memory store when REDIS_ADDR is unset, else the Redis store (connecting in the
// background; the request path never waits for it).
[[nodiscard]] std::unique_ptr<store> make_store(const config::config& cfg);

struct restore_options {
  std::chrono::milliseconds attempt_timeout{5000};  // REDIS_RESTORE_TIMEOUT_MS
  bool start_empty_on_failure = false;              // REDIS_RESTORE_POLICY=start-empty
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};

  static restore_options from(const config::config& cfg);
};

enum class restore_outcome : std::uint8_t {
  restored,        // the analyzer holds the persisted state
  empty,           // nothing was persisted: the analyzer starts at seq 1
  new_generation,  // a failed attempt and start-empty: seq 1 under new keys
  abandoned,       // keep_trying said stop (a shutdown began): the analyzer is not restored
};

// Restores `core` from `s`: attempts of at most attempt_timeout each, retried with capped
// exponential backoff and jitter until one succeeds, keep_trying() turns false, or (with
// start_empty_on_failure) the first fails. A persisted state the analyzer rejects counts as
// a failed attempt: the service never starts a fresh history over a persisted one unless
// told to. Logs each outcome (failures rate-limited). Call while no commit runs.
restore_outcome restore_on_startup(store& s, analytics::analyzer& core,
                                   const restore_options& options,
                                   const std::function<bool()>& keep_trying);

}  // namespace analyzer::storage
