// One client connection: a small state machine reading requests (keep-alive, pipelined),
// answering each through the router, and closing cleanly. Private to the http module.
#pragma once

#include "analyzer/http/handlers.hpp"
#include "analyzer/http/message.hpp"
#include "analyzer/http/service_context.hpp"
#include "analyzer/storage/window_path.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

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

 private:
  enum class state : std::uint8_t { idle, reading, responding, closing };

  void wait_request();
  void on_first_bytes(boost::beast::error_code ec, std::size_t bytes);
  void read_header();
  void parse_buffered(boost::beast::error_code& ec);
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
  void send(const response& res, bool close);
  void on_write(boost::beast::error_code ec);
  void close_gracefully();
  void on_linger_read(boost::beast::error_code ec, std::size_t bytes);
  void close_now();
  [[nodiscard]] request view(bool with_body) const;

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::string out_;  // the response being written; reused from one request to the next
  service_context& ctx_;
  session_host& host_;
  state state_ = state::idle;
  bool keep_alive_ = true;
  bool head_request_ = false;
  std::optional<response> early_;  // decided from the head; sent once the body is read
  std::chrono::steady_clock::time_point request_started_{};
  std::chrono::steady_clock::time_point read_deadline_{};  // READ_TIMEOUT_MS from the first byte
  std::size_t head_bytes_ = 0;  // what the parser consumed of this request's head
  http::route route_ = http::route::other;
  http::method method_ = http::method::other;
  unsigned status_ = 0;
  std::string request_id_;
  bool client_request_id_ = false;  // request_id_ is the client's X-Request-Id
  std::array<char, 512> linger_buffer_{};
  // The window call of the request being answered (one at a time per connection).
  enum class call_state : std::uint8_t { starting, waiting, answered };
  window_call call_;
  std::atomic<call_state> call_state_{call_state::starting};
  response answer_;
};

}  // namespace analyzer::http
