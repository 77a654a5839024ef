// A real redis-server child process for integration tests (own temp dir, free loopback
// port or unix socket, optional password), with a small blocking hiredis client for
// assertions; and a TCP listener that accepts and never answers, for timeout tests.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct redisContext;

namespace analyzer::test {

struct redis_server_options {
  bool unix_socket = false;  // listen on <tmpdir>/redis.sock only (--port 0)
  std::string password;      // --requirepass when not empty
  std::chrono::milliseconds start_timeout{10000};
};

class redis_server {
 public:
  explicit redis_server(redis_server_options options = {});
  ~redis_server();
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  // The REDIS_ADDR value: "127.0.0.1:P" or "unix:/path".
  [[nodiscard]] std::string address() const;
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] const std::string& socket_path() const noexcept { return socket_path_; }
  [[nodiscard]] const std::string& password() const noexcept { return options_.password; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

  // SIGKILL and reap: the server vanishes without closing anything gracefully.
  void kill();
  // SIGTERM and reap (SIGKILL after a deadline).
  void stop();
  // Starts again on the same port / socket with the same password; returns once PING works.
  void restart();

  // The blocking client. Every call uses one connection (re-established after a restart,
  // a kill or CLIENT KILL), authenticated and on the database chosen by use_db.
  // Calls are serialised by a mutex, so a thread may block in DEBUG SLEEP while another
  // waits. Error replies and connection failures throw std::runtime_error.
  void use_db(int db);
  [[nodiscard]] bool ping();
  [[nodiscard]] std::vector<std::string> lrange(const std::string& key, long long start,
                                                long long stop);
  [[nodiscard]] std::map<std::string, std::string> hgetall(const std::string& key);
  [[nodiscard]] long long llen(const std::string& key);
  [[nodiscard]] std::vector<std::string> keys(const std::string& pattern);
  // Any command, e.g. command("DEBUG", "SLEEP", "2"); returns a string or status reply as
  // is, an integer in decimal, nil as "", an array's elements joined by '\n'.
  std::string command_argv(const std::vector<std::string>& args);
  template <typename... Args>
  std::string command(const Args&... args) {
    return command_argv({std::string(args)...});
  }

 private:
  void start();
  bool spawn_and_wait();
  void reap(int signo, std::chrono::milliseconds grace);
  void drop_connection_locked();
  redisContext* connection_locked();
  std::vector<std::string> run_locked(const std::vector<std::string>& args);

  redis_server_options options_;
  std::string dir_;
  std::string socket_path_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  int db_ = 0;
  std::mutex mutex_;
  redisContext* context_ = nullptr;
};

// Polls `condition` (every few milliseconds) until it holds or `timeout` passes; returns
// whether it held. Tests wait for asynchronous effects with this, never with fixed sleeps.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A free port on 127.0.0.1 (bound, read and released: another process may take it before
// the caller binds it, so callers retry).
[[nodiscard]] std::uint16_t free_loopback_port();

// A TCP listener on a free 127.0.0.1 port that accepts every connection and never reads
// or writes: requests to it hang until the client's own timeout.
class silent_listener {
 public:
  silent_listener();
  ~silent_listener();
  silent_listener(const silent_listener&) = delete;
  silent_listener& operator=(const silent_listener&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::string address() const;  // "127.0.0.1:P"
  [[nodiscard]] std::size_t accepted() const noexcept { return accepted_.load(); }

 private:
  void run();

  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::atomic<std::size_t> accepted_{0};
  std::vector<int> connections_;  // owned by the thread until it is joined
  std::thread thread_;
};

}  // namespace analyzer::test
