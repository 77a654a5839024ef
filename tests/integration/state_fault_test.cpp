// The user's invariant for the Redis store, checked against the real binary with Redis
// behind a fault-injecting proxy (support/fault_proxy.hpp):
//
//   every sample acknowledged with a 202 has a seq, the acknowledged seqs are exactly
//   1..N each once, and after a graceful stop a new process on the same Redis and
//   INSTANCE_ID restores the state of a sequential replay of those N samples in seq order.
//
// Each scenario injects one fault while samples are acknowledged, then runs that check:
//   a. Redis unreachable at the startup of a second run, for longer than
//      REDIS_RESTORE_TIMEOUT_MS: the run stays unready (503 with Retry-After) and, once
//      Redis is back, restores and continues at seq N+1;
//   b. replies lost for longer than REDIS_COMMAND_TIMEOUT_MS under load (pipelined
//      batches executed by Redis, their confirmations never seen);
//   c. Redis paused (SIGSTOP) for longer than the command timeout under load;
//   d. Redis with appendonly yes / appendfsync always restarted under load (killed, and
//      stopped gracefully).
// Every wait is a poll with a deadline; loads are bounded in requests and time.
#include "support/fault_load.hpp"
#include "support/fault_proxy.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"

#include "analyzer/analytics/analyzer.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace analyzer::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using env_list = std::vector<std::pair<std::string, std::string>>;

const std::string kBinary = ANALYZER_BINARY;

// A small window so the window wraps many times; warmup below it so z-scores and
// anomalies appear early.
constexpr std::size_t kWindow = 20;
constexpr std::size_t kWarmup = 10;
constexpr double kThreshold = 2.0;
constexpr auto kCommandTimeout = 300ms;
constexpr auto kConnectTimeout = 300ms;
constexpr auto kRestoreTimeout = 500ms;
constexpr auto kShutdownTimeout = 5000ms;
// How long a fault is held: clearly longer than the timeout it is meant to exceed.
constexpr auto kFaultHold = 4 * kCommandTimeout;
constexpr auto kStartDeadline = 15s;

long long ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t).count();
}

// --- a redis-server with extra arguments (AOF) -------------------------------------------

// PING on a fresh connection; true on +PONG (a server still loading its AOF answers
// -LOADING, which is not ready).
bool resp_ping(std::uint16_t port, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const timeval tv{0, static_cast<suseconds_t>(std::min<long long>(timeout.count(), 999) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool pong = false;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6) {
    char reply[64];
    const ssize_t n = ::recv(fd, reply, sizeof reply, 0);
    pong = n >= 7 && std::string(reply, 7) == "+PONG\r\n";
  }
  ::close(fd);
  return pong;
}

// A redis-server child on a fixed free loopback port, with arguments of the test's own
// (support/redis_server.hpp takes none). Stopped by PID; its directory (and AOF) survive
// restarts and are removed by the destructor.
class redis_process {
 public:
  explicit redis_process(std::vector<std::string> extra_args) : extra_(std::move(extra_args)) {
    char pattern[] = "/tmp/redis-state-fault-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    for (int attempt = 0; attempt < 8; ++attempt) {
      port_ = free_loopback_port();
      if (spawn_and_wait()) return;
    }
    throw std::runtime_error("redis-server did not start; see " + dir_ + "/redis.log");
  }
  ~redis_process() {
    stop(SIGTERM);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  redis_process(const redis_process&) = delete;
  redis_process& operator=(const redis_process&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] const std::string& dir() const { return dir_; }

  // Sends `signo` and reaps the process (SIGKILL after a deadline).
  void stop(int signo) {
    if (pid_ <= 0) return;
    ::kill(pid_, signo);
    const auto deadline = clock_type::now() + 10s;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (clock_type::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(2ms);  // polling interval
    }
    pid_ = -1;
  }
  // Starts again on the same port, with the same directory; returns once PING answers.
  void start() {
    const auto deadline = clock_type::now() + 10s;
    while (!spawn_and_wait()) {
      if (clock_type::now() >= deadline) {
        throw std::runtime_error("redis-server did not restart; see " + dir_ + "/redis.log");
      }
    }
  }

 private:
  bool spawn_and_wait() {
    std::vector<std::string> args{
        "/usr/bin/redis-server", "--dir",      dir_,     "--save",    "",
        "--daemonize",           "no",         "--bind", "127.0.0.1", "--port",
        std::to_string(port_),   "--loglevel", "warning"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log_path = dir_ + "/redis.log";
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) throw std::runtime_error("open " + log_path);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(log_fd);
      throw std::runtime_error("fork failed");
    }
    if (pid == 0) {  // async-signal-safe calls only: the test process has threads
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(126);
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      if (::close_range(3, ~0U, 0) != 0) {
        for (int fd = 3; fd < 65536; ++fd) ::close(fd);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(log_fd);
    pid_ = pid;
    const auto deadline = clock_type::now() + 10s;
    while (clock_type::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken, bad option…
        pid_ = -1;
        return false;
      }
      if (resp_ping(port_, 200ms)) return true;
      std::this_thread::sleep_for(5ms);  // polling interval
    }
    stop(SIGKILL);
    return false;
  }

  std::vector<std::string> extra_;
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// --- HTTP with headers --------------------------------------------------------------------

struct http_result {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// One request on a fresh connection (Connection: close), read to the end; nothing when no
// complete response arrived within `timeout`.
std::optional<http_result> http_once(std::uint16_t port, const std::string& method,
                                     const std::string& target, const std::string& body = {},
                                     std::chrono::milliseconds timeout = 3s) {
  const auto deadline = clock_type::now() + timeout;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return std::nullopt;
  const std::unique_ptr<const int, void (*)(const int*)> guard(&fd,
                                                               [](const int* f) { ::close(*f); });
  auto wait = [&](short events) {
    while (true) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (left.count() <= 0) return false;
      pollfd pfd{fd, events, 0};
      const int n = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return false;
    }
  };
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int error = 0;
    socklen_t len = sizeof error;
    if (errno != EINPROGRESS || !wait(POLLOUT) ||
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
      return std::nullopt;
    }
  }
  std::string request =
      method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (method == "POST") {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait(POLLOUT)) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  std::string in;
  while (true) {
    if (!wait(POLLIN)) return std::nullopt;
    char chunk[16384];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      in.append(chunk, static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      break;  // the end, or a reset after the response: parse what arrived
    }
  }
  const auto head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos || in.rfind("HTTP/1.", 0) != 0 || head_end < 12) {
    return std::nullopt;
  }
  http_result r;
  r.status = static_cast<unsigned>(std::stoul(in.substr(9, 3)));
  std::size_t at = in.find("\r\n");
  while (at < head_end) {
    const std::size_t next = in.find("\r\n", at + 2);
    const std::string line = in.substr(at + 2, next - at - 2);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[fault::lower(line.substr(0, colon))] = value;
    }
    at = next;
  }
  r.body = in.substr(head_end + 4);
  if (const auto it = r.headers.find("content-length"); it != r.headers.end()) {
    if (r.body.size() != std::stoull(it->second)) return std::nullopt;  // cut short
  }
  return r;
}

// --- the service ---------------------------------------------------------------------------

env_list service_env(const fault_proxy& proxy, const std::string& name) {
  return {{"BIND_ADDR", "127.0.0.1"},
          {"PORT", "0"},
          {"THREADS", "2"},
          {"LOG_LEVEL", "info"},
          {"WINDOW_SIZE", std::to_string(kWindow)},
          {"WARMUP", std::to_string(kWarmup)},
          {"ANOMALY_THRESHOLD", "2.0"},
          {"REDIS_ADDR", proxy.address()},
          {"INSTANCE_ID", name},
          {"KEY_PREFIX", "state-fault-" + name},
          {"REDIS_QUEUE_LIMIT", "1000000"},  // never drops: every acknowledged sample is kept
          {"REDIS_COMMAND_TIMEOUT_MS", std::to_string(kCommandTimeout.count())},
          {"REDIS_CONNECT_TIMEOUT_MS", std::to_string(kConnectTimeout.count())},
          {"REDIS_RESTORE_TIMEOUT_MS", std::to_string(kRestoreTimeout.count())},
          {"SHUTDOWN_TIMEOUT_MS", std::to_string(kShutdownTimeout.count())}};
}

struct service {
  std::unique_ptr<child_process> process;
  std::uint16_t port = 0;
};

// Reads what the service logged so far (a pipe that nobody reads would block its logger).
void pump(service& svc) {
  if (svc.process) static_cast<void>(svc.process->wait_for_line("\x01never\x01", 1ms));
}

std::string log_tail(const service& svc, std::size_t bytes = 6000) {
  if (!svc.process) return {};
  const std::string& out = svc.process->output();
  return out.size() <= bytes ? out : "…" + out.substr(out.size() - bytes);
}

// Starts the binary and waits for its "listening on 127.0.0.1:PORT" line (not for /ready).
::testing::AssertionResult launch(const env_list& env, service& out) {
  out.process = std::make_unique<child_process>(kBinary, std::vector<std::string>{}, env);
  const auto deadline = clock_type::now() + kStartDeadline;
  std::optional<std::string> line;
  while (!(line = out.process->wait_for_line("listening on", 100ms))) {
    if (const auto code = out.process->wait_exit(1ms)) {
      return ::testing::AssertionFailure() << kBinary << " exited with " << *code << ":\n"
                                           << log_tail(out);
    }
    if (clock_type::now() >= deadline) {
      return ::testing::AssertionFailure() << "never listened:\n" << log_tail(out);
    }
  }
  const auto at = line->find("listening on ");
  const auto colon = line->find(':', at);
  const auto space = line->find(' ', colon);
  if (at == std::string::npos || colon == std::string::npos || space == std::string::npos) {
    return ::testing::AssertionFailure() << "unexpected line: " << *line;
  }
  out.port = static_cast<std::uint16_t>(std::stoi(line->substr(colon + 1, space - colon - 1)));
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult wait_ready(service& svc, std::chrono::milliseconds timeout) {
  const auto started = clock_type::now();
  const bool ready = eventually(
      [&] {
        pump(svc);
        const auto r = http_once(svc.port, "GET", "/ready", {}, 1s);
        return r && r->status == 200;
      },
      timeout);
  if (!ready) {
    return ::testing::AssertionFailure() << "/ready not 200 within " << timeout.count() << " ms:\n"
                                         << log_tail(svc);
  }
  std::cout << "[state-fault] ready " << ms_since(started) << " ms after the wait began\n";
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult start_ready(const env_list& env, service& out) {
  if (auto r = launch(env, out); !r) return r;
  return wait_ready(out, kStartDeadline);
}

// SIGTERM by PID, then exit 0 within SHUTDOWN_TIMEOUT_MS plus a margin.
::testing::AssertionResult stop_gracefully(service& svc) {
  const auto started = clock_type::now();
  svc.process->signal(SIGTERM);
  const auto code = svc.process->wait_exit(kShutdownTimeout + 5s);
  if (!code) {
    return ::testing::AssertionFailure()
           << "no exit within " << (kShutdownTimeout + 5s).count() << " ms of SIGTERM:\n"
           << log_tail(svc);
  }
  if (*code != 0) {
    return ::testing::AssertionFailure() << "exit code " << *code << " after SIGTERM:\n"
                                         << log_tail(svc);
  }
  std::cout << "[state-fault] stopped gracefully in " << ms_since(started) << " ms\n";
  return ::testing::AssertionSuccess();
}

// The redis store's gauges and counters of one /metrics scrape, for the report.
std::string storage_summary(std::uint16_t port) {
  const auto r = http_once(port, "GET", "/metrics", {}, 3s);
  if (!r || r->status != 200) return "(no scrape)";
  std::istringstream in(r->body);
  std::string line;
  std::ostringstream out;
  while (std::getline(in, line)) {
    if (line.rfind("analyzer_storage_", 0) != 0 ||
        line.find("backend=\"redis\"") == std::string::npos ||
        line.find("_bucket") != std::string::npos) {
      continue;
    }
    const std::string name = line.substr(17, line.find('{') - 17);
    out << name << '=' << line.substr(line.rfind(' ') + 1) << ' ';
  }
  return out.str();
}

// --- load that keeps every acknowledged sample ---------------------------------------------

// One sample as its 202 (?analysis=true) reported it.
struct ack {
  std::uint64_t seq = 0;
  double timestamp = 0;
  double cpu = 0, rps = 0;
  double cpu_z = 0, rps_z = 0;
  bool cpu_anomaly = false, rps_anomaly = false;
};

std::vector<ack> parse_acks(const std::string& body, std::size_t expected) {
  std::vector<ack> out;
  const auto j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("results") || !j.at("results").is_array() ||
      j.at("results").size() != expected) {
    throw std::runtime_error("202 body does not fit the request: " + body.substr(0, 300));
  }
  for (const auto& r : j.at("results")) {
    ack a;
    a.seq = r.at("seq").get<std::uint64_t>();
    a.timestamp = r.at("timestamp").get<double>();
    a.cpu = r.at("cpu").at("value").get<double>();
    a.rps = r.at("rps").at("value").get<double>();
    a.cpu_z = r.at("cpu").at("z_score").get<double>();
    a.rps_z = r.at("rps").at("z_score").get<double>();
    a.cpu_anomaly = r.at("cpu").at("anomaly").get<bool>();
    a.rps_anomaly = r.at("rps").at("anomaly").get<bool>();
    out.push_back(a);
  }
  return out;
}

struct load_stats {
  std::size_t requests = 0;
  std::size_t accepted = 0;      // 202
  std::size_t unavailable = 0;   // 503
  std::size_t other_status = 0;  // anything else, or a 202 whose body does not fit
  std::size_t no_response = 0;   // closed or reset before a response, or connect failed
  std::size_t partial = 0;       // a response cut short
  std::size_t timeouts = 0;      // no response within the request timeout
  std::vector<std::string> problems;

  [[nodiscard]] std::string text() const {
    std::ostringstream out;
    out << "requests=" << requests << " 202=" << accepted << " 503=" << unavailable
        << " other=" << other_status << " no_response=" << no_response << " partial=" << partial
        << " timeouts=" << timeouts;
    for (const auto& p : problems) out << "\n    " << p;
    return out.str();
  }
};

// Threads posting single samples and batches of 2..5 (?analysis=true) on kept-alive
// connections, as fast as answered (or paced), each ending at stop() or after
// max_requests. Every acknowledged sample is kept, in arrival order per thread.
class acking_load {
 public:
  acking_load(std::uint16_t port, std::size_t threads, std::chrono::microseconds pause,
              std::size_t max_requests = 200'000)
      : port_(port), pause_(pause), max_requests_(max_requests) {
    for (std::size_t t = 0; t < threads; ++t) threads_.emplace_back([this, t] { run(t); });
  }
  ~acking_load() { stop(); }
  acking_load(const acking_load&) = delete;
  acking_load& operator=(const acking_load&) = delete;

  [[nodiscard]] std::size_t acked() const { return acked_.load(); }
  void stop() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  // After stop().
  [[nodiscard]] std::vector<ack> acks() const {
    std::lock_guard lock(mutex_);
    return acks_;
  }
  [[nodiscard]] load_stats stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
  }

 private:
  void run(std::size_t t) {
    static constexpr std::size_t kSizes[] = {1, 3, 1, 5, 1, 2};
    std::vector<ack> mine;
    load_stats s;
    auto problem = [&s](std::string text) {
      if (s.problems.size() < 4) s.problems.push_back(std::move(text));
    };
    std::unique_ptr<fault::connection> conn;
    std::size_t next = 0;
    while (!stop_.load() && s.requests < max_requests_) {
      ++s.requests;
      if (!conn) {
        conn = fault::connection::open(port_, 2s);
        if (!conn) {
          ++s.no_response;
          problem("connect failed");
          std::this_thread::sleep_for(10ms);  // retry pacing
          continue;
        }
      }
      const std::size_t n = kSizes[(s.requests - 1) % std::size(kSizes)];
      json body;
      if (n == 1) {
        body = fault::make_sample(t, next);
      } else {
        body = json::array();
        for (std::size_t k = 0; k < n; ++k) body.push_back(fault::make_sample(t, next + k));
      }
      next += n;
      const auto r =
          conn->exchange(fault::http_request("POST", "/metrics?analysis=true", body.dump()), 5s);
      bool drop = r.close;
      switch (r.what) {
        case fault::outcome::complete:
          if (r.status == 202) {
            try {
              const auto got = parse_acks(r.body, n);
              mine.insert(mine.end(), got.begin(), got.end());
              acked_.fetch_add(n);
              ++s.accepted;
            } catch (const std::exception& e) {
              ++s.other_status;
              problem(e.what());
            }
          } else if (r.status == 503) {
            ++s.unavailable;
          } else {
            ++s.other_status;
            problem("status " + std::to_string(r.status) + ": " + r.body.substr(0, 200));
          }
          break;
        case fault::outcome::no_response:
        case fault::outcome::send_failed:
          ++s.no_response;
          problem(std::string(fault::to_string(r.what)) + ": " + r.detail);
          drop = true;
          break;
        case fault::outcome::partial:
          ++s.partial;
          problem("partial: " + r.detail);
          drop = true;
          break;
        case fault::outcome::timeout:
          ++s.timeouts;
          problem("timeout: " + r.detail);
          drop = true;
          break;
      }
      if (drop) conn.reset();
      if (pause_.count() > 0) std::this_thread::sleep_for(pause_);  // pacing
    }
    std::lock_guard lock(mutex_);
    acks_.insert(acks_.end(), mine.begin(), mine.end());
    stats_.requests += s.requests;
    stats_.accepted += s.accepted;
    stats_.unavailable += s.unavailable;
    stats_.other_status += s.other_status;
    stats_.no_response += s.no_response;
    stats_.partial += s.partial;
    stats_.timeouts += s.timeouts;
    for (auto& p : s.problems) stats_.problems.push_back(std::move(p));
  }

  std::uint16_t port_;
  std::chrono::microseconds pause_;
  std::size_t max_requests_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> acked_{0};
  mutable std::mutex mutex_;
  std::vector<ack> acks_;
  load_stats stats_;
  std::vector<std::thread> threads_;
};

// Keeps the service's log drained while `load` runs for at least `duration` and has
// acknowledged at least `min_acked` more samples; false at the deadline.
bool keep_loading(service& svc, const acking_load& load, std::chrono::milliseconds duration,
                  std::size_t min_acked, std::chrono::milliseconds deadline = 10s) {
  const auto started = clock_type::now();
  const std::size_t before = load.acked();
  return eventually(
      [&] {
        pump(svc);
        return clock_type::now() - started >= duration && load.acked() >= before + min_acked;
      },
      std::max(deadline, duration + 1s));
}

// Holds a fault for `hold` while the log is drained (a deliberate outage length, not a
// wait for an outcome).
void hold_fault(service& svc, std::chrono::milliseconds hold) {
  const auto until = clock_type::now() + hold;
  while (clock_type::now() < until) pump(svc);
}

// --- the invariant ------------------------------------------------------------------------

std::string number_text(const json& v) {
  if (!v.is_number()) return v.dump();
  char text[40];
  std::snprintf(text, sizeof text, "%.17g", v.get<double>());
  return text;
}

// `actual` (from /analyze) equals `expected` exactly: nulls, booleans, numbers as doubles.
void expect_same_value(const json& actual, const json& expected, const std::string& what) {
  if (expected.is_null() || expected.is_boolean()) {
    EXPECT_EQ(actual, expected) << what << ": /analyze " << actual.dump() << ", replay "
                                << expected.dump();
    return;
  }
  if (expected.is_object()) {
    ASSERT_TRUE(actual.is_object())
        << what << ": /analyze " << actual.dump() << ", replay " << expected.dump();
    for (const auto& [key, value] : expected.items()) {
      std::string path = what;
      path.append(".").append(key);
      expect_same_value(actual.value(key, json()), value, path);
    }
    return;
  }
  EXPECT_TRUE(actual.is_number() && actual.get<double>() == expected.get<double>())
      << what << ": /analyze " << number_text(actual) << ", replay " << number_text(expected);
}

// What /analyze prints for one metric of `snap` (src/api/responses.cpp).
json expected_metric(const analytics::metric_snapshot& m) {
  const bool has_data = m.window.count > 0;
  auto stat = [&](double v) { return has_data ? json(v) : json(nullptr); };
  json j;
  j["data_points"] = m.window.count;
  j["rolling_average"] = stat(m.window.mean);
  j["std_dev"] = stat(m.window.std_dev);
  j["min"] = stat(m.window.min);
  j["max"] = stat(m.window.max);
  j["last"] = m.last ? json(m.last->value) : json(nullptr);
  j["z_score"] = m.last ? json(m.last->z_score) : json(nullptr);
  j["anomaly"] = m.last ? json(m.last->anomaly) : json(nullptr);
  j["anomalies_total"] = m.anomalies_total;
  j["last_anomaly"] = m.last_anomaly ? json{{"timestamp", m.last_anomaly->timestamp},
                                            {"value", m.last_anomaly->value},
                                            {"z_score", m.last_anomaly->z_score}}
                                     : json(nullptr);
  return j;
}

// The acknowledged seqs are exactly 1..N, each once (N = number of acknowledgements).
void expect_dense_seqs(const std::vector<ack>& acked) {
  std::map<std::uint64_t, std::size_t> count;
  for (const auto& a : acked) ++count[a.seq];
  const std::uint64_t n = acked.size();
  std::vector<std::uint64_t> duplicated, missing, beyond;
  for (const auto& [seq, c] : count) {
    if (c > 1) duplicated.push_back(seq);
    if (seq == 0 || seq > n) beyond.push_back(seq);
  }
  for (std::uint64_t seq = 1; seq <= n; ++seq) {
    if (count.find(seq) == count.end()) missing.push_back(seq);
  }
  auto list = [](const std::vector<std::uint64_t>& v) {
    std::ostringstream out;
    for (std::size_t i = 0; i < v.size() && i < 12; ++i) out << v[i] << ' ';
    if (v.size() > 12) out << "… (" << v.size() << ")";
    return out.str();
  };
  EXPECT_TRUE(duplicated.empty() && missing.empty() && beyond.empty())
      << "acknowledged seqs are not exactly 1.." << n << " each once: " << duplicated.size()
      << " acknowledged more than once [" << list(duplicated) << "], " << missing.size()
      << " missing [" << list(missing) << "], " << beyond.size() << " outside 1..N ["
      << list(beyond) << "]";
}

// The check every scenario ends with: dense acknowledged seqs; graceful stop of `svc`; a
// new process on the same Redis and INSTANCE_ID restores what a sequential replay of the
// acknowledged samples in seq order computes.
void check_invariant(service& svc, const env_list& env, const std::vector<ack>& acked) {
  SCOPED_TRACE("the invariant check");
  ASSERT_FALSE(acked.empty()) << "nothing was acknowledged";
  expect_dense_seqs(acked);

  ASSERT_TRUE(stop_gracefully(svc));
  service again;
  ASSERT_TRUE(start_ready(env, again));
  const auto reply = http_once(again.port, "GET", "/analyze", {}, 5s);
  ASSERT_TRUE(reply && reply->status == 200) << "GET /analyze failed";
  const json restored = json::parse(reply->body);

  // Sequential replay: every acknowledged sample, in seq order (duplicates included).
  std::vector<ack> ordered = acked;
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const ack& a, const ack& b) { return a.seq < b.seq; });
  analytics::analyzer replay(analytics::detector_config{kWindow, kThreshold, kWarmup});
  std::size_t answer_mismatches = 0;
  std::string first_mismatch;
  for (const auto& a : ordered) {
    const auto c = replay.commit(a.timestamp, a.cpu, a.rps);
    // What the service answered for a seq is what the sequential commit of that seq gives.
    const bool same = c.seq == a.seq && c.of(analytics::metric::cpu).z_score == a.cpu_z &&
                      c.of(analytics::metric::rps).z_score == a.rps_z &&
                      c.of(analytics::metric::cpu).anomaly == a.cpu_anomaly &&
                      c.of(analytics::metric::rps).anomaly == a.rps_anomaly;
    if (!same && answer_mismatches++ == 0) {
      std::ostringstream out;
      out << "seq " << a.seq << " was answered with cpu z " << a.cpu_z << " (anomaly "
          << a.cpu_anomaly << "), rps z " << a.rps_z << " (anomaly " << a.rps_anomaly
          << "); the sequential replay commits it as seq " << c.seq << " with cpu z "
          << c.of(analytics::metric::cpu).z_score << ", rps z "
          << c.of(analytics::metric::rps).z_score;
      first_mismatch = out.str();
    }
  }
  EXPECT_EQ(answer_mismatches, 0U)
      << "acknowledgements differ from a sequential replay; first: " << first_mismatch;
  const analytics::snapshot expected = replay.read();

  std::cout << "[state-fault] check: acked " << acked.size() << ", restored samples_total "
            << restored.value("samples_total", json()).dump() << "\n";
  EXPECT_EQ(restored.value("samples_total", json()), json(acked.size()))
      << "samples_total after the restart differs from the number of acknowledged samples";
  for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
    const std::string name(analytics::kMetricNames[m]);
    ASSERT_TRUE(restored.contains("metrics") && restored.at("metrics").contains(name))
        << reply->body;
    expect_same_value(restored.at("metrics").at(name), expected_metric(expected.metrics[m]), name);
  }
  EXPECT_TRUE(stop_gracefully(again));
}

std::vector<ack> concat(std::vector<ack> a, const std::vector<ack>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

void report(const char* scenario, const load_stats& stats, const fault_proxy& proxy,
            clock_type::time_point started) {
  const auto c = proxy.counters();
  std::cout << "[state-fault] " << scenario << ": " << stats.text() << "\n  proxy: accepted "
            << c.accepted << " refused " << c.refused << " cut " << c.cut << " upstream_failed "
            << c.upstream_failed << " bytes c->s " << c.bytes_to_server << " s->c "
            << c.bytes_to_client << " dropped " << c.bytes_dropped << "; " << ms_since(started)
            << " ms so far\n";
}

// The load's own health: every request got a complete response (202 or 503).
void expect_clean_load(const load_stats& s) {
  EXPECT_EQ(s.other_status, 0U) << s.text();
  EXPECT_EQ(s.partial, 0U) << s.text();
  EXPECT_EQ(s.timeouts, 0U) << s.text();
  EXPECT_EQ(s.no_response, 0U) << s.text();
}

// --- scenarios -----------------------------------------------------------------------------

// a. Run 1 takes samples and stops gracefully. Run 2 starts while Redis is unreachable for
// longer than REDIS_RESTORE_TIMEOUT_MS: it stays unready and refuses ingest with 503 and
// Retry-After; once Redis is reachable it restores and continues at seq N+1.
TEST(StateFaultTest, a_unreachable_redis_at_restart_keeps_the_service_unready_until_restored) {
  const auto started = clock_type::now();
  redis_server redis;
  fault_proxy proxy(redis.port());
  const auto env = service_env(proxy, "sf-a");

  std::vector<ack> acked;
  {
    service run1;
    ASSERT_TRUE(start_ready(env, run1));
    acking_load load(run1.port, 3, 200us);
    EXPECT_TRUE(keep_loading(run1, load, 500ms, 200));
    load.stop();
    acked = load.acks();
    report("a/run 1", load.stats(), proxy, started);
    expect_clean_load(load.stats());
    EXPECT_EQ(load.stats().unavailable, 0U);
    ASSERT_TRUE(stop_gracefully(run1));
  }
  std::uint64_t n1 = 0;
  for (const auto& a : acked) n1 = std::max(n1, a.seq);

  proxy.refuse();
  service run2;
  ASSERT_TRUE(launch(env, run2));
  const auto launched = clock_type::now();
  const auto unreachable_for = 4 * kRestoreTimeout;
  std::size_t probes = 0, ready_not_503 = 0, ingest_not_503 = 0, no_retry_after = 0;
  std::string first_ready, first_ingest;  // the first wrong answer of each
  // Probe until Redis has been unreachable for several restore timeouts.
  while (clock_type::now() - launched < unreachable_for) {
    pump(run2);
    ++probes;
    const auto ready = http_once(run2.port, "GET", "/ready", {}, 2s);
    if (!ready || ready->status != 503) {
      ++ready_not_503;
      if (first_ready.empty()) {
        first_ready = "/ready answered " +
                      (ready ? std::to_string(ready->status) + " " + ready->body : "nothing") +
                      " at " + std::to_string(ms_since(launched)) + " ms";
      }
    }
    const auto posted =
        http_once(run2.port, "POST", "/metrics?analysis=true", R"({"cpu":42.5,"rps":1234.5})", 2s);
    if (posted && posted->status == 202) {
      // Acknowledged: it belongs to the invariant (it can only make it fail).
      const auto got = parse_acks(posted->body, 1);
      acked.insert(acked.end(), got.begin(), got.end());
    }
    if (!posted || posted->status != 503) {
      ++ingest_not_503;
      if (first_ingest.empty()) {
        first_ingest = "POST /metrics answered " +
                       (posted ? std::to_string(posted->status) + " " + posted->body
                               : std::string("nothing")) +
                       " at " + std::to_string(ms_since(launched)) + " ms";
      }
    } else if (posted->headers.count("retry-after") == 0) {
      ++no_retry_after;
    }
    std::this_thread::sleep_for(50ms);  // probing interval
  }
  std::cout << "[state-fault] a: " << probes << " probes while Redis was unreachable for "
            << ms_since(launched) << " ms; proxy refused " << proxy.counters().refused
            << " connection(s)\n";
  EXPECT_GT(proxy.counters().refused, 0U) << "run 2 never tried to reach Redis";
  EXPECT_EQ(ready_not_503, 0U) << "run 2 was not unready while Redis was unreachable: "
                               << first_ready;
  EXPECT_EQ(ingest_not_503, 0U) << "ingest not refused while the state was not restored: "
                                << first_ingest;
  if (ready_not_503 != 0 || ingest_not_503 != 0) std::cout << log_tail(run2) << "\n";
  EXPECT_EQ(no_retry_after, 0U) << "503 to POST /metrics without Retry-After";

  proxy.pass();
  ASSERT_TRUE(wait_ready(run2, 10s));
  {
    acking_load load(run2.port, 3, 200us);
    EXPECT_TRUE(keep_loading(run2, load, 500ms, 200));
    load.stop();
    const auto second = load.acks();
    report("a/run 2", load.stats(), proxy, started);
    expect_clean_load(load.stats());
    ASSERT_FALSE(second.empty());
    std::uint64_t first_seq = second.front().seq;
    for (const auto& a : second) first_seq = std::min(first_seq, a.seq);
    EXPECT_EQ(first_seq, n1 + 1) << "run 2 does not continue the sequence of run 1 (N=" << n1
                                 << ")";
    acked = concat(std::move(acked), second);
  }
  check_invariant(run2, env, acked);
  std::cout << "[state-fault] a: " << ms_since(started) << " ms in all\n";
}

// b. Replies lost for several command timeouts under steady load: the pipelined batches in
// flight were executed by Redis but never confirmed, so they fail together; the service
// times out, reconnects (its new connections lose their replies as well) and retries.
TEST(StateFaultTest, b_lost_replies_of_pipelined_batches_under_load) {
  const auto started = clock_type::now();
  redis_server redis;
  fault_proxy proxy(redis.port());
  const auto env = service_env(proxy, "sf-b");
  service svc;
  ASSERT_TRUE(start_ready(env, svc));
  acking_load load(svc.port, 3, 200us);
  ASSERT_TRUE(keep_loading(svc, load, 500ms, 200));
  std::cout << "[state-fault] b: before: " << storage_summary(svc.port) << "\n";

  proxy.lose_replies();
  hold_fault(svc, kFaultHold);
  const auto dropped = proxy.counters().bytes_dropped;
  std::cout << "[state-fault] b: during: " << storage_summary(svc.port) << "\n";
  proxy.pass();
  EXPECT_GT(dropped, 0U) << "no reply was lost: the fault missed the writes";

  EXPECT_TRUE(keep_loading(svc, load, 1000ms, 200));
  load.stop();
  std::cout << "[state-fault] b: after: " << storage_summary(svc.port) << "\n";
  report("b", load.stats(), proxy, started);
  expect_clean_load(load.stats());
  check_invariant(svc, env, load.acks());
  std::cout << "[state-fault] b: " << ms_since(started) << " ms in all\n";
}

// c. Redis paused (SIGSTOP) for several command timeouts under load, then resumed.
TEST(StateFaultTest, c_redis_paused_under_load) {
  const auto started = clock_type::now();
  redis_server redis;
  fault_proxy proxy(redis.port());
  const auto env = service_env(proxy, "sf-c");
  service svc;
  ASSERT_TRUE(start_ready(env, svc));
  acking_load load(svc.port, 3, 200us);
  ASSERT_TRUE(keep_loading(svc, load, 500ms, 200));

  {
    ASSERT_EQ(::kill(redis.pid(), SIGSTOP), 0);
    // Resumed however this block ends: a failure never leaves a stopped redis-server.
    const std::unique_ptr<const pid_t, void (*)(const pid_t*)> resume(new pid_t(redis.pid()),
                                                                      [](const pid_t* p) {
                                                                        ::kill(*p, SIGCONT);
                                                                        delete p;
                                                                      });
    hold_fault(svc, kFaultHold);
    std::cout << "[state-fault] c: paused: " << storage_summary(svc.port) << "\n";
  }

  EXPECT_TRUE(keep_loading(svc, load, 1000ms, 200));
  load.stop();
  std::cout << "[state-fault] c: after: " << storage_summary(svc.port) << "\n";
  report("c", load.stats(), proxy, started);
  expect_clean_load(load.stats());
  check_invariant(svc, env, load.acks());
  std::cout << "[state-fault] c: " << ms_since(started) << " ms in all\n";
}

// d. Redis with appendonly yes and appendfsync always (every write it confirmed is on disk)
// restarted under load: killed, down for a while, started again on its AOF.
void aof_restart_under_load(const char* name, int stop_signal) {
  const auto started = clock_type::now();
  redis_process redis({"--appendonly", "yes", "--appendfsync", "always"});
  fault_proxy proxy(redis.port());
  const auto env = service_env(proxy, name);
  service svc;
  ASSERT_TRUE(start_ready(env, svc));
  acking_load load(svc.port, 3, 200us);
  ASSERT_TRUE(keep_loading(svc, load, 500ms, 200));

  redis.stop(stop_signal);
  hold_fault(svc, kFaultHold);
  std::cout << "[state-fault] " << name << ": down: " << storage_summary(svc.port) << "\n";
  redis.start();

  EXPECT_TRUE(keep_loading(svc, load, 1000ms, 200));
  load.stop();
  std::cout << "[state-fault] " << name << ": after: " << storage_summary(svc.port) << "\n";
  report(name, load.stats(), proxy, started);
  expect_clean_load(load.stats());
  check_invariant(svc, env, load.acks());
  std::cout << "[state-fault] " << name << ": " << ms_since(started) << " ms in all\n";
}

TEST(StateFaultTest, d_aof_redis_killed_and_restarted_under_load) {
  aof_restart_under_load("sf-d-kill", SIGKILL);
}

TEST(StateFaultTest, d_aof_redis_stopped_and_restarted_under_load) {
  aof_restart_under_load("sf-d-term", SIGTERM);
}

}  // namespace
}  // namespace analyzer::test
