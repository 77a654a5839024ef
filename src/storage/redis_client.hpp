// The Redis client plumbing shared by the Redis store and the shared window (private to the
// storage module): an io_context on a thread of its own, the current redis_connection, the
// reconnect loop with capped exponential backoff and 0.8–1.2 jitter, the rate-limited
// connect/disconnect log lines, the reconnect counter and the connected flag, and a stop
// bounded by a deadline.
//
// The backoff grows on every close and goes back to the start only when the owner says a
// command succeeded (command_succeeded()), not when a handshake does: a server that accepts
// connections and fails every command is retried ever more slowly. "Connected" is what the
// owner declares with mark_connected() (after its own checks, e.g. the shared window's
// layout check), and ends with the connection.
//
// Threads: the constructor, start(), stop(), the destructor and the accessors marked "any
// thread" may be called from any thread but the io thread; everything else, and every
// handler, runs on the io thread.
#pragma once

#include "log_throttle.hpp"
#include "redis_connection.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>

namespace analyzer::storage {

struct redis_client_options {
  redis_connection_options connection;  // address, AUTH, SELECT, connect/command timeouts
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
  std::string log_name = "redis";  // prefix of the log lines ("redis", "shared window")
  std::chrono::steady_clock::duration log_interval = std::chrono::seconds(10);
};

// What the owner does with the connection; all three run on the io thread.
struct redis_client_handlers {
  // A connection passed its handshake (AUTH, SELECT, PING); it is connection().
  std::function<void(const std::shared_ptr<redis_connection>&)> on_ready;
  // The current connection is gone: its commands have already failed (null replies).
  // Called while stopping too (then no reconnect follows).
  std::function<void(const std::string& reason)> on_closed;
  // stop() began: stopping() is true, the connection is not closed yet.
  std::function<void()> on_stopping;
};

class redis_client {
 public:
  using clock = std::chrono::steady_clock;
  using executor_type = boost::asio::io_context::executor_type;
  static constexpr std::chrono::milliseconds kDefaultStopBudget{2000};

  redis_client(redis_client_options options, redis_client_handlers handlers);
  // stop(now + kDefaultStopBudget) unless stopped.
  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  // Starts the io thread and the first connection attempt. Once.
  void start();

  // Closes the connection (commands in flight fail with a null reply, on_closed runs),
  // stops reconnecting and joins the io thread once it has nothing left to do. If it still
  // runs at `deadline` (a handler of the owner's that keeps it busy, an owner's timer),
  // the io_context is stopped and the thread joined: handlers not run by then never run.
  // Never waits for a host name resolution (redis_connection.hpp). Idempotent; not from
  // the io thread.
  void stop(clock::time_point deadline);

  // Any thread: the owner's timers and posts.
  [[nodiscard]] boost::asio::io_context& ioc() noexcept { return ioc_; }
  [[nodiscard]] executor_type executor() noexcept { return ioc_.get_executor(); }

  // Any thread.
  [[nodiscard]] bool connected() const noexcept {
    return connected_.load(std::memory_order_acquire);
  }
  // Connection attempts after the first, successful or not.
  [[nodiscard]] std::uint64_t reconnects() const noexcept {
    return reconnects_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] bool stop_requested() const noexcept {
    return stop_requested_.load(std::memory_order_acquire);
  }
  [[nodiscard]] const redis_client_options& options() const noexcept { return options_; }

  // io thread only.
  // The current connection (connecting, ready, or closing), or null between attempts.
  [[nodiscard]] const std::shared_ptr<redis_connection>& connection() const noexcept {
    return conn_;
  }
  // The current connection when it is ready for commands, else null.
  [[nodiscard]] std::shared_ptr<redis_connection> ready_connection() const;
  // A command succeeded: the server is usable, the next failure starts the backoff over.
  void command_succeeded();
  // The connection is usable for the owner: connected() turns true, logged (rate-limited)
  // as "<log name>: connected to <address><detail>".
  void mark_connected(std::string_view detail = {});
  // Drops the current connection (if any); the next attempt follows after the backoff.
  void close(const std::string& reason);
  [[nodiscard]] bool stopping() const noexcept { return stopping_; }
  // Why the last connection closed or attempt failed; empty after a command succeeded.
  [[nodiscard]] const std::string& last_failure() const noexcept { return last_failure_; }
  // The backoff the next close waits from (before jitter): 0 after a success.
  [[nodiscard]] std::chrono::milliseconds backoff() const noexcept { return backoff_; }

 private:
  void connect_now();
  void on_connection_ready(std::uint64_t id);
  void on_connection_closed(std::uint64_t id, const std::string& reason);

  redis_client_options options_;
  redis_client_handlers handlers_;

  // Declared before everything bound to it: destroyed last.
  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<executor_type> work_{ioc_.get_executor()};
  boost::asio::steady_timer reconnect_timer_{ioc_};
  std::thread thread_;

  // Any thread.
  std::atomic<bool> connected_{false};
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<bool> stop_requested_{false};
  std::mutex run_mutex_;
  std::condition_variable run_finished_cv_;
  bool run_finished_ = false;  // under run_mutex_: ioc_.run() returned

  // io thread only.
  std::shared_ptr<redis_connection> conn_;
  std::uint64_t conn_id_ = 0;  // tells the current connection's callbacks from stale ones
  std::chrono::milliseconds backoff_{0};
  bool attempted_ = false;  // a first connection attempt was made
  bool stopping_ = false;
  std::string last_failure_;
  log_throttle connect_log_;
  std::minstd_rand jitter_{std::random_device{}()};
};

}  // namespace analyzer::storage
