// A fault-injecting TCP proxy for tests: listens on a free 127.0.0.1 port and forwards
// every connection to an upstream 127.0.0.1:PORT (e.g. a redis-server), with faults that
// can be switched at any time while connections are open:
// - pass: forwards both ways (the default);
// - refuse: a new connection is reset as soon as it is accepted (connect succeeds, the
//   first read or write fails with ECONNRESET) and every current connection is reset;
// - lose_replies: forwards client→server but drops every server→client byte, so commands
//   execute upstream while the client never sees their replies. A connection that lost a
//   byte never delivers server→client bytes again (TCP never drops bytes from the middle
//   of a stream, so later replies would be answers to the wrong requests): after pass()
//   it stays a black hole until its client closes it or cut() resets it. Connections that
//   lost nothing resume normally. Closes and resets still travel both ways.
// - cut(): resets (SO_LINGER 0 + close) both sides of every current connection now;
// - delay(ms): holds server→client bytes for that long (in order) before forwarding them.
// One thread drives everything with poll(2); resources are bounded (connections and
// buffered bytes per direction, beyond which reading pauses); the destructor stops it.
// Plain POSIX sockets, loopback only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace analyzer::test {

enum class proxy_mode : std::uint8_t { pass, refuse, lose_replies };

[[nodiscard]] const char* to_string(proxy_mode mode) noexcept;

struct fault_proxy_counters {
  std::uint64_t accepted = 0;         // connections accepted (refused ones included)
  std::uint64_t refused = 0;          // reset at once because the mode was refuse
  std::uint64_t cut = 0;              // connections reset by cut() or refuse()
  std::uint64_t open = 0;             // connections currently forwarded
  std::uint64_t upstream_failed = 0;  // accepted, but the upstream connect failed
  std::uint64_t bytes_to_server = 0;  // forwarded client→server
  std::uint64_t bytes_to_client = 0;  // forwarded server→client
  std::uint64_t bytes_dropped = 0;    // server→client bytes dropped (lose_replies)
};

class fault_proxy {
 public:
  // Listens on a free loopback port in front of 127.0.0.1:upstream_port.
  explicit fault_proxy(std::uint16_t upstream_port, std::size_t max_connections = 256);
  ~fault_proxy();
  fault_proxy(const fault_proxy&) = delete;
  fault_proxy& operator=(const fault_proxy&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] std::string address() const;  // "127.0.0.1:P", a REDIS_ADDR value
  [[nodiscard]] std::uint16_t upstream_port() const noexcept { return upstream_port_; }

  // Each of these returns once the proxy thread applied it: after refuse() or cut() every
  // connection that was open when it was called has been reset; after lose_replies() no
  // further server→client byte is forwarded.
  void set_mode(proxy_mode mode);
  void pass() { set_mode(proxy_mode::pass); }
  void refuse() { set_mode(proxy_mode::refuse); }
  void lose_replies() { set_mode(proxy_mode::lose_replies); }
  void cut();
  // Latency added to server→client bytes from now on (bytes already held keep theirs).
  void delay(std::chrono::milliseconds latency);

  [[nodiscard]] proxy_mode mode() const noexcept { return mode_.load(); }
  [[nodiscard]] fault_proxy_counters counters() const;

 private:
  void run();
  // Hands a request to the proxy thread and waits until the thread has applied it.
  void submit(bool cut);
  void wake() const;

  std::uint16_t upstream_port_;
  std::size_t max_connections_;
  std::uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  std::atomic<proxy_mode> mode_{proxy_mode::pass};
  std::atomic<long long> delay_ms_{0};

  // Requests are numbered; the thread publishes in applied_ the number it has applied.
  std::mutex mutex_;
  std::condition_variable applied_cv_;
  std::uint64_t requests_ = 0;        // under mutex_
  std::uint64_t cuts_requested_ = 0;  // under mutex_
  std::uint64_t applied_ = 0;         // under mutex_
  bool stopping_ = false;             // under mutex_
  bool finished_ = false;             // under mutex_: the thread has ended

  std::atomic<std::uint64_t> accepted_{0}, refused_{0}, cut_{0}, open_{0}, upstream_failed_{0};
  std::atomic<std::uint64_t> bytes_to_server_{0}, bytes_to_client_{0}, bytes_dropped_{0};

  std::thread thread_;
};

}  // namespace analyzer::test
