// Chooses the store from the configuration and runs the startup restore.
#pragma once

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/config/config.hpp"
#include "analyzer/storage/store.hpp"

#include <chrono>
#include <memory>

namespace analyzer::storage {

// The memory store when REDIS_ADDR is unset, else the Redis store (connecting in the
// background; the request path never waits for it).
[[nodiscard]] std::unique_ptr<store> make_store(const config::config& cfg);

// Restores `core` from `s` within `timeout`; on timeout or unreadable data the state stays
// empty. Logs one line either way. Call while no commit runs.
void restore_on_startup(store& s, analytics::analyzer& core, std::chrono::milliseconds timeout);

}  // namespace analyzer::storage
