// The steps of one request/response exchange that do not touch the socket: the parser's
// limits, the handlers' view of a request, what to do once the head is in, the answer to a
// failed read, and the response as written. The session runs them between its socket
// operations; the request-path fuzz target (tests/fuzz/request_path_fuzz.cpp) runs them on
// bytes in memory, so both exercise the same rules. Private to the http module.
#pragma once

#include "analyzer/config/config.hpp"
#include "analyzer/http/message.hpp"
#include "analyzer/http/service_context.hpp"

#include "request_parser.hpp"

#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace analyzer::http {

using wire_response = boost::beast::http::response<boost::beast::http::string_body>;

// The most a connection holds of what it has read but not yet parsed: a request head
// (MAX_HEADER_BYTES) plus one read. A chunk-size line or a trailer section that does not end
// within it fails the read (http::error::buffer_overflow) instead of growing the buffer.
[[nodiscard]] std::size_t read_buffer_limit(const config::config& cfg) noexcept;

// MAX_HEADER_BYTES on a new request's parser. MAX_BODY_BYTES is applied by after_head, once
// the head is in: a Content-Length over it is refused there, with the request's id, route
// and method known (Beast would fail it while parsing the fields).
void apply_limits(request_parser& parser, const config::config& cfg);

// Whether a head of `head_bytes` (request line and fields, as the parser consumed them) is
// over MAX_HEADER_BYTES. Beast applies its header limit to the request line and then, once
// the line is parsed, to the fields alone: a head whose request line arrives whole in the
// first read could reach twice the limit. The session counts the head's bytes and refuses
// it (431) with this.
[[nodiscard]] bool head_too_large(std::size_t head_bytes, const config::config& cfg) noexcept;

// Feeds what `buffer` holds to the parser, without I/O, as Beast's reads would: until the
// head is complete (`head_only`) or the whole message is, the parser needs more bytes, or it
// fails (header, body and chunk limits included). Returns the bytes of the head consumed.
// The session parses the head alone first, so after_head applies the body limit before
// any of the body is parsed.
std::size_t parse_buffered(request_parser& parser, boost::beast::flat_buffer& buffer,
                           bool head_only, boost::beast::error_code& ec);

enum class head_action : std::uint8_t {
  respond,        // send `early` now, closing after it when `close`
  discard_body,   // read and discard the body (the connection stays usable), then send `early`
  send_continue,  // answer 100 Continue, read the body, then dispatch
  read_body,      // read the body, then dispatch
  dispatch,       // the request is complete: dispatch it
};

struct head_decision {
  head_action action = head_action::dispatch;
  std::optional<response> early;
  bool close = false;
};

// What to do once the head is parsed; `draining`: the server is shutting down. Applies
// MAX_BODY_BYTES to the rest of the parse. An action other than `respond` and
// `discard_body` means the request passed router::precheck: it goes to router::handle.
[[nodiscard]] head_decision after_head(const service_context& ctx, request_parser& parser,
                                       bool draining);

// True when a failed read ends the connection without a response: timeouts (the server's
// sweep has closed the socket, as nginx does: no 408) and clients that went away.
[[nodiscard]] bool ends_silently(boost::beast::error_code ec) noexcept;

// The response to any other failed read: 431, 413 or 400, each closing the connection.
// Counts a rejected ingest when the body of a POST /metrics is over the limit.
[[nodiscard]] response read_error_response(const service_context& ctx, boost::beast::error_code ec,
                                           http::route route, http::method method);

// The response as written, appended to `out` in one buffer: the status line, Content-Type,
// X-Request-Id, Allow, Retry-After, WWW-Authenticate, Connection (only where the
// version's default differs from `keep_alive`), Content-Length and the body (none for
// HEAD, which gets the Content-Length GET would have).
void write_response(std::string& out, const response& res, unsigned version, bool keep_alive,
                    bool head_request, std::string_view request_id);
// The same without the body: the session writes the head from its reused buffer and the
// body from the response, in one gather write, so a response costs no copy of its body.
void write_response_head(std::string& out, const response& res, unsigned version, bool keep_alive,
                         std::string_view request_id);

// The same response as a Beast message (what write_response must serialize to): status,
// Content-Type, X-Request-Id, Allow, Retry-After, WWW-Authenticate, Connection, Content-Length and
// the body (none for HEAD, which gets the Content-Length GET would have).
void build_response(wire_response& out, response res, unsigned version, bool keep_alive,
                    bool head_request, std::string_view request_id);

}  // namespace analyzer::http
