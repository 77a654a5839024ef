// POST /metrics: decode, commit every sample in array order, enqueue for the store.
#include "analyzer/api/responses.hpp"
#include "analyzer/api/sample_codec.hpp"
#include "analyzer/http/handlers.hpp"
#include "analyzer/http/router.hpp"
#include "connection_buffers.hpp"

#include <memory>
#include <utility>
#include <vector>

namespace analyzer::http {
namespace {

struct ingest_query {
  bool analysis = false;
};

// The only parameter is `analysis`, exactly `true` or `false`, at most once.
std::optional<ingest_query> parse_query(std::optional<std::string_view> query) {
  ingest_query out;
  if (!query || query->empty()) return out;
  bool seen = false;
  std::string_view rest = *query;
  while (true) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    if (seen) return std::nullopt;
    if (pair == "analysis=true") {
      out.analysis = true;
    } else if (pair == "analysis=false") {
      out.analysis = false;
    } else {
      return std::nullopt;
    }
    seen = true;
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

unsigned status_of(api::error_code code) {
  return code == api::error_code::batch_too_large ? 413 : 400;
}

}  // namespace

namespace {

// A Redis call of the shared scope that failed: 503 when the samples surely were not
// committed, 504 when they may have been.
response window_failure_response(const service_context& ctx, const window_call& call,
                                 storage::shared_failure failure, std::string_view detail) {
  ctx.metrics.record_shared_failure(failure);
  if (failure == storage::shared_failure::outcome_unknown) {
    ctx.metrics.record_rejected(api::error_code::outcome_unknown);
    std::string message =
        "the samples were sent to the shared windows in Redis (WINDOW_SCOPE=shared) but no "
        "answer came in time: they may or may not be committed; retry with the same "
        "X-Request-Id to find out (a retry of a committed request is answered without "
        "committing again): " +
        std::string(detail);
    if (call.request_id.empty()) {
      message +=
          "; this request had no X-Request-Id, so a retry cannot be recognised: send one to "
          "make retries safe";
    }
    return error_response(504, api::error_code::outcome_unknown, message);
  }
  ctx.metrics.record_rejected(api::error_code::unavailable);
  return unavailable_response(failure, detail,
                              "nothing was committed, retry after the Retry-After delay");
}

}  // namespace

std::optional<response> start_ingest(service_context& ctx, const request& req, window_call& call,
                                     storage::window_receiver& to) {
  const auto query = parse_query(req.query());
  if (!query) {
    ctx.metrics.record_rejected(api::error_code::invalid_query);
    return error_response(400, api::error_code::invalid_query,
                          "the only query parameter of POST /metrics is analysis=true|false, "
                          "at most once");
  }
  // Per-thread: the ingest path allocates nothing once it has grown to the largest batch.
  thread_local std::vector<api::sample> samples;
  const api::decode_options options{ctx.cfg.max_batch, unix_now()};
  if (auto error = api::decode_samples(req.body, options, samples)) {
    ctx.metrics.record_rejected(error->code);
    return error_response(status_of(error->code), error->code, error->message);
  }
  call.analysis = query->analysis;
  ctx.windows.commit({samples, call.request_id, req.body}, to);
  return std::nullopt;
}

response ingest_response(service_context& ctx, const window_call& call,
                         const storage::commit_outcome& out) {
  if (out.conflict) {
    ctx.metrics.record_rejected(api::error_code::request_id_conflict);
    return error_response(409, api::error_code::request_id_conflict,
                          "X-Request-Id '" + std::string(call.request_id) +
                              "' was already used with other samples (it names one request "
                              "for retries); nothing was committed: send new samples under a "
                              "new id");
  }
  if (out.failure) return window_failure_response(ctx, call, *out.failure, out.detail);
  std::size_t cpu_anomalies = 0;
  std::size_t rps_anomalies = 0;
  for (const auto& r : out.results) {
    cpu_anomalies += r.of(analytics::metric::cpu).anomaly ? 1 : 0;
    rps_anomalies += r.of(analytics::metric::rps).anomaly ? 1 : 0;
  }
  // A repeated request is answered as the first time but counted once.
  if (!out.duplicate) ctx.metrics.record_accepted(out.results.size(), cpu_anomalies, rps_anomalies);
  response res;
  res.status = 202;
  res.body = take_body();
  res.body.reserve(call.analysis ? 64 + out.results.size() * 160 : 48);
  api::encode_ingest(out.results.size(), cpu_anomalies + rps_anomalies, out.results, call.analysis,
                     res.body);
  return res;
}

}  // namespace analyzer::http
