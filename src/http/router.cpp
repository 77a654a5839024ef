// Route table, head-only checks and dispatch to the route handlers.
#include "analyzer/http/router.hpp"

#include "analyzer/api/responses.hpp"
#include "analyzer/http/handlers.hpp"
#include "connection_buffers.hpp"

#include <algorithm>
#include <cctype>

namespace analyzer::http {
namespace {

constexpr std::string_view kAllowRead = "GET, HEAD";
constexpr std::string_view kAllowIngest = "GET, HEAD, POST";

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "application/json" with any parameters (charset=utf-8 …), case-insensitive.
bool is_json_media_type(std::string_view value) noexcept {
  return iequals(trim(value.substr(0, value.find(';'))), kJsonContentType);
}

// Compares in time that depends only on the lengths, not on where the texts differ.
bool constant_time_equals(std::string_view a, std::string_view b) noexcept {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const auto y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

bool authorized(const service_context& ctx, const request& req) noexcept {
  if (ctx.cfg.ingest_token.empty()) return true;
  if (!req.authorization) return false;
  std::string_view value = trim(*req.authorization);
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size() || !iequals(value.substr(0, kScheme.size()), kScheme)) {
    return false;
  }
  return constant_time_equals(trim(value.substr(kScheme.size())), ctx.cfg.ingest_token);
}

}  // namespace

route match_route(std::string_view path) noexcept {
  if (path == "/metrics") return route::metrics;
  if (path == "/analyze") return route::analyze;
  if (path == "/health") return route::health;
  if (path == "/ready") return route::ready;
  return route::other;
}

method match_method(std::string_view name) noexcept {
  if (name == "GET") return method::get;
  if (name == "POST") return method::post;
  if (name == "HEAD") return method::head;
  return method::other;
}

response error_response(unsigned status, api::error_code code, std::string_view message) {
  response res;
  res.status = status;
  res.body = take_body();
  api::encode_error(code, message, res.body);
  return res;
}

std::optional<response> precheck(const service_context& ctx, const request& req) {
  const route r = match_route(req.path());
  std::optional<response> res;
  const bool read = req.verb == method::get || req.verb == method::head;
  if (r == route::other) {
    res = error_response(404, api::error_code::not_found,
                         "no route for this path; routes are /health, /ready, /metrics, /analyze");
  } else if (r == route::metrics && req.verb == method::post) {
    auto reject = [&](unsigned status, api::error_code code, std::string_view message) {
      ctx.metrics.record_rejected(code);
      res = error_response(status, code, message);
    };
    if (!ctx.life.restored()) {
      reject(503, api::error_code::unavailable,
             "state is being restored; retry after the Retry-After delay");
      res->retry_after = true;
    } else if (!authorized(ctx, req)) {
      reject(401, api::error_code::unauthorized,
             "POST /metrics needs the header 'Authorization: Bearer <INGEST_TOKEN>'");
      res->www_authenticate = true;
    } else if (req.content_type && !is_json_media_type(*req.content_type)) {
      reject(415, api::error_code::unsupported_media_type, "Content-Type must be application/json");
    }
  } else if (!read) {
    res = error_response(405, api::error_code::method_not_allowed,
                         r == route::metrics ? "method not allowed; allowed: GET, HEAD, POST"
                                             : "method not allowed; allowed: GET, HEAD");
    res->allow = r == route::metrics ? kAllowIngest : kAllowRead;
  }
  if (res) res->route = r;
  return res;
}

std::optional<response> dispatch(service_context& ctx, const request& req, window_call& call,
                                 storage::window_receiver& to) {
  if (std::optional<response> res = precheck(ctx, req)) return res;
  return handle(ctx, req, call, to);
}

std::optional<response> handle(service_context& ctx, const request& req, window_call& call,
                               storage::window_receiver& to) {
  const route r = match_route(req.path());
  call.route = r;
  std::optional<response> res;
  switch (r) {
    case route::metrics:
      if (req.verb == method::post) {
        res = start_ingest(ctx, req, call, to);
      } else {
        ctx.windows.read(to);
      }
      break;
    case route::analyze:
      ctx.windows.read(to);
      break;
    case route::health:
      res = handle_health(ctx);
      break;
    case route::ready:
      res = handle_ready(ctx);
      break;
    case route::other:
      res = precheck(ctx, req);  // 404, as dispatch() answers it
      break;
  }
  if (res) res->route = r;
  return res;
}

response answer(service_context& ctx, const window_call& call, const storage::commit_outcome& out) {
  response res = ingest_response(ctx, call, out);
  res.route = call.route;
  return res;
}

response answer(const service_context& ctx, const window_call& call,
                const storage::read_outcome& out) {
  response res = read_response(ctx, call, out);
  res.route = call.route;
  return res;
}

}  // namespace analyzer::http
