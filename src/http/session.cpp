// The connection state machine: wait (idle timeout) → head (read timeout from the first
// byte) → [100 Continue] → body → route → write (write timeout) → next request or close.
#include "session.hpp"

#include "analyzer/http/request_id.hpp"
#include "analyzer/http/router.hpp"
#include "exchange.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
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
    : stream_(std::move(socket)), buffer_(read_buffer_limit(ctx.cfg)), ctx_(ctx), host_(host) {}

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
  apply_limits(*parser_, ctx_.cfg);
  head_bytes_ = 0;
  // READ_TIMEOUT_MS covers the head and the body, counted from the request's first byte:
  // one deadline for every read of this request (read_body keeps it).
  read_deadline_ = std::chrono::steady_clock::now() + ctx_.cfg.read_timeout;
  // Fast path: most requests arrive whole in the first read. Parse what is buffered
  // without I/O; only a request still incomplete goes through Beast's async reads (which
  // continue with the same parser and the rest of the buffer).
  beast::error_code ec;
  parse_buffered(ec);
  if (ec || parser_->is_header_done()) {
    on_header(ec, 0);
    return;
  }
  stream_.expires_at(read_deadline_);
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           beast::bind_front_handler(&session::on_header, shared_from_this()));
}

void session::parse_buffered(beast::error_code& ec) {
  // As Beast's read_some does, minus the socket: feed the buffer until the parser needs
  // more bytes, finishes the message, or fails (header, body and chunk limits included).
  while (!parser_->is_done() && buffer_.size() > 0) {
    const bool in_head = !parser_->is_header_done();
    const std::size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (in_head) head_bytes_ += used;  // a put that completes the head stops there (not eager)
    if (ec == bhttp::error::need_more) {
      ec = {};
      return;
    }
    if (ec || used == 0) return;
  }
}

request session::view(bool with_body) const { return view_of(*parser_, with_body); }

void session::on_header(beast::error_code ec, std::size_t bytes) {
  head_bytes_ += bytes;  // what async_read_header consumed (0 from the buffered fast path)
  if (!ec && head_too_large(head_bytes_, ctx_.cfg)) ec = bhttp::error::header_limit;
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
  head_request_ = head.verb == http::method::head;
  keep_alive_ = req.keep_alive();
  const auto id = req["X-Request-Id"];
  client_request_id_ = is_valid_request_id(id);
  request_id_ = client_request_id_ ? std::string(id) : generate_request_id();

  head_decision next = after_head(ctx_, *parser_, host_.draining());
  switch (next.action) {
    case head_action::respond:
      send(*next.early, next.close);
      return;
    case head_action::discard_body:
      early_ = std::move(next.early);
      read_body();  // read and discard the body so the connection stays usable
      return;
    case head_action::dispatch:
      process();
      return;
    case head_action::send_continue: {
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                       req.version());
      stream_.expires_after(ctx_.cfg.write_timeout);
      bhttp::async_write(stream_, *cont,
                         [self = shared_from_this(), cont](beast::error_code wec, std::size_t) {
                           self->on_continue_written(wec);
                         });
      return;
    }
    case head_action::read_body:
      break;
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
  if (parser_->is_done()) {  // the whole body was already buffered
    on_body({}, 0);
    return;
  }
  stream_.expires_at(read_deadline_);
  bhttp::async_read(stream_, buffer_, *parser_,
                    beast::bind_front_handler(&session::on_body, shared_from_this()));
}

void session::on_body(beast::error_code ec, std::size_t /*bytes*/) {
  if (ec) {
    fail_read(ec);
    return;
  }
  if (early_) {
    send(*early_, false);
    return;
  }
  process();
}

void session::process() {
  call_ = window_call{};
  call_.request_id = client_request_id_ ? std::string_view(request_id_) : std::string_view{};
  call_state_.store(call_state::starting, std::memory_order_relaxed);
  if (auto res = dispatch(ctx_, view(true), call_, *this)) {
    send(*res, false);
    return;
  }
  // A window call was started. Answered inline (instance scope, or refused at once): send
  // it now. Otherwise complete() posts it here when the outcome arrives.
  auto expected = call_state::starting;
  if (!call_state_.compare_exchange_strong(expected, call_state::waiting,
                                           std::memory_order_acq_rel)) {
    send(answer_, false);
  }
}

void session::on_commit(const storage::commit_outcome& out) { complete(answer(ctx_, call_, out)); }

void session::on_read(const storage::read_outcome& out) { complete(answer(ctx_, call_, out)); }

std::shared_ptr<storage::window_receiver> session::retain() { return shared_from_this(); }

void session::complete(response res) {
  answer_ = std::move(res);
  auto expected = call_state::starting;
  if (call_state_.compare_exchange_strong(expected, call_state::answered,
                                          std::memory_order_acq_rel)) {
    return;  // process() sends it once dispatch returns
  }
  // The outcome came later, on the storage thread: send from this connection's executor
  // (the session stays alive through the shared_ptr).
  net::post(stream_.get_executor(),
            [self = shared_from_this()] { self->send(self->answer_, false); });
}

void session::fail_read(beast::error_code ec) {
  // Timeouts (beast's tcp_stream has already closed the socket), clients that went away.
  if (ends_silently(ec)) {
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
    route_ = http::route::other;
    method_ = http::method::other;
    head_request_ = false;
  }
  response res = read_error_response(ctx_, ec, route_, method_);
  state_ = state::responding;
  keep_alive_ = false;
  send(res, true);
}

void session::send(const response& res, bool close) {
  status_ = res.status;
  if (close || res.close || host_.draining()) keep_alive_ = false;
  const unsigned version = parser_ && parser_->is_header_done() ? parser_->get().version() : 11;
  out_.clear();
  write_response(out_, res, version, keep_alive_, head_request_, request_id_);
  stream_.expires_after(ctx_.cfg.write_timeout);
  net::async_write(
      stream_, net::buffer(out_),
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
}

void session::on_write(beast::error_code ec) {
  const auto elapsed = std::chrono::steady_clock::now() - request_started_;
  ctx_.metrics.record_request(route_, method_, status_, elapsed);
  if (spdlog::should_log(spdlog::level::debug)) {
    const std::string target = parser_ && parser_->is_header_done()
                                   ? std::string(parser_->get().target().substr(0, 256))
                                   : std::string("-");
    spdlog::debug("access {} {} {} {:.3f}ms id={}{}", http::to_string(method_), target, status_,
                  std::chrono::duration<double, std::milli>(elapsed).count(), request_id_,
                  ec ? " write_failed=" + ec.message() : "");
  }
  request_started_ = {};
  request_id_.clear();
  client_request_id_ = false;
  if (ec) {
    close_now();
    return;
  }
  if (!keep_alive_) {
    close_gracefully();
    return;
  }
  parser_.reset();
  if (out_.capacity() > kIdleBufferCapacity) std::string().swap(out_);  // keep idle ones small
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
