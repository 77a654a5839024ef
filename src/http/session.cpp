// The connection state machine: wait (idle timeout) → head (read timeout from the first
// byte) → [100 Continue] → body → route → write (write timeout) → next request or close.
#include "session.hpp"

#include "analyzer/api/error_code.hpp"
#include "analyzer/http/request_id.hpp"
#include "analyzer/http/router.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace analyzer::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;

namespace {

// First read of a request: enough for any ordinary head and small body.
constexpr std::size_t kFirstReadBytes = 2048;
// Keep a larger buffer only while it is in use, so idle connections stay small.
constexpr std::size_t kIdleBufferCapacity = std::size_t{16} * 1024;
// How long a closing connection reads (and discards) what the client still sends, so
// the final response is not destroyed by a reset.
constexpr std::chrono::milliseconds kLingerTime{500};

}  // namespace

session::session(net::ip::tcp::socket&& socket, service_context& ctx, session_host& host)
    : stream_(std::move(socket)), ctx_(ctx), host_(host) {}

session::~session() { host_.on_session_close(this); }

void session::start() {
  host_.on_session_open(shared_from_this());
  net::dispatch(stream_.get_executor(),
                beast::bind_front_handler(&session::wait_request, shared_from_this()));
}

void session::drain() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->state_ == state::idle) self->stream_.cancel();
  });
}

void session::force_close() {
  net::post(stream_.get_executor(), [self = shared_from_this()] { self->close_now(); });
}

void session::wait_request() {
  state_ = state::idle;
  if (host_.draining()) {
    close_now();
    return;
  }
  if (buffer_.size() > 0) {  // a pipelined request is already here
    read_header();
    return;
  }
  if (buffer_.capacity() > kIdleBufferCapacity) buffer_.shrink_to_fit();
  stream_.expires_after(ctx_.cfg.idle_timeout);
  stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                          beast::bind_front_handler(&session::on_first_bytes, shared_from_this()));
}

void session::on_first_bytes(beast::error_code ec, std::size_t bytes) {
  if (ec) {
    close_now();  // idle timeout, client closed, or shutdown cancelled the wait
    return;
  }
  buffer_.commit(bytes);
  read_header();
}

void session::read_header() {
  state_ = state::reading;
  early_.reset();
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(ctx_.cfg.max_header_bytes));
  parser_->body_limit(ctx_.cfg.max_body_bytes);
  // READ_TIMEOUT_MS covers the head and the body, counted from the request's first byte.
  stream_.expires_after(ctx_.cfg.read_timeout);
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           beast::bind_front_handler(&session::on_header, shared_from_this()));
}

request session::view(bool with_body) const {
  const auto& req = parser_->get();
  request out;
  out.verb = match_method(req.method_string());
  out.target = req.target();
  if (auto it = req.find(bhttp::field::content_type); it != req.end())
    out.content_type = it->value();
  if (auto it = req.find(bhttp::field::authorization); it != req.end()) {
    out.authorization = it->value();
  }
  if (with_body) out.body = req.body();
  return out;
}

void session::on_header(beast::error_code ec, std::size_t /*bytes*/) {
  if (ec) {
    fail_read(ec);
    return;
  }
  state_ = state::responding;
  request_started_ = std::chrono::steady_clock::now();
  const auto& req = parser_->get();
  const request head = view(false);
  route_ = match_route(head.path());
  method_ = head.verb;
  head_request_ = head.verb == telemetry::method::head;
  keep_alive_ = req.keep_alive();
  const auto id = req["X-Request-Id"];
  request_id_ = is_valid_request_id(id) ? std::string(id) : generate_request_id();

  if (host_.draining()) {
    auto res = error_response(503, api::error_code::unavailable,
                              "the server is shutting down; retry on another instance");
    res.retry_after = true;
    send(std::move(res), true);
    return;
  }
  early_ = precheck(ctx_, head);
  const bool expects_continue = beast::iequals(req[bhttp::field::expect], "100-continue");
  if (early_) {
    // A client waiting for 100 Continue has not sent its body: answer and close.
    if (expects_continue || parser_->is_done()) {
      send(std::move(*early_), expects_continue && !parser_->is_done());
    } else {
      read_body();  // read and discard the body so the connection stays usable
    }
    return;
  }
  if (parser_->is_done()) {
    process();
    return;
  }
  if (expects_continue) {
    auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                     req.version());
    stream_.expires_after(ctx_.cfg.write_timeout);
    bhttp::async_write(stream_, *cont,
                       [self = shared_from_this(), cont](beast::error_code wec, std::size_t) {
                         self->on_continue_written(wec);
                       });
    return;
  }
  read_body();
}

void session::on_continue_written(beast::error_code ec) {
  if (ec) {
    close_now();
    return;
  }
  read_body();
}

void session::read_body() {
  stream_.expires_after(ctx_.cfg.read_timeout);
  bhttp::async_read(stream_, buffer_, *parser_,
                    beast::bind_front_handler(&session::on_body, shared_from_this()));
}

void session::on_body(beast::error_code ec, std::size_t /*bytes*/) {
  if (ec) {
    fail_read(ec);
    return;
  }
  if (early_) {
    send(std::move(*early_), false);
    return;
  }
  process();
}

void session::process() { send(dispatch(ctx_, view(true)), false); }

void session::fail_read(beast::error_code ec) {
  // Timeouts: beast's tcp_stream has already closed the socket (as nginx does, no 408).
  if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
      ec == net::error::eof || ec == net::error::connection_reset || ec == beast::error::timeout) {
    close_now();
    return;
  }
  if (request_started_ == std::chrono::steady_clock::time_point{} || state_ == state::reading) {
    request_started_ = std::chrono::steady_clock::now();
  }
  if (request_id_.empty()) request_id_ = generate_request_id();
  if (parser_ && parser_->is_header_done()) {
    const request head = view(false);
    route_ = match_route(head.path());
    method_ = head.verb;
  } else {
    route_ = telemetry::route::other;
    method_ = telemetry::method::other;
    head_request_ = false;
  }
  response res;
  if (ec == bhttp::error::header_limit) {
    res = error_response(431, api::error_code::headers_too_large,
                         "request head is larger than MAX_HEADER_BYTES (" +
                             std::to_string(ctx_.cfg.max_header_bytes) + " bytes)");
  } else if (ec == bhttp::error::body_limit) {
    res = error_response(413, api::error_code::body_too_large,
                         "request body is larger than MAX_BODY_BYTES (" +
                             std::to_string(ctx_.cfg.max_body_bytes) + " bytes)");
    if (route_ == telemetry::route::metrics && method_ == telemetry::method::post) {
      ctx_.metrics.record_rejected(api::error_code::body_too_large);
    }
  } else if (ec == bhttp::error::partial_message || ec == net::error::broken_pipe) {
    close_now();  // the client went away mid-request: nobody to answer
    return;
  } else {
    res = error_response(400, api::error_code::bad_request,
                         "malformed HTTP request: " + ec.message());
  }
  state_ = state::responding;
  keep_alive_ = false;
  send(std::move(res), true);
}

void session::send(response res, bool close) {
  status_ = res.status;
  if (close || res.close || host_.draining()) keep_alive_ = false;
  const unsigned version = parser_ && parser_->is_header_done() ? parser_->get().version() : 11;
  res_ = {};
  res_.version(version);
  res_.result(res.status);
  res_.set(bhttp::field::content_type, res.content_type);
  res_.set("X-Request-Id", request_id_);
  if (!res.allow.empty()) res_.set(bhttp::field::allow, res.allow);
  if (res.retry_after) res_.set(bhttp::field::retry_after, "1");
  if (res.www_authenticate) {
    res_.set(bhttp::field::www_authenticate, "Bearer realm=\"metrics-analyzer\"");
  }
  res_.keep_alive(keep_alive_);
  if (head_request_) {
    res_.content_length(res.body.size());  // what GET would send, without the body
  } else {
    res_.body() = std::move(res.body);
    res_.prepare_payload();
  }
  stream_.expires_after(ctx_.cfg.write_timeout);
  bhttp::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    self->on_write(ec);
  });
}

void session::on_write(beast::error_code ec) {
  const auto elapsed = std::chrono::steady_clock::now() - request_started_;
  ctx_.metrics.record_request(route_, method_, status_, elapsed);
  if (spdlog::should_log(spdlog::level::debug)) {
    const std::string target = parser_ && parser_->is_header_done()
                                   ? std::string(parser_->get().target().substr(0, 256))
                                   : std::string("-");
    spdlog::debug("access {} {} {} {:.3f}ms id={}{}", telemetry::to_string(method_), target,
                  status_, std::chrono::duration<double, std::milli>(elapsed).count(), request_id_,
                  ec ? " write_failed=" + ec.message() : "");
  }
  request_started_ = {};
  request_id_.clear();
  if (ec) {
    close_now();
    return;
  }
  if (!keep_alive_) {
    close_gracefully();
    return;
  }
  parser_.reset();
  wait_request();
}

void session::close_gracefully() {
  state_ = state::closing;
  beast::error_code ignored;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  stream_.expires_after(kLingerTime);  // bounds the whole linger, however much arrives
  stream_.async_read_some(net::buffer(linger_buffer_),
                          beast::bind_front_handler(&session::on_linger_read, shared_from_this()));
}

void session::on_linger_read(beast::error_code ec, std::size_t /*bytes*/) {
  if (ec) {
    close_now();
    return;
  }
  stream_.async_read_some(net::buffer(linger_buffer_),
                          beast::bind_front_handler(&session::on_linger_read, shared_from_this()));
}

void session::close_now() {
  state_ = state::closing;
  beast::error_code ignored;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  stream_.close();
}

}  // namespace analyzer::http
