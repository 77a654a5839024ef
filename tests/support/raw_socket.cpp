// Loopback client for hostile-input tests: non-blocking POSIX socket driven by poll(2).
#include "support/raw_socket.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace analyzer::test {

namespace bhttp = boost::beast::http;
using clock_type = std::chrono::steady_clock;

std::size_t resident_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stoull(line.substr(6)) * 1024;  // "VmRSS:    12345 kB"
    }
  }
  return 0;
}

namespace {

int remaining_ms(clock_type::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

}  // namespace

raw_socket::raw_socket(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    ::close(fd_);
    throw std::system_error(e, std::generic_category(), "connect");
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

raw_socket::~raw_socket() {
  if (fd_ >= 0) ::close(fd_);
}

bool raw_socket::pump(std::chrono::milliseconds wait) {
  if (closed_) return false;
  pollfd pfd{fd_, POLLIN, 0};
  if (::poll(&pfd, 1, static_cast<int>(wait.count())) <= 0) return false;
  char chunk[65536];
  bool got = false;
  while (true) {
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      inbox_.append(chunk, static_cast<std::size_t>(n));
      got = true;
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      closed_ = true;  // orderly close or reset
      return got;
    }
    return got;
  }
}

bool raw_socket::write_all(std::string_view bytes, std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  while (!bytes.empty()) {
    if (closed_) return false;
    pollfd pfd{fd_, POLLIN | POLLOUT, 0};
    if (::poll(&pfd, 1, remaining_ms(deadline)) <= 0) return false;
    if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0) pump(std::chrono::milliseconds(0));
    if ((pfd.revents & POLLOUT) == 0) continue;
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      pump(std::chrono::milliseconds(0));
      closed_ = true;
      return false;
    }
  }
  return true;
}

raw_socket::stream_result raw_socket::stream(std::size_t total, std::string_view pattern,
                                             bool stop_when_answered,
                                             std::chrono::milliseconds timeout) {
  std::string block;
  while (block.size() < 65536) block.append(pattern);
  stream_result result;
  result.peak_resident = resident_bytes();
  std::size_t sampled_at = 0;
  const auto deadline = clock_type::now() + timeout;
  while (result.sent < total && !closed_ && clock_type::now() < deadline) {
    if (stop_when_answered && parse_front(false)) break;  // a real client stops sending
    pollfd pfd{fd_, POLLIN | POLLOUT, 0};
    if (::poll(&pfd, 1, remaining_ms(deadline)) <= 0) break;
    if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      pump(std::chrono::milliseconds(0));
      continue;
    }
    const std::size_t offset = result.sent % pattern.size();
    const std::size_t want = std::min(total - result.sent, block.size() - offset);
    const ssize_t n = ::send(fd_, block.data() + offset, want, MSG_NOSIGNAL);
    if (n > 0) {
      result.sent += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      pump(std::chrono::milliseconds(0));
      closed_ = true;
    }
    if (result.sent - sampled_at >= std::size_t{1} << 20) {  // every MiB
      sampled_at = result.sent;
      result.peak_resident = std::max(result.peak_resident, resident_bytes());
    }
  }
  // Whatever the server answered arrives shortly after: give it a moment.
  const auto settle = clock_type::now() + std::chrono::seconds(5);
  while (!closed_ && !parse_front(false) && clock_type::now() < settle) {
    pump(std::chrono::milliseconds(50));
  }
  result.answered = parse_front(false).has_value();
  result.peak_resident = std::max(result.peak_resident, resident_bytes());
  result.closed = closed_;
  return result;
}

std::optional<std::pair<http_reply, std::size_t>> raw_socket::parse_front(bool head) const {
  if (inbox_.empty()) return std::nullopt;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(std::uint64_t{64} << 20);
  parser.skip(head);
  parser.eager(true);
  std::size_t used = 0;
  while (!parser.is_done() && used < inbox_.size()) {
    boost::beast::error_code ec;
    const std::size_t n =
        parser.put(boost::asio::buffer(inbox_.data() + used, inbox_.size() - used), ec);
    used += n;
    if (ec == bhttp::error::need_more) {
      if (n == 0) break;
      continue;
    }
    if (ec) throw std::runtime_error("malformed response from the server: " + ec.message());
  }
  if (!parser.is_done()) return std::nullopt;
  const auto& res = parser.get();
  http_reply out;
  out.status = res.result_int();
  for (const auto& field : res) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.headers[name] = std::string(field.value());
  }
  out.body = res.body();
  out.keep_alive = res.keep_alive();
  return std::make_pair(std::move(out), used);
}

std::optional<http_reply> raw_socket::read_reply(bool head, std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  while (true) {
    if (auto front = parse_front(head)) {
      inbox_.erase(0, front->second);
      return std::move(front->first);
    }
    if (closed_ || clock_type::now() >= deadline) return std::nullopt;
    pump(std::chrono::milliseconds(std::max(remaining_ms(deadline), 1)));
  }
}

bool raw_socket::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  while (!closed_ && clock_type::now() < deadline) {
    pump(std::chrono::milliseconds(std::max(remaining_ms(deadline), 1)));
  }
  return closed_;
}

bool raw_socket::silent_for(std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  const std::size_t before = inbox_.size();
  while (!closed_ && clock_type::now() < deadline) {
    pump(std::chrono::milliseconds(std::max(remaining_ms(deadline), 1)));
  }
  return !closed_ && inbox_.size() == before;
}

void raw_socket::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

}  // namespace analyzer::test
