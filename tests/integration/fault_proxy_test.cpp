// The fault proxy of tests/support against a real redis-server: each mode does what the
// fault suites rely on (pass forwards, refuse resets, lose_replies executes commands but
// swallows their replies, cut breaks live connections, delay holds replies back).
#include "support/fault_proxy.hpp"
#include "support/redis_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace analyzer::test {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// How a read of one reply ended.
enum class read_end : std::uint8_t { reply, timeout, closed, reset };

const char* to_string(read_end e) {
  switch (e) {
    case read_end::reply:
      return "reply";
    case read_end::timeout:
      return "timeout";
    case read_end::closed:
      return "closed";
    case read_end::reset:
      break;
  }
  return "reset";
}

struct read_result {
  read_end end = read_end::timeout;
  std::string bytes;
};

// A blocking loopback client speaking RESP inline commands, with deadlines on every call.
class raw_client {
 public:
  // Nothing when the connect itself fails (refused or timed out).
  static std::unique_ptr<raw_client> open(std::uint16_t port, std::chrono::milliseconds timeout) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return nullptr;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      pollfd pfd{fd, POLLOUT, 0};
      int error = 0;
      socklen_t len = sizeof error;
      if (errno != EINPROGRESS || ::poll(&pfd, 1, static_cast<int>(timeout.count())) != 1 ||
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
        ::close(fd);
        return nullptr;
      }
    }
    return std::unique_ptr<raw_client>(new raw_client(fd));
  }
  ~raw_client() { ::close(fd_); }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  // False when the bytes could not be written (the connection was reset).
  bool send(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EAGAIN) {
        pollfd pfd{fd_, POLLOUT, 0};
        if (::poll(&pfd, 1, 2000) != 1) return false;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return false;
      }
    }
    return true;
  }

  // Reads until a line ends with CRLF (a simple reply: +PONG, :1, -ERR…), the peer closes
  // or resets, or the deadline passes.
  read_result read_reply(std::chrono::milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    read_result r;
    while (r.bytes.size() < 2 || r.bytes.compare(r.bytes.size() - 2, 2, "\r\n") != 0) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (left.count() <= 0) return r;
      pollfd pfd{fd_, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return r;
      char chunk[4096];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        r.bytes.append(chunk, static_cast<std::size_t>(n));
      } else if (n == 0) {
        r.end = read_end::closed;
        return r;
      } else if (errno != EAGAIN && errno != EINTR) {
        r.end = read_end::reset;
        return r;
      }
    }
    r.end = read_end::reply;
    return r;
  }

  read_result command(const std::string& inline_command, std::chrono::milliseconds timeout) {
    if (!send(inline_command + "\r\n")) return read_result{read_end::reset, {}};
    return read_reply(timeout);
  }

 private:
  explicit raw_client(int fd) : fd_(fd) {}
  int fd_;
};

// PING through `port` on a fresh connection answers PONG.
bool ping_through(std::uint16_t port) {
  const auto c = raw_client::open(port, 1s);
  if (!c) return false;
  const auto r = c->command("PING", 2s);
  return r.end == read_end::reply && r.bytes == "+PONG\r\n";
}

TEST(FaultProxyTest, pass_forwards_both_ways_and_counts) {
  redis_server redis;
  fault_proxy proxy(redis.port());
  EXPECT_EQ(proxy.mode(), proxy_mode::pass);
  EXPECT_EQ(proxy.address(), "127.0.0.1:" + std::to_string(proxy.port()));
  EXPECT_NE(proxy.port(), redis.port());

  const auto c = raw_client::open(proxy.port(), 1s);
  ASSERT_TRUE(c);
  const auto pong = c->command("PING", 2s);
  ASSERT_EQ(pong.end, read_end::reply) << to_string(pong.end);
  EXPECT_EQ(pong.bytes, "+PONG\r\n");
  const auto set = c->command("SET proxied yes", 2s);
  EXPECT_EQ(set.bytes, "+OK\r\n");
  EXPECT_EQ(redis.command("GET", "proxied"), "yes");

  // A reply larger than one read (and than the socket buffers) arrives whole and in order.
  const std::string big(3U << 20U, 'x');
  redis.command("SET", "big", big);
  ASSERT_TRUE(c->send("GET big\r\n"));
  const std::string expected = "$" + std::to_string(big.size()) + "\r\n" + big + "\r\n";
  std::string got;
  while (got.size() < expected.size()) {
    const auto r = c->read_reply(5s);
    got += r.bytes;
    if (r.end != read_end::reply) break;
  }
  EXPECT_TRUE(got == expected) << "got " << got.size() << " of " << expected.size() << " bytes";

  const auto counters = proxy.counters();
  EXPECT_EQ(counters.accepted, 1U);
  EXPECT_EQ(counters.open, 1U);
  EXPECT_EQ(counters.refused, 0U);
  EXPECT_EQ(counters.bytes_to_server, std::string("PING\r\nSET proxied yes\r\nGET big\r\n").size());
  EXPECT_EQ(counters.bytes_to_client, std::string("+PONG\r\n+OK\r\n").size() + expected.size());
  EXPECT_EQ(counters.bytes_dropped, 0U);
}

TEST(FaultProxyTest, refuse_resets_new_and_existing_connections_until_pass) {
  redis_server redis;
  fault_proxy proxy(redis.port());
  const auto before = raw_client::open(proxy.port(), 1s);
  ASSERT_TRUE(before);
  ASSERT_EQ(before->command("PING", 2s).bytes, "+PONG\r\n");

  proxy.refuse();
  EXPECT_EQ(proxy.mode(), proxy_mode::refuse);
  // The live connection was cut: its next command fails at once, without a reply.
  const auto cut = before->command("PING", 2s);
  EXPECT_TRUE(cut.end == read_end::reset || cut.end == read_end::closed) << to_string(cut.end);
  EXPECT_TRUE(cut.bytes.empty());
  // New connections: accepted and reset, so no command gets through.
  for (int i = 0; i < 3; ++i) {
    const auto c = raw_client::open(proxy.port(), 1s);
    if (!c) continue;  // the reset may already have arrived during the connect
    const auto r = c->command("SET refused yes", 2s);
    EXPECT_TRUE(r.end == read_end::reset || r.end == read_end::closed) << to_string(r.end);
  }
  EXPECT_EQ(redis.command("EXISTS", "refused"), "0");
  const auto counters = proxy.counters();
  EXPECT_GE(counters.refused, 1U);
  EXPECT_EQ(counters.cut, 1U);
  EXPECT_EQ(counters.open, 0U);

  proxy.pass();
  EXPECT_TRUE(ping_through(proxy.port()));
}

TEST(FaultProxyTest, lose_replies_executes_commands_but_the_client_never_sees_replies) {
  redis_server redis;
  fault_proxy proxy(redis.port());
  const auto c = raw_client::open(proxy.port(), 1s);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->command("PING", 2s).bytes, "+PONG\r\n");
  const auto idle = raw_client::open(proxy.port(), 1s);  // sends nothing while replies are lost
  ASSERT_TRUE(idle);
  ASSERT_EQ(idle->command("PING", 2s).bytes, "+PONG\r\n");

  proxy.lose_replies();
  const auto lost = c->command("INCR lost_counter", 300ms);
  EXPECT_EQ(lost.end, read_end::timeout) << to_string(lost.end) << ": " << lost.bytes;
  EXPECT_TRUE(lost.bytes.empty());
  // The command was executed all the same.
  EXPECT_TRUE(eventually([&] { return redis.command("GET", "lost_counter") == "1"; }, 5s));
  // New connections lose their replies too.
  const auto fresh = raw_client::open(proxy.port(), 1s);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->command("INCR lost_counter", 300ms).end, read_end::timeout);
  EXPECT_TRUE(eventually([&] { return redis.command("GET", "lost_counter") == "2"; }, 5s));
  EXPECT_GT(proxy.counters().bytes_dropped, 0U);

  proxy.pass();
  // A connection that lost replies stays silent (a stream cannot skip bytes)...
  const auto after = c->command("PING", 300ms);
  EXPECT_EQ(after.end, read_end::timeout) << to_string(after.end) << ": " << after.bytes;
  EXPECT_EQ(redis.command("GET", "lost_counter"), "2");
  // ...while one that lost nothing, and new ones, work again.
  EXPECT_EQ(idle->command("PING", 2s).bytes, "+PONG\r\n");
  EXPECT_TRUE(ping_through(proxy.port()));
}

TEST(FaultProxyTest, cut_resets_every_live_connection_and_new_ones_work) {
  redis_server redis;
  fault_proxy proxy(redis.port());
  std::vector<std::unique_ptr<raw_client>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(raw_client::open(proxy.port(), 1s));
    ASSERT_TRUE(clients.back());
    ASSERT_EQ(clients.back()->command("PING", 2s).bytes, "+PONG\r\n");
  }
  ASSERT_TRUE(eventually([&] { return proxy.counters().open == 3; }, 5s));
  // A blocked command is cut while it waits for its reply.
  const auto blocked = raw_client::open(proxy.port(), 1s);
  ASSERT_TRUE(blocked);
  ASSERT_TRUE(blocked->send("BLPOP never 10\r\n"));
  ASSERT_TRUE(eventually([&] { return proxy.counters().open == 4; }, 5s));

  proxy.cut();
  EXPECT_EQ(proxy.counters().cut, 4U);
  const auto waited = blocked->read_reply(2s);
  EXPECT_EQ(waited.end, read_end::reset) << to_string(waited.end);
  for (auto& c : clients) {
    const auto r = c->command("PING", 2s);
    EXPECT_TRUE(r.end == read_end::reset || r.end == read_end::closed) << to_string(r.end);
  }
  // Redis saw its side reset too: the blocked client is gone there.
  EXPECT_TRUE(eventually(
      [&] {
        return redis.command("INFO", "clients").find("blocked_clients:0") != std::string::npos;
      },
      5s));
  EXPECT_EQ(proxy.mode(), proxy_mode::pass);
  EXPECT_TRUE(ping_through(proxy.port()));
}

TEST(FaultProxyTest, delay_holds_replies_back_in_order) {
  redis_server redis;
  fault_proxy proxy(redis.port());
  const auto c = raw_client::open(proxy.port(), 1s);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->command("PING", 2s).bytes, "+PONG\r\n");

  proxy.delay(300ms);
  auto started = clock_type::now();
  ASSERT_TRUE(c->send("INCR d\r\nINCR d\r\nINCR d\r\n"));
  // Executed at once, answered only after the delay.
  EXPECT_TRUE(eventually([&] { return redis.command("GET", "d") == "3"; }, 2s));
  std::string replies;
  while (replies.size() < std::string(":1\r\n:2\r\n:3\r\n").size()) {
    const auto r = c->read_reply(3s);
    replies += r.bytes;
    if (r.end != read_end::reply) break;
  }
  const auto took = clock_type::now() - started;
  EXPECT_EQ(replies, ":1\r\n:2\r\n:3\r\n");
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 3s);

  proxy.delay(0ms);
  started = clock_type::now();
  EXPECT_EQ(c->command("PING", 2s).bytes, "+PONG\r\n");
  EXPECT_LT(clock_type::now() - started, 250ms);
}

TEST(FaultProxyTest, upstream_down_resets_clients_and_upstream_back_works) {
  redis_server redis;
  fault_proxy proxy(redis.port());
  const auto live = raw_client::open(proxy.port(), 1s);
  ASSERT_TRUE(live);
  ASSERT_EQ(live->command("PING", 2s).bytes, "+PONG\r\n");
  redis.kill();
  // The server's side closed: the client sees the close (FIN or reset), not a hang.
  const auto r = live->read_reply(2s);
  EXPECT_TRUE(r.end == read_end::closed || r.end == read_end::reset) << to_string(r.end);
  const auto refused = raw_client::open(proxy.port(), 1s);
  if (refused) {
    const auto rr = refused->command("PING", 2s);
    EXPECT_TRUE(rr.end == read_end::reset || rr.end == read_end::closed) << to_string(rr.end);
  }
  EXPECT_TRUE(eventually([&] { return proxy.counters().upstream_failed >= 1; }, 2s));
  redis.restart();
  EXPECT_TRUE(ping_through(proxy.port()));
}

TEST(FaultProxyTest, destructor_stops_with_connections_open) {
  redis_server redis;
  auto proxy = std::make_unique<fault_proxy>(redis.port());
  proxy->delay(5000ms);
  const auto c = raw_client::open(proxy->port(), 1s);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send("PING\r\n"));  // its reply held for 5 s by the delay
  const auto blocked = raw_client::open(proxy->port(), 1s);
  ASSERT_TRUE(blocked);
  ASSERT_TRUE(blocked->send("BLPOP never 10\r\n"));
  ASSERT_TRUE(eventually([&] { return proxy->counters().open == 2; }, 5s));
  const auto started = clock_type::now();
  proxy.reset();
  EXPECT_LT(clock_type::now() - started, 1s);
  const auto r = c->read_reply(2s);
  EXPECT_EQ(r.end, read_end::reset) << to_string(r.end);
  EXPECT_TRUE(r.bytes.empty());
  EXPECT_EQ(blocked->read_reply(2s).end, read_end::reset);
}

}  // namespace
}  // namespace analyzer::test
