// The io thread, reconnect loop, backoff and bounded stop shared by the Redis users.
#include "redis_client.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <utility>

namespace analyzer::storage {

namespace net = boost::asio;

namespace {

std::string left_out(std::uint64_t suppressed) {
  return suppressed > 0 ? fmt::format(" ({} similar lines left out)", suppressed) : std::string();
}

}  // namespace

redis_client::redis_client(redis_client_options options, redis_client_handlers handlers)
    : options_(std::move(options)),
      handlers_(std::move(handlers)),
      connect_log_(options_.log_interval) {}

redis_client::~redis_client() { stop(clock::now() + kDefaultStopBudget); }

void redis_client::start() {
  if (thread_.joinable() || stop_requested()) return;
  net::post(ioc_, [this] { connect_now(); });
  thread_ = std::thread([this] {
    ioc_.run();
    {
      std::lock_guard lock(run_mutex_);
      run_finished_ = true;
    }
    run_finished_cv_.notify_all();
  });
}

void redis_client::stop(clock::time_point deadline) {
  if (stop_requested_.exchange(true, std::memory_order_acq_rel)) return;
  if (!thread_.joinable()) return;  // never started: nothing runs
  net::post(ioc_, [this] {
    stopping_ = true;
    reconnect_timer_.cancel();
    if (handlers_.on_stopping) handlers_.on_stopping();
    if (conn_) conn_->close(options_.log_name + " shutting down");
  });
  work_.reset();
  bool finished = false;
  {
    std::unique_lock lock(run_mutex_);
    finished = run_finished_cv_.wait_until(lock, deadline, [this] { return run_finished_; });
  }
  if (!finished) {
    // Something of the owner's still runs or waits (a timer, a handler): do not hang.
    spdlog::warn("{}: the io thread did not finish within the stop deadline; stopping it",
                 options_.log_name);
    ioc_.stop();
  }
  thread_.join();
  // The io thread is gone. A connection the stop handler did not reach (the deadline came
  // first) stops waiting for its resolver before the io_context goes.
  if (conn_) conn_->abandon();
  conn_.reset();
  connected_.store(false, std::memory_order_release);
}

std::shared_ptr<redis_connection> redis_client::ready_connection() const {
  return conn_ && conn_->ready() ? conn_ : nullptr;
}

void redis_client::connect_now() {
  if (stopping_) return;
  if (attempted_) reconnects_.fetch_add(1, std::memory_order_relaxed);
  attempted_ = true;
  const std::uint64_t id = ++conn_id_;
  auto c = std::make_shared<redis_connection>(
      ioc_, options_.connection, [this, id] { on_connection_ready(id); },
      [this, id](const std::string& reason) { on_connection_closed(id, reason); });
  conn_ = c;
  c->connect();
}

void redis_client::on_connection_ready(std::uint64_t id) {
  if (id != conn_id_ || !conn_ || stopping_) return;
  if (handlers_.on_ready) handlers_.on_ready(conn_);
}

void redis_client::command_succeeded() {
  backoff_ = std::chrono::milliseconds{0};
  if (!last_failure_.empty()) {
    last_failure_.clear();
    connect_log_.reset();
  }
}

void redis_client::mark_connected(std::string_view detail) {
  connected_.store(true, std::memory_order_release);
  std::uint64_t suppressed = 0;
  if (connect_log_.allow(suppressed)) {
    spdlog::info("{}: connected to {}{}{}", options_.log_name,
                 options_.connection.address.to_string(), detail, left_out(suppressed));
  }
}

void redis_client::close(const std::string& reason) {
  if (conn_) conn_->close(reason);
}

void redis_client::on_connection_closed(std::uint64_t id, const std::string& reason) {
  if (id != conn_id_) return;  // a connection replaced already (cannot happen: one at a time)
  const bool was_connected = connected_.exchange(false, std::memory_order_acq_rel);
  conn_.reset();
  if (handlers_.on_closed) handlers_.on_closed(reason);
  if (stopping_) return;
  // The backoff grows until a command succeeds, not just until a handshake does.
  backoff_ = std::clamp(backoff_ * 2, options_.backoff_initial, options_.backoff_max);
  const auto delay = std::chrono::milliseconds(
      static_cast<long long>(static_cast<double>(backoff_.count()) *
                             std::uniform_real_distribution<double>(0.8, 1.2)(jitter_)));
  std::uint64_t suppressed = 0;
  if ((reason != last_failure_ || was_connected) && connect_log_.allow(suppressed)) {
    spdlog::warn("{}: {} {}: {}; reconnecting in {} ms (backoff up to {} ms){}", options_.log_name,
                 options_.connection.address.to_string(),
                 was_connected ? "disconnected" : "unavailable", reason, delay.count(),
                 options_.backoff_max.count(), left_out(suppressed));
  }
  last_failure_ = reason;
  reconnect_timer_.expires_after(delay);
  reconnect_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) connect_now();
  });
}

}  // namespace analyzer::storage
