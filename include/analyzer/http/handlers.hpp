// Route handlers: thin functions that parse, call the window path and format. A route that
// needs the windows (POST /metrics, GET /analyze, the scrape) starts a call on ctx.windows
// and is answered from its outcome, on whichever thread the outcome arrives: inline in
// instance scope, on the storage thread in shared scope. Every handler is written once for
// both scopes.
#pragma once

#include "analyzer/http/message.hpp"
#include "analyzer/http/service_context.hpp"
#include "analyzer/storage/window_path.hpp"

#include <optional>
#include <string_view>

namespace analyzer::http {

// What the answer of a window call needs besides the outcome; the caller keeps it until
// the answer came.
struct window_call {
  http::route route = http::route::other;
  bool analysis = false;          // POST /metrics?analysis=true
  std::string_view request_id{};  // the client's X-Request-Id, else empty
};

response handle_health(const service_context& ctx);
response handle_ready(const service_context& ctx);

// POST /metrics: a request that cannot be committed (bad query or body) is answered at once
// (returned); otherwise the samples go to ctx.windows, which answers `to`.
[[nodiscard]] std::optional<response> start_ingest(service_context& ctx, const request& req,
                                                   window_call& call, storage::window_receiver& to);
// The answer to POST /metrics from the commit's outcome (202, 409, 503 or 504).
[[nodiscard]] response ingest_response(service_context& ctx, const window_call& call,
                                       const storage::commit_outcome& out);
// The answer to GET /analyze or the scrape (call.route) from a read of the windows. A scrape
// is answered even when the read failed, without the window gauges.
[[nodiscard]] response read_response(const service_context& ctx, const window_call& call,
                                     const storage::read_outcome& out);

// The 503 of a shared-scope call that failed and surely changed nothing; `advice` ends the
// message.
[[nodiscard]] response unavailable_response(storage::shared_failure failure,
                                            std::string_view detail, std::string_view advice);

// Unix time now, in seconds with sub-second precision.
[[nodiscard]] double unix_now() noexcept;

}  // namespace analyzer::http
