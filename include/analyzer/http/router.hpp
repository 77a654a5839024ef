// Maps a request to its route and handler, and answers everything that can be decided
// from the head alone (unknown path, wrong method, media type, token, availability).
#pragma once

#include "analyzer/http/message.hpp"
#include "analyzer/http/service_context.hpp"

#include <functional>
#include <optional>
#include <string_view>

namespace analyzer::http {

[[nodiscard]] telemetry::route match_route(std::string_view path) noexcept;
[[nodiscard]] telemetry::method match_method(std::string_view name) noexcept;

// The response to send without reading the body, or nothing when the request may proceed.
[[nodiscard]] std::optional<response> precheck(const service_context& ctx, const request& req);

// The complete response to a fully read request.
[[nodiscard]] response dispatch(service_context& ctx, const request& req);

// Shared scope (ctx.shared set): POST /metrics, GET/HEAD /analyze and the scrape are answered
// asynchronously. Returns false when the request is not one of them (answer it with
// dispatch); otherwise `done` gets the response exactly once, on any thread.
// `client_request_id`: the client's valid X-Request-Id, else empty.
[[nodiscard]] bool dispatch_deferred(service_context& ctx, const request& req,
                                     std::string_view client_request_id,
                                     std::function<void(response)>& done);

// An error response with the catalogue's JSON body.
[[nodiscard]] response error_response(unsigned status, api::error_code code,
                                      std::string_view message);

}  // namespace analyzer::http
