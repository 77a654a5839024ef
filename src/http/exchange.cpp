// The socket-free steps of a request/response exchange (see exchange.hpp).
#include "exchange.hpp"

#include "analyzer/api/error_code.hpp"
#include "analyzer/http/router.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>

#include <algorithm>
#include <charconv>
#include <string>
#include <utility>

namespace analyzer::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;

namespace {

// One read of Beast's read algorithms (they read at most 64 KiB at a time).
constexpr std::size_t kReadChunkBytes = std::size_t{64} * 1024;

// RFC 9112 §6.1, §6.3: a request with Transfer-Encoding must end in chunked and carry no
// Content-Length; otherwise front ends and this server may read different lengths from it
// (request smuggling). Beast refuses some of these combinations itself (Content-Length
// before Transfer-Encoding, Content-Length after chunked); this refuses all of them.
std::optional<response> framing_error(const request_parser& parser) {
  if (!parser.has_transfer_encoding()) return std::nullopt;
  // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
  if (parser.version() < 11) {
    return error_response(400, api::error_code::bad_request,
                          "malformed HTTP request: Transfer-Encoding in an HTTP/1.0 request");
  }
  if (parser.has_content_length()) {
    return error_response(400, api::error_code::bad_request,
                          "malformed HTTP request: Transfer-Encoding with Content-Length");
  }
  if (!parser.chunked()) {
    return error_response(400, api::error_code::bad_request,
                          "malformed HTTP request: Transfer-Encoding must end in chunked");
  }
  return std::nullopt;
}

}  // namespace

std::size_t read_buffer_limit(const config::config& cfg) noexcept {
  return cfg.max_header_bytes + kReadChunkBytes;
}

void apply_limits(request_parser& parser, const config::config& cfg) {
  parser.header_limit(static_cast<std::uint32_t>(cfg.max_header_bytes));
  parser.body_limit(boost::none);  // after_head applies MAX_BODY_BYTES
}

bool head_too_large(std::size_t head_bytes, const config::config& cfg) noexcept {
  return head_bytes > cfg.max_header_bytes;
}

std::size_t parse_buffered(request_parser& parser, beast::flat_buffer& buffer, bool head_only,
                           beast::error_code& ec) {
  std::size_t head_bytes = 0;
  while (!(head_only ? parser.is_header_done() : parser.is_done()) && buffer.size() > 0) {
    const bool in_head = !parser.is_header_done();
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (in_head) head_bytes += used;  // a put that completes the head stops there (not eager)
    if (ec == bhttp::error::need_more) {
      ec = {};
      break;
    }
    if (ec || used == 0) break;
  }
  return head_bytes;
}

head_decision after_head(const service_context& ctx, request_parser& parser, bool draining) {
  head_decision next;
  if (draining) {
    next.early = error_response(503, api::error_code::unavailable,
                                "the server is shutting down; retry on another instance");
    next.early->retry_after = true;
    next.action = head_action::respond;
    next.close = true;
    return next;
  }
  if (auto bad = framing_error(parser)) {
    next.early = std::move(bad);
    next.action = head_action::respond;
    next.close = true;
    return next;
  }
  const request head = parser.view(false);
  if (const auto length = parser.content_length(); length && *length > ctx.cfg.max_body_bytes) {
    next.early =
        read_error_response(ctx, bhttp::error::body_limit, match_route(head.path()), head.verb);
    next.action = head_action::respond;
    next.close = true;  // the body is not read
    return next;
  }
  parser.body_limit(ctx.cfg.max_body_bytes);  // a chunked body is counted as it is read
  next.early = precheck(ctx, head);
  const bool expects_continue = parser.expects_continue();
  if (next.early) {
    // A client waiting for 100 Continue has not sent its body: answer and close.
    if (expects_continue || parser.is_done()) {
      next.action = head_action::respond;
      next.close = expects_continue && !parser.is_done();
    } else {
      next.action = head_action::discard_body;
    }
    return next;
  }
  if (parser.is_done()) {
    next.action = head_action::dispatch;
  } else if (expects_continue) {
    next.action = head_action::send_continue;
  } else {
    next.action = head_action::read_body;
  }
  return next;
}

bool ends_silently(beast::error_code ec) noexcept {
  return ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
         ec == net::error::eof || ec == net::error::connection_reset ||
         ec == beast::error::timeout || ec == bhttp::error::partial_message ||
         ec == net::error::broken_pipe || ec == net::error::bad_descriptor;
}

response read_error_response(const service_context& ctx, beast::error_code ec, http::route route,
                             http::method method) {
  if (ec == bhttp::error::header_limit) {
    return error_response(431, api::error_code::headers_too_large,
                          "request head is larger than MAX_HEADER_BYTES (" +
                              std::to_string(ctx.cfg.max_header_bytes) + " bytes)");
  }
  if (ec == bhttp::error::body_limit) {
    if (route == http::route::metrics && method == http::method::post) {
      ctx.metrics.record_rejected(api::error_code::body_too_large);
    }
    return error_response(413, api::error_code::body_too_large,
                          "request body is larger than MAX_BODY_BYTES (" +
                              std::to_string(ctx.cfg.max_body_bytes) + " bytes)");
  }
  if (ec == bhttp::error::buffer_overflow) {
    return error_response(400, api::error_code::bad_request,
                          "malformed HTTP request: a chunk-size line or the trailer section is "
                          "longer than " +
                              std::to_string(read_buffer_limit(ctx.cfg)) + " bytes");
  }
  return error_response(400, api::error_code::bad_request,
                        "malformed HTTP request: " + ec.message());
}

void build_response(wire_response& out, response res, unsigned version, bool keep_alive,
                    bool head_request, std::string_view request_id) {
  out = {};
  out.version(version);
  out.result(res.status);
  out.set(bhttp::field::content_type, res.content_type);
  out.set("X-Request-Id", request_id);
  if (!res.allow.empty()) out.set(bhttp::field::allow, res.allow);
  if (res.retry_after) out.set(bhttp::field::retry_after, "1");
  if (res.www_authenticate) {
    out.set(bhttp::field::www_authenticate, "Bearer realm=\"metrics-analyzer\"");
  }
  out.keep_alive(keep_alive);
  if (head_request) {
    out.content_length(res.body.size());  // what GET would send, without the body
  } else {
    out.body() = std::move(res.body);
    out.prepare_payload();
  }
}

void write_response(std::string& out, const response& res, unsigned version, bool keep_alive,
                    bool head_request, std::string_view request_id) {
  write_response_head(out, res, version, keep_alive, request_id);
  if (!head_request) out.append(res.body);
}

void write_response_head(std::string& out, const response& res, unsigned version, bool keep_alive,
                         std::string_view request_id) {
  const auto append_number = [&out](std::size_t n) {
    char digits[24];
    const auto [end, ec] = std::to_chars(std::begin(digits), std::end(digits), n);
    out.append(std::begin(digits), end);
    (void)ec;  // 24 digits hold any size_t
  };
  out.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_number(res.status);
  out.push_back(' ');
  out.append(bhttp::obsolete_reason(bhttp::int_to_status(res.status)));
  out.append("\r\nContent-Type: ").append(res.content_type);
  out.append("\r\nX-Request-Id: ").append(request_id);
  if (!res.allow.empty()) out.append("\r\nAllow: ").append(res.allow);
  if (res.retry_after) out.append("\r\nRetry-After: 1");
  if (res.www_authenticate) {
    out.append("\r\nWWW-Authenticate: Bearer realm=\"metrics-analyzer\"");
  }
  // HTTP/1.1 keeps connections open unless told; HTTP/1.0 closes them unless told.
  if (version == 10 && keep_alive) out.append("\r\nConnection: keep-alive");
  if (version != 10 && !keep_alive) out.append("\r\nConnection: close");
  out.append("\r\nContent-Length: ");
  append_number(res.body.size());
  out.append("\r\n\r\n");
}

}  // namespace analyzer::http
