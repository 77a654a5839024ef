// The Redis store when Redis misbehaves: killed mid-ingest, down with a full queue,
// accepting and never answering, stalled by DEBUG SLEEP, refusing our password, too slow
// for the startup restore, and dropping our connection over and over. Ingest never waits
// on Redis, and nothing queued is lost once Redis is back.
#include "support/http_client.hpp"
#include "support/persisted_state.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/service_probe.hpp"
#include "support/test_service.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace analyzer::test {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

const std::string kBinary = ANALYZER_BINARY;

std::string sample(std::size_t i) {
  return json{{"cpu", 40.0 + static_cast<double>(i % 10)},
              {"rps", 1000.0 + static_cast<double>(i % 7)}}
      .dump();
}

std::uint64_t samples_total(http_client& client) {
  return analyze(client).at("samples_total").get<std::uint64_t>();
}

config::config fault_config(const std::string& redis_addr, const std::string& instance) {
  auto cfg = test_config();
  cfg.redis_addr = redis_addr;
  cfg.instance_id = instance;
  cfg.history_size = 100000;  // keep every sample: the tests look for each seq
  cfg.redis_restore_timeout = 5000ms;
  cfg.shutdown_timeout = 5000ms;
  return cfg;
}

// The seqs of every persisted record, in order (a duplicate or a gap shows).
std::vector<std::uint64_t> history_seqs(redis_server& redis, const config::config& cfg) {
  return read_persisted(redis, cfg.key_prefix, cfg.instance_id).seqs();
}

// Waits until every committed sample up to `total` is written: queue empty, hash at
// `total`.
bool wait_drained(test_service& svc, redis_server& redis, std::uint64_t total,
                  std::chrono::milliseconds timeout = 15s) {
  return eventually(
      [&] {
        const auto st = svc.store->status();
        if (!st.connected || st.pending_writes != 0) return false;
        return read_persisted(redis, svc.cfg.key_prefix, svc.cfg.instance_id).seq() == total;
      },
      timeout);
}

// True when `seqs` is every number from its first to `last`, each once, in order.
::testing::AssertionResult dense_up_to(const std::vector<std::uint64_t>& seqs, std::uint64_t last) {
  if (seqs.empty()) return ::testing::AssertionFailure() << "no history";
  if (seqs.back() != last) {
    return ::testing::AssertionFailure() << "newest seq " << seqs.back() << ", want " << last;
  }
  for (std::size_t i = 1; i < seqs.size(); ++i) {
    if (seqs[i] != seqs[i - 1] + 1) {
      return ::testing::AssertionFailure() << "seq " << seqs[i] << " follows " << seqs[i - 1]
                                           << " (" << seqs.size() << " records)";
    }
  }
  return ::testing::AssertionSuccess();
}

// Posts single samples on its own connection until stopped, a couple of milliseconds
// apart, counting answers other than 202 and the slowest answer.
class poster {
 public:
  explicit poster(std::uint16_t port) : thread_([this, port] { run(port); }) {}
  ~poster() { stop(); }
  poster(const poster&) = delete;
  poster& operator=(const poster&) = delete;

  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] std::size_t posted() const { return posted_.load(); }
  [[nodiscard]] std::size_t failures() const { return failures_.load(); }
  [[nodiscard]] std::chrono::milliseconds slowest() const {
    return std::chrono::milliseconds(slowest_ms_.load());
  }

 private:
  void run(std::uint16_t port) {
    try {
      http_client client(port);
      for (std::size_t i = 0; !stop_.load(); ++i) {
        const auto started = clock_type::now();
        const auto r = client.post_json("/metrics", sample(i));
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - started);
        slowest_ms_.store(std::max(slowest_ms_.load(), static_cast<long long>(ms.count())));
        if (r.status != 202) failures_.fetch_add(1);
        posted_.fetch_add(1);
        std::this_thread::sleep_for(2ms);  // pacing, not waiting for an outcome
      }
    } catch (const std::exception&) {
      failures_.fetch_add(1);
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> posted_{0};
  std::atomic<std::size_t> failures_{0};
  std::atomic<long long> slowest_ms_{0};
  std::thread thread_;
};

// One POST that must be answered 202 within a second whatever Redis does.
void post_quickly(http_client& client, std::size_t i) {
  const auto started = clock_type::now();
  const auto r = client.post_json("/metrics", sample(i));
  const auto elapsed = clock_type::now() - started;
  EXPECT_EQ(r.status, 202U) << r.body;
  EXPECT_LT(elapsed, 1s) << "POST stalled behind Redis";
}

TEST(RedisFaultTest, killed_redis_degrades_then_drains_without_losing_samples) {
  redis_server redis;
  const auto cfg = fault_config(redis.address(), "killed");
  test_service svc(cfg);
  http_client client(svc.port());
  poster steady(svc.port());

  ASSERT_TRUE(eventually([&] { return svc.store->status().written_writes >= 20; }));
  redis.kill();
  // Every seq above this was committed after Redis (and what it held) was gone.
  const std::uint64_t committed_at_kill = samples_total(client);

  ASSERT_TRUE(eventually([&] { return analyze(client).at("storage").at("connected") == false; }))
      << "/analyze still says connected after Redis was killed";
  const std::uint64_t pending_then = svc.store->status().pending_writes;
  ASSERT_TRUE(eventually([&] { return svc.store->status().pending_writes >= pending_then + 30; }))
      << "the queue does not grow while Redis is down";
  EXPECT_EQ(metric_value(client, "analyzer_storage_connected"), 0.0);
  EXPECT_GE(metric_value(client, "analyzer_storage_pending_writes").value_or(0),
            static_cast<double>(pending_then + 30));
  EXPECT_EQ(analyze(client).at("storage").at("dropped_writes"), 0);

  redis.restart();
  ASSERT_TRUE(eventually([&] { return svc.store->status().connected; }, 15s))
      << "no reconnect after Redis came back";
  steady.stop();
  EXPECT_EQ(steady.failures(), 0U) << "ingest failed while Redis was down";
  EXPECT_GT(steady.posted(), 30U);

  const std::uint64_t total = samples_total(client);
  ASSERT_TRUE(wait_drained(svc, redis, total)) << svc.store->status().pending_writes;
  const auto seqs = history_seqs(redis, cfg);
  ASSERT_TRUE(dense_up_to(seqs, total));
  EXPECT_LE(seqs.front(), committed_at_kill + 1) << "samples posted during the outage are lost";
  // The restarted Redis (no persistence) lost what it held: the store said so and went on.
  EXPECT_GE(metric_value(client, "analyzer_storage_redis_data_lost_total").value_or(0), 1.0);
  EXPECT_EQ(analyze(client).at("storage").at("connected"), true);
  EXPECT_GE(svc.store->status().reconnects, 1U);
  EXPECT_GE(metric_value(client, "analyzer_storage_reconnects_total").value_or(0), 1.0);
}

TEST(RedisFaultTest, full_queue_drops_and_counts_the_oldest_samples) {
  redis_server redis;
  auto cfg = fault_config(redis.address(), "queue");
  cfg.redis_queue_limit = 50;
  test_service svc(cfg);
  http_client client(svc.port());
  ASSERT_TRUE(eventually([&] { return svc.store->status().connected; }));

  redis.kill();
  // Nothing is in flight once the store has seen the connection go: every sample posted
  // from here on is queued or dropped, so the counts are exact.
  ASSERT_TRUE(eventually([&] { return !svc.store->status().connected; }));
  for (std::size_t i = 0; i < 200; ++i) {
    const auto r = client.post_json("/metrics", sample(i));
    ASSERT_EQ(r.status, 202U) << r.body;
  }
  auto st = svc.store->status();
  EXPECT_EQ(st.dropped_writes, 150U);
  EXPECT_EQ(st.pending_writes, 50U);
  const json storage = analyze(client).at("storage");
  EXPECT_EQ(storage.at("dropped_writes"), 150);
  EXPECT_EQ(storage.at("pending_writes"), 50);
  EXPECT_EQ(metric_value(client, "analyzer_storage_dropped_writes_total"), 150.0);
  EXPECT_EQ(metric_value(client, "analyzer_storage_pending_writes"), 50.0);

  redis.restart();
  ASSERT_TRUE(wait_drained(svc, redis, 200)) << svc.store->status().pending_writes;
  // The newest 50 survived (the store drops the oldest).
  const auto seqs = history_seqs(redis, cfg);
  EXPECT_EQ(seqs.size(), 50U);
  EXPECT_TRUE(dense_up_to(seqs, 200));
  st = svc.store->status();
  EXPECT_EQ(st.dropped_writes, 150U);
  EXPECT_EQ(st.written_writes, 50U);
}

TEST(RedisFaultTest, silent_server_never_stalls_ingest) {
  silent_listener silent;
  auto cfg = fault_config(silent.address(), "silent");
  cfg.redis_restore_policy = "start-empty";  // the restore cannot succeed
  cfg.redis_connect_timeout = 300ms;
  cfg.redis_command_timeout = 300ms;
  cfg.redis_restore_timeout = 500ms;
  cfg.shutdown_timeout = 1000ms;
  test_service svc(cfg);
  http_client client(svc.port());
  EXPECT_EQ(client.get("/ready").status, 200U);

  for (std::size_t i = 0; i < 20; ++i) post_quickly(client, i);
  // The store keeps trying: new connections arrive at the listener, none becomes usable.
  ASSERT_TRUE(eventually([&] {
    post_quickly(client, 100);
    return silent.accepted() >= 2 && analyze(client).at("storage").at("connected") == false;
  })) << "connections accepted "
      << silent.accepted();
  // ... and says so in its counters.
  EXPECT_TRUE(eventually(
      [&] {
        const auto st = svc.store->status();
        return st.reconnects >= 1 || st.failed_writes > 0;
      },
      3s))
      << "after " << silent.accepted() << " connection attempts: reconnects "
      << svc.store->status().reconnects << ", failed_writes " << svc.store->status().failed_writes;
  const auto st = svc.store->status();
  EXPECT_FALSE(st.connected);
  EXPECT_EQ(st.written_writes, 0U);
  EXPECT_GT(st.pending_writes, 0U);
  EXPECT_EQ(client.get("/health").status, 200U);

  // The flush cannot succeed: the shutdown gives up after its timeout.
  const auto started = clock_type::now();
  EXPECT_EQ(svc.stop(), 0);
  EXPECT_LT(clock_type::now() - started, cfg.shutdown_timeout + 2s);
}

TEST(RedisFaultTest, command_timeout_reconnects_and_data_still_arrive) {
  redis_server redis;
  auto cfg = fault_config(redis.address(), "sleepy");
  cfg.redis_connect_timeout = 300ms;
  cfg.redis_command_timeout = 300ms;
  test_service svc(cfg);
  http_client client(svc.port());
  for (std::size_t i = 0; i < 10; ++i) post_quickly(client, i);
  ASSERT_TRUE(wait_drained(svc, redis, 10));
  const auto reconnects_before = svc.store->status().reconnects;

  std::thread sleeper([&redis] { redis.command("DEBUG", "SLEEP", "2"); });
  std::size_t i = 10;
  const bool reconnected = eventually([&] {
    post_quickly(client, i++);  // keeps a write outstanding while Redis sleeps
    return svc.store->status().reconnects > reconnects_before;
  });
  sleeper.join();
  ASSERT_TRUE(reconnected) << "no reconnect after a command timed out";

  for (std::size_t k = 0; k < 5; ++k) post_quickly(client, i++);
  const std::uint64_t total = samples_total(client);
  ASSERT_TRUE(wait_drained(svc, redis, total)) << svc.store->status().pending_writes;
  EXPECT_TRUE(dense_up_to(history_seqs(redis, cfg), total));
  EXPECT_EQ(history_seqs(redis, cfg).size(), total);
}

// A failover seen from the old master: it is demoted (REPLICAOF a master that is not
// there) and answers every write READONLY. The store drops the connection on that reply
// (a reconnect is how it would reach the new master's address), keeps the samples queued
// and writes them, in order and once, when the node takes writes again.
TEST(RedisFaultTest, readonly_replies_make_the_store_reconnect_and_nothing_is_lost) {
  redis_server redis;
  auto cfg = fault_config(redis.address(), "demoted");
  cfg.log_level = "error";
  test_service svc(cfg);
  http_client client(svc.port());
  for (std::size_t i = 0; i < 10; ++i) post_quickly(client, i);
  ASSERT_TRUE(wait_drained(svc, redis, 10));
  const auto reconnects_before = svc.store->status().reconnects;

  redis.command("REPLICAOF", "127.0.0.1", std::to_string(free_loopback_port()));
  std::size_t i = 10;
  ASSERT_TRUE(eventually([&] {
    post_quickly(client, i++);
    return svc.store->status().reconnects >= reconnects_before + 2;
  })) << "no reconnect after READONLY replies";
  EXPECT_GT(svc.store->status().failed_writes, 0U);
  EXPECT_GT(svc.store->status().pending_writes, 0U);

  redis.command("REPLICAOF", "NO", "ONE");
  for (std::size_t k = 0; k < 5; ++k) post_quickly(client, i++);
  const std::uint64_t total = samples_total(client);
  ASSERT_TRUE(wait_drained(svc, redis, total)) << svc.store->status().pending_writes;
  const auto seqs = history_seqs(redis, cfg);
  EXPECT_TRUE(dense_up_to(seqs, total));
  EXPECT_EQ(seqs.size(), total);
  EXPECT_EQ(seqs.front(), 1U);
  EXPECT_EQ(svc.store->status().dropped_writes, 0U);
}

TEST(RedisFaultTest, wrong_password_keeps_serving_and_logs_the_auth_error) {
  redis_server_options options;
  options.password = "right";
  redis_server redis(options);
  {
    auto cfg = fault_config(redis.address(), "wrongpw");
    cfg.redis_password = "wrong";
    cfg.redis_restore_policy = "start-empty";  // the restore cannot succeed
    cfg.redis_restore_timeout = 1000ms;
    cfg.shutdown_timeout = 1000ms;
    test_service svc(cfg);
    http_client client(svc.port());
    EXPECT_EQ(client.get("/ready").status, 200U);
    EXPECT_EQ(client.post_json("/metrics", sample(0)).status, 202U);
    EXPECT_EQ(client.get("/health").status, 200U);
    EXPECT_EQ(analyze(client).at("storage").at("connected"), false);
    EXPECT_FALSE(svc.store->status().connected);
    EXPECT_THAT(redis.keys("*"), ::testing::IsEmpty());
  }

  // The log line, from the real binary's stderr.
  const std::uint16_t port = free_loopback_port();
  child_process service(kBinary, {},
                        {{"BIND_ADDR", "127.0.0.1"},
                         {"PORT", std::to_string(port)},
                         {"THREADS", "2"},
                         {"REDIS_ADDR", redis.address()},
                         {"REDIS_PASSWORD", "wrong"},
                         {"INSTANCE_ID", "wrongpw-binary"},
                         {"REDIS_RESTORE_POLICY", "start-empty"},
                         {"REDIS_RESTORE_TIMEOUT_MS", "1000"},
                         {"SHUTDOWN_TIMEOUT_MS", "1000"},
                         {"LOG_LEVEL", "info"}});
  std::optional<std::string> auth_error;
  const auto deadline = clock_type::now() + 10s;
  while (!auth_error && clock_type::now() < deadline) {
    const auto line = service.wait_for_line(
        "AUTH",
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()));
    if (!line) break;
    if (line->find("error") != std::string::npos) auth_error = line;
  }
  EXPECT_TRUE(auth_error) << "no error line mentioning AUTH in:\n" << service.output();

  std::unique_ptr<http_client> client;
  ASSERT_TRUE(eventually([&] {
    try {
      client = std::make_unique<http_client>(port);
      return client->get("/ready").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  })) << service.output();
  EXPECT_EQ(client->post_json("/metrics", sample(0)).status, 202U);
  EXPECT_EQ(client->get("/health").status, 200U);
  EXPECT_EQ(analyze(*client).at("storage").at("connected"), false);
  client.reset();
  service.signal(SIGTERM);
  EXPECT_EQ(service.wait_exit(10s), 0) << service.output();
}

TEST(RedisFaultTest, failed_restore_keeps_the_service_unready_and_ingest_refused_until_stopped) {
  silent_listener silent;
  const std::uint16_t port = free_loopback_port();
  child_process service(kBinary, {},
                        {{"BIND_ADDR", "127.0.0.1"},
                         {"PORT", std::to_string(port)},
                         {"THREADS", "2"},
                         {"REDIS_ADDR", silent.address()},
                         {"INSTANCE_ID", "restore-wait"},
                         {"REDIS_RESTORE_TIMEOUT_MS", "200"},
                         {"REDIS_CONNECT_TIMEOUT_MS", "150"},
                         {"REDIS_COMMAND_TIMEOUT_MS", "150"},
                         {"SHUTDOWN_DELAY_MS", "300"},
                         {"SHUTDOWN_TIMEOUT_MS", "1000"},
                         {"LOG_LEVEL", "info"}});
  std::unique_ptr<http_client> client;
  ASSERT_TRUE(eventually([&] {
    try {
      client = std::make_unique<http_client>(port);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  })) << service.output();
  // Several attempts fail (each 200 ms): the service neither starts empty nor turns ready.
  ASSERT_TRUE(service.wait_for_line("restore: attempt 1 failed", 10s)) << service.output();
  ASSERT_TRUE(eventually([&] {
    return metric_value(*client, "analyzer_storage_restore_attempts_total").value_or(0) >= 3;
  })) << service.output();
  EXPECT_EQ(client->get("/ready").status, 503U);
  const auto refused = client->post_json("/metrics", sample(0));
  EXPECT_EQ(refused.status, 503U) << refused.body;
  EXPECT_FALSE(refused.header("retry-after").empty());
  EXPECT_EQ(client->get("/health").status, 200U);
  EXPECT_EQ(service.output().find("starting empty"), std::string::npos) << service.output();

  // A shutdown during the restore: the phase moves to stopping, ingest stays refused.
  service.signal(SIGTERM);
  ASSERT_TRUE(service.wait_for_line("received signal", 5s)) << service.output();
  const auto during_stop = client->post_json("/metrics", sample(1));
  EXPECT_EQ(during_stop.status, 503U) << during_stop.body;
  EXPECT_EQ(analyze(*client).at("samples_total"), 0);
  client.reset();
  EXPECT_EQ(service.wait_exit(10s), 0) << service.output();
  EXPECT_THAT(service.output(), HasSubstr("restore: abandoned"));
}

TEST(RedisFaultTest, start_empty_policy_starts_under_a_new_generation_after_a_failed_restore) {
  redis_server redis;
  auto cfg = fault_config(redis.address(), "generations");
  {
    test_service first(cfg);
    http_client client(first.port());
    for (std::size_t i = 0; i < 5; ++i) post_quickly(client, i);
    ASSERT_TRUE(wait_drained(first, redis, 5));
  }
  const auto before = read_persisted(redis, cfg.key_prefix, cfg.instance_id);
  ASSERT_EQ(before.generation, "1");
  ASSERT_EQ(before.seq(), 5U);

  // Redis "loading" for longer than the restore timeout: the first attempt fails.
  silent_listener silent;
  auto unreachable = cfg;
  unreachable.redis_addr = silent.address();
  unreachable.redis_restore_policy = "start-empty";
  unreachable.redis_restore_timeout = 300ms;
  unreachable.redis_connect_timeout = 200ms;
  unreachable.shutdown_timeout = 500ms;
  {
    test_service second(unreachable);
    http_client client(second.port());
    EXPECT_EQ(client.get("/ready").status, 200U);
    EXPECT_EQ(analyze(client).at("samples_total"), 0);
  }

  // Back on the real Redis with start-empty: generation 1 restores as it was; after a
  // failed attempt a new generation starts at seq 1 and leaves generation 1 untouched.
  auto fresh = cfg;
  fresh.redis_restore_policy = "start-empty";
  {
    test_service third(fresh);
    http_client client(third.port());
    EXPECT_EQ(analyze(client).at("samples_total"), 5) << "a working Redis is restored";
  }
  const auto after = read_persisted(redis, cfg.key_prefix, cfg.instance_id);
  EXPECT_EQ(after.generation, "1");
  EXPECT_EQ(after.records, before.records);
  EXPECT_EQ(after.state, before.state);
}

TEST(RedisFaultTest, ingest_is_refused_while_the_restore_runs) {
  silent_listener silent;
  const std::uint16_t port = free_loopback_port();
  child_process service(kBinary, {},
                        {{"BIND_ADDR", "127.0.0.1"},
                         {"PORT", std::to_string(port)},
                         {"THREADS", "2"},
                         {"REDIS_ADDR", silent.address()},
                         {"INSTANCE_ID", "restoring"},
                         {"REDIS_RESTORE_POLICY", "start-empty"},
                         {"REDIS_RESTORE_TIMEOUT_MS", "3000"},
                         {"REDIS_CONNECT_TIMEOUT_MS", "300"},
                         {"REDIS_COMMAND_TIMEOUT_MS", "300"},
                         {"SHUTDOWN_TIMEOUT_MS", "1000"},
                         {"LOG_LEVEL", "info"}});
  std::unique_ptr<http_client> client;
  ASSERT_TRUE(eventually([&] {
    try {
      client = std::make_unique<http_client>(port);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  })) << service.output();

  auto ready = client->get("/ready");
  EXPECT_EQ(ready.status, 503U) << "ready before the restore finished: " << ready.body;
  const auto refused = client->post_json("/metrics", sample(0));
  EXPECT_EQ(refused.status, 503U) << refused.body;
  EXPECT_FALSE(refused.header("retry-after").empty());
  EXPECT_EQ(client->get("/health").status, 200U);

  ASSERT_TRUE(eventually([&] { return client->get("/ready").status == 200; }, 10s))
      << service.output();
  EXPECT_EQ(client->post_json("/metrics", sample(1)).status, 202U);
  EXPECT_EQ(analyze(*client).at("samples_total"), 1);
  client.reset();
  service.signal(SIGTERM);
  EXPECT_EQ(service.wait_exit(10s), 0) << service.output();
}

TEST(RedisFaultTest, connection_churn_loses_nothing) {
  redis_server redis;
  auto cfg = fault_config(redis.address(), "churn");
  cfg.log_level = "error";  // not a warning per reconnect
  test_service svc(cfg);
  http_client client(svc.port());
  ASSERT_TRUE(eventually([&] { return svc.store->status().connected; }));

  constexpr std::uint64_t kKills = 100;
  std::size_t i = 0;
  std::uint64_t kills = 0;
  const auto deadline = clock_type::now() + 60s;
  while (kills < kKills && clock_type::now() < deadline) {
    // Some samples in the queue or in flight when the connection goes.
    for (int k = 0; k < 3; ++k) post_quickly(client, i++);
    const auto before = svc.store->status().reconnects;
    // 0 when the store is between connections: then there is nothing to kill yet.
    if (redis.command("CLIENT", "KILL", "TYPE", "normal") == "0") continue;
    ++kills;
    ASSERT_TRUE(eventually(
        [&] {
          const auto st = svc.store->status();
          return st.reconnects > before && st.connected;
        },
        5s))
        << "no reconnect after kill " << kills;
  }
  ASSERT_EQ(kills, kKills);
  EXPECT_GE(svc.store->status().reconnects, kKills);

  const std::uint64_t total = samples_total(client);
  ASSERT_TRUE(wait_drained(svc, redis, total)) << svc.store->status().pending_writes;
  const auto seqs = history_seqs(redis, cfg);
  EXPECT_EQ(seqs.size(), total);
  EXPECT_TRUE(dense_up_to(seqs, total));
  EXPECT_EQ(svc.store->status().dropped_writes, 0U);
}

}  // namespace
}  // namespace analyzer::test
