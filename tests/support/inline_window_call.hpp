// Drives the window path without a session, for tests and benchmarks of the instance scope,
// whose calls complete inline: the request's response, or a scrape, by value.
#pragma once

#include "analyzer/http/message.hpp"
#include "analyzer/http/service_context.hpp"
#include "analyzer/http/service_metrics.hpp"
#include "analyzer/storage/window_path.hpp"

#include <string>

namespace analyzer::test {

// dispatch() and answer() as a session runs them. Throws std::logic_error when a window
// call did not complete inline (shared scope: use a real server).
[[nodiscard]] http::response dispatch_inline(http::service_context& ctx, const http::request& req);

// The scrape text of `metrics` with a read of `windows` (instance scope).
[[nodiscard]] std::string scrape_inline(const http::service_metrics& metrics,
                                        storage::window_path& windows);

}  // namespace analyzer::test
