// The read-only routes: GET /health, /ready, /analyze and the Prometheus scrape.
#include "analyzer/api/responses.hpp"
#include "analyzer/build_info.hpp"
#include "analyzer/http/handlers.hpp"
#include "analyzer/telemetry/text_format.hpp"

#include <chrono>

namespace analyzer::http {

double unix_now() noexcept {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

response handle_health(const service_context& ctx) {
  response res;
  const double uptime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count();
  api::encode_health(build::kVersion, uptime, res.body);
  return res;
}

response handle_ready(const service_context& ctx) {
  response res;
  const phase p = ctx.life.current();
  if (p != phase::ready) {
    res.status = 503;
    res.retry_after = true;
  }
  api::encode_ready(p == phase::ready ? "ready" : lifecycle::name(p), res.body);
  return res;
}

response handle_analyze(const service_context& ctx) {
  response res;
  res.body.reserve(1024);
  api::encode_analyze(ctx.analyzer.read(), ctx.analyzer.config(), ctx.store.status(), unix_now(),
                      res.body);
  return res;
}

namespace {

// The shared windows' connection, reported where the in-process store's status goes.
storage::store_status shared_status(const service_context& ctx) {
  const storage::shared_window_status shared = ctx.shared->status();
  storage::store_status status;
  status.backend = "redis";
  status.connected = shared.connected;
  status.pending_writes = shared.in_flight;
  status.written_writes = shared.commits;
  status.failed_writes = shared.failures;
  status.reconnects = shared.reconnects;
  return status;
}

}  // namespace

void start_shared_analyze(const service_context& ctx, completion done) {
  ctx.shared->read([&ctx, done = std::move(done)](storage::shared_read_outcome out) {
    if (out.failure) {
      done(shared_failure_response(ctx, *out.failure, out.detail));
      return;
    }
    response res;
    res.body.reserve(1024);
    api::encode_analyze(out.snap, ctx.analyzer.config(), shared_status(ctx), unix_now(), res.body,
                        "shared");
    done(std::move(res));
  });
}

response handle_metrics(const service_context& ctx) {
  response res;
  res.content_type = telemetry::kTextContentType;
  res.body.reserve(8192);
  ctx.metrics.write_text(res.body);
  return res;
}

void start_shared_metrics(const service_context& ctx, completion done) {
  ctx.shared->read([&ctx, done = std::move(done)](const storage::shared_read_outcome& out) {
    // A scrape is answered even when Redis is not: without the window gauges then.
    telemetry::service_metrics::window_view view;
    if (!out.failure) view.snap = out.snap;
    view.status = shared_status(ctx);
    response res;
    res.content_type = telemetry::kTextContentType;
    res.body.reserve(8192);
    ctx.metrics.write_text(res.body, &view);
    done(std::move(res));
  });
}

}  // namespace analyzer::http
