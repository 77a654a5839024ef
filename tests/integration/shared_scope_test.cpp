// WINDOW_SCOPE=shared behind a round-robin balancer (issue 8): one Redis, three service
// processes and nginx in front of them; a NAB series replayed through nginx by several
// concurrent clients.
//   (a) every z-score and flag equals, by seq, a sequential replay of the same commit
//       order through one instance on a fresh KEY_PREFIX (bit for bit: the same script);
//   (b) /analyze is the same on all three (except timestamp and storage);
//   (c) SIGKILL of one instance mid-run loses and doubles nothing: clients retry requests
//       that got no response (or the balancer's 502/503/504) with the same X-Request-Id,
//       which the script deduplicates.
// And the same replay in instance scope shows the divergence the shared scope removes.
#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <algorithm>
#include <atomic>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace analyzer::test {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const std::string kBinary = ANALYZER_BINARY;
// A NAB series vendored in the repo (tests/data/nab/README.md).
const std::string kDataset = std::string(ANALYZER_SOURCE_DIR) +
                             "/tests/data/nab/realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv";

struct sample {
  double timestamp;
  double cpu;
  double rps;
};

// The NAB series: cpu is the series' value, rps a deterministic function of it; the
// timestamp (index-based, exact) identifies the sample.
std::vector<sample> load_series(std::size_t limit) {
  std::ifstream in(kDataset);
  std::vector<sample> out;
  std::string line;
  std::getline(in, line);  // header
  while (out.size() < limit && std::getline(in, line)) {
    const auto comma = line.find(',');
    if (comma == std::string::npos) continue;
    const double value = std::stod(line.substr(comma + 1));
    const auto i = static_cast<double>(out.size());
    out.push_back({1397088240.0 + 300.0 * i, std::clamp(value, 0.0, 100.0),
                   1000.0 + value * 12.5 + static_cast<double>(out.size() % 13)});
  }
  return out;
}

std::string body_of(const std::vector<sample>& all, std::size_t from, std::size_t to) {
  json batch = json::array();
  for (std::size_t i = from; i < to; ++i) {
    batch.push_back({{"timestamp", all[i].timestamp}, {"cpu", all[i].cpu}, {"rps", all[i].rps}});
  }
  return batch.dump();
}

std::uint16_t wait_listening(child_process& p) {
  const auto line = p.wait_for_line("listening on", 30s);
  if (!line) return 0;
  const auto at = line->find("listening on ");
  const auto colon = line->find(':', at);
  const auto space = line->find(' ', colon);
  if (at == std::string::npos || colon == std::string::npos || space == std::string::npos) {
    return 0;
  }
  return static_cast<std::uint16_t>(std::stoi(line->substr(colon + 1, space - colon - 1)));
}

bool answers(std::uint16_t port, std::string_view path, unsigned status) {
  try {
    http_client client(port);
    return client.get(path).status == status;
  } catch (const std::exception&) {
    return false;
  }
}

struct instance {
  std::unique_ptr<child_process> process;
  std::uint16_t port = 0;
};

instance start_instance(const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::pair<std::string, std::string>> env = {
      {"PORT", "0"}, {"BIND_ADDR", "127.0.0.1"}, {"THREADS", "2"}, {"LOG_LEVEL", "info"}};
  env.insert(env.end(), extra.begin(), extra.end());
  instance out;
  out.process = std::make_unique<child_process>(kBinary, std::vector<std::string>{}, env);
  out.port = wait_listening(*out.process);
  return out;
}

// nginx (one process, master_process off) round-robin over `ports` on a free loopback port.
class balancer {
 public:
  explicit balancer(const std::vector<std::uint16_t>& ports) {
    dir_ = std::filesystem::temp_directory_path() /
           ("shared-scope-nginx-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    for (int attempt = 0; attempt < 5 && port_ == 0; ++attempt) {
      const std::uint16_t port = free_loopback_port();
      std::ofstream conf(dir_ / "nginx.conf");
      const std::string d = dir_.string();
      conf << "daemon off;\nmaster_process off;\npid " << d << "/nginx.pid;\nerror_log " << d
           << "/error.log warn;\nevents { worker_connections 1024; }\nhttp {\n"
           << "  access_log off;\n  client_body_temp_path " << d << "/body;\n  proxy_temp_path "
           << d << "/proxy;\n  fastcgi_temp_path " << d << "/fastcgi;\n  uwsgi_temp_path " << d
           << "/uwsgi;\n  scgi_temp_path " << d << "/scgi;\n  upstream analyzers {\n";
      for (auto p : ports) conf << "    server 127.0.0.1:" << p << ";\n";
      conf << "    keepalive 32;\n  }\n  server {\n    listen 127.0.0.1:" << port << ";\n"
           << "    location / {\n      proxy_pass http://analyzers;\n"
           << "      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n"
           << "      proxy_pass_request_headers on;\n      proxy_connect_timeout 2s;\n"
           << "      proxy_read_timeout 20s;\n    }\n  }\n}\n";
      conf.close();
      process_ = std::make_unique<child_process>(
          "/usr/sbin/nginx",
          std::vector<std::string>{"-p", d, "-e", d + "/error.log", "-c", d + "/nginx.conf"},
          std::vector<std::pair<std::string, std::string>>{});
      if (eventually([&] { return answers(port, "/health", 200); }, 10s)) {
        port_ = port;
      } else {
        process_.reset();
      }
    }
  }
  ~balancer() {
    process_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  balancer(const balancer&) = delete;
  balancer& operator=(const balancer&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  static inline std::atomic<int> counter_{0};
  std::filesystem::path dir_;
  std::unique_ptr<child_process> process_;
  std::uint16_t port_ = 0;
};

// One sample's analysis as a response reported it.
struct analysed {
  double timestamp = 0;
  std::array<double, 2> z{};
  std::array<bool, 2> anomaly{};
};

struct replay_result {
  std::map<std::uint64_t, analysed> by_seq;
  std::size_t requests = 0;
  std::size_t retries = 0;
  std::vector<std::string> errors;
  bool per_instance_seqs = false;  // instance scope: every instance numbers its own commits
};

void record(replay_result& out, std::mutex& mutex, const std::string& body) {
  const json reply = json::parse(body);
  std::lock_guard lock(mutex);
  for (const auto& r : reply.at("results")) {
    analysed a;
    a.timestamp = r.at("timestamp").get<double>();
    a.z = {r.at("cpu").at("z_score").get<double>(), r.at("rps").at("z_score").get<double>()};
    a.anomaly = {r.at("cpu").at("anomaly").get<bool>(), r.at("rps").at("anomaly").get<bool>()};
    const auto seq = r.at("seq").get<std::uint64_t>();
    auto [it, inserted] = out.by_seq.emplace(seq, a);
    if (!inserted && it->second.timestamp != a.timestamp && !out.per_instance_seqs) {
      out.errors.push_back("seq " + std::to_string(seq) + " reported for two samples");
    }
  }
}

// `clients` threads take consecutive batches (1..max_batch samples) from the series and
// POST them with analysis=true and a unique X-Request-Id; a request without a response
// (or with the balancer's 502/503/504) is retried with the same id. `on_progress` runs
// after each answered request with the number of samples answered so far.
replay_result replay(std::uint16_t port, const std::vector<sample>& series, int clients,
                     std::size_t max_batch, const std::string& id_prefix,
                     const std::function<void(std::size_t)>& on_progress = {}) {
  replay_result out;
  out.per_instance_seqs = id_prefix == "instance";
  std::mutex mutex;
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> answered{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937 rng(static_cast<unsigned>(c) * 7919U + 1U);
      std::optional<http_client> client;
      std::size_t number = 0;
      while (true) {
        const std::size_t n = 1 + rng() % max_batch;
        const std::size_t from = next.fetch_add(n);
        if (from >= series.size()) break;
        const std::size_t to = std::min(series.size(), from + n);
        const std::string body = body_of(series, from, to);
        const std::string id = id_prefix + "-" + std::to_string(c) + "-" + std::to_string(number++);
        bool done = false;
        for (int attempt = 0; attempt < 400 && !done; ++attempt) {
          try {
            if (!client) client.emplace(port);
            const auto r =
                client->post_json("/metrics?analysis=true", body, {{"X-Request-Id", id}});
            if (r.status == 202) {
              record(out, mutex, r.body);
              done = true;
            } else if (r.status == 502 || r.status == 503 || r.status == 504) {
              if (!r.keep_alive) client.reset();
            } else {
              std::lock_guard lock(mutex);
              out.errors.push_back("status " + std::to_string(r.status) + ": " + r.body);
              done = true;
            }
          } catch (const std::exception&) {
            client.reset();  // no response: retry on a new connection
          }
          if (!done) {
            std::lock_guard lock(mutex);
            ++out.retries;
          }
        }
        {
          std::lock_guard lock(mutex);
          ++out.requests;
          if (!done) out.errors.push_back("request " + id + " never answered");
        }
        const std::size_t total = answered.fetch_add(to - from) + (to - from);
        if (on_progress) on_progress(total);
      }
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

// Every seq 1..N present once, every sample reported under exactly one seq.
void expect_dense_and_complete(const replay_result& r, const std::vector<sample>& series) {
  for (const auto& e : r.errors) ADD_FAILURE() << e;
  ASSERT_EQ(r.by_seq.size(), series.size());
  EXPECT_EQ(r.by_seq.begin()->first, 1U);
  EXPECT_EQ(r.by_seq.rbegin()->first, series.size());
  std::set<double> seen;
  for (const auto& [seq, a] : r.by_seq) {
    EXPECT_TRUE(seen.insert(a.timestamp).second) << "sample committed twice, seq " << seq;
  }
  EXPECT_EQ(seen.size(), series.size());
}

// Replays the commit order of `r` through one instance, sequentially, and compares.
void expect_sequential_replay_identical(std::uint16_t port, const replay_result& r,
                                        const std::vector<sample>& series) {
  std::map<double, std::size_t> index;
  for (std::size_t i = 0; i < series.size(); ++i) index[series[i].timestamp] = i;
  std::vector<sample> ordered;
  for (const auto& [seq, a] : r.by_seq) ordered.push_back(series[index.at(a.timestamp)]);
  http_client client(port);
  std::size_t compared = 0;
  std::size_t scored = 0;
  for (std::size_t from = 0; from < ordered.size(); from += 64) {
    const std::size_t to = std::min(ordered.size(), from + 64);
    const auto reply = client.post_json("/metrics?analysis=true", body_of(ordered, from, to));
    ASSERT_EQ(reply.status, 202U) << reply.body;
    const json parsed = json::parse(reply.body);
    for (const auto& x : parsed.at("results")) {
      const auto seq = x.at("seq").get<std::uint64_t>();
      const analysed& want = r.by_seq.at(seq);
      ASSERT_EQ(x.at("timestamp").get<double>(), want.timestamp) << "seq " << seq;
      const std::array<double, 2> z{x.at("cpu").at("z_score").get<double>(),
                                    x.at("rps").at("z_score").get<double>()};
      const std::array<bool, 2> flag{x.at("cpu").at("anomaly").get<bool>(),
                                     x.at("rps").at("anomaly").get<bool>()};
      for (std::size_t m = 0; m < 2; ++m) {
        EXPECT_EQ(z[m], want.z[m]) << "seq " << seq << " metric " << m;  // bit for bit
        EXPECT_EQ(flag[m], want.anomaly[m]) << "seq " << seq << " metric " << m;
        scored += z[m] != 0.0 ? 1 : 0;
      }
      ++compared;
    }
  }
  EXPECT_EQ(compared, ordered.size());
  EXPECT_GT(scored, ordered.size());  // past the warmup, most values got a z
}

json analyze_without_volatile(std::uint16_t port) {
  http_client client(port);
  const auto r = client.get("/analyze");
  EXPECT_EQ(r.status, 200U) << r.body;
  json body = json::parse(r.body);
  body.erase("timestamp");
  body.erase("storage");
  return body;
}

std::vector<std::pair<std::string, std::string>> shared_env(const redis_server& redis,
                                                            const std::string& prefix) {
  return {{"WINDOW_SCOPE", "shared"}, {"REDIS_ADDR", redis.address()}, {"KEY_PREFIX", prefix}};
}

TEST(SharedScopeTest, three_instances_behind_a_balancer_analyse_one_stream) {
  const auto series = load_series(4032);
  ASSERT_GT(series.size(), 1000U) << kDataset;
  redis_server redis;
  std::vector<instance> instances;
  std::vector<std::uint16_t> ports;
  for (int i = 0; i < 3; ++i) {
    instances.push_back(start_instance(shared_env(redis, "balanced")));
    ASSERT_NE(instances.back().port, 0) << instances.back().process->output();
    ports.push_back(instances.back().port);
  }
  for (auto p : ports) ASSERT_TRUE(eventually([&] { return answers(p, "/ready", 200); }));
  for (auto p : ports) ASSERT_TRUE(eventually([&] { return answers(p, "/analyze", 200); }));
  balancer lb(ports);
  ASSERT_NE(lb.port(), 0);

  const replay_result r = replay(lb.port(), series, 4, 8, "balanced");
  expect_dense_and_complete(r, series);
  EXPECT_EQ(r.retries, 0U);

  // (b) the same /analyze on every instance, and it is the shared state.
  const json first = analyze_without_volatile(ports[0]);
  EXPECT_EQ(first.at("scope"), "shared");
  EXPECT_EQ(first.at("samples_total").get<std::size_t>(), series.size());
  EXPECT_EQ(first.at("metrics").at("cpu").at("data_points"), 50);
  for (std::size_t i = 1; i < ports.size(); ++i) {
    EXPECT_EQ(analyze_without_volatile(ports[i]), first) << "instance " << i;
  }

  // (a) the same commit order replayed sequentially through one instance on a fresh prefix.
  instance single = start_instance(shared_env(redis, "sequential"));
  ASSERT_NE(single.port, 0) << single.process->output();
  ASSERT_TRUE(eventually([&] { return answers(single.port, "/analyze", 200); }));
  expect_sequential_replay_identical(single.port, r, series);
  EXPECT_EQ(analyze_without_volatile(single.port), first);
}

TEST(SharedScopeTest, sigkill_of_one_instance_mid_run_loses_and_doubles_nothing) {
  const auto series = load_series(3000);
  ASSERT_GT(series.size(), 1000U) << kDataset;
  redis_server redis;
  std::vector<instance> instances;
  std::vector<std::uint16_t> ports;
  for (int i = 0; i < 3; ++i) {
    instances.push_back(start_instance(shared_env(redis, "killed")));
    ASSERT_NE(instances.back().port, 0) << instances.back().process->output();
    ports.push_back(instances.back().port);
  }
  for (auto p : ports) ASSERT_TRUE(eventually([&] { return answers(p, "/analyze", 200); }));
  balancer lb(ports);
  ASSERT_NE(lb.port(), 0);

  std::atomic<bool> killed{false};
  const pid_t victim = instances[1].process->pid();
  const replay_result r = replay(lb.port(), series, 6, 8, "killed", [&](std::size_t answered) {
    if (answered >= series.size() / 3 && !killed.exchange(true)) ::kill(victim, SIGKILL);
  });
  ASSERT_TRUE(killed.load());
  ASSERT_TRUE(instances[1].process->wait_exit(10s).has_value());
  expect_dense_and_complete(r, series);

  const json survivor = analyze_without_volatile(ports[0]);
  EXPECT_EQ(survivor.at("samples_total").get<std::size_t>(), series.size());
  EXPECT_EQ(analyze_without_volatile(ports[2]), survivor);

  instance single = start_instance(shared_env(redis, "killed-sequential"));
  ASSERT_NE(single.port, 0) << single.process->output();
  ASSERT_TRUE(eventually([&] { return answers(single.port, "/analyze", 200); }));
  expect_sequential_replay_identical(single.port, r, series);
  EXPECT_EQ(analyze_without_volatile(single.port), survivor);
  std::cout << "requests " << r.requests << ", retried attempts " << r.retries << "\n";
}

TEST(SharedScopeTest, instance_scope_behind_a_balancer_diverges) {
  const auto series = load_series(1500);
  ASSERT_GT(series.size(), 1000U) << kDataset;
  std::vector<instance> instances;
  std::vector<std::uint16_t> ports;
  for (int i = 0; i < 3; ++i) {
    instances.push_back(start_instance({{"WINDOW_SCOPE", "instance"}}));
    ASSERT_NE(instances.back().port, 0) << instances.back().process->output();
    ports.push_back(instances.back().port);
  }
  for (auto p : ports) ASSERT_TRUE(eventually([&] { return answers(p, "/ready", 200); }));
  balancer lb(ports);
  ASSERT_NE(lb.port(), 0);
  const replay_result r = replay(lb.port(), series, 4, 8, "instance");
  for (const auto& e : r.errors) ADD_FAILURE() << e;

  std::vector<json> bodies;
  std::size_t total = 0;
  for (auto p : ports) {
    bodies.push_back(analyze_without_volatile(p));
    total += bodies.back().at("samples_total").get<std::size_t>();
    EXPECT_LT(bodies.back().at("samples_total").get<std::size_t>(), series.size());
  }
  EXPECT_EQ(total, series.size());  // each saw a share of the stream
  EXPECT_NE(bodies[0], bodies[1]);
  EXPECT_NE(bodies[0], bodies[2]);
  EXPECT_NE(bodies[1], bodies[2]);
}

TEST(SharedScopeTest, shared_scope_without_redis_addr_exits_2_naming_it) {
  child_process p(kBinary, {}, {{"WINDOW_SCOPE", "shared"}, {"PORT", "0"}});
  EXPECT_EQ(p.wait_exit(30s), 2);
  EXPECT_NE(p.output().find("REDIS_ADDR"), std::string::npos) << p.output();
  EXPECT_NE(p.output().find("WINDOW_SCOPE"), std::string::npos) << p.output();
  child_process help(kBinary, {"--help"}, {});
  EXPECT_EQ(help.wait_exit(30s), 0);
  EXPECT_NE(help.output().find("(SHARED_MAX_IN_FLIGHT)"), std::string::npos);
}

TEST(SharedScopeTest, ingest_without_redis_gets_503_and_recovers_when_redis_returns) {
  redis_server redis;
  instance svc = start_instance(shared_env(redis, "outage"));
  ASSERT_NE(svc.port, 0) << svc.process->output();
  ASSERT_TRUE(eventually([&] { return answers(svc.port, "/analyze", 200); }));
  http_client client(svc.port);
  const std::string one = R"({"cpu": 10, "rps": 100})";
  ASSERT_EQ(client.post_json("/metrics", one).status, 202U);

  redis.kill();
  // Until the service has seen the connection close, a commit may still be written to the
  // dead socket: sent, so its outcome is unknown (504). Once it knows, it refuses (503).
  ASSERT_TRUE(eventually([&] {
    return client.get("/metrics").body.find("analyzer_shared_connected 0") != std::string::npos;
  }));
  const auto refused = client.post_json("/metrics", one, {{"X-Request-Id", "outage-1"}});
  EXPECT_EQ(refused.status, 503U) << refused.body;
  EXPECT_EQ(refused.header("retry-after"), "1");
  EXPECT_EQ(json::parse(refused.body).at("error"), "unavailable");
  EXPECT_EQ(client.get("/analyze").status, 503U);
  EXPECT_EQ(client.get("/ready").status, 200U);  // a shared dependency never unreadies
  const auto scrape = client.get("/metrics").body;
  EXPECT_NE(scrape.find("analyzer_shared_failures_total{reason=\"unavailable\"}"),
            std::string::npos);
  EXPECT_NE(scrape.find("analyzer_shared_connected 0"), std::string::npos) << scrape;

  redis.restart();  // empty again: no persistence in the test server
  ASSERT_TRUE(eventually([&] {
    try {
      http_client c(svc.port);
      return c.post_json("/metrics", one, {{"X-Request-Id", "outage-1"}}).status == 202;
    } catch (const std::exception&) {
      return false;
    }
  }));
  const auto head = client.request("HEAD", "/analyze");
  EXPECT_EQ(head.status, 200U);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(analyze_without_volatile(svc.port).at("samples_total"), 1);
  // The retry that committed is answered again without committing again.
  const auto again = client.post_json("/metrics", one, {{"X-Request-Id", "outage-1"}});
  EXPECT_EQ(again.status, 202U) << again.body;
  EXPECT_EQ(analyze_without_volatile(svc.port).at("samples_total"), 1)
      << "a retried id committed twice";
}

// The value of the series `selector` (name{labels}) in a scrape, if present.
std::optional<double> scraped(const std::string& scrape, const std::string& selector) {
  std::istringstream in(scrape);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(selector + " ", 0) == 0) return std::stod(line.substr(selector.size() + 1));
  }
  return std::nullopt;
}

TEST(SharedScopeTest, scrape_reports_the_shared_windows_and_the_connection_to_them) {
  redis_server redis;
  instance svc = start_instance(shared_env(redis, "gauges"));
  ASSERT_NE(svc.port, 0) << svc.process->output();
  ASSERT_TRUE(eventually([&] { return answers(svc.port, "/analyze", 200); }));
  http_client client(svc.port);
  const std::string batch =
      R"([{"cpu": 10.5, "rps": 100}, {"cpu": 11, "rps": 120}, {"cpu": 13.25, "rps": 90}])";
  ASSERT_EQ(client.post_json("/metrics", batch).status, 202U);

  const json analysis = analyze_without_volatile(svc.port);
  const auto scrape = client.get("/metrics");
  ASSERT_EQ(scrape.status, 200U);
  for (const std::string metric : {"cpu", "rps"}) {
    const auto& m = analysis.at("metrics").at(metric);
    const std::string labels = "{metric=\"" + metric + "\"}";
    EXPECT_EQ(scraped(scrape.body, "analyzer_rolling_average" + labels),
              m.at("rolling_average").get<double>())
        << metric;
    EXPECT_EQ(scraped(scrape.body, "analyzer_window_data_points" + labels), 3.0);
    EXPECT_EQ(scraped(scrape.body, "analyzer_last_value" + labels), m.at("last").get<double>());
  }
  EXPECT_EQ(scraped(scrape.body, "analyzer_commits_total"), 3.0);
  EXPECT_EQ(scraped(scrape.body, "analyzer_storage_connected{backend=\"redis\"}"), 1.0);
  EXPECT_FALSE(scraped(scrape.body, "analyzer_storage_connected{backend=\"memory\"}"));

  // Redis gone: the scrape is still answered, says so, and has no window gauges.
  redis.kill();
  ASSERT_TRUE(eventually([&] {
    const auto r = client.get("/metrics");
    return r.status == 200 &&
           scraped(r.body, "analyzer_storage_connected{backend=\"redis\"}") == 0.0;
  }));
  const auto down = client.get("/metrics");
  EXPECT_FALSE(scraped(down.body, "analyzer_rolling_average{metric=\"cpu\"}")) << down.body;
  EXPECT_TRUE(scraped(down.body, "analyzer_shared_connected"));
}

// A demoted master (the old one after a failover) answers READONLY: nothing is committed
// (503), and the connection is dropped so that the reconnect can reach the new master.
TEST(SharedScopeTest, readonly_replies_are_503_and_make_the_shared_windows_reconnect) {
  redis_server redis;
  instance svc = start_instance(shared_env(redis, "readonly"));
  ASSERT_NE(svc.port, 0) << svc.process->output();
  ASSERT_TRUE(eventually([&] { return answers(svc.port, "/analyze", 200); }));
  http_client client(svc.port);
  const std::string one = R"({"cpu": 10, "rps": 100})";
  ASSERT_EQ(client.post_json("/metrics", one).status, 202U);
  const std::string reconnects = "analyzer_storage_reconnects_total{backend=\"redis\"}";
  ASSERT_EQ(scraped(client.get("/metrics").body, reconnects), 0.0);

  redis.command("REPLICAOF", "127.0.0.1", std::to_string(free_loopback_port()));
  const auto refused = client.post_json("/metrics", one);
  EXPECT_EQ(refused.status, 503U) << refused.body;
  EXPECT_NE(refused.body.find("READONLY"), std::string::npos) << refused.body;
  EXPECT_TRUE(eventually([&] {
    const auto r = client.get("/metrics");
    return r.status == 200 && scraped(r.body, reconnects).value_or(0) >= 1.0;
  })) << "no reconnect after a READONLY reply";

  redis.command("REPLICAOF", "NO", "ONE");
  ASSERT_TRUE(eventually([&] { return client.post_json("/metrics", one).status == 202; }));
  EXPECT_EQ(analyze_without_volatile(svc.port).at("samples_total"), 2);
}

TEST(SharedScopeTest, request_id_reused_with_another_body_gets_409_and_commits_nothing) {
  redis_server redis;
  instance svc = start_instance(shared_env(redis, "conflict"));
  ASSERT_NE(svc.port, 0) << svc.process->output();
  ASSERT_TRUE(eventually([&] { return answers(svc.port, "/analyze", 200); }));
  http_client client(svc.port);
  const std::string three =
      R"([{"cpu": 10, "rps": 100}, {"cpu": 11, "rps": 101}, {"cpu": 12, "rps": 102}])";
  const std::string two = R"([{"cpu": 10, "rps": 100}, {"cpu": 11, "rps": 101}])";
  const auto first =
      client.post_json("/metrics?analysis=true", three, {{"X-Request-Id", "batch-7"}});
  ASSERT_EQ(first.status, 202U) << first.body;
  const auto reused = client.post_json("/metrics", two, {{"X-Request-Id", "batch-7"}});
  EXPECT_EQ(reused.status, 409U) << reused.body;
  EXPECT_EQ(json::parse(reused.body).at("error"), "request_id_conflict");
  EXPECT_NE(reused.body.find("batch-7"), std::string::npos) << reused.body;
  EXPECT_EQ(analyze_without_volatile(svc.port).at("samples_total"), 3);
  const auto retried =
      client.post_json("/metrics?analysis=true", three, {{"X-Request-Id", "batch-7"}});
  EXPECT_EQ(retried.status, 202U);
  EXPECT_EQ(retried.body, first.body) << "a retry gets the first answer";
  EXPECT_EQ(analyze_without_volatile(svc.port).at("samples_total"), 3);
  const auto scrape = client.get("/metrics").body;
  EXPECT_NE(scrape.find("analyzer_ingest_rejected_total{reason=\"request_id_conflict\"} 1"),
            std::string::npos)
      << scrape;
}

// Redis frozen (SIGSTOP) past the command timeout and the deadline while clients post, half of them
// with request ids that they retry on 503/504 until they get a 202. Every answer arrives within the
// request deadline; every id commits exactly once; a request without an id that got 504 may or may
// not have committed, one that got 503 did not.
TEST(SharedScopeTest, redis_stall_answers_within_the_deadline_and_retried_ids_commit_once) {
  redis_server redis;
  auto env = shared_env(redis, "stall");
  env.emplace_back("REDIS_COMMAND_TIMEOUT_MS", "300");
  env.emplace_back("REDIS_CONNECT_TIMEOUT_MS", "300");
  env.emplace_back("SHARED_REQUEST_DEADLINE_MS", "1500");
  instance svc = start_instance(env);
  ASSERT_NE(svc.port, 0) << svc.process->output();
  ASSERT_TRUE(eventually([&] { return answers(svc.port, "/analyze", 200); }));

  constexpr int kClients = 16;
  constexpr auto kDeadline = 1500ms;
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::size_t id_requests = 0;  // logical requests with an id, each acknowledged in the end
  std::size_t plain_202 = 0;
  std::size_t plain_504 = 0;
  std::size_t plain_503 = 0;
  std::size_t answers_504 = 0;
  std::map<std::uint64_t, std::string> seq_owner;  // seq → the id that got it
  std::vector<std::string> errors;
  auto slowest = std::chrono::milliseconds(0);
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      const bool with_id = c % 2 == 0;
      std::optional<http_client> client;
      for (int n = 0; !stop.load() && n < 400; ++n) {
        const std::string id = "stall-" + std::to_string(c) + "-" + std::to_string(n);
        const std::string body =
            R"({"cpu": )" + std::to_string(10 + c) + R"(, "rps": )" + std::to_string(n) + "}";
        // An id's request is retried until it gets its 202 (bounded: 10 s).
        const auto give_up_at = std::chrono::steady_clock::now() + 10s;
        bool retry = false;
        for (bool acknowledged = false; !acknowledged;) {
          if (retry) std::this_thread::sleep_for(20ms);  // pacing of the client's retries
          retry = true;
          if (std::chrono::steady_clock::now() > give_up_at) {
            std::lock_guard lock(mutex);
            errors.push_back("no 202 within 10 s for " + id);
            break;
          }
          http_reply r;
          const auto started = std::chrono::steady_clock::now();
          try {
            if (!client) client.emplace(svc.port);
            r = with_id ? client->post_json("/metrics?analysis=true", body, {{"X-Request-Id", id}})
                        : client->post_json("/metrics?analysis=true", body);
          } catch (const std::exception& e) {
            client.reset();
            std::lock_guard lock(mutex);
            errors.push_back(std::string("no answer: ") + e.what());
            break;
          }
          const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - started);
          std::lock_guard lock(mutex);
          slowest = std::max(slowest, took);
          if (r.status == 504) ++answers_504;
          if (!with_id) {
            if (r.status == 202)
              ++plain_202;
            else if (r.status == 504)
              ++plain_504;
            else if (r.status == 503)
              ++plain_503;
            else
              errors.push_back("status " + std::to_string(r.status) + ": " + r.body);
            break;
          }
          if (r.status == 202) {
            acknowledged = true;
            ++id_requests;
            const auto seq = json::parse(r.body).at("results").at(0).at("seq").get<std::uint64_t>();
            const auto [it, fresh] = seq_owner.emplace(seq, id);
            if (!fresh && it->second != id) {
              errors.push_back("seq " + std::to_string(seq) + " answered to " + it->second +
                               " and " + id);
            }
            break;
          }
          if (r.status != 503 && r.status != 504) {
            errors.push_back("status " + std::to_string(r.status) + ": " + r.body);
            break;
          }
          if (!r.keep_alive) client.reset();
        }
        if (!with_id) std::this_thread::sleep_for(5ms);  // pacing, not waiting for an outcome
      }
    });
  }
  // Some traffic before, during and after a stall of 2 s: several command timeouts, and
  // longer than the deadline.
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return id_requests > 20;
  }));
  ASSERT_EQ(::kill(redis.pid(), SIGSTOP), 0);
  std::this_thread::sleep_for(2000ms);  // the fault's duration
  ASSERT_EQ(::kill(redis.pid(), SIGCONT), 0);
  const std::size_t after_stall = [&] {
    std::lock_guard lock(mutex);
    return id_requests;
  }();
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return id_requests > after_stall + 20;
  })) << "no progress after the stall";
  stop.store(true);
  for (auto& t : threads) t.join();

  for (const auto& e : errors) ADD_FAILURE() << e;
  std::cout << "[stall] id requests " << id_requests << ", without id: 202 " << plain_202
            << ", 503 " << plain_503 << ", 504 " << plain_504 << "; 504 answers " << answers_504
            << ", slowest answer " << slowest.count() << " ms\n";
  EXPECT_LT(slowest, kDeadline + 500ms) << "an answer took longer than the deadline";
  EXPECT_GT(answers_504, 0U) << "the stall produced no 504: the test did not reach its case";
  EXPECT_EQ(seq_owner.size(), id_requests) << "an id committed more than once";
  const auto total = analyze_without_volatile(svc.port).at("samples_total").get<std::size_t>();
  EXPECT_GE(total, id_requests + plain_202);
  EXPECT_LE(total, id_requests + plain_202 + plain_504);
}

}  // namespace
}  // namespace analyzer::test
