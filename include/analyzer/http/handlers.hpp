// Route handlers: thin functions that parse, call the analytics core and format.
#pragma once

#include "analyzer/http/message.hpp"
#include "analyzer/http/service_context.hpp"

#include <functional>
#include <string_view>

namespace analyzer::http {

response handle_health(const service_context& ctx);
response handle_ready(const service_context& ctx);
response handle_ingest(service_context& ctx, const request& req);
response handle_analyze(const service_context& ctx);
response handle_metrics(const service_context& ctx);

// Shared scope (ctx.shared set): the handlers start a call to Redis and complete `done`
// exactly once, on any thread (the storage thread, or the caller's for errors decided at
// once). `request_id`: the client's X-Request-Id (empty: no deduplication).
using completion = std::function<void(response)>;
void start_shared_ingest(service_context& ctx, const request& req, std::string_view request_id,
                         completion done);
void start_shared_analyze(const service_context& ctx, completion done);
// GET /metrics in shared scope: the window gauges from a read of the shared state.
void start_shared_metrics(const service_context& ctx, completion done);
// The 503 of a failed shared-scope call (counted in analyzer_shared_failures_total).
[[nodiscard]] response shared_failure_response(const service_context& ctx,
                                               storage::shared_failure failure,
                                               std::string_view detail);

// Unix time now, in seconds with sub-second precision.
[[nodiscard]] double unix_now() noexcept;

}  // namespace analyzer::http
