// The fault-injecting TCP proxy: one thread, poll(2), non-blocking sockets.
#include "support/fault_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <limits>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace analyzer::test {

namespace {

using clock_type = std::chrono::steady_clock;

// Bytes buffered per direction of one connection before the proxy stops reading its
// source (the source then sees TCP back-pressure).
constexpr std::size_t kBufferLimit = 4U << 20U;
constexpr std::size_t kChunk = 64U << 10U;
constexpr int kAcceptsPerRound = 64;

std::runtime_error sys_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::generic_category().message(errno));
}

// Closes with an RST instead of a FIN: the peer's next read or write fails with
// ECONNRESET, and nothing stays in TIME_WAIT.
void reset_fd(int fd) {
  if (fd < 0) return;
  const linger hard{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  ::close(fd);
}

struct held_chunk {
  clock_type::time_point release;
  std::string bytes;
  std::size_t sent = 0;
};

// One proxied connection: the accepted client socket and its upstream socket.
struct tunnel {
  int client = -1;
  int server = -1;
  bool connecting = true;  // upstream connect in progress
  std::string to_server;   // client→server bytes not yet written
  std::size_t to_server_sent = 0;
  std::deque<held_chunk> to_client;  // server→client bytes, each with its release time
  std::size_t to_client_bytes = 0;
  bool client_eof = false;   // the client sent FIN
  bool server_eof = false;   // the server sent FIN
  bool server_shut = false;  // we forwarded the client's FIN
  bool client_shut = false;  // we forwarded the server's FIN
  bool tainted = false;      // lost server→client bytes: a black hole for good
  bool dead = false;

  [[nodiscard]] bool to_server_pending() const { return to_server_sent < to_server.size(); }
  [[nodiscard]] bool releasable(clock_type::time_point now) const {
    return !to_client.empty() && to_client.front().release <= now;
  }
};

}  // namespace

const char* to_string(proxy_mode mode) noexcept {
  switch (mode) {
    case proxy_mode::pass:
      return "pass";
    case proxy_mode::refuse:
      return "refuse";
    case proxy_mode::lose_replies:
      break;
  }
  return "lose_replies";
}

fault_proxy::fault_proxy(std::uint16_t upstream_port, std::size_t max_connections)
    : upstream_port_(upstream_port), max_connections_(max_connections) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) throw sys_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::listen(listen_fd_, 128) != 0 || ::pipe2(wake_fds_, O_CLOEXEC | O_NONBLOCK) != 0) {
    const auto error = sys_error("fault proxy listener");
    ::close(listen_fd_);
    throw error;
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { run(); });
}

fault_proxy::~fault_proxy() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake();
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_fds_[0]);
  ::close(wake_fds_[1]);
}

std::string fault_proxy::address() const { return "127.0.0.1:" + std::to_string(port_); }

void fault_proxy::wake() const {
  const char byte = 0;
  // A full pipe already wakes the thread: EAGAIN is fine.
  while (::write(wake_fds_[1], &byte, 1) < 0 && errno == EINTR) {
  }
}

void fault_proxy::submit(bool cut) {
  std::unique_lock lock(mutex_);
  const std::uint64_t mine = ++requests_;
  if (cut) cuts_requested_ = mine;
  wake();
  applied_cv_.wait(lock, [&] { return applied_ >= mine || finished_; });
}

void fault_proxy::set_mode(proxy_mode mode) {
  mode_.store(mode);
  submit(false);
}

void fault_proxy::cut() { submit(true); }

void fault_proxy::delay(std::chrono::milliseconds latency) {
  delay_ms_.store(std::max<long long>(0, latency.count()));
  submit(false);
}

fault_proxy_counters fault_proxy::counters() const {
  fault_proxy_counters c;
  c.accepted = accepted_.load();
  c.refused = refused_.load();
  c.cut = cut_.load();
  c.open = open_.load();
  c.upstream_failed = upstream_failed_.load();
  c.bytes_to_server = bytes_to_server_.load();
  c.bytes_to_client = bytes_to_client_.load();
  c.bytes_dropped = bytes_dropped_.load();
  return c;
}

void fault_proxy::run() {
  std::vector<std::unique_ptr<tunnel>> links;
  std::uint64_t cuts_done = 0;
  char buffer[kChunk];

  auto reset_link = [&](tunnel& l) {
    if (l.dead) return;
    reset_fd(l.client);
    reset_fd(l.server);
    l.client = l.server = -1;
    l.dead = true;
  };
  auto close_link = [&](tunnel& l) {
    if (l.dead) return;
    ::close(l.client);
    ::close(l.server);
    l.client = l.server = -1;
    l.dead = true;
  };
  auto drop_held = [&](tunnel& l) {
    std::uint64_t dropped = 0;
    for (const auto& c : l.to_client) dropped += c.bytes.size() - c.sent;
    l.to_client.clear();
    l.to_client_bytes = 0;
    if (dropped != 0) {
      bytes_dropped_.fetch_add(dropped);
      l.tainted = true;
    }
  };
  auto accept_new = [&] {
    for (int i = 0; i < kAcceptsPerRound; ++i) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) return;  // EAGAIN, or a connection that died in the backlog
      accepted_.fetch_add(1);
      if (mode_.load() == proxy_mode::refuse || links.size() >= max_connections_) {
        refused_.fetch_add(1);
        reset_fd(fd);
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      const int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (up < 0) {
        upstream_failed_.fetch_add(1);
        reset_fd(fd);
        continue;
      }
      ::setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(upstream_port_);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      auto l = std::make_unique<tunnel>();
      l->client = fd;
      l->server = up;
      if (::connect(up, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
        l->connecting = false;
      } else if (errno != EINPROGRESS) {
        upstream_failed_.fetch_add(1);
        reset_link(*l);
        continue;
      }
      links.push_back(std::move(l));
    }
  };

  std::vector<pollfd> fds;
  while (true) {
    const auto now = clock_type::now();
    fds.clear();
    fds.push_back({wake_fds_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    long long timeout_ms = -1;
    for (const auto& l : links) {
      short client_events = 0;
      short server_events = 0;
      if (l->connecting) {
        server_events = POLLOUT;
      } else {
        if (!l->server_eof && l->to_client_bytes < kBufferLimit) server_events |= POLLIN;
        if (l->to_server_pending()) server_events |= POLLOUT;
      }
      if (!l->client_eof && l->to_server.size() - l->to_server_sent < kBufferLimit) {
        client_events |= POLLIN;
      }
      if (l->releasable(now)) {
        client_events |= POLLOUT;
      } else if (!l->to_client.empty()) {
        const long long wait = static_cast<long long>(
            std::chrono::ceil<std::chrono::milliseconds>(l->to_client.front().release - now)
                .count());
        timeout_ms = timeout_ms < 0 ? wait : std::min(timeout_ms, wait);
      }
      // A socket nobody waits on is left out, so a hang-up it reports cannot spin the loop.
      fds.push_back({client_events != 0 ? l->client : -1, client_events, 0});
      fds.push_back({server_events != 0 ? l->server : -1, server_events, 0});
    }
    const int n = ::poll(fds.data(), fds.size(),
                         static_cast<int>(std::clamp<long long>(timeout_ms, -1, 60'000)));
    if (n < 0 && errno != EINTR) break;

    // Requests first: a cut or a mode change applies before any further byte moves.
    if ((fds[0].revents & POLLIN) != 0) {
      char drain[64];
      while (::read(wake_fds_[0], drain, sizeof drain) > 0) {
      }
    }
    std::uint64_t target = 0;
    bool cut_now = false;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
      target = requests_;
      cut_now = cuts_requested_ > cuts_done;
      cuts_done = cuts_requested_;
    }
    const proxy_mode mode = mode_.load();
    if (cut_now || mode == proxy_mode::refuse) {
      for (auto& l : links) {
        if (!l->dead) cut_.fetch_add(1);
        reset_link(*l);
      }
    } else if (mode == proxy_mode::lose_replies) {
      for (auto& l : links) drop_held(*l);
    }

    const auto after = clock_type::now();
    const long long delay_ms = delay_ms_.load();
    for (std::size_t i = 0; i < links.size(); ++i) {
      tunnel& l = *links[i];
      if (l.dead) continue;
      const short cre = fds[2 + 2 * i].fd >= 0 ? fds[2 + 2 * i].revents : short{0};
      const short sre = fds[3 + 2 * i].fd >= 0 ? fds[3 + 2 * i].revents : short{0};

      if (l.connecting && sre != 0) {
        int error = 0;
        socklen_t len = sizeof error;
        if (::getsockopt(l.server, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
          upstream_failed_.fetch_add(1);
          reset_link(l);
          continue;
        }
        l.connecting = false;
      } else if (!l.connecting && (sre & (POLLIN | POLLHUP | POLLERR)) != 0 && !l.server_eof) {
        const ssize_t got = ::recv(l.server, buffer, sizeof buffer, 0);
        if (got > 0) {
          if (mode == proxy_mode::lose_replies || l.tainted) {
            bytes_dropped_.fetch_add(static_cast<std::uint64_t>(got));
            l.tainted = true;
          } else {
            l.to_client.push_back(held_chunk{after + std::chrono::milliseconds(delay_ms),
                                             std::string(buffer, static_cast<std::size_t>(got))});
            l.to_client_bytes += static_cast<std::size_t>(got);
          }
        } else if (got == 0) {
          l.server_eof = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          reset_link(l);  // the server reset: so does the client
          continue;
        }
      } else if ((sre & POLLERR) != 0) {
        reset_link(l);
        continue;
      }

      if ((cre & (POLLIN | POLLHUP | POLLERR)) != 0 && !l.client_eof) {
        const ssize_t got = ::recv(l.client, buffer, sizeof buffer, 0);
        if (got > 0) {
          if (l.to_server_sent == l.to_server.size()) {
            l.to_server.clear();
            l.to_server_sent = 0;
          }
          l.to_server.append(buffer, static_cast<std::size_t>(got));
        } else if (got == 0) {
          l.client_eof = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          reset_link(l);
          continue;
        }
      } else if ((cre & POLLERR) != 0) {
        reset_link(l);
        continue;
      }

      // Writes, each as far as the socket takes it.
      if (!l.connecting && l.to_server_pending()) {
        const ssize_t put = ::send(l.server, l.to_server.data() + l.to_server_sent,
                                   l.to_server.size() - l.to_server_sent, MSG_NOSIGNAL);
        if (put > 0) {
          l.to_server_sent += static_cast<std::size_t>(put);
          bytes_to_server_.fetch_add(static_cast<std::uint64_t>(put));
          if (l.to_server_sent == l.to_server.size()) {
            l.to_server.clear();
            l.to_server_sent = 0;
          } else if (l.to_server_sent >= kBufferLimit) {
            l.to_server.erase(0, l.to_server_sent);
            l.to_server_sent = 0;
          }
        } else if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          reset_link(l);
          continue;
        }
      }
      bool failed = false;
      while (l.releasable(after)) {
        held_chunk& c = l.to_client.front();
        const ssize_t put =
            ::send(l.client, c.bytes.data() + c.sent, c.bytes.size() - c.sent, MSG_NOSIGNAL);
        if (put < 0) {
          failed = errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
          break;
        }
        c.sent += static_cast<std::size_t>(put);
        l.to_client_bytes -= static_cast<std::size_t>(put);
        bytes_to_client_.fetch_add(static_cast<std::uint64_t>(put));
        if (c.sent < c.bytes.size()) break;
        l.to_client.pop_front();
      }
      if (failed) {
        reset_link(l);
        continue;
      }

      // FINs travel once everything before them has.
      if (l.client_eof && !l.connecting && !l.to_server_pending() && !l.server_shut) {
        ::shutdown(l.server, SHUT_WR);
        l.server_shut = true;
      }
      if (l.server_eof && l.to_client.empty() && !l.client_shut) {
        ::shutdown(l.client, SHUT_WR);
        l.client_shut = true;
      }
      if (l.server_shut && l.client_shut) close_link(l);
    }

    if ((fds[1].revents & POLLIN) != 0) accept_new();
    std::erase_if(links, [](const std::unique_ptr<tunnel>& l) { return l->dead; });
    open_.store(links.size());

    {
      std::lock_guard lock(mutex_);
      applied_ = std::max(applied_, target);
    }
    applied_cv_.notify_all();
  }

  for (auto& l : links) reset_link(*l);
  open_.store(0);
  {
    std::lock_guard lock(mutex_);
    finished_ = true;
  }
  applied_cv_.notify_all();
}

}  // namespace analyzer::test
