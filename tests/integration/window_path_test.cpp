// The HTTP layer against the window_path interface, with a path whose answers come on other
// threads at scripted moments: the one session/router/handler path must answer each request
// exactly once, in order, whichever thread the outcome arrives on and whenever it does.
#include "support/http_client.hpp"
#include "support/redis_server.hpp"
#include "support/scripted_path_base.hpp"
#include "support/test_service.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace analyzer::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

enum class timing {
  other_thread_before_return,  // answered on another thread while commit() still runs
  later,                       // answered on a worker thread after commit() returned
};

// The in-process path, with its answers delivered as `mode` says.
class scripted_path final : public scripted_path_base {
 public:
  explicit scripted_path(timing mode) : mode_(mode), worker_([this] { run(); }) {}
  ~scripted_path() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
  scripted_path(const scripted_path&) = delete;
  scripted_path& operator=(const scripted_path&) = delete;

  void commit(const storage::commit_request& req, storage::window_receiver& to) override {
    // Commit now (the order is the caller's); deliver the outcome as scripted.
    deliver([keep = to.retain(), results = apply(req)] {
      storage::commit_outcome out;
      out.results = results;
      keep->on_commit(out);
    });
  }

  void read(storage::window_receiver& to) override {
    deliver([this, keep = to.retain()] { answer_read(*keep); });
  }

  std::atomic<std::uint64_t> delivered{0};

 private:
  void deliver(std::function<void()> answer) {
    if (mode_ == timing::other_thread_before_return) {
      std::thread([&answer] { answer(); }).join();
      delivered.fetch_add(1);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(answer));
    }
    cv_.notify_all();
  }

  void run() {
    std::unique_lock lock(mutex_);
    while (true) {
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto answer = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      std::this_thread::sleep_for(2ms);  // well after commit() returned
      answer();
      delivered.fetch_add(1);
      lock.lock();
    }
  }

  timing mode_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

class WindowPathTest : public ::testing::TestWithParam<timing> {};

// Every request answered once, with its own outcome, and pipelined answers in order.
TEST_P(WindowPathTest, answers_arrive_once_in_order_from_any_thread) {
  auto path = std::make_unique<scripted_path>(GetParam());
  scripted_path& scripted = *path;
  test_service svc(test_config(), std::move(path));
  http_client client(svc.port());
  for (int i = 1; i <= 20; ++i) {
    const auto reply = client.post_json("/metrics?analysis=true",
                                        R"({"cpu": )" + std::to_string(i) + R"(, "rps": 100})");
    ASSERT_EQ(reply.status, 202U) << reply.body;
    const json body = json::parse(reply.body);
    EXPECT_EQ(body.at("accepted"), 1);
    EXPECT_EQ(body.at("results").at(0).at("seq"), i) << reply.body;
  }
  // Pipelined: three requests in one write, three answers in request order.
  std::string pipelined;
  for (int i = 0; i < 3; ++i) {
    const std::string sample = R"({"cpu": 50, "rps": 100})";
    pipelined +=
        "POST /metrics?analysis=true HTTP/1.1\r\nHost: t\r\nContent-Type: "
        "application/json\r\nContent-Length: " +
        std::to_string(sample.size()) + "\r\n\r\n" + sample;
  }
  pipelined += "GET /analyze HTTP/1.1\r\nHost: t\r\n\r\n";
  client.send_raw(pipelined);
  for (int i = 0; i < 3; ++i) {
    const auto reply = client.read_reply();
    ASSERT_EQ(reply.status, 202U);
    EXPECT_EQ(json::parse(reply.body).at("results").at(0).at("seq"), 21 + i);
  }
  const auto analyze = client.read_reply();
  ASSERT_EQ(analyze.status, 200U);
  EXPECT_EQ(json::parse(analyze.body).at("samples_total"), 23);
  const auto scrape = client.get("/metrics");
  ASSERT_EQ(scrape.status, 200U);
  EXPECT_NE(scrape.body.find("analyzer_commits_total 23"), std::string::npos) << scrape.body;
  // The worker counts an answer after delivering it: the last count may trail the reply.
  EXPECT_TRUE(eventually([&] { return scripted.delivered.load() == 20U + 3U + 1U + 1U; }))
      << scripted.delivered.load();
}

// A client that leaves before its answer arrives: the answer finds the session kept alive by
// the path (retain), is dropped with the connection, and the service goes on.
TEST(WindowPathLateTest, a_client_gone_before_the_answer_does_not_break_the_service) {
  auto path = std::make_unique<scripted_path>(timing::later);
  scripted_path& scripted = *path;
  test_service svc(test_config(), std::move(path));
  for (int i = 0; i < 10; ++i) {
    http_client gone(svc.port());
    gone.send_raw(
        "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Content-Length: 23\r\n\r\n{\"cpu\": 10, \"rps\": 100}");
  }  // closed without reading
  ASSERT_TRUE(eventually([&] { return scripted.delivered.load() >= 10; }, 10s));
  http_client client(svc.port());
  const auto analyze = client.get("/analyze");
  ASSERT_EQ(analyze.status, 200U);
  EXPECT_EQ(json::parse(analyze.body).at("samples_total"), 10);
}

std::string timing_name(const ::testing::TestParamInfo<timing>& param) {
  return param.param == timing::later ? "later" : "before_return";
}

INSTANTIATE_TEST_SUITE_P(Timings, WindowPathTest,
                         ::testing::Values(timing::other_thread_before_return, timing::later),
                         timing_name);

}  // namespace
}  // namespace analyzer::test
