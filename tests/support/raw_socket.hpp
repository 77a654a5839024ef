// A loopback TCP client for hostile-input tests: writes arbitrary bytes (streamed, slowly,
// or half-closed) while reading whatever the server answers, so a test never deadlocks on
// a server that stops reading, and it can tell a response from a closed connection.
#pragma once

#include "support/http_client.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace analyzer::test {

// Resident set size of this process (VmRSS), in bytes.
[[nodiscard]] std::size_t resident_bytes();

class raw_socket {
 public:
  explicit raw_socket(std::uint16_t port);
  ~raw_socket();
  raw_socket(const raw_socket&) = delete;
  raw_socket& operator=(const raw_socket&) = delete;

  // Writes all of `bytes`, reading what arrives meanwhile. False when the server closed or
  // reset the connection (or `timeout` passed) before everything was written.
  bool write_all(std::string_view bytes,
                 std::chrono::milliseconds timeout = std::chrono::seconds(20));

  struct stream_result {
    std::size_t sent = 0;           // bytes the kernel accepted
    bool answered = false;          // a complete response arrived
    bool closed = false;            // the server closed or reset the connection
    std::size_t peak_resident = 0;  // highest resident_bytes() seen while streaming
  };
  // Streams `total` bytes made of `pattern` repeated, stopping early when the server closes
  // the connection or, with `stop_when_answered`, once a complete response has arrived.
  stream_result stream(std::size_t total, std::string_view pattern, bool stop_when_answered = true,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // The next response, or nothing when the connection closed (or `timeout` passed) first.
  std::optional<http_reply> read_reply(
      bool head = false, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // True when the server closes the connection within `timeout` (data is kept in the inbox).
  bool wait_closed(std::chrono::milliseconds timeout);
  // True when nothing at all arrives within `timeout` and the connection stays open.
  bool silent_for(std::chrono::milliseconds timeout);

  void shutdown_write();
  [[nodiscard]] bool closed() const noexcept { return closed_; }
  // Bytes received and not yet consumed by read_reply.
  [[nodiscard]] const std::string& inbox() const noexcept { return inbox_; }

 private:
  // Reads what is available (waiting up to `wait`); false on close, reset or timeout.
  bool pump(std::chrono::milliseconds wait);
  // The complete response at the front of the inbox and its length in bytes, or nothing.
  [[nodiscard]] std::optional<std::pair<http_reply, std::size_t>> parse_front(bool head) const;

  int fd_ = -1;
  bool closed_ = false;
  std::string inbox_;
};

}  // namespace analyzer::test
