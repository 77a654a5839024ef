// HTTP edge cases over real loopback sockets: a Content-Length over the body limit keeps
// the request's id and route, HTTP/1.0 framing and expectations, what the drain does with
// half a head and with a pipelined request already buffered, and a handler that throws.
#include "support/blocking_client.hpp"
#include "support/http_client.hpp"
#include "support/raw_socket.hpp"
#include "support/redis_server.hpp"
#include "support/scripted_path_base.hpp"
#include "support/test_service.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace analyzer::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr std::string_view kSample = R"({"cpu":10,"rps":100})";

std::string post_request(std::string_view body, std::string_view extra_headers = "") {
  std::string out = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
  out.append(extra_headers);
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  out.append(body);
  return out;
}

std::string chunked(std::string_view body) {
  char size[24];
  std::snprintf(size, sizeof size, "%zx", body.size());
  return std::string(size) + "\r\n" + std::string(body) + "\r\n0\r\n\r\n";
}

std::string error_of(const http_reply& reply) {
  const json body = json::parse(reply.body, nullptr, false);
  return body.is_object() && body.contains("error") ? body["error"].get<std::string>() : "";
}

// The in-process path with a gate on commits: while closed, a commit is applied at once
// but its answer waits until open(); a path may also throw from commit().
class gated_path final : public scripted_path_base {
 public:
  gated_path() = default;
  ~gated_path() override {
    for (auto& t : deliverers_) t.join();
  }
  gated_path(const gated_path&) = delete;
  gated_path& operator=(const gated_path&) = delete;

  void commit(const storage::commit_request& req, storage::window_receiver& to) override {
    if (throwing.load()) throw std::runtime_error("scripted failure");
    auto answer = [keep = to.retain(), results = apply(req)] {
      storage::commit_outcome out;
      out.results = results;
      keep->on_commit(out);
    };
    std::lock_guard lock(mutex_);
    if (open_) {
      answer();
    } else {
      held_.push_back(std::move(answer));
    }
  }

  void read(storage::window_receiver& to) override { answer_read(to); }

  [[nodiscard]] std::size_t held() {
    std::lock_guard lock(mutex_);
    return held_.size();
  }

  // Delivers the held answers on another thread, as a storage thread would.
  void open_gate() {
    std::vector<std::function<void()>> answers;
    {
      std::lock_guard lock(mutex_);
      open_ = true;
      answers.swap(held_);
    }
    deliverers_.emplace_back([answers = std::move(answers)] {
      for (const auto& a : answers) a();
    });
  }

  std::atomic<bool> throwing{false};

 private:
  std::mutex mutex_;
  bool open_ = false;
  std::vector<std::function<void()>> held_;
  std::vector<std::thread> deliverers_;
};

TEST(HttpEdgeTest, content_length_over_the_limit_keeps_the_request_id_and_route) {
  config::config cfg = test_config();
  cfg.max_body_bytes = 1024;
  test_service svc(cfg);
  raw_socket sock(svc.port());
  ASSERT_TRUE(
      sock.write_all("POST /metrics HTTP/1.1\r\nHost: x\r\nX-Request-Id: big-body-1\r\n"
                     "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"));
  const auto reply = sock.read_reply();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 413U);
  EXPECT_EQ(error_of(*reply), "body_too_large") << reply->body;
  EXPECT_EQ(reply->header("x-request-id"), "big-body-1");
  EXPECT_TRUE(sock.wait_closed(5s)) << "the unread body is not taken for the next request";

  http_client client(svc.port());
  const auto scrape = client.get("/metrics");
  EXPECT_NE(scrape.body.find(
                "http_requests_total{method=\"POST\",route=\"/metrics\",status=\"413\"} 1\n"),
            std::string::npos)
      << scrape.body;
  EXPECT_NE(scrape.body.find("analyzer_ingest_rejected_total{reason=\"body_too_large\"} 1\n"),
            std::string::npos);
}

TEST(HttpEdgeTest, http10_with_transfer_encoding_is_400_and_closed) {
  test_service svc;
  raw_socket sock(svc.port());
  ASSERT_TRUE(
      sock.write_all("POST /metrics HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     chunked(kSample)));
  const auto reply = sock.read_reply();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 400U);
  EXPECT_EQ(error_of(*reply), "bad_request") << reply->body;
  EXPECT_TRUE(sock.wait_closed(5s)) << "RFC 9112 §6.1: close after faulty framing";
  http_client client(svc.port());
  EXPECT_EQ(json::parse(client.get("/analyze").body).at("samples_total"), 0);
}

TEST(HttpEdgeTest, http10_expect_100_continue_gets_no_interim_response) {
  test_service svc;
  raw_socket sock(svc.port());
  ASSERT_TRUE(
      sock.write_all("POST /metrics HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Expect: 100-continue\r\nContent-Length: " +
                     std::to_string(kSample.size()) + "\r\n\r\n"));
  // An HTTP/1.0 client does not know 1xx: the server waits for the body without one.
  EXPECT_TRUE(sock.silent_for(300ms)) << sock.inbox();
  ASSERT_TRUE(sock.write_all(kSample));
  const auto reply = sock.read_reply();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 202U) << reply->body;
}

TEST(HttpEdgeTest, http11_expect_100_continue_still_gets_it) {
  test_service svc;
  raw_socket sock(svc.port());
  ASSERT_TRUE(
      sock.write_all("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Expect: 100-continue\r\nContent-Length: " +
                     std::to_string(kSample.size()) + "\r\n\r\n"));
  const auto interim = sock.read_reply();
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100U);
  ASSERT_TRUE(sock.write_all(kSample));
  const auto reply = sock.read_reply();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 202U) << reply->body;
}

config::config drain_config() {
  config::config cfg = test_config();
  cfg.shutdown_delay = 0ms;
  cfg.shutdown_timeout = 5000ms;
  cfg.read_timeout = 10000ms;
  return cfg;
}

TEST(HttpEdgeTest, drain_closes_a_connection_holding_half_a_head_at_once) {
  test_service svc(drain_config());
  raw_socket sock(svc.port());
  ASSERT_TRUE(sock.write_all("GET /health HTTP/1.1\r\nHost: x\r\n"));  // no blank line yet
  EXPECT_TRUE(sock.silent_for(200ms));  // the server has read it and waits for the rest
  const auto started = std::chrono::steady_clock::now();
  std::atomic<int> rc{-1};
  std::jthread stopper([&] { rc = svc.stop(); });
  EXPECT_TRUE(sock.wait_closed(2s)) << "half a head must not hold the shutdown budget";
  stopper.join();
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(rc.load(), 0);
  EXPECT_LT(took, 2s) << "SHUTDOWN_TIMEOUT_MS is 5 s; the half head should not use it";
  EXPECT_TRUE(sock.inbox().empty()) << sock.inbox();
}

TEST(HttpEdgeTest, drain_answers_a_buffered_pipelined_request_with_503) {
  auto path = std::make_unique<gated_path>();
  gated_path& gate = *path;
  test_service svc(drain_config(), std::move(path));
  raw_socket sock(svc.port());
  // A commit whose answer is held, and a request pipelined behind it.
  ASSERT_TRUE(sock.write_all(post_request(kSample) + "GET /analyze HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(eventually([&] { return gate.held() == 1; }));
  std::atomic<int> rc{-1};
  std::jthread stopper([&] { rc = svc.stop(); });
  ASSERT_TRUE(eventually([&] { return svc.life.current() == http::phase::draining; }));
  gate.open_gate();
  const auto first = sock.read_reply();
  ASSERT_TRUE(first.has_value()) << sock.inbox();
  EXPECT_EQ(first->status, 202U) << first->body;
  const auto second = sock.read_reply();
  ASSERT_TRUE(second.has_value()) << "the buffered request was dropped; inbox: " << sock.inbox();
  EXPECT_EQ(second->status, 503U) << second->body;
  EXPECT_EQ(error_of(*second), "unavailable");
  EXPECT_EQ(second->header("retry-after"), "1");
  EXPECT_FALSE(second->keep_alive);
  EXPECT_TRUE(sock.wait_closed(2s));
  stopper.join();
  EXPECT_EQ(rc.load(), 0);
}

TEST(HttpEdgeTest, a_handler_that_throws_answers_500_and_the_service_goes_on) {
  auto path = std::make_unique<gated_path>();
  gated_path& gate = *path;
  gate.open_gate();
  test_service svc(test_config(), std::move(path));
  http_client client(svc.port());
  gate.throwing = true;
  const auto failed = client.post_json("/metrics", kSample);
  EXPECT_EQ(failed.status, 500U) << failed.body;
  EXPECT_EQ(error_of(failed), "internal");
  EXPECT_TRUE(failed.keep_alive);
  gate.throwing = false;
  const auto ok = client.post_json("/metrics", kSample);  // same connection
  EXPECT_EQ(ok.status, 202U) << ok.body;
  EXPECT_EQ(json::parse(ok.body).at("accepted"), 1);
}

// A request waiting for the window path's answer (shared scope: Redis) is no longer under
// READ_TIMEOUT_MS: the answer comes within SHARED_REQUEST_DEADLINE_MS and must be sent.
TEST(HttpEdgeTest, a_request_waiting_for_its_answer_is_not_closed_by_the_read_timeout) {
  auto path = std::make_unique<gated_path>();
  gated_path& gate = *path;
  config::config cfg = test_config();
  cfg.read_timeout = 200ms;
  test_service svc(cfg, std::move(path));
  raw_socket sock(svc.port());
  ASSERT_TRUE(sock.write_all(post_request(kSample)));
  ASSERT_TRUE(eventually([&] { return gate.held() == 1; }));
  EXPECT_TRUE(sock.silent_for(600ms)) << "closed while waiting for the answer";
  gate.open_gate();
  const auto reply = sock.read_reply();
  ASSERT_TRUE(reply.has_value()) << "no answer";
  EXPECT_EQ(reply->status, 202U) << reply->body;
}

// An error answered on a kept-alive connection after a HEAD request carries its body.
TEST(HttpEdgeTest, an_error_after_a_head_request_has_its_body) {
  config::config cfg = test_config();
  cfg.max_header_bytes = 512;
  test_service svc(cfg);
  raw_socket sock(svc.port());
  ASSERT_TRUE(sock.write_all("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto head = sock.read_reply(/*head=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200U);
  // Request line and fields each under 512 bytes, the head over it: refused (431) once
  // parsed, with the request's method known.
  ASSERT_TRUE(sock.write_all("GET /health?pad=" + std::string(380, 'a') +
                             " HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(400, 'b') +
                             "\r\n\r\n"));
  const auto reply = sock.read_reply(/*head=*/false, 5s);
  ASSERT_TRUE(reply.has_value()) << "the 431's body never came: " << sock.inbox();
  EXPECT_EQ(reply->status, 431U);
  EXPECT_EQ(error_of(*reply), "headers_too_large");
}

// An idle keep-alive connection keeps no read buffer, parsed request or response body:
// connections that each received a ~10 KB answer cost the server little more than their
// sockets once they are idle.
TEST(HttpEdgeTest, idle_connections_keep_no_buffers_after_large_answers) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "sanitizers keep shadow memory per allocation: RSS says nothing here";
#endif
  constexpr std::size_t kConnections = 2000;
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  config::config cfg = test_config();
  cfg.max_connections = kConnections + 100;
  test_service svc(cfg);
  std::string batch = "[";
  for (int i = 0; i < 60; ++i) {
    batch += std::string(i == 0 ? "" : ",") + R"({"cpu":)" + std::to_string(40 + i % 7) +
             R"(,"rps":)" + std::to_string(400 + i % 11) + "}";
  }
  batch += "]";
  std::string request = post_request(batch);
  request.replace(request.find("/metrics"), 8, "/metrics?analysis=true");
  {
    blocking_client warm(svc.port());  // the first answers grow the pools and the windows
    for (int i = 0; i < 10; ++i) ASSERT_EQ(warm.exchange(request), 202U);
  }
  const std::size_t before = resident_bytes();
  std::vector<std::unique_ptr<blocking_client>> clients;
  clients.reserve(kConnections);
  for (std::size_t i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<blocking_client>(svc.port()));
    ASSERT_EQ(clients.back()->exchange(request), 202U) << "connection " << i;
  }
  const std::size_t held = resident_bytes();
  const std::size_t grown = held - std::min(before, held);
  // About 1.5 KiB per idle connection (session, socket, Asio's descriptor state); a
  // connection that kept its last answer held over 15 KiB.
  EXPECT_LT(grown, 12 * kMiB) << "RSS grew " << grown / 1024 << " KiB for " << kConnections
                              << " idle connections";
}

}  // namespace
}  // namespace analyzer::test
