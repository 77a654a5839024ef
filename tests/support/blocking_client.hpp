// A minimal blocking keep-alive HTTP client that allocates nothing per request and keeps
// no memory per connection beyond its socket: for tests that count the server's
// allocations or measure what thousands of the server's connections cost. Responses are
// read into one buffer shared by all clients (one thread at a time).
#pragma once

#include <cstdint>
#include <string_view>

namespace analyzer::test {

class blocking_client {
 public:
  explicit blocking_client(std::uint16_t port);
  ~blocking_client();
  blocking_client(const blocking_client&) = delete;
  blocking_client& operator=(const blocking_client&) = delete;

  [[nodiscard]] bool connected() const noexcept { return fd_ >= 0; }

  // Sends `request` and reads its whole response (which must carry Content-Length and be
  // the only one in flight). Returns its status, or 0 when the exchange failed.
  unsigned exchange(std::string_view request);

 private:
  int fd_ = -1;
};

}  // namespace analyzer::test
