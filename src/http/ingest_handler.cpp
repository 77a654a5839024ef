// POST /metrics: decode, commit every sample in array order, enqueue for the store.
#include "analyzer/api/responses.hpp"
#include "analyzer/api/sample_codec.hpp"
#include "analyzer/http/handlers.hpp"
#include "analyzer/http/router.hpp"

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

response handle_ingest(service_context& ctx, const request& req) {
  const auto query = parse_query(req.query());
  if (!query) {
    ctx.metrics.record_rejected(api::error_code::invalid_query);
    return error_response(400, api::error_code::invalid_query,
                          "the only query parameter of POST /metrics is analysis=true|false, "
                          "at most once");
  }

  // Per-thread buffers: the ingest path allocates nothing once they have grown.
  thread_local std::vector<api::sample> samples;
  thread_local std::vector<analytics::commit_result> results;
  const api::decode_options options{ctx.cfg.max_batch, unix_now()};
  if (auto error = api::decode_samples(req.body, options, samples)) {
    ctx.metrics.record_rejected(error->code);
    return error_response(status_of(error->code), error->code, error->message);
  }

  results.clear();
  std::size_t cpu_anomalies = 0;
  std::size_t rps_anomalies = 0;
  for (const auto& s : samples) {
    const analytics::commit_result committed = ctx.analyzer.commit(s.timestamp, s.cpu, s.rps);
    ctx.store.append(committed);
    cpu_anomalies += committed.of(analytics::metric::cpu).anomaly ? 1 : 0;
    rps_anomalies += committed.of(analytics::metric::rps).anomaly ? 1 : 0;
    if (query->analysis) results.push_back(committed);
  }
  ctx.metrics.record_accepted(samples.size(), cpu_anomalies, rps_anomalies);

  response res;
  res.status = 202;
  res.body.reserve(query->analysis ? 64 + results.size() * 160 : 48);
  api::encode_ingest(samples.size(), cpu_anomalies + rps_anomalies, results, query->analysis,
                     res.body);
  return res;
}

response shared_failure_response(const service_context& ctx, storage::shared_failure failure,
                                 std::string_view detail) {
  ctx.metrics.record_shared_failure(failure);
  if (failure == storage::shared_failure::outcome_unknown) {
    return error_response(
        504, api::error_code::outcome_unknown,
        "the samples were sent to the shared windows in Redis (WINDOW_SCOPE=shared) but no "
        "answer came in time: they may or may not be committed; retry with the same "
        "X-Request-Id to find out (a retry of a committed request is answered without "
        "committing again): " +
            std::string(detail));
  }
  response res =
      error_response(503, api::error_code::unavailable,
                     std::string(failure == storage::shared_failure::overloaded
                                     ? "too many requests waiting for the shared windows in Redis"
                                     : "the shared windows in Redis are not reachable") +
                         " (WINDOW_SCOPE=shared): " + std::string(detail) +
                         "; nothing was committed, retry after the Retry-After delay");
  res.retry_after = true;
  return res;
}

void start_shared_ingest(service_context& ctx, const request& req, std::string_view request_id,
                         completion done) {
  const auto query = parse_query(req.query());
  if (!query) {
    ctx.metrics.record_rejected(api::error_code::invalid_query);
    done(error_response(400, api::error_code::invalid_query,
                        "the only query parameter of POST /metrics is analysis=true|false, "
                        "at most once"));
    return;
  }
  std::vector<api::sample> samples;
  const api::decode_options options{ctx.cfg.max_batch, unix_now()};
  if (auto error = api::decode_samples(req.body, options, samples)) {
    ctx.metrics.record_rejected(error->code);
    done(error_response(status_of(error->code), error->code, error->message));
    return;
  }
  const bool analysis = query->analysis;
  ctx.shared->commit(
      samples, request_id, req.body,
      [&ctx, analysis, id = std::string(request_id),
       done = std::move(done)](storage::shared_commit_outcome out) {
        if (out.conflict) {
          ctx.metrics.record_rejected(api::error_code::request_id_conflict);
          done(error_response(409, api::error_code::request_id_conflict,
                              "X-Request-Id '" + id +
                                  "' was already used with other samples (it names one "
                                  "request for retries); nothing was committed: send new "
                                  "samples under a new id"));
          return;
        }
        if (out.failure) {
          const bool unknown = *out.failure == storage::shared_failure::outcome_unknown;
          ctx.metrics.record_rejected(unknown ? api::error_code::outcome_unknown
                                              : api::error_code::unavailable);
          std::string detail = out.detail;
          if (unknown && id.empty()) {
            detail +=
                "; this request had no X-Request-Id, so a retry cannot be "
                "recognised: send one to make retries safe";
          }
          done(shared_failure_response(ctx, *out.failure, detail));
          return;
        }
        std::size_t cpu_anomalies = 0;
        std::size_t rps_anomalies = 0;
        for (const auto& r : out.results) {
          cpu_anomalies += r.of(analytics::metric::cpu).anomaly ? 1 : 0;
          rps_anomalies += r.of(analytics::metric::rps).anomaly ? 1 : 0;
        }
        if (!out.duplicate) {
          ctx.metrics.record_accepted(out.results.size(), cpu_anomalies, rps_anomalies);
          ctx.metrics.record_shared_commit(out.results.size());
        }
        response res;
        res.status = 202;
        api::encode_ingest(out.results.size(), cpu_anomalies + rps_anomalies, out.results, analysis,
                           res.body);
        done(std::move(res));
      });
}

}  // namespace analyzer::http
