// Route handlers: thin functions that parse, call the analytics core and format.
#pragma once

#include "analyzer/http/message.hpp"
#include "analyzer/http/service_context.hpp"

namespace analyzer::http {

response handle_health(const service_context& ctx);
response handle_ready(const service_context& ctx);
response handle_ingest(service_context& ctx, const request& req);
response handle_analyze(const service_context& ctx);
response handle_metrics(const service_context& ctx);

// Unix time now, in seconds with sub-second precision.
[[nodiscard]] double unix_now() noexcept;

}  // namespace analyzer::http
