// The hiredis ↔ Asio adapter: one redisAsyncContext (one connection; a reconnect makes a
// new object) driven by a posix::stream_descriptor on the store's single io thread.
//
// hiredis 0.14 asks for read/write interest through hooks and has no timeouts: connect
// and command deadlines are steady_timers here. A host name is resolved by getaddrinfo on a
// detached thread of its own (hiredis would call it on the io thread), and hiredis is handed
// the numeric address. Not Asio's resolver: its async_resolve runs getaddrinfo on an internal
// thread, counts as outstanding work until getaddrinfo returns even after cancel() (so
// io_context::run() does not return), and the io_context's destructor joins that thread,
// so a getaddrinfo stuck on an unreachable DNS server (up to timeout × attempts × servers
// of resolv.conf) held up the owner's stop and its destruction past any deadline. Here a
// resolution holds nothing: close(), abandon() and the destructor only mark it abandoned
// (under the job's mutex, which the resolving thread takes before it posts the result), so
// the io_context may stop and go at once; the thread ends on its own when getaddrinfo does. An
// error reply that says the node cannot serve writes now (READONLY, LOADING, MASTERDOWN) closes the
// connection after it is delivered, so that the owner reconnects and resolves again (a failover
// moves the name to another node). Its cleanup hook may run inside redisAsyncHandleRead (a reply
// callback freeing the context); the hook only releases the descriptor (hiredis owns and closes the
// fd) and marks the context gone, and every path re-checks that after calling into hiredis.
#pragma once

#include "analyzer/config/redis_address.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct redisAsyncContext;
struct redisReply;

namespace analyzer::storage {

// A host name resolved to one numeric address (`numeric`), or why not (`error`).
struct resolved_host {
  std::string numeric;
  std::string error;
};
// Called on a thread of its own; may block (tests replace getaddrinfo with it).
using resolve_function = std::function<resolved_host(const std::string& host, std::uint16_t port)>;

struct redis_connection_options {
  config::redis_address address;
  std::string password;  // AUTH when not empty
  int db = 0;            // SELECT when not 0
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{2000};
  resolve_function resolve;  // empty: getaddrinfo
};

class redis_connection : public std::enable_shared_from_this<redis_connection> {
 public:
  // on_ready: connected, authenticated and SELECTed. on_closed: the connection is gone
  // (connect failure, timeout, error, or close()); called exactly once, never from
  // inside a member call of this object (it is posted).
  using ready_handler = std::function<void()>;
  using closed_handler = std::function<void(const std::string& reason)>;
  // reply is null when the command failed without a reply (connection lost, timeout).
  using reply_handler = std::function<void(const redisReply* reply)>;

  redis_connection(boost::asio::io_context& ioc, redis_connection_options options,
                   ready_handler on_ready, closed_handler on_closed);
  ~redis_connection();
  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;

  // Resolves (TCP host names), connects and runs the handshake; the connect timeout
  // covers all three.
  void connect();
  // Queues one command (pipelined behind the others); false when not connected.
  bool command(const std::vector<std::string_view>& args, reply_handler done);
  // Drops the connection now; pending commands complete with a null reply.
  void close(const std::string& reason);
  // Stops waiting for a host name resolution in progress (its result is dropped), without
  // calling back. For an owner whose io_context no longer runs (close() could not run on it)
  // before that io_context is destroyed; close() and the destructor do it too.
  void abandon() noexcept;

  [[nodiscard]] bool ready() const noexcept { return ready_; }
  [[nodiscard]] std::size_t outstanding() const noexcept { return sent_at_.size(); }

 private:
  struct pending_command;
  struct resolve_job;
  static void on_connect(const redisAsyncContext* ctx, int status);
  static void on_disconnect(const redisAsyncContext* ctx, int status);
  static void on_reply(redisAsyncContext* ctx, void* reply, void* privdata);
  static void add_read(void* self);
  static void del_read(void* self);
  static void add_write(void* self);
  static void del_write(void* self);
  static void cleanup(void* self);

  void start_resolve();
  void connect_to(const std::string& numeric_host);
  void wait_readable();
  void wait_writable();
  void handshake();
  bool send(const std::vector<std::string_view>& args, reply_handler done, bool internal);
  void arm_command_timer();
  void finish(const std::string& reason);

  boost::asio::io_context& ioc_;
  redis_connection_options options_;
  ready_handler on_ready_;
  closed_handler on_closed_;
  redisAsyncContext* context_ = nullptr;
  std::shared_ptr<resolve_job> resolving_;  // a host name resolution in progress
  boost::asio::posix::stream_descriptor descriptor_;
  boost::asio::steady_timer connect_timer_;
  boost::asio::steady_timer command_timer_;
  std::deque<std::chrono::steady_clock::time_point> sent_at_;  // replies come in order
  bool want_read_ = false;
  bool want_write_ = false;
  bool read_waiting_ = false;
  bool write_waiting_ = false;
  bool ready_ = false;
  bool finished_ = false;
  std::string close_reason_;
};

}  // namespace analyzer::storage
