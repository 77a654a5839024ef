// One client connection: a small state machine reading requests (keep-alive, pipelined),
// answering each through the router, and closing cleanly. Private to the http module.
#pragma once

#include "analyzer/http/handlers.hpp"
#include "analyzer/http/message.hpp"
#include "analyzer/http/service_context.hpp"
#include "analyzer/storage/window_path.hpp"
#include "connection_buffers.hpp"
#include "request_parser.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace analyzer::http {

class session;

// What a session needs from its server: registration for the graceful shutdown.
class session_host {
 public:
  virtual void on_session_open(const std::shared_ptr<session>& s) = 0;
  virtual void on_session_close(session* s) noexcept = 0;
  [[nodiscard]] virtual bool draining() const noexcept = 0;

 protected:
  ~session_host() = default;
};

// Also the receiver of its requests' window calls: the answer of a call comes back here,
// inline or from the storage thread.
class session final : public std::enable_shared_from_this<session>,
                      public storage::window_receiver {
 public:
  session(boost::asio::ip::tcp::socket&& socket, service_context& ctx, session_host& host);
  virtual ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  void start();
  // Shutdown: an idle connection closes now; a busy one closes after its response.
  void drain();
  // Shutdown deadline passed: close whatever is in progress.
  void force_close();

  // The connection's one deadline (idle, read, write or linger, whichever applies now), for
  // the server's timeout sweep: when it has passed, expire() closes the connection from
  // its own executor. No timer is armed per operation.
  [[nodiscard]] bool past_deadline(std::chrono::steady_clock::time_point now) const noexcept;
  void expire();

 private:
  enum class state : std::uint8_t { idle, reading, responding, closing };

  void wait_request();
  void on_first_bytes(boost::beast::error_code ec, std::size_t bytes);
  void read_header();
  void on_header(boost::beast::error_code ec, std::size_t bytes);
  void read_body();
  void on_body(boost::beast::error_code ec, std::size_t bytes);
  void on_continue_written(boost::beast::error_code ec);
  void process();
  void on_commit(const storage::commit_outcome& out) override;
  void on_read(const storage::read_outcome& out) override;
  [[nodiscard]] std::shared_ptr<storage::window_receiver> retain() override;
  void complete(response res);
  void fail_read(boost::beast::error_code ec);
  void send(response&& res, bool close);
  void send_answer(bool close);
  void on_write(boost::beast::error_code ec);
  void close_gracefully();
  void on_linger_read(boost::beast::error_code ec, std::size_t bytes);
  void close_now();
  void set_deadline(std::chrono::steady_clock::time_point at) noexcept;
  void clear_deadline() noexcept;

  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<connection_buffers> buffers_;  // while a request is in progress
  std::optional<request_parser> parser_;
  service_context& ctx_;
  session_host& host_;
  // Nanoseconds of steady_clock; 0: none. Written on the session's executor, read by the
  // server's sweep.
  std::atomic<std::int64_t> deadline_{0};
  state state_ = state::idle;
  bool keep_alive_ = true;
  bool head_request_ = false;
  bool have_early_ = false;  // answer_ was decided from the head; sent once the body is read
  std::chrono::steady_clock::time_point request_started_{};
  std::chrono::steady_clock::time_point read_deadline_{};  // READ_TIMEOUT_MS from the first byte
  std::size_t head_bytes_ = 0;  // what the parser consumed of this request's head
  http::route route_ = http::route::other;
  http::method method_ = http::method::other;
  unsigned status_ = 0;
  bool client_request_id_ = false;  // the request id is the client's X-Request-Id
  // The window call of the request being answered (one at a time per connection).
  enum class call_state : std::uint8_t { starting, waiting, answered };
  window_call call_;
  std::atomic<call_state> call_state_{call_state::starting};
  response answer_;  // the response being decided or written (its body is written from here)
  // Where the first bytes of a request land while the connection is idle: most requests
  // arrive whole in it.
  std::array<char, 512> first_bytes_{};
};

}  // namespace analyzer::http
