// The blocking keep-alive client (see blocking_client.hpp).
#include "support/blocking_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cstdlib>

namespace analyzer::test {
namespace {

char response_buffer[std::size_t{1} << 20];

}  // namespace

blocking_client::blocking_client(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

blocking_client::~blocking_client() {
  if (fd_ >= 0) ::close(fd_);
}

unsigned blocking_client::exchange(std::string_view request) {
  if (fd_ < 0 || ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
                     static_cast<ssize_t>(request.size())) {
    return 0;
  }
  char* const buffer = response_buffer;
  std::size_t have = 0;
  std::size_t total = 0;
  while (total == 0 || have < total) {
    const ssize_t n = ::recv(fd_, buffer + have, sizeof response_buffer - have, 0);
    if (n <= 0) return 0;
    have += static_cast<std::size_t>(n);
    if (total != 0) continue;
    const std::string_view text(buffer, have);
    const auto head_end = text.find("\r\n\r\n");
    if (head_end == std::string_view::npos) continue;
    const auto at = text.find("Content-Length: ");
    if (at == std::string_view::npos || at > head_end) return 0;
    total = head_end + 4 + std::strtoul(buffer + at + 16, nullptr, 10);
  }
  if (have != total || have < 12) return 0;  // one response, nothing after it
  return static_cast<unsigned>(std::strtoul(buffer + 9, nullptr, 10));
}

}  // namespace analyzer::test
