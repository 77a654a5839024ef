// EMFILE: with the descriptor limit reached, the server neither spins on its ready
// listener nor stops accepting; it serves again once descriptors free up.
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/raw_socket.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

namespace analyzer::test {
namespace {

using namespace std::chrono_literals;

// CPU seconds (user + system) the process has used so far.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int index = 3; rest >> field && index <= 15; ++index) {
    if (index == 14 || index == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

TEST(FdExhaustionTest, accept_backs_off_on_emfile_and_recovers) {
  // The shell lowers the limit, then execs the service in its place.
  child_process p("/bin/sh", {"-c", std::string("ulimit -n 48 && exec ") + ANALYZER_BINARY},
                  {{"PORT", "0"}, {"BIND_ADDR", "127.0.0.1"}, {"THREADS", "1"}});
  const auto line = p.wait_for_line("listening on", 30s);
  ASSERT_TRUE(line) << p.output();
  const auto colon = line->find(':', line->find("listening on "));
  const auto port = static_cast<std::uint16_t>(std::stoi(line->substr(colon + 1)));

  // Far more connections than the server has descriptors for. The kernel completes the
  // handshakes (backlog) even when accept() fails.
  std::vector<std::unique_ptr<http_client>> clients;
  for (int i = 0; i < 80; ++i) clients.push_back(std::make_unique<http_client>(port));
  ASSERT_TRUE(p.wait_for_line("accept failed", 10s)) << p.output();

  // Spinning on EMFILE would burn a whole core; backing off uses almost nothing.
  const double before = cpu_seconds(p.pid());
  const auto window_end = std::chrono::steady_clock::now() + 1s;
  while (std::chrono::steady_clock::now() < window_end) std::this_thread::yield();
  EXPECT_LT(cpu_seconds(p.pid()) - before, 0.3);

  clients.clear();  // free the server's descriptors
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  unsigned status = 0;
  while (status != 200 && std::chrono::steady_clock::now() < deadline) {
    try {
      status = http_client(port).get("/health").status;
    } catch (const std::exception&) {
      std::this_thread::yield();
    }
  }
  EXPECT_EQ(status, 200U);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait_exit(30s), 0) << p.output();
}

// A soft descriptor limit below MAX_CONNECTIONS (a shell's default 1024 under a higher hard
// limit) is raised at startup: every connection up to MAX_CONNECTIONS is served and the next
// one gets the fast 503, instead of waiting in the backlog while accept() fails (EMFILE).
TEST(FdExhaustionTest, the_soft_descriptor_limit_is_raised_to_serve_max_connections) {
  constexpr int kMaxConnections = 150;
  child_process p("/bin/sh", {"-c", std::string("ulimit -Sn 64 && exec ") + ANALYZER_BINARY},
                  {{"PORT", "0"},
                   {"BIND_ADDR", "127.0.0.1"},
                   {"THREADS", "1"},
                   {"MAX_CONNECTIONS", std::to_string(kMaxConnections)}});
  const auto line = p.wait_for_line("listening on", 30s);
  ASSERT_TRUE(line) << p.output();
  const auto colon = line->find(':', line->find("listening on "));
  const auto port = static_cast<std::uint16_t>(std::stoi(line->substr(colon + 1)));

  constexpr std::string_view kHealth = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  std::vector<std::unique_ptr<raw_socket>> clients;
  for (int i = 0; i < kMaxConnections; ++i) {
    clients.push_back(std::make_unique<raw_socket>(port));
    ASSERT_TRUE(clients.back()->write_all(kHealth, 5s));
    const auto reply = clients.back()->read_reply(false, 5s);
    ASSERT_TRUE(reply.has_value()) << "connection " << i << " not served";
    ASSERT_EQ(reply->status, 200U) << "connection " << i;
  }
  raw_socket over(port);
  ASSERT_TRUE(over.write_all(kHealth, 5s));
  const auto refused = over.read_reply(false, 5s);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 503U);
  EXPECT_EQ(p.output().find("accept failed"), std::string::npos) << p.output();
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait_exit(30s), 0) << p.output();
}

}  // namespace
}  // namespace analyzer::test
