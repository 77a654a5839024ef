// The read-only routes: GET /health, /ready, /analyze and the Prometheus scrape.
#include "analyzer/api/responses.hpp"
#include "analyzer/build_info.hpp"
#include "analyzer/http/handlers.hpp"
#include "analyzer/http/router.hpp"
#include "analyzer/telemetry/text_format.hpp"
#include "connection_buffers.hpp"

#include <chrono>

namespace analyzer::http {

double unix_now() noexcept {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

response handle_health(const service_context& ctx) {
  response res;
  res.body = take_body();
  const double uptime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count();
  api::encode_health(build::kVersion, uptime, res.body);
  return res;
}

response handle_ready(const service_context& ctx) {
  response res;
  res.body = take_body();
  const phase p = ctx.life.current();
  if (p != phase::ready) {
    res.status = 503;
    res.retry_after = true;
  }
  api::encode_ready(p == phase::ready ? "ready" : lifecycle::name(p), res.body);
  return res;
}

response unavailable_response(storage::shared_failure failure, std::string_view detail,
                              std::string_view advice) {
  response res = error_response(
      503, api::error_code::unavailable,
      std::string(failure == storage::shared_failure::overloaded
                      ? "too many requests waiting for the shared windows in Redis"
                      : "the shared windows in Redis are not reachable") +
          " (WINDOW_SCOPE=shared): " + std::string(detail) + "; " + std::string(advice));
  res.retry_after = true;
  return res;
}

response read_response(const service_context& ctx, const window_call& call,
                       const storage::read_outcome& out) {
  response res;
  res.body = take_body();
  if (call.route == route::metrics) {
    res.content_type = telemetry::kTextContentType;
    res.body.reserve(8192);
    ctx.metrics.write_text(res.body, out);
    return res;
  }
  if (out.failure || out.snap == nullptr) {
    const auto failure = out.failure.value_or(storage::shared_failure::error);
    ctx.metrics.record_shared_failure(failure);
    return unavailable_response(failure, out.detail, "retry after the Retry-After delay");
  }
  res.body.reserve(1024);
  // The contract's body has no `scope`: only the shared scope adds it, to say which stream
  // the numbers are of.
  const std::string_view scope = ctx.windows.scope();
  if (scope == "shared") {
    api::encode_analyze(*out.snap, ctx.windows.config(), out.status, unix_now(), res.body, scope);
    return res;
  }
  // Instance scope: the metrics object is a function of the service and its commit seq
  // (which only moves forward in a process), encoded once per seq on each thread.
  struct metrics_cache {
    std::uint64_t context = 0;
    std::uint64_t seq = 0;
    std::string json;
  };
  thread_local metrics_cache cache;
  if (cache.context != ctx.id || cache.seq != out.snap->seq || cache.json.empty()) {
    cache.json.clear();
    api::encode_analyze_metrics(*out.snap, cache.json);
    cache.context = ctx.id;
    cache.seq = out.snap->seq;
  }
  api::encode_analyze(*out.snap, ctx.windows.config(), out.status, unix_now(), res.body, {},
                      cache.json);
  return res;
}

}  // namespace analyzer::http
