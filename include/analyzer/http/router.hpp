// Maps a request to its route and handler, and answers everything that can be decided
// from the head alone (unknown path, wrong method, media type, token, availability).
#pragma once

#include "analyzer/http/handlers.hpp"
#include "analyzer/http/message.hpp"
#include "analyzer/http/service_context.hpp"

#include <optional>
#include <string_view>

namespace analyzer::http {

[[nodiscard]] http::route match_route(std::string_view path) noexcept;
[[nodiscard]] http::method match_method(std::string_view name) noexcept;

// The response to send without reading the body, or nothing when the request may proceed.
[[nodiscard]] std::optional<response> precheck(const service_context& ctx, const request& req);

// Answers a fully read request. Returns the response when it is decided without the
// windows; otherwise a window call was started (POST /metrics, GET /analyze, the scrape)
// and its outcome reaches `to` exactly once, on any thread (inline, before this returns, in
// instance scope): turn it into the response with answer(). `call` must live until then.
[[nodiscard]] std::optional<response> dispatch(service_context& ctx, const request& req,
                                               window_call& call, storage::window_receiver& to);
// dispatch() for a request that already passed precheck() (the session runs precheck once
// the head is in, before reading the body).
[[nodiscard]] std::optional<response> handle(service_context& ctx, const request& req,
                                             window_call& call, storage::window_receiver& to);
[[nodiscard]] response answer(service_context& ctx, const window_call& call,
                              const storage::commit_outcome& out);
[[nodiscard]] response answer(const service_context& ctx, const window_call& call,
                              const storage::read_outcome& out);

// An error response with the catalogue's JSON body.
[[nodiscard]] response error_response(unsigned status, api::error_code code,
                                      std::string_view message);

}  // namespace analyzer::http
