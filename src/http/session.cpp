// The connection state machine: wait (idle timeout) → head (read timeout from the first
// byte) → [100 Continue] → body → route → write (write timeout) → next request or close.
// One deadline per connection covers whichever of these applies; the server's sweep
// enforces it (session::expire), so no operation arms a timer of its own.
#include "session.hpp"

#include "analyzer/http/request_id.hpp"
#include "analyzer/http/router.hpp"
#include "exchange.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include <algorithm>
#include <array>

namespace analyzer::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;

namespace {

// How long a closing connection reads (and discards) what the client still sends, so
// the final response is not destroyed by a reset.
constexpr std::chrono::milliseconds kLingerTime{500};
// What one linger read takes of what the client still sends.
constexpr std::size_t kLingerReadBytes = 512;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

std::int64_t ticks(std::chrono::steady_clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

session::session(net::ip::tcp::socket&& socket, service_context& ctx, session_host& host)
    : socket_(std::move(socket)), ctx_(ctx), host_(host) {}

session::~session() { host_.on_session_close(this); }

void session::start() {
  host_.on_session_open(shared_from_this());
  net::dispatch(socket_.get_executor(),
                beast::bind_front_handler(&session::wait_request, shared_from_this()));
}

void session::drain() {
  net::post(socket_.get_executor(), [self = shared_from_this()] {
    // Idle, or holding half a request head: nothing was received that could be answered
    // or lost. Closed now, so it does not hold the shutdown budget the store's flush needs.
    const bool half_head =
        self->state_ == state::reading && self->parser_ && !self->parser_->is_header_done();
    if (self->state_ == state::idle || half_head) self->close_now();
  });
}

void session::force_close() {
  net::post(socket_.get_executor(), [self = shared_from_this()] { self->close_now(); });
}

bool session::past_deadline(std::chrono::steady_clock::time_point now) const noexcept {
  const std::int64_t at = deadline_.load(std::memory_order_relaxed);
  return at != 0 && at <= ticks(now);
}

void session::expire() {
  net::post(socket_.get_executor(), [self = shared_from_this()] {
    if (!self->past_deadline(std::chrono::steady_clock::now())) return;  // moved meanwhile
    self->clear_deadline();
    // Fails the pending operation (operation_aborted): timeouts end the connection without
    // a response, as nginx does (no 408).
    self->close_now();
  });
}

void session::set_deadline(std::chrono::steady_clock::time_point at) noexcept {
  deadline_.store(ticks(at), std::memory_order_relaxed);
}

void session::clear_deadline() noexcept { deadline_.store(0, std::memory_order_relaxed); }

void session::wait_request() {
  state_ = state::idle;
  const bool buffered = buffers_ && buffers_->read.size() > 0;
  if (buffered) {  // a pipelined request is already here (answered 503 when draining)
    read_header();
    return;
  }
  if (host_.draining()) {
    close_gracefully();  // what the client still sends is read, so the close sends no reset
    return;
  }
  give_back(std::move(buffers_));
  set_deadline(std::chrono::steady_clock::now() + ctx_.cfg.idle_timeout);
  // The first bytes of the next request land in the session's small buffer; the pooled
  // buffers are taken only once they are here. (A readiness wait would hold no buffer at
  // all, but Asio re-arms epoll for it with an epoll_ctl per request.)
  socket_.async_read_some(net::buffer(first_bytes_),
                          beast::bind_front_handler(&session::on_first_bytes, shared_from_this()));
}

void session::on_first_bytes(beast::error_code ec, std::size_t bytes) {
  if (ec || state_ == state::closing) {
    close_now();  // idle timeout, shutdown, or the client closed the idle connection
    return;
  }
  buffers_ = take_buffers(read_buffer_limit(ctx_.cfg));
  auto& read = buffers_->read;
  read.commit(net::buffer_copy(read.prepare(bytes), net::buffer(first_bytes_.data(), bytes)));
  read_header();
}

void session::read_header() {
  state_ = state::reading;
  have_early_ = false;
  parser_.emplace(buffers_->request);
  apply_limits(*parser_, ctx_.cfg);
  head_bytes_ = 0;
  // READ_TIMEOUT_MS covers the head and the body, counted from the request's first byte:
  // one deadline for every read of this request.
  read_deadline_ = std::chrono::steady_clock::now() + ctx_.cfg.read_timeout;
  set_deadline(read_deadline_);
  // Fast path: most requests arrive whole in the first read. Parse what is buffered
  // without I/O; only a request still incomplete goes through Beast's async reads (which
  // continue with the same parser and the rest of the buffer).
  beast::error_code ec;
  head_bytes_ = parse_buffered(*parser_, buffers_->read, /*head_only=*/true, ec);
  if (ec || parser_->is_header_done()) {
    on_header(ec, 0);
    return;
  }
  if (host_.draining()) {  // half a pipelined head at shutdown: nothing to answer yet
    keep_alive_ = false;
    close_gracefully();
    return;
  }
  bhttp::async_read_header(socket_, buffers_->read, *parser_,
                           beast::bind_front_handler(&session::on_header, shared_from_this()));
}

void session::on_header(beast::error_code ec, std::size_t bytes) {
  if (state_ == state::closing) return;  // timed out or shut down meanwhile
  head_bytes_ += bytes;  // what async_read_header consumed (0 from the buffered fast path)
  if (!ec && head_too_large(head_bytes_, ctx_.cfg)) ec = bhttp::error::header_limit;
  if (ec) {
    fail_read(ec);
    return;
  }
  state_ = state::responding;
  request_started_ = std::chrono::steady_clock::now();
  const request head = parser_->view(false);
  route_ = match_route(head.path());
  method_ = head.verb;
  head_request_ = head.verb == http::method::head;
  keep_alive_ = parser_->keep_alive();
  const std::string_view id = parser_->request_id();
  client_request_id_ = is_valid_request_id(id);
  if (client_request_id_) {
    buffers_->request_id.assign(id);
  } else {
    generate_request_id(buffers_->request_id);
  }

  head_decision next = after_head(ctx_, *parser_, host_.draining());
  switch (next.action) {
    case head_action::respond:
      send(std::move(*next.early), next.close);
      return;
    case head_action::discard_body:
      answer_ = std::move(*next.early);
      have_early_ = true;
      read_body();  // read and discard the body so the connection stays usable
      return;
    case head_action::dispatch:
      process();
      return;
    case head_action::send_continue:
      set_deadline(std::chrono::steady_clock::now() + ctx_.cfg.write_timeout);
      net::async_write(socket_, net::buffer(kContinue),
                       [self = shared_from_this()](beast::error_code wec, std::size_t) {
                         self->on_continue_written(wec);
                       });
      return;
    case head_action::read_body:
      break;
  }
  read_body();
}

void session::on_continue_written(beast::error_code ec) {
  if (ec || state_ == state::closing) {
    close_now();
    return;
  }
  read_body();
}

void session::read_body() {
  beast::error_code ec;
  parse_buffered(*parser_, buffers_->read, /*head_only=*/false, ec);
  if (ec || parser_->is_done()) {  // failed, or the whole body was already buffered
    on_body(ec, 0);
    return;
  }
  // Room for the rest of a body of known length (MAX_BODY_BYTES bounds it, the buffer's
  // limit caps it): Beast reads into what the buffer has room for, so a 5 KB batch that
  // arrived behind a 512-byte first read took ten reads without it.
  if (const auto remaining = parser_->content_length_remaining()) {
    auto& read = buffers_->read;
    read.reserve(static_cast<std::size_t>(
        std::min<std::uint64_t>(read.size() + *remaining, read.max_size())));
  }
  set_deadline(read_deadline_);
  bhttp::async_read(socket_, buffers_->read, *parser_,
                    beast::bind_front_handler(&session::on_body, shared_from_this()));
}

void session::on_body(beast::error_code ec, std::size_t /*bytes*/) {
  if (state_ == state::closing) return;  // timed out or shut down meanwhile
  if (ec) {
    fail_read(ec);
    return;
  }
  if (have_early_) {
    send_answer(false);
    return;
  }
  process();
}

void session::process() {
  call_ = window_call{};
  call_.request_id =
      client_request_id_ ? std::string_view(buffers_->request_id) : std::string_view{};
  call_state_.store(call_state::starting, std::memory_order_relaxed);
  std::optional<response> res;
  try {
    // after_head ran precheck: straight to the handler.
    res = handle(ctx_, parser_->view(true), call_, *this);
  } catch (const std::exception& e) {
    // A handler that throws answers 500 and leaves the connection and the process intact.
    // (Thrown after an instance-scope commit applied, the 500 is for a committed batch:
    // only allocation failures can do that.)
    spdlog::error("request {} failed: {}", buffers_->request_id, e.what());
    res = error_response(500, api::error_code::internal, "internal error; see the service log");
    res->route = route_;
  }
  if (res) {
    send(std::move(*res), false);
    return;
  }
  // A window call was started. Answered inline (instance scope, or refused at once): send
  // it now. Otherwise complete() posts it here when the outcome arrives.
  auto expected = call_state::starting;
  if (!call_state_.compare_exchange_strong(expected, call_state::waiting,
                                           std::memory_order_acq_rel)) {
    send_answer(false);
    return;
  }
  // Waiting for the window path (shared scope: the storage thread answers within
  // SHARED_REQUEST_DEADLINE_MS): the read deadline no longer applies. The answer is posted
  // to this executor, so it cannot run before this returns.
  set_deadline(std::chrono::steady_clock::now() + ctx_.cfg.shared_request_deadline +
               ctx_.cfg.write_timeout);
}

void session::on_commit(const storage::commit_outcome& out) { complete(answer(ctx_, call_, out)); }

void session::on_read(const storage::read_outcome& out) { complete(answer(ctx_, call_, out)); }

std::shared_ptr<storage::window_receiver> session::retain() { return shared_from_this(); }

void session::complete(response res) {
  answer_ = std::move(res);
  auto expected = call_state::starting;
  if (call_state_.compare_exchange_strong(expected, call_state::answered,
                                          std::memory_order_acq_rel)) {
    return;  // process() sends it once handle() returns
  }
  // The outcome came later, on the storage thread: send from this connection's executor
  // (the session stays alive through the shared_ptr).
  net::post(socket_.get_executor(), [self = shared_from_this()] { self->send_answer(false); });
}

void session::fail_read(beast::error_code ec) {
  // Timeouts (the sweep has closed the socket), clients that went away.
  if (ends_silently(ec)) {
    close_now();
    return;
  }
  if (request_started_ == std::chrono::steady_clock::time_point{} || state_ == state::reading) {
    request_started_ = std::chrono::steady_clock::now();
  }
  if (buffers_->request_id.empty()) generate_request_id(buffers_->request_id);
  if (parser_ && parser_->is_header_done()) {
    const request head = parser_->view(false);
    route_ = match_route(head.path());
    method_ = head.verb;
    head_request_ = head.verb == http::method::head;
  } else {
    route_ = http::route::other;
    method_ = http::method::other;
    head_request_ = false;
  }
  response res = read_error_response(ctx_, ec, route_, method_);
  state_ = state::responding;
  keep_alive_ = false;
  send(std::move(res), true);
}

void session::send(response&& res, bool close) {
  answer_ = std::move(res);
  send_answer(close);
}

void session::send_answer(bool close) {
  status_ = answer_.status;
  if (close || answer_.close) keep_alive_ = false;
  // Draining: this is the connection's last response, unless a pipelined request is
  // already buffered; that one is answered next (503, closing) rather than dropped.
  if (host_.draining() && buffers_->read.size() == 0) keep_alive_ = false;
  const unsigned version = parser_ && parser_->is_header_done() ? parser_->version() : 11;
  auto& out = buffers_->out;
  out.clear();
  write_response_head(out, answer_, version, keep_alive_, buffers_->request_id);
  set_deadline(std::chrono::steady_clock::now() + ctx_.cfg.write_timeout);
  // Head and body in one gather write; the body is written from where the handler put it.
  const std::array<net::const_buffer, 2> parts{
      net::buffer(out), head_request_
                            ? net::const_buffer{}
                            : net::const_buffer(answer_.body.data(), answer_.body.size())};
  net::async_write(socket_, parts, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    self->on_write(ec);
  });
}

void session::on_write(beast::error_code ec) {
  const auto elapsed = std::chrono::steady_clock::now() - request_started_;
  ctx_.metrics.record_request(route_, method_, status_, elapsed);
  if (spdlog::should_log(spdlog::level::debug)) {
    const std::string target = parser_ && parser_->is_header_done()
                                   ? std::string(parser_->target().substr(0, 256))
                                   : std::string("-");
    spdlog::debug("access {} {} {} {:.3f}ms id={}{}", http::to_string(method_), target, status_,
                  std::chrono::duration<double, std::milli>(elapsed).count(), buffers_->request_id,
                  ec ? " write_failed=" + ec.message() : "");
  }
  request_started_ = {};
  buffers_->request_id.clear();
  client_request_id_ = false;
  // An idle connection keeps no response body: the body goes back to the pool. (Not
  // `answer_ = response{}`: moving an empty string into one keeps the old one's capacity.)
  give_back_body(std::move(answer_.body));
  std::string().swap(answer_.body);
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
  socket_.shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  set_deadline(std::chrono::steady_clock::now() + kLingerTime);  // bounds the whole linger
  if (!buffers_) buffers_ = take_buffers(read_buffer_limit(ctx_.cfg));
  buffers_->read.clear();
  socket_.async_read_some(buffers_->read.prepare(kLingerReadBytes),
                          beast::bind_front_handler(&session::on_linger_read, shared_from_this()));
}

void session::on_linger_read(beast::error_code ec, std::size_t /*bytes*/) {
  if (ec) {
    close_now();
    return;
  }
  socket_.async_read_some(buffers_->read.prepare(kLingerReadBytes),
                          beast::bind_front_handler(&session::on_linger_read, shared_from_this()));
}

void session::close_now() {
  state_ = state::closing;
  clear_deadline();
  beast::error_code ignored;
  socket_.shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace analyzer::http
