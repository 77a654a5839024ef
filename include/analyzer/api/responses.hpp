// JSON bodies of the API's responses (architecture.md §2). Pure functions of their
// inputs, so the exact shapes are unit tested without a socket.
#pragma once

#include "analyzer/analytics/detector_config.hpp"
#include "analyzer/analytics/snapshot.hpp"
#include "analyzer/api/error_code.hpp"
#include "analyzer/api/storage_status.hpp"

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace analyzer::api {

// {"error": "<code>", "message": "<message>"}
void encode_error(error_code code, std::string_view message, std::string& out);

// {"accepted": N, "anomalies": M} — padded with spaces so that, for a given number of
// accepted samples, the body length does not depend on how many anomalies were found
// (load tools such as ab count a response of another length as failed). With
// `results`, the analysis of every sample follows in commit order.
void encode_ingest(std::size_t accepted, std::size_t anomalies,
                   std::span<const analytics::commit_result> results, bool with_results,
                   std::string& out);

// The GET /analyze body; a non-empty `scope` adds "scope": <scope> (WINDOW_SCOPE=shared).
void encode_analyze(const analytics::snapshot& snap, const analytics::detector_config& config,
                    const storage_status& storage, double now, std::string& out,
                    std::string_view scope = {});

// The "metrics" object of the GET /analyze body ({"cpu": {...}, "rps": {...}}), appended
// to `out`: most of the body's work, and a function of the snapshot alone, so a caller
// may encode it once per committed seq.
void encode_analyze_metrics(const analytics::snapshot& snap, std::string& out);
// encode_analyze with that object already encoded by encode_analyze_metrics.
void encode_analyze(const analytics::snapshot& snap, const analytics::detector_config& config,
                    const storage_status& storage, double now, std::string& out,
                    std::string_view scope, std::string_view metrics_json);

// The GET /health body.
void encode_health(std::string_view version, double uptime_seconds, std::string& out);

// The GET /ready body: {"status": "ready"} or {"status": "starting"|"draining"}.
void encode_ready(std::string_view status, std::string& out);

}  // namespace analyzer::api
