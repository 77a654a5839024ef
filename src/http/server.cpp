// Acceptor, io threads, connection limit and the graceful shutdown sequence.
#include "analyzer/http/server.hpp"

#include "analyzer/http/request_id.hpp"
#include "session.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

namespace analyzer::http {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Sent to a connection over MAX_CONNECTIONS before closing it.
constexpr std::string_view kOverloadedBody =
    R"json({"error":"unavailable","message":"too many open connections (MAX_CONNECTIONS)"})json";

std::string overloaded_response() {
  std::string out =
      "HTTP/1.1 503 Service Unavailable\r\n"
      "Content-Type: application/json\r\n"
      "Retry-After: 1\r\n"
      "Connection: close\r\n"
      "X-Request-Id: ";
  out += generate_request_id();
  out += "\r\nContent-Length: ";
  out += std::to_string(kOverloadedBody.size());
  out += "\r\n\r\n";
  out += kOverloadedBody;
  return out;
}

constexpr std::chrono::milliseconds kAcceptRetryDelay{50};

// accept() failures that repeat at once if retried at once (the listener stays readable).
bool out_of_resources(const boost::system::error_code& ec) {
  if (ec.category() != boost::system::system_category()) return false;
  const int e = ec.value();
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}
constexpr std::chrono::milliseconds kDrainPollInterval{5};

}  // namespace

struct server::impl final : session_host {
  impl(service_context& c, server_options o) : ctx(c), options(o) {}

  service_context& ctx;
  server_options options;
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> is_draining{false};
  std::atomic<bool> shutdown_started{false};
  std::uint16_t bound_port = 0;
  bool accept_failing = false;  // touched only by the accept chain (one operation at a time)

  std::mutex sessions_mutex;  // taken on connect, disconnect and shutdown only
  std::unordered_map<session*, std::weak_ptr<session>> sessions;

  std::mutex done_mutex;
  std::condition_variable done_cv;
  bool drained = false;
  std::chrono::steady_clock::time_point deadline{};

  std::vector<std::thread> threads;
  // Declared last: destroyed first, while everything its handlers touch still exists.
  net::io_context ioc{static_cast<int>(ctx.cfg.threads)};
  // The listener, its retry timer, signals and the shutdown steps all run on one strand:
  // shutdown closes the acceptor that the accept handler uses, and they share `deadline`.
  net::strand<net::io_context::executor_type> control{net::make_strand(ioc)};
  tcp::acceptor acceptor{control};
  net::steady_timer accept_retry{control};
  net::steady_timer shutdown_timer{control};
  net::signal_set signals{control};

  void on_session_open(const std::shared_ptr<session>& s) override {
    std::lock_guard lock(sessions_mutex);
    sessions.emplace(s.get(), s);
  }

  void on_session_close(session* s) noexcept override {
    {
      std::lock_guard lock(sessions_mutex);
      sessions.erase(s);
    }
    connections.fetch_sub(1, std::memory_order_acq_rel);
    ctx.metrics.record_connection_closed();
  }

  [[nodiscard]] bool draining() const noexcept override {
    return is_draining.load(std::memory_order_acquire);
  }

  void listen() {
    boost::system::error_code ec;
    const auto address = net::ip::make_address(ctx.cfg.bind_address, ec);
    if (ec) {
      throw std::system_error(ec, "invalid BIND_ADDR '" + ctx.cfg.bind_address + "'");
    }
    const tcp::endpoint endpoint{address, ctx.cfg.port};
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint, ec);
    if (ec) {
      throw std::system_error(
          ec, "cannot listen on " + ctx.cfg.bind_address + ":" + std::to_string(ctx.cfg.port));
    }
    acceptor.listen(net::socket_base::max_listen_connections);
    bound_port = acceptor.local_endpoint().port();
  }

  void do_accept() {
    const auto on_accepted = [this](boost::system::error_code ec, tcp::socket socket) {
      on_accept(ec, std::move(socket));
    };
    if (ctx.cfg.threads == 1) {
      // One thread runs every handler in order: a strand per connection would only add an
      // executor copy and a reference count to each operation.
      acceptor.async_accept(ioc.get_executor(), on_accepted);
    } else {
      acceptor.async_accept(net::make_strand(ioc), on_accepted);
    }
  }

  void on_accept(boost::system::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;  // shutdown closed the listener
    if (ec) {
      if (out_of_resources(ec)) {
        // Out of descriptors: retry after a pause instead of spinning on the ready listener.
        // Logged once per episode; the retries that follow are debug lines.
        spdlog::log(accept_failing ? spdlog::level::debug : spdlog::level::warn,
                    "accept failed: {}; retrying every {} ms", ec.message(),
                    kAcceptRetryDelay.count());
        accept_failing = true;
        accept_retry.expires_after(kAcceptRetryDelay);
        accept_retry.async_wait([this](boost::system::error_code wec) {
          if (!wec && acceptor.is_open()) do_accept();
        });
        return;
      }
      spdlog::debug("accept failed: {}", ec.message());
      do_accept();
      return;
    }
    if (accept_failing) {
      spdlog::info("accept works again");
      accept_failing = false;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (connections.fetch_add(1, std::memory_order_acq_rel) >= ctx.cfg.max_connections) {
      connections.fetch_sub(1, std::memory_order_acq_rel);
      ctx.metrics.record_connection_refused();
      reject_overloaded(std::move(socket));
    } else {
      ctx.metrics.record_connection_opened();
      std::make_shared<session>(std::move(socket), ctx, *this)->start();
    }
    do_accept();
  }

  static void reject_overloaded(tcp::socket socket) {
    auto sock = std::make_shared<tcp::socket>(std::move(socket));
    auto text = std::make_shared<const std::string>(overloaded_response());
    net::async_write(*sock, net::buffer(*text),
                     [sock, text](boost::system::error_code, std::size_t) {
                       boost::system::error_code ignored;
                       sock->shutdown(tcp::socket::shutdown_both, ignored);
                       sock->close(ignored);
                     });
  }

  void begin_shutdown() {
    if (shutdown_started.exchange(true)) return;
    spdlog::info("shutdown: /ready now 503; draining in {} ms", ctx.cfg.shutdown_delay.count());
    ctx.life.set(phase::stopping);
    shutdown_timer.expires_after(ctx.cfg.shutdown_delay);
    shutdown_timer.async_wait([this](boost::system::error_code) { start_draining(); });
  }

  void start_draining() {
    if (draining()) return;
    if (deadline == std::chrono::steady_clock::time_point{}) {
      deadline = std::chrono::steady_clock::now() + ctx.cfg.shutdown_timeout;
    }
    boost::system::error_code ignored;
    acceptor.close(ignored);
    accept_retry.cancel();
    // Phase last: whoever sees `draining` can rely on the listener being closed.
    is_draining.store(true, std::memory_order_release);
    ctx.life.set(phase::draining);
    for (const auto& s : live_sessions()) s->drain();
    spdlog::info("shutdown: listener closed, {} connection(s) draining",
                 connections.load(std::memory_order_acquire));
    poll_drained();
  }

  std::vector<std::shared_ptr<session>> live_sessions() {
    std::vector<std::shared_ptr<session>> out;
    std::lock_guard lock(sessions_mutex);
    out.reserve(sessions.size());
    for (auto& [ptr, weak] : sessions) {
      if (auto s = weak.lock()) out.push_back(std::move(s));
    }
    return out;
  }

  void poll_drained() {
    const bool empty = connections.load(std::memory_order_acquire) == 0;
    if (empty || std::chrono::steady_clock::now() >= deadline) {
      if (!empty) {
        spdlog::warn("shutdown: SHUTDOWN_TIMEOUT_MS passed, closing {} connection(s)",
                     connections.load(std::memory_order_acquire));
        for (const auto& s : live_sessions()) s->force_close();
      }
      std::lock_guard lock(done_mutex);
      drained = true;
      done_cv.notify_all();
      return;
    }
    shutdown_timer.expires_after(kDrainPollInterval);
    shutdown_timer.async_wait([this](boost::system::error_code) { poll_drained(); });
  }
};

server::server(service_context& ctx, server_options options)
    : impl_(std::make_unique<impl>(ctx, options)) {}

server::~server() {
  if (!impl_->threads.empty()) {
    impl_->ioc.stop();
    for (auto& t : impl_->threads) t.join();
  }
}

void server::start() {
  auto& s = *impl_;
  s.listen();
  if (s.options.handle_signals) {
    s.signals.add(SIGTERM);
    s.signals.add(SIGINT);
    s.signals.async_wait([&s](boost::system::error_code ec, int signo) {
      if (ec) return;
      spdlog::info("received signal {}", signo);
      s.begin_shutdown();
      // A second signal stops at once.
      s.signals.async_wait([&s](boost::system::error_code ec2, int signo2) {
        if (ec2) return;
        spdlog::warn("received signal {} again: stopping without draining", signo2);
        s.deadline = std::chrono::steady_clock::now();
        if (!s.draining()) s.start_draining();
      });
    });
  }
  s.do_accept();
  s.threads.reserve(s.ctx.cfg.threads);
  for (std::size_t i = 0; i < s.ctx.cfg.threads; ++i) {
    s.threads.emplace_back([&s] { s.ioc.run(); });
  }
}

std::uint16_t server::port() const noexcept { return impl_->bound_port; }

std::size_t server::connections() const noexcept {
  return impl_->connections.load(std::memory_order_acquire);
}

void server::shutdown() {
  net::post(impl_->control, [s = impl_.get()] { s->begin_shutdown(); });
}

int server::wait() {
  auto& s = *impl_;
  {
    std::unique_lock lock(s.done_mutex);
    s.done_cv.wait(lock, [&s] { return s.drained; });
  }
  // The io threads still run here, so a store that writes through them can flush and the
  // answers of calls that fail now can be sent. What is left of SHUTDOWN_TIMEOUT_MS bounds it.
  const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
      s.deadline - std::chrono::steady_clock::now());
  s.ctx.windows.stop(std::max(remaining, std::chrono::milliseconds{0}));
  s.signals.cancel();
  s.ioc.stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  spdlog::info("shutdown complete");
  return 0;
}

}  // namespace analyzer::http
