// The real binary under sustained load when its life ends or its Redis fails:
// - SIGTERM: it exits 0 within SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS, every response it
//   started is complete, and a restart on the same Redis restores exactly the samples that
//   got a 202 (none lost, none applied without an acknowledgement);
// - SIGKILL: a restart loses at most the samples Redis had not confirmed, which the queue
//   bound (REDIS_QUEUE_LIMIT) caps, and restores a window consistent with what was written;
// - Redis stopped and restarted, then paused (SIGSTOP) under load: ingest keeps answering
//   202, /ready stays 200, the metrics say disconnected with a growing queue, and once
//   Redis is back the queue drains and every acknowledged sample is in Redis.
// The load is bounded by time, not by count, so sanitizer builds run the same tests.
#include "support/fault_load.hpp"
#include "support/persisted_state.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace analyzer::test {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;
using fault::acked_sample;
using fault::clock_type;
using fault::ingest_load;
using fault::load_options;
using fault::load_report;

const std::string kBinary = ANALYZER_BINARY;
constexpr std::size_t kWindow = 50;  // WINDOW_SIZE default, set explicitly below
const std::string kPrefix = "metrics-analyzer";

using env_list = std::vector<std::pair<std::string, std::string>>;

long long ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t).count();
}

env_list service_env(const redis_server& redis, const std::string& instance, env_list extra) {
  env_list env{{"BIND_ADDR", "127.0.0.1"},
               {"PORT", "0"},
               {"THREADS", "2"},
               {"LOG_LEVEL", "info"},
               {"WINDOW_SIZE", std::to_string(kWindow)},
               {"REDIS_ADDR", redis.address()},
               {"INSTANCE_ID", instance},
               {"REDIS_RESTORE_TIMEOUT_MS", "20000"}};
  for (auto& e : extra) env.push_back(std::move(e));
  return env;
}

// The binary, listening and ready (restore done).
struct service {
  std::unique_ptr<child_process> process;
  std::uint16_t port = 0;
};

::testing::AssertionResult start_service(const env_list& env, service& out) {
  out.process = std::make_unique<child_process>(kBinary, std::vector<std::string>{}, env);
  const auto deadline = clock_type::now() + 30s;
  std::optional<std::string> line;
  while (!(line = out.process->wait_for_line("listening on", 250ms))) {
    if (const auto code = out.process->wait_exit(1ms)) {
      return ::testing::AssertionFailure() << kBinary << " exited with " << *code << ":\n"
                                           << out.process->output();
    }
    if (clock_type::now() >= deadline) {
      return ::testing::AssertionFailure() << "never listened:\n" << out.process->output();
    }
  }
  // "... listening on 127.0.0.1:PORT with ..."
  const auto at = line->find("listening on ");
  const auto colon = line->find(':', at);
  const auto space = line->find(' ', colon);
  if (at == std::string::npos || colon == std::string::npos || space == std::string::npos) {
    return ::testing::AssertionFailure() << "unexpected line: " << *line;
  }
  out.port = static_cast<std::uint16_t>(std::stoi(line->substr(colon + 1, space - colon - 1)));
  const bool ready = eventually(
      [&] {
        const auto r = fault::fetch(out.port, "/ready", 2s);
        return r && r->status == 200;
      },
      30s);
  if (!ready) return ::testing::AssertionFailure() << "never ready:\n" << out.process->output();
  return ::testing::AssertionSuccess();
}

json analyze(std::uint16_t port) {
  const auto r = fault::fetch(port, "/analyze");
  if (!r || r->status != 200) {
    ADD_FAILURE() << "GET /analyze failed";
    return json::object();
  }
  return json::parse(r->body);
}

// Values of `name{backend="redis"}` from one /metrics scrape.
struct storage_metrics {
  double connected = -1, pending = -1, written = -1, dropped = -1, reconnects = -1;
};

std::optional<storage_metrics> scrape(std::uint16_t port) {
  const auto r = fault::fetch(port, "/metrics", 3s);
  if (!r || r->status != 200) return std::nullopt;
  storage_metrics m;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.find("backend=\"redis\"") == std::string::npos) {
      continue;
    }
    const double value = std::stod(line.substr(line.rfind(' ') + 1));
    const std::string name = line.substr(0, line.find('{'));
    if (name == "analyzer_storage_connected") m.connected = value;
    if (name == "analyzer_storage_pending_writes") m.pending = value;
    if (name == "analyzer_storage_written_total") m.written = value;
    if (name == "analyzer_storage_dropped_writes_total") m.dropped = value;
    if (name == "analyzer_storage_reconnects_total") m.reconnects = value;
  }
  return m;
}

std::map<std::uint64_t, acked_sample> by_seq(const std::vector<acked_sample>& acked) {
  std::map<std::uint64_t, acked_sample> out;
  for (const auto& s : acked) {
    const bool fresh = out.emplace(s.seq, s).second;
    EXPECT_TRUE(fresh) << "seq " << s.seq << " acknowledged twice";
  }
  return out;
}

// The persisted history, by seq; a seq persisted twice is a failure.
std::map<std::uint64_t, acked_sample> persisted(redis_server& redis, const std::string& instance) {
  std::map<std::uint64_t, acked_sample> out;
  for (const auto& [score, element] : read_persisted(redis, kPrefix, instance).records) {
    const json r = json::parse(element);
    EXPECT_EQ(r.at("seq").get<std::uint64_t>(), score) << element;
    EXPECT_EQ(out.count(score), 0U) << "seq " << score << " persisted twice";
    acked_sample s;
    s.seq = r.at("seq").get<std::uint64_t>();
    s.cpu = r.at("cpu").at("value").get<double>();
    s.rps = r.at("rps").at("value").get<double>();
    s.cpu_z = r.at("cpu").at("z_score").get<double>();
    s.rps_z = r.at("rps").at("z_score").get<double>();
    s.cpu_anomaly = r.at("cpu").at("anomaly").get<bool>();
    s.rps_anomaly = r.at("rps").at("anomaly").get<bool>();
    out.emplace(s.seq, s);
  }
  return out;
}

std::uint64_t hash_seq(redis_server& redis, const std::string& instance) {
  return read_persisted(redis, kPrefix, instance).seq();
}

bool same_sample(const acked_sample& a, const acked_sample& b) {
  return a.seq == b.seq && a.cpu == b.cpu && a.rps == b.rps && a.cpu_z == b.cpu_z &&
         a.rps_z == b.rps_z && a.cpu_anomaly == b.cpu_anomaly && a.rps_anomaly == b.rps_anomaly;
}

// /analyze's metric `name` against the window `tail` (oldest first, newest last) and the
// anomaly count the restored service should report.
void expect_window(const json& analysis, const std::vector<acked_sample>& tail,
                   std::uint64_t anomalies_cpu, std::uint64_t anomalies_rps) {
  ASSERT_FALSE(tail.empty());
  for (const std::string metric : {"cpu", "rps"}) {
    SCOPED_TRACE(metric);
    const bool is_cpu = metric == "cpu";
    auto value = [&](const acked_sample& s) { return is_cpu ? s.cpu : s.rps; };
    const auto& m = analysis.at("metrics").at(metric);
    double lo = value(tail.front()), hi = lo, sum = 0;
    for (const auto& s : tail) {
      lo = std::min(lo, value(s));
      hi = std::max(hi, value(s));
      sum += value(s);
    }
    const double mean = sum / static_cast<double>(tail.size());
    EXPECT_EQ(m.at("data_points"), tail.size());
    EXPECT_EQ(m.at("min").get<double>(), lo);
    EXPECT_EQ(m.at("max").get<double>(), hi);
    EXPECT_NEAR(m.at("rolling_average").get<double>(), mean, 1e-9 * std::max(1.0, std::abs(mean)));
    const auto& newest = tail.back();
    EXPECT_EQ(m.at("last").get<double>(), value(newest));
    EXPECT_EQ(m.at("z_score").get<double>(), is_cpu ? newest.cpu_z : newest.rps_z);
    EXPECT_EQ(m.at("anomaly").get<bool>(), is_cpu ? newest.cpu_anomaly : newest.rps_anomaly);
    EXPECT_EQ(m.at("anomalies_total").get<std::uint64_t>(), is_cpu ? anomalies_cpu : anomalies_rps);
  }
}

std::string summary(const load_report& r) {
  std::ostringstream out;
  out << "requests=" << r.requests << " accepted=" << r.accepted
      << " acked_samples=" << r.acked.size() << " unavailable_503=" << r.unavailable
      << " no_response=" << r.no_response << " partial=" << r.partial << " timeouts=" << r.timeouts
      << " bad_status=" << r.bad_status << " reconnects=" << r.reconnects
      << " unanswered_samples=" << r.unanswered_samples;
  for (const auto& p : r.problems) out << "\n  " << p;
  return out.str();
}

// Runs until `load` has been going for `duration` and has at least `min_samples` acked.
bool run_load_for(ingest_load& load, std::chrono::milliseconds duration, std::size_t min_samples) {
  const auto started = clock_type::now();
  return eventually(
      [&] {
        return clock_type::now() - started >= duration && load.accepted_samples() >= min_samples;
      },
      duration + 30s);
}

// ---------------------------------------------------------------------------------------

TEST(FaultLifecycleTest, sigterm_under_load_keeps_exactly_the_acknowledged_samples) {
  redis_server redis;
  const std::string instance = "fault-sigterm";
  constexpr auto kDelay = 300ms;
  constexpr auto kTimeout = 5000ms;
  const auto env = service_env(redis, instance,
                               {{"SHUTDOWN_DELAY_MS", std::to_string(kDelay.count())},
                                {"SHUTDOWN_TIMEOUT_MS", std::to_string(kTimeout.count())}});
  service svc;
  ASSERT_TRUE(start_service(env, svc));

  ingest_load load(svc.port, load_options{4, 0us});
  ASSERT_TRUE(run_load_for(load, 1000ms, 200)) << summary(load.report());

  // /ready must turn 503 "stopping" at once while ingest keeps being served: the probe
  // marks the load when it sees it, so 202s received after that are counted.
  std::atomic<bool> saw_stopping{false};
  std::atomic<bool> probe_stop{false};
  std::thread probe([&] {
    const auto deadline = clock_type::now() + 30s;
    while (!probe_stop.load() && clock_type::now() < deadline) {
      const auto r = fault::fetch(svc.port, "/ready", 1s);
      if (r && r->status == 503 && r->body.find("stopping") != std::string::npos) {
        saw_stopping.store(true);
        load.mark();
        return;
      }
      std::this_thread::sleep_for(1ms);  // probing interval
    }
  });

  const auto signalled = clock_type::now();
  svc.process->signal(SIGTERM);
  const auto code = svc.process->wait_exit(kDelay + kTimeout + 10s);
  const auto exit_ms = ms_since(signalled);
  probe_stop.store(true);
  probe.join();
  ASSERT_TRUE(code) << "no exit within " << (kDelay + kTimeout + 10s).count() << " ms\n"
                    << svc.process->output();
  EXPECT_EQ(*code, 0) << svc.process->output();
  // Bounded by the delay plus SHUTDOWN_TIMEOUT_MS, plus process teardown.
  EXPECT_LT(exit_ms, (kDelay + kTimeout + 2000ms).count());
  const std::string log = svc.process->output();
  EXPECT_THAT(log, HasSubstr("shutdown complete"));
  EXPECT_THAT(log, Not(HasSubstr("SHUTDOWN_TIMEOUT_MS passed"))) << "in-flight requests cut";
  EXPECT_THAT(log, Not(HasSubstr("pending writes at the deadline"))) << "queue not flushed";

  ASSERT_TRUE(load.wait_finished(10s)) << "load threads still connected after the exit";
  const load_report report = load.report();
  std::cout << "[fault] sigterm: exit " << exit_ms << " ms after SIGTERM; " << summary(report)
            << " served_while_stopping=" << report.after_mark_accepted << "\n";
  EXPECT_TRUE(saw_stopping.load()) << "/ready never said stopping";
  EXPECT_GT(report.after_mark_accepted, 0U) << "ingest not served during SHUTDOWN_DELAY_MS";
  EXPECT_EQ(report.partial, 0U) << summary(report);
  EXPECT_EQ(report.timeouts, 0U) << summary(report);
  EXPECT_EQ(report.bad_status, 0U) << summary(report);

  // The acknowledged seqs are exactly 1..N: nothing was committed without its 202.
  const auto acked = by_seq(report.acked);
  ASSERT_FALSE(acked.empty());
  const std::uint64_t n = acked.size();
  EXPECT_EQ(acked.begin()->first, 1U);
  EXPECT_EQ(acked.rbegin()->first, n) << "a committed sample got no 202 (a lost response)";

  service again;
  ASSERT_TRUE(start_service(env, again));
  const json restored = analyze(again.port);
  std::cout << "[fault] sigterm: acked " << n << ", restored samples_total "
            << restored.value("samples_total", json()).dump() << "\n";
  EXPECT_EQ(restored.at("samples_total"), n) << "restored count differs from the acknowledged";
  std::uint64_t cpu_flags = 0, rps_flags = 0;
  for (const auto& [seq, s] : acked) {
    cpu_flags += s.cpu_anomaly ? 1 : 0;
    rps_flags += s.rps_anomaly ? 1 : 0;
  }
  std::vector<acked_sample> tail;
  for (auto it = acked.rbegin(); it != acked.rend() && tail.size() < kWindow; ++it) {
    tail.insert(tail.begin(), it->second);
  }
  expect_window(restored, tail, cpu_flags, rps_flags);

  again.process->signal(SIGTERM);
  EXPECT_EQ(again.process->wait_exit(20s), 0) << again.process->output();
}

TEST(FaultLifecycleTest, sigkill_loses_at_most_the_unconfirmed_queue) {
  redis_server redis;
  const std::string instance = "fault-sigkill";
  constexpr std::size_t kQueueLimit = 100000;
  const auto env = service_env(redis, instance,
                               {{"HISTORY_SIZE", "10000000"},  // keep every record: exact sets
                                {"REDIS_QUEUE_LIMIT", std::to_string(kQueueLimit)},
                                {"SHUTDOWN_TIMEOUT_MS", "5000"}});
  service svc;
  ASSERT_TRUE(start_service(env, svc));

  ingest_load load(svc.port, load_options{4, 0us});
  // Watch the queue while the load runs.
  std::atomic<bool> watch_stop{false};
  storage_metrics last{};
  double max_pending = 0;
  std::size_t scrapes = 0;
  std::thread watcher([&] {
    while (!watch_stop.load()) {
      if (const auto m = scrape(svc.port)) {
        last = *m;
        max_pending = std::max(max_pending, m->pending);
        ++scrapes;
      }
      std::this_thread::sleep_for(20ms);  // sampling interval
    }
  });
  const bool loaded = run_load_for(load, 1000ms, 500);
  watch_stop.store(true);
  watcher.join();
  ASSERT_TRUE(loaded) << summary(load.report());
  ASSERT_GT(scrapes, 0U);
  ASSERT_EQ(last.dropped, 0.0) << "samples dropped at REDIS_QUEUE_LIMIT before the kill";
  ASSERT_EQ(last.connected, 1.0);

  svc.process->signal(SIGKILL);
  ASSERT_EQ(svc.process->wait_exit(10s), 128 + SIGKILL);
  ASSERT_TRUE(load.wait_finished(10s));
  const load_report report = load.report();
  EXPECT_EQ(report.partial, 0U) << summary(report);
  EXPECT_EQ(report.bad_status, 0U) << summary(report);
  EXPECT_EQ(report.unavailable, 0U) << summary(report);
  const auto acked = by_seq(report.acked);
  const std::uint64_t a = acked.size();

  // What Redis holds: the hash's seq R and the history records P.
  const std::uint64_t r = hash_seq(redis, instance);
  const auto p = persisted(redis, instance);
  std::size_t lost_acked = 0;  // acknowledged, not in Redis
  for (const auto& [seq, s] : acked) {
    const auto it = p.find(seq);
    if (it == p.end()) {
      ++lost_acked;
    } else {
      EXPECT_TRUE(same_sample(it->second, s)) << "record " << seq << " differs from its 202";
    }
  }
  // Seqs <= R missing from the history: none, since batches carry consecutive seqs and the
  // hash only moves to the end of a batch that continues what is persisted.
  std::vector<std::uint64_t> holes;
  for (std::uint64_t seq = 1; seq <= r; ++seq) {
    if (p.find(seq) == p.end()) holes.push_back(seq);
  }
  std::ostringstream hole_text;
  for (std::size_t i = 0; i < holes.size() && i < 20; ++i) hole_text << holes[i] << ' ';
  std::cout << "[fault] sigkill: acked " << a << ", Redis seq R " << r << ", history records "
            << p.size() << ", acked lost " << lost_acked << ", max pending seen " << max_pending
            << " (" << scrapes << " scrapes), holes<=R " << holes.size() << " [" << hole_text.str()
            << "]; " << summary(report) << "\n";

  EXPECT_TRUE(holes.empty()) << holes.size() << " seqs <= R are not persisted";
  // The bound: everything unconfirmed at the kill (queue + in-flight batches) is at most
  // REDIS_QUEUE_LIMIT samples, and no sample was dropped before.
  EXPECT_LE(lost_acked, kQueueLimit);
  EXPECT_LE(a - std::min(a, r), kQueueLimit);
  // Redis never holds more than was committed: the acknowledged plus those of requests
  // that were in flight at the kill.
  EXPECT_LE(r, a + report.unanswered_samples);
  ASSERT_FALSE(p.empty());
  EXPECT_GE(p.rbegin()->first, r);

  service again;
  ASSERT_TRUE(start_service(env, again));
  const json restored = analyze(again.port);
  EXPECT_EQ(restored.at("samples_total"), r);
  // The restored window: the newest WINDOW_SIZE records with seq <= R, as in Redis.
  std::vector<acked_sample> tail;
  for (auto it = p.rbegin(); it != p.rend() && tail.size() < kWindow; ++it) {
    if (it->first <= r) tail.insert(tail.begin(), it->second);
  }
  const auto state = read_persisted(redis, kPrefix, instance).state;
  ASSERT_TRUE(state.count("cpu_anomalies_total") && state.count("rps_anomalies_total"));
  if (!tail.empty() && tail.back().seq == r) {
    expect_window(restored, tail, std::stoull(state.at("cpu_anomalies_total")),
                  std::stoull(state.at("rps_anomalies_total")));
  } else {
    ADD_FAILURE() << "the record of seq R=" << r << " is not in the history";
  }
  // Where determinable, the window is the tail of the commit order: with no hole among
  // the newest WINDOW_SIZE seqs it is exactly seqs R-W+1..R, each as acknowledged.
  const bool tail_dense =
      std::none_of(holes.begin(), holes.end(), [&](std::uint64_t h) { return h + kWindow > r; });
  if (tail_dense && r >= kWindow) {
    EXPECT_EQ(tail.front().seq, r - kWindow + 1);
    for (const auto& s : tail) {
      const auto it = acked.find(s.seq);
      if (it != acked.end()) {
        EXPECT_TRUE(same_sample(it->second, s)) << s.seq;
      }
    }
  }
  // Counters agree with the flags of the records up to R (those not in Redis unknown).
  std::uint64_t cpu_flags = 0, rps_flags = 0;
  for (const auto& [seq, s] : p) {
    if (seq > r) continue;
    cpu_flags += s.cpu_anomaly ? 1 : 0;
    rps_flags += s.rps_anomaly ? 1 : 0;
  }
  const auto& m = restored.at("metrics");
  EXPECT_GE(m.at("cpu").at("anomalies_total").get<std::uint64_t>(), cpu_flags);
  EXPECT_LE(m.at("cpu").at("anomalies_total").get<std::uint64_t>(), cpu_flags + holes.size());
  EXPECT_GE(m.at("rps").at("anomalies_total").get<std::uint64_t>(), rps_flags);
  EXPECT_LE(m.at("rps").at("anomalies_total").get<std::uint64_t>(), rps_flags + holes.size());

  // It continues the sequence.
  const auto next = fault::connection::open(again.port, 2s);
  ASSERT_TRUE(next);
  const auto posted = next->exchange(
      fault::http_request("POST", "/metrics?analysis=true", R"({"cpu":50,"rps":1000})"), 5s);
  ASSERT_EQ(posted.what, fault::outcome::complete)
      << fault::to_string(posted.what) << ": " << posted.detail;
  ASSERT_EQ(posted.status, 202U) << posted.body;
  EXPECT_EQ(json::parse(posted.body).at("results").at(0).at("seq"), r + 1);
  again.process->signal(SIGTERM);
  EXPECT_EQ(again.process->wait_exit(20s), 0) << again.process->output();
}

TEST(FaultLifecycleTest, redis_outages_under_load_lose_nothing_acknowledged) {
  redis_server redis;
  const std::string instance = "fault-outage";
  const auto env = service_env(redis, instance,
                               {{"HISTORY_SIZE", "10000000"},
                                {"REDIS_QUEUE_LIMIT", "10000000"},  // no drops: exact sets
                                {"REDIS_CONNECT_TIMEOUT_MS", "300"},
                                {"REDIS_COMMAND_TIMEOUT_MS", "300"},
                                {"SHUTDOWN_TIMEOUT_MS", "10000"}});
  service svc;
  ASSERT_TRUE(start_service(env, svc));
  ingest_load load(svc.port, load_options{3, 500us});

  auto metrics_now = [&] { return scrape(svc.port).value_or(storage_metrics{}); };
  ASSERT_TRUE(eventually([&] { return metrics_now().written >= 100; }, 20s));

  // Degraded: ingest answered (the load counts any failure), /ready 200, disconnected, and
  // the queue growing; for about a second.
  auto expect_degraded = [&](const char* what) {
    SCOPED_TRACE(what);
    ASSERT_TRUE(eventually([&] { return metrics_now().connected == 0.0; }, 10s))
        << "still connected";
    const double pending_then = metrics_now().pending;
    const auto started = clock_type::now();
    bool ready_throughout = true;
    while (clock_type::now() - started < 1000ms) {
      const auto r = fault::fetch(svc.port, "/ready", 2s);
      ready_throughout = ready_throughout && r && r->status == 200;
      std::this_thread::sleep_for(50ms);  // probing interval
    }
    EXPECT_TRUE(ready_throughout) << "/ready was not 200 during the outage";
    const auto m = metrics_now();
    EXPECT_EQ(m.connected, 0.0);
    EXPECT_GT(m.pending, pending_then) << "the queue does not grow while Redis is away";
    std::cout << "[fault] outage (" << what << "): pending " << pending_then << " -> " << m.pending
              << "\n";
  };
  auto expect_recovered = [&](const char* what) {
    SCOPED_TRACE(what);
    const auto back = clock_type::now();
    ASSERT_TRUE(eventually(
        [&] {
          const auto m = metrics_now();
          return m.connected == 1.0 && m.pending == 0.0;
        },
        20s))
        << "queue not drained after Redis returned: pending " << metrics_now().pending;
    std::cout << "[fault] outage (" << what << "): reconnected and drained " << ms_since(back)
              << " ms after Redis returned\n";
  };

  // 1. Redis stops (saving its data, as a restarted Redis with persistence would keep it)
  //    and comes back on the same port.
  redis.command("CONFIG", "SET", "save", "3600 1");
  redis.stop();
  expect_degraded("stopped");
  redis.restart();
  expect_recovered("stopped");

  // 2. Redis hangs (SIGSTOP): the command timeout drops the connection; then it resumes.
  {
    ASSERT_EQ(::kill(redis.pid(), SIGSTOP), 0);
    // Resumed however this block ends, so a failure never leaves a stopped redis-server.
    const std::unique_ptr<const pid_t, void (*)(const pid_t*)> resume(new pid_t(redis.pid()),
                                                                      [](const pid_t* p) {
                                                                        ::kill(*p, SIGCONT);
                                                                        delete p;
                                                                      });
    expect_degraded("paused");
  }
  expect_recovered("paused");

  load.stop();
  const load_report report = load.report();
  std::cout << "[fault] outage: " << summary(report) << "\n";
  EXPECT_EQ(report.bad_status, 0U) << summary(report);
  EXPECT_EQ(report.unavailable, 0U) << summary(report);
  EXPECT_EQ(report.no_response, 0U) << summary(report);
  EXPECT_EQ(report.partial, 0U) << summary(report);
  EXPECT_EQ(report.timeouts, 0U) << summary(report);

  const auto acked = by_seq(report.acked);
  const std::uint64_t n = acked.size();
  ASSERT_GT(n, 0U);
  EXPECT_EQ(acked.rbegin()->first, n);
  ASSERT_TRUE(eventually([&] { return metrics_now().pending == 0.0; }, 20s));
  const auto final_metrics = metrics_now();
  EXPECT_EQ(final_metrics.dropped, 0.0);
  EXPECT_GE(final_metrics.reconnects, 2.0);
  EXPECT_EQ(analyze(svc.port).at("samples_total"), n);

  // Every acknowledged sample is in Redis, as acknowledged.
  EXPECT_EQ(hash_seq(redis, instance), n);
  const auto p = persisted(redis, instance);
  std::size_t missing = 0;
  for (const auto& [seq, s] : acked) {
    const auto it = p.find(seq);
    if (it == p.end()) {
      ++missing;
    } else {
      EXPECT_TRUE(same_sample(it->second, s)) << seq;
    }
  }
  EXPECT_EQ(missing, 0U) << "acknowledged samples not in Redis";
  EXPECT_EQ(p.size(), n);

  svc.process->signal(SIGTERM);
  ASSERT_EQ(svc.process->wait_exit(20s), 0) << svc.process->output();
  service again;
  ASSERT_TRUE(start_service(env, again));
  const json restored = analyze(again.port);
  EXPECT_EQ(restored.at("samples_total"), n);
  std::uint64_t cpu_flags = 0, rps_flags = 0;
  for (const auto& [seq, s] : acked) {
    cpu_flags += s.cpu_anomaly ? 1 : 0;
    rps_flags += s.rps_anomaly ? 1 : 0;
  }
  std::vector<acked_sample> tail;
  for (auto it = acked.rbegin(); it != acked.rend() && tail.size() < kWindow; ++it) {
    tail.insert(tail.begin(), it->second);
  }
  expect_window(restored, tail, cpu_flags, rps_flags);
  std::cout << "[fault] outage: acked " << n << ", in Redis " << p.size() << ", restored "
            << restored.at("samples_total") << "\n";
  again.process->signal(SIGTERM);
  EXPECT_EQ(again.process->wait_exit(20s), 0) << again.process->output();
}

}  // namespace
}  // namespace analyzer::test
