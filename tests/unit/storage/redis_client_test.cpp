// storage::redis_client (src/storage/redis_client.hpp) against a real redis-server on
// loopback: the backoff keeps growing across successful handshakes while every command
// fails and starts over after a command succeeds; stop(deadline) returns by its deadline
// with Redis frozen (SIGSTOP) and a command in flight, and does not wait for a host name
// resolution that hangs; the client reconnects after Redis restarts.
#include "storage/redis_client.hpp"
#include "support/redis_server.hpp"

#include <hiredis/hiredis.h>

#include <gtest/gtest.h>

#include <signal.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>

namespace analyzer::storage {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using test::eventually;
using test::redis_server;

redis_client_options options_for(const redis_server& redis, std::chrono::milliseconds initial,
                                 std::chrono::milliseconds max) {
  redis_client_options o;
  o.connection.address = *config::parse_redis_address(redis.address());
  o.connection.connect_timeout = 5s;
  o.connection.command_timeout = 5s;
  o.backoff_initial = initial;
  o.backoff_max = max;
  o.log_name = "redis client test";
  return o;
}

long long ms_since(clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start).count();
}

// Runs `f` on the client's io thread and waits for its result.
template <typename F>
auto on_io_thread(redis_client& client, F f) {
  std::packaged_task<decltype(f())()> task(std::move(f));
  auto result = task.get_future();
  boost::asio::post(client.executor(), [&task] { task(); });
  EXPECT_EQ(result.wait_for(10s), std::future_status::ready);
  return result.get();
}

// Redis frozen by SIGSTOP for the scope (resumed at its end, so that it can be stopped).
class frozen {
 public:
  explicit frozen(const redis_server& redis) : pid_(redis.pid()) {
    EXPECT_EQ(::kill(pid_, SIGSTOP), 0);
  }
  ~frozen() { (void)::kill(pid_, SIGCONT); }
  frozen(const frozen&) = delete;
  frozen& operator=(const frozen&) = delete;

 private:
  pid_t pid_;
};

// A server that completes every handshake and fails every command (here: a command it
// does not know) is retried ever more slowly: the backoff is not reset by a handshake. The
// 6th reconnect cannot come before the first six delays at their shortest (jitter 0.8):
// 0.8 × (20 + 40 + 80 + 160 + 320 + 320) ms. Reset on every handshake, it would come after
// ~6 × 24 ms.
TEST(RedisClientTest, backoff_keeps_growing_across_handshakes_while_every_command_fails) {
  redis_server redis;
  std::atomic<int> readies{0};
  std::unique_ptr<redis_client> client;
  client = std::make_unique<redis_client>(
      options_for(redis, 20ms, 320ms),
      redis_client_handlers{.on_ready =
                                [&](const std::shared_ptr<redis_connection>& c) {
                                  ++readies;
                                  client->mark_connected();
                                  c->command(
                                      {"NO-SUCH-COMMAND"}, [&client, c](const redisReply* reply) {
                                        if (reply != nullptr && reply->type != REDIS_REPLY_ERROR) {
                                          client->command_succeeded();
                                        }
                                        if (c == client->connection())
                                          client->close("the command failed");
                                      });
                                },
                            .on_closed = {},
                            .on_stopping = {}});
  const auto started = clock::now();
  client->start();
  ASSERT_TRUE(eventually([&] { return client->reconnects() >= 6; }, 20s));
  const long long elapsed = ms_since(started);
  EXPECT_GE(elapsed, 752) << "6 reconnects in " << elapsed << " ms: the backoff was reset";
  EXPECT_GE(readies.load(), 6) << "every attempt passed its handshake";
  EXPECT_EQ(on_io_thread(*client, [&] { return client->backoff(); }), 320ms);
  client->stop(clock::now() + 2s);
}

// The same server, but the command succeeds (and says so) before the connection is
// dropped: every reconnect waits the initial backoff again. Growing, the first ten delays
// would take at least 0.8 × (20 + 40 + 80 + 160 + 6 × 320) ms = 1776 ms.
TEST(RedisClientTest, a_successful_command_starts_the_backoff_over) {
  redis_server redis;
  std::unique_ptr<redis_client> client;
  client = std::make_unique<redis_client>(
      options_for(redis, 20ms, 320ms),
      redis_client_handlers{.on_ready =
                                [&](const std::shared_ptr<redis_connection>& c) {
                                  c->command({"PING"}, [&client, c](const redisReply* reply) {
                                    if (reply != nullptr && reply->type == REDIS_REPLY_STATUS) {
                                      client->command_succeeded();
                                    }
                                    if (c == client->connection())
                                      client->close("dropped by the test");
                                  });
                                },
                            .on_closed = {},
                            .on_stopping = {}});
  const auto started = clock::now();
  client->start();
  ASSERT_TRUE(eventually([&] { return client->reconnects() >= 10; }, 20s));
  const long long elapsed = ms_since(started);
  EXPECT_LT(elapsed, 1776) << "10 reconnects took " << elapsed
                           << " ms: the backoff was not reset by a successful command";
  client->stop(clock::now() + 2s);
}

// Redis frozen with a command in flight (the command timeout far away), and a timer of the
// owner's still pending on the io thread (it would keep ioc.run() going for 30 s): stop()
// returns by its deadline, not after a fixed wait, and the command in flight has failed.
TEST(RedisClientTest, stop_returns_by_its_deadline_with_redis_frozen_and_a_command_in_flight) {
  redis_server redis;
  auto options = options_for(redis, 20ms, 200ms);
  options.connection.command_timeout = 30s;
  std::unique_ptr<redis_client> client;
  client = std::make_unique<redis_client>(
      options,
      redis_client_handlers{
          .on_ready = [&](const std::shared_ptr<redis_connection>&) { client->mark_connected(); },
          .on_closed = {},
          .on_stopping = {}});
  client->start();
  ASSERT_TRUE(eventually([&] { return client->connected(); }));

  frozen pause(redis);
  std::atomic<int> answered{0};  // 1: a reply, 2: failed without one
  auto owner_timer = std::make_shared<boost::asio::steady_timer>(client->ioc(), 30s);
  const bool sent = on_io_thread(*client, [&] {
    owner_timer->async_wait([](boost::system::error_code) {});
    return client->connection()->command(
        {"PING"}, [&answered](const redisReply* reply) { answered = reply == nullptr ? 2 : 1; });
  });
  ASSERT_TRUE(sent);
  EXPECT_EQ(answered.load(), 0);

  constexpr auto kBudget = 300ms;
  const auto started = clock::now();
  client->stop(started + kBudget);
  const long long elapsed = ms_since(started);
  EXPECT_LE(elapsed, (kBudget + 250ms).count()) << "stop took " << elapsed << " ms";
  EXPECT_EQ(answered.load(), 2) << "the command in flight must fail at stop";
  EXPECT_FALSE(client->connected());
  owner_timer.reset();
  client.reset();
}

// A host name whose resolution hangs (a DNS server that never answers): stop() does not
// wait for it at all (Asio's resolver would keep ioc.run() going until getaddrinfo
// returned, and the io_context's destructor would join its thread), nor does the
// destruction of the client.
TEST(RedisClientTest, stop_does_not_wait_for_a_hanging_host_name_resolution) {
  redis_server redis;
  struct gate {
    std::mutex mutex;
    std::condition_variable cv;
    bool open = false;
    std::atomic<int> entered{0};
    std::atomic<int> left{0};
  };
  auto g = std::make_shared<gate>();
  auto options = options_for(redis, 20ms, 200ms);
  options.connection.address.host = "redis.hangs.test";
  options.connection.connect_timeout = 30s;
  options.connection.resolve = [g](const std::string&, std::uint16_t) {
    ++g->entered;
    std::unique_lock lock(g->mutex);
    g->cv.wait_for(lock, 60s, [&] { return g->open; });
    ++g->left;
    return resolved_host{"127.0.0.1", {}};
  };
  auto client = std::make_unique<redis_client>(options, redis_client_handlers{});
  client->start();
  ASSERT_TRUE(eventually([&] { return g->entered.load() == 1; }));

  const auto started = clock::now();
  client->stop(started + 5s);
  const long long stopped_after = ms_since(started);
  client.reset();
  const long long destroyed_after = ms_since(started);
  EXPECT_LT(stopped_after, 1000) << "stop waited for the resolver";
  EXPECT_LT(destroyed_after, 1000) << "the destruction waited for the resolver";
  EXPECT_EQ(g->left.load(), 0);

  // Let the resolving thread end; its result goes nowhere (the io_context is gone).
  {
    std::lock_guard lock(g->mutex);
    g->open = true;
  }
  g->cv.notify_all();
  EXPECT_TRUE(eventually([&] { return g->left.load() == 1; }));
}

// Redis killed and started again on the same port: the client keeps trying with backoff
// and is connected again, and commands work on the new connection.
TEST(RedisClientTest, reconnects_after_redis_restarts) {
  redis_server redis;
  std::atomic<int> readies{0};
  std::atomic<int> closes{0};
  std::unique_ptr<redis_client> client;
  client = std::make_unique<redis_client>(
      options_for(redis, 10ms, 100ms),
      redis_client_handlers{.on_ready =
                                [&](const std::shared_ptr<redis_connection>& c) {
                                  c->command({"PING"}, [&, c](const redisReply* reply) {
                                    if (reply == nullptr || reply->type == REDIS_REPLY_ERROR)
                                      return;
                                    client->command_succeeded();
                                    client->mark_connected();
                                    ++readies;
                                  });
                                },
                            .on_closed = [&](const std::string&) { ++closes; },
                            .on_stopping = {}});
  client->start();
  ASSERT_TRUE(eventually([&] { return readies.load() == 1 && client->connected(); }));
  EXPECT_EQ(client->reconnects(), 0U);

  redis.kill();
  ASSERT_TRUE(eventually([&] { return closes.load() >= 1 && !client->connected(); }));
  // It keeps trying while Redis is down.
  ASSERT_TRUE(eventually([&] { return client->reconnects() >= 2; }));
  EXPECT_FALSE(client->connected());

  redis.restart();
  ASSERT_TRUE(eventually([&] { return readies.load() == 2 && client->connected(); }));

  std::promise<std::string> set;
  auto result = set.get_future();
  boost::asio::post(client->executor(), [&] {
    auto c = client->ready_connection();
    if (!c ||
        !c->command({"SET", "redis-client-test", "after restart"}, [&set](const redisReply* reply) {
          set.set_value(reply != nullptr && reply->str != nullptr
                            ? std::string(reply->str, reply->len)
                            : std::string("no reply"));
        })) {
      set.set_value("not sent");
    }
  });
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(result.get(), "OK");
  EXPECT_EQ(redis.command("GET", "redis-client-test"), "after restart");
  client->stop(clock::now() + 2s);
}

}  // namespace
}  // namespace analyzer::storage
