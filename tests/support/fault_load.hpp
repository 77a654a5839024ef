// Load for the fault and lifecycle tests: a loopback HTTP/1.1 client that tells a complete
// response from none at all and from a truncated one, and a set of ingest threads that
// post as fast as they can (or paced) and keep every sample the service acknowledged with
// a 202, with the seq and analysis it answered. Header-only: used by
// integration/fault_lifecycle_test.cpp alone.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace analyzer::test::fault {

using clock_type = std::chrono::steady_clock;

// How one request/response exchange ended.
enum class outcome : std::uint8_t {
  complete,     // a whole response: status line, headers, Content-Length bytes of body
  no_response,  // the connection closed or reset before any byte of a response arrived
  partial,      // a response cut short (or malformed, or unasked-for bytes): a broken write
  timeout,      // nothing conclusive within the deadline
  send_failed,  // the request could not be written (connection already closed or reset)
};

inline const char* to_string(outcome o) {
  switch (o) {
    case outcome::complete:
      return "complete";
    case outcome::no_response:
      return "no_response";
    case outcome::partial:
      return "partial";
    case outcome::timeout:
      return "timeout";
    case outcome::send_failed:
      break;
  }
  return "send_failed";
}

struct exchange_result {
  outcome what = outcome::no_response;
  unsigned status = 0;
  bool close = false;  // Connection: close
  std::string body;
  std::string detail;  // for failure messages
};

inline std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// One blocking loopback connection driven by poll(2) with deadlines.
class connection {
 public:
  // Nothing when the connection is refused (no listener) or does not complete in time.
  static std::unique_ptr<connection> open(std::uint16_t port, std::chrono::milliseconds timeout) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return nullptr;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      if (errno != EINPROGRESS) {
        ::close(fd);
        return nullptr;
      }
      pollfd pfd{fd, POLLOUT, 0};
      int error = 0;
      socklen_t len = sizeof error;
      if (::poll(&pfd, 1, static_cast<int>(timeout.count())) != 1 ||
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
        ::close(fd);
        return nullptr;
      }
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return std::unique_ptr<connection>(new connection(fd));
  }

  ~connection() { ::close(fd_); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Writes `request` and reads one response to it.
  exchange_result exchange(std::string_view request, std::chrono::milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    exchange_result r;
    std::size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait(POLLOUT, deadline)) {
          r.what = outcome::timeout;
          r.detail = "send timed out";
          return r;
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      r.what = outcome::send_failed;
      r.detail = std::string("send: ") + std::strerror(errno);
      return r;
    }
    return read_response(deadline);
  }

 private:
  explicit connection(int fd) : fd_(fd) {}

  bool wait(short events, clock_type::time_point deadline) {
    while (true) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now())
              .count();
      if (left <= 0) return false;
      pollfd pfd{fd_, events, 0};
      const int n = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 60'000)));
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return false;
    }
  }

  // Appends what arrives; false on close, reset or deadline (`ended` tells which).
  bool fill(clock_type::time_point deadline, bool& ended, std::string& why) {
    if (!wait(POLLIN, deadline)) {
      why = "read timed out";
      return false;
    }
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      inbox_.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    ended = true;
    why = n == 0 ? "connection closed" : std::string("recv: ") + std::strerror(errno);
    return false;
  }

  exchange_result read_response(clock_type::time_point deadline) {
    exchange_result r;
    const std::size_t had = inbox_.size();  // bytes that arrived unasked (a protocol error)
    bool ended = false;
    std::string why;
    auto fail = [&]() {
      r.what =
          ended ? (inbox_.empty() ? outcome::no_response : outcome::partial) : outcome::timeout;
      r.detail = why + " after " + std::to_string(inbox_.size()) + " response byte(s)";
      return r;
    };
    std::size_t head_end = std::string::npos;
    while ((head_end = inbox_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline, ended, why)) return fail();
    }
    const std::string head = inbox_.substr(0, head_end);
    // "HTTP/1.1 202 Accepted"
    if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12) {
      r.what = outcome::partial;
      r.detail = "not an HTTP response: " + head.substr(0, 64);
      return r;
    }
    r.status = static_cast<unsigned>(std::stoul(head.substr(9, 3)));
    std::optional<std::size_t> length;
    std::size_t line_start = head.find("\r\n");
    while (line_start != std::string::npos && line_start < head.size()) {
      const std::size_t next = head.find("\r\n", line_start + 2);
      const std::string line = head.substr(
          line_start + 2, (next == std::string::npos ? head.size() : next) - line_start - 2);
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        const std::string name = lower(line.substr(0, colon));
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        if (name == "content-length") length = std::stoull(value);
        if (name == "connection" && lower(value) == "close") r.close = true;
      }
      line_start = next;
    }
    if (!length) {
      r.what = outcome::partial;
      r.detail = "response without Content-Length";
      return r;
    }
    const std::size_t total = head_end + 4 + *length;
    while (inbox_.size() < total) {
      if (!fill(deadline, ended, why)) return fail();
    }
    r.body = inbox_.substr(head_end + 4, *length);
    inbox_.erase(0, total);
    r.what = outcome::complete;
    if (had != 0) {  // a response nobody asked for, or the rest of an earlier one
      r.what = outcome::partial;
      r.detail = std::to_string(had) + " byte(s) arrived before the request was sent";
    }
    return r;
  }

  int fd_;
  std::string inbox_;
};

inline std::string http_request(std::string_view method, std::string_view target,
                                std::string_view body = {}) {
  std::string out;
  out.reserve(160 + body.size());
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  if (method == "POST") {
    out.append("Content-Type: application/json\r\nContent-Length: ")
        .append(std::to_string(body.size()))
        .append("\r\n");
  }
  out.append("\r\n").append(body);
  return out;
}

// One exchange on a fresh connection; nothing when no complete response came.
inline std::optional<exchange_result> fetch(
    std::uint16_t port, std::string_view target,
    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  auto c = connection::open(port, timeout);
  if (!c) return std::nullopt;
  auto r = c->exchange(http_request("GET", target), timeout);
  if (r.what != outcome::complete) return std::nullopt;
  return r;
}

// One committed sample as its 202 (with ?analysis=true) reported it.
struct acked_sample {
  std::uint64_t seq = 0;
  double cpu = 0, rps = 0;
  double cpu_z = 0, rps_z = 0;
  bool cpu_anomaly = false, rps_anomaly = false;
};

struct load_options {
  std::size_t threads = 4;
  // Pause between requests of one thread; zero: as fast as the service answers.
  std::chrono::microseconds pause{0};
  std::chrono::milliseconds request_timeout{10000};
};

// What the load threads saw, summed over all of them.
struct load_report {
  std::vector<acked_sample> acked;      // every sample of every 202
  std::size_t requests = 0;             // exchanges attempted
  std::size_t accepted = 0;             // 202 with a body that parsed and counted right
  std::size_t unavailable = 0;          // complete 503 (stopping / draining)
  std::size_t no_response = 0;          // closed before any response byte (or unwritable)
  std::size_t partial = 0;              // truncated responses: must stay 0
  std::size_t timeouts = 0;             // must stay 0
  std::size_t bad_status = 0;           // any other status, or a 202 body that does not fit
  std::size_t reconnects = 0;           // connections opened after the first
  std::size_t unanswered_samples = 0;   // samples of requests that got no complete response
  std::size_t after_mark_accepted = 0;  // 202s received after mark() was called
  std::vector<std::string> problems;    // the first few failures, for messages
};

// Sample `i` of thread `t`: a regular spread with an occasional spike on each metric.
inline nlohmann::json make_sample(std::size_t t, std::size_t i) {
  const double cpu = 30.0 + static_cast<double>((i * 7 + t) % 20) + (i % 97 == 96 ? 45.0 : 0.0);
  const double rps =
      1000.0 + static_cast<double>((i * 13 + t * 5) % 50) * 1.25 + (i % 89 == 88 ? 5000.0 : 0.0);
  return nlohmann::json{{"cpu", cpu}, {"rps", rps}};
}

// Threads posting samples (single ones and batches of 2..5, ?analysis=true) on kept-alive
// connections. A thread reconnects after a close or a failed exchange, and ends when a
// connection is refused (the listener is gone) or stop() is called.
class ingest_load {
 public:
  ingest_load(std::uint16_t port, load_options options) : port_(port), options_(options) {
    for (std::size_t t = 0; t < options_.threads; ++t) {
      threads_.emplace_back([this, t] { run(t); });
    }
  }
  ~ingest_load() { stop(); }
  ingest_load(const ingest_load&) = delete;
  ingest_load& operator=(const ingest_load&) = delete;

  // From now on, 202s are also counted in after_mark_accepted.
  void mark() { marked_.store(true); }
  [[nodiscard]] std::size_t accepted_samples() const { return accepted_samples_.load(); }
  [[nodiscard]] std::size_t live_threads() const { return live_.load(); }

  void stop() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  // Waits (bounded) for every thread to end by itself: connection refused.
  bool wait_finished(std::chrono::milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    while (live_.load() != 0) {
      if (clock_type::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling interval
    }
    stop();
    return true;
  }
  // After stop() or wait_finished().
  [[nodiscard]] load_report report() const {
    std::lock_guard lock(mutex_);
    return report_;
  }

 private:
  void run(std::size_t t) {
    load_report mine;
    std::unique_ptr<connection> conn;
    bool first = true;
    std::size_t next_sample = 0;
    std::size_t size_index = 0;
    static constexpr std::size_t kSizes[] = {1, 3, 1, 5, 1, 2};
    auto problem = [&mine](std::string text) {
      if (mine.problems.size() < 5) mine.problems.push_back(std::move(text));
    };
    while (!stop_.load()) {
      if (!conn) {
        conn = connection::open(port_, std::chrono::milliseconds(2000));
        if (!conn) break;  // refused: the service is gone or its listener closed
        if (!first) ++mine.reconnects;
        first = false;
      }
      const std::size_t n = kSizes[size_index++ % std::size(kSizes)];
      nlohmann::json body;
      if (n == 1) {
        body = make_sample(t, next_sample);
      } else {
        body = nlohmann::json::array();
        for (std::size_t k = 0; k < n; ++k) body.push_back(make_sample(t, next_sample + k));
      }
      next_sample += n;
      ++mine.requests;
      const auto r = conn->exchange(http_request("POST", "/metrics?analysis=true", body.dump()),
                                    options_.request_timeout);
      bool drop_connection = r.close;
      switch (r.what) {
        case outcome::complete:
          if (r.status == 202) {
            if (record(r.body, n, mine)) {
              ++mine.accepted;
              accepted_samples_.fetch_add(n);
              if (marked_.load()) ++mine.after_mark_accepted;
            } else {
              ++mine.bad_status;
              problem("202 body does not fit the request: " + r.body.substr(0, 200));
            }
          } else if (r.status == 503) {
            ++mine.unavailable;  // refused before the commit: nothing applied
          } else {
            ++mine.bad_status;
            problem("status " + std::to_string(r.status) + ": " + r.body.substr(0, 200));
          }
          if (!r.detail.empty()) problem(r.detail);
          break;
        case outcome::no_response:
        case outcome::send_failed:
          ++mine.no_response;
          mine.unanswered_samples += n;
          drop_connection = true;
          break;
        case outcome::partial:
          ++mine.partial;
          mine.unanswered_samples += n;
          problem(std::string("partial response: ") + r.detail);
          drop_connection = true;
          break;
        case outcome::timeout:
          ++mine.timeouts;
          mine.unanswered_samples += n;
          problem(std::string("timeout: ") + r.detail);
          drop_connection = true;
          break;
      }
      if (drop_connection) conn.reset();
      if (options_.pause.count() > 0) std::this_thread::sleep_for(options_.pause);  // pacing
    }
    std::lock_guard lock(mutex_);
    report_.acked.insert(report_.acked.end(), mine.acked.begin(), mine.acked.end());
    report_.requests += mine.requests;
    report_.accepted += mine.accepted;
    report_.unavailable += mine.unavailable;
    report_.no_response += mine.no_response;
    report_.partial += mine.partial;
    report_.timeouts += mine.timeouts;
    report_.bad_status += mine.bad_status;
    report_.reconnects += mine.reconnects;
    report_.unanswered_samples += mine.unanswered_samples;
    report_.after_mark_accepted += mine.after_mark_accepted;
    for (auto& p : mine.problems) {
      if (report_.problems.size() < 10) report_.problems.push_back(std::move(p));
    }
    live_.fetch_sub(1);
  }

  static bool record(const std::string& body, std::size_t n, load_report& into) {
    const auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object() || !j.contains("accepted") || j.at("accepted") != n ||
        !j.contains("results") || j.at("results").size() != n) {
      return false;
    }
    for (const auto& r : j.at("results")) {
      acked_sample s;
      s.seq = r.at("seq").get<std::uint64_t>();
      s.cpu = r.at("cpu").at("value").get<double>();
      s.rps = r.at("rps").at("value").get<double>();
      s.cpu_z = r.at("cpu").at("z_score").get<double>();
      s.rps_z = r.at("rps").at("z_score").get<double>();
      s.cpu_anomaly = r.at("cpu").at("anomaly").get<bool>();
      s.rps_anomaly = r.at("rps").at("anomaly").get<bool>();
      into.acked.push_back(s);
    }
    return true;
  }

  std::uint16_t port_;
  load_options options_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> marked_{false};
  std::atomic<std::size_t> accepted_samples_{0};
  std::atomic<std::size_t> live_{options_.threads};
  mutable std::mutex mutex_;
  load_report report_;
  std::vector<std::thread> threads_;
};

}  // namespace analyzer::test::fault
