// Acceptor, io threads, connection limit and the graceful shutdown sequence.
#include "analyzer/http/server.hpp"

#include "analyzer/http/request_id.hpp"
#include "block_arena.hpp"
#include "session.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
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

// What std::allocate_shared adds to a session in the same block: the control block's
// vtable pointer, two counts and the allocator, with room to spare.
constexpr std::size_t kControlBlockBytes = 64;

// Sessions come from their own arena (block_arena.hpp), so connections that close hand
// their memory back to the system. Not under AddressSanitizer, whose checks of use after
// free cover only its own heap.
std::shared_ptr<session> make_session(tcp::socket&& socket, service_context& ctx,
                                      session_host& host) {
#if defined(__SANITIZE_ADDRESS__)
  return std::make_shared<session>(std::move(socket), ctx, host);
#else
  // Never destroyed: a session may outlive the server (a storage thread can still hold
  // one for its answer).
  static auto* const arena = new block_arena(sizeof(session) + kControlBlockBytes);
  return std::allocate_shared<session>(arena_allocator<session>(*arena), std::move(socket), ctx,
                                       host);
#endif
}

// accept() failures that repeat at once if retried at once (the listener stays readable).
bool out_of_resources(const boost::system::error_code& ec) {
  if (ec.category() != boost::system::system_category()) return false;
  const int e = ec.value();
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}
constexpr std::chrono::milliseconds kDrainPollInterval{5};

// Descriptors the process needs besides its connections: the listener, the log, the
// Redis connections, the epoll and timer descriptors, and some to spare.
constexpr rlim_t kSpareDescriptors = 64;

// How often the sweep checks the connections' deadlines: an eighth of the shortest timeout,
// between 5 and 250 ms, so a timeout fires at most that late.
std::chrono::milliseconds sweep_interval(const config::config& cfg) {
  const auto shortest = std::min({cfg.idle_timeout, cfg.read_timeout, cfg.write_timeout});
  return std::clamp(shortest / 8, std::chrono::milliseconds{5}, std::chrono::milliseconds{250});
}

// Growth of the free heap after which the sweep hands free pages back to the system
// (malloc_trim), at most once per kTrimInterval. Large request and response bodies freed between
// long-lived session objects leave free pages that stay resident otherwise: 10 000 connections that
// each posted a 60-sample batch held 170 MiB while their live data was a few MiB.
constexpr std::size_t kTrimFreeBytes = std::size_t{1} << 20;
constexpr std::chrono::seconds kTrimInterval{1};

// Raises the soft RLIMIT_NOFILE towards MAX_CONNECTIONS plus spares (up to the hard
// limit), so connections up to MAX_CONNECTIONS are accepted and the ones past it get the
// fast 503 instead of waiting in the backlog while accept() fails with EMFILE.
void raise_descriptor_limit(std::size_t max_connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(max_connections) + kSpareDescriptors;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    const rlim_t target =
        limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
    if (target > limit.rlim_cur) {
      rlimit raised{target, limit.rlim_max};
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit.rlim_cur = target;
    }
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
    spdlog::warn(
        "the descriptor limit (RLIMIT_NOFILE {}) is below MAX_CONNECTIONS {} plus {} spares: "
        "connections past it wait in the backlog instead of getting 503; raise the hard limit",
        static_cast<unsigned long long>(limit.rlim_cur), max_connections,
        static_cast<unsigned long long>(kSpareDescriptors));
  }
}

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
  // When the drain gives up; set on the control strand (a second signal moves it to now)
  // and read by wait().
  std::atomic<std::chrono::steady_clock::time_point> deadline{};

  std::chrono::steady_clock::time_point last_trim{};  // control strand only
  std::size_t free_at_last_trim = 0;                  // control strand only
  std::vector<std::shared_ptr<session>> expired;      // reused by sweep(); control strand only

  std::vector<std::thread> threads;
  // Declared after everything its handlers touch and before the objects bound to it (the
  // strand, the acceptor, the timers, the signals): destroyed after those and before the
  // rest, so no handler outlives what it uses.
  net::io_context ioc{static_cast<int>(ctx.cfg.threads)};
  // The listener, its retry timer, signals and the shutdown steps all run on one strand:
  // shutdown closes the acceptor that the accept handler uses, and they share `deadline`.
  net::strand<net::io_context::executor_type> control{net::make_strand(ioc)};
  tcp::acceptor acceptor{control};
  net::steady_timer accept_retry{control};
  net::steady_timer shutdown_timer{control};
  net::steady_timer sweep_timer{control};
  net::signal_set signals{control};

  // The connections' timeouts: one pass over the sessions per interval, no timer per
  // operation. Sessions past their deadline are closed from their own executors.
  void sweep() {
    // Re-armed first: nothing below may stop the timeouts for good.
    sweep_timer.expires_after(sweep_interval(ctx.cfg));
    sweep_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec) sweep();
    });
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(sessions_mutex);
      for (auto& [ptr, weak] : sessions) {
        if (!ptr->past_deadline(now)) continue;
        if (auto s = weak.lock()) expired.push_back(std::move(s));
      }
    }
    // Outside the lock: dropping the last reference runs ~session, which takes it.
    for (auto& s : expired) s->expire();
    expired.clear();
    release_memory_after_burst();
  }

  void release_memory_after_burst() {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_trim < kTrimInterval) return;
    // Only when the free heap grew by kTrimFreeBytes since the last look: a heap whose free
    // part stays as it is (steady load) is not walked again every second.
    const std::size_t free_bytes = ::mallinfo2().fordblks;
    if (free_bytes < free_at_last_trim + kTrimFreeBytes) {
      free_at_last_trim = std::min(free_at_last_trim, free_bytes);
      return;
    }
    last_trim = now;
    free_at_last_trim = free_bytes;
    ::malloc_trim(0);
  }

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
      // Out of memory for one more session: this connection is dropped (its socket closes
      // when it goes out of scope) and the listener goes on.
      std::shared_ptr<session> s;
      try {
        s = make_session(std::move(socket), ctx, *this);
      } catch (const std::exception& e) {
        connections.fetch_sub(1, std::memory_order_acq_rel);
        ctx.metrics.record_connection_closed();
        spdlog::error("cannot serve a new connection: {}", e.what());
      }
      try {
        if (s) s->start();  // a failed start destroys the session, which gives its count back
      } catch (const std::exception& e) {
        spdlog::error("cannot serve a new connection: {}", e.what());
      }
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
    if (deadline.load() == std::chrono::steady_clock::time_point{}) {
      deadline.store(std::chrono::steady_clock::now() + ctx.cfg.shutdown_timeout);
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
    if (empty || std::chrono::steady_clock::now() >= deadline.load()) {
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
  raise_descriptor_limit(s.ctx.cfg.max_connections);
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
        s.deadline.store(std::chrono::steady_clock::now());
        if (!s.draining()) s.start_draining();
      });
    });
  }
  s.do_accept();
  net::post(s.control, [&s] { s.sweep(); });
  s.threads.reserve(s.ctx.cfg.threads);
  for (std::size_t i = 0; i < s.ctx.cfg.threads; ++i) {
    s.threads.emplace_back([&s] {
      // A handler that throws is logged and the thread goes on serving: one failed
      // request must not end the process.
      for (;;) {
        try {
          s.ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("unhandled exception in an io thread: {}", e.what());
        }
      }
    });
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
      s.deadline.load() - std::chrono::steady_clock::now());
  s.ctx.windows.stop(std::max(remaining, std::chrono::milliseconds{0}));
  s.signals.cancel();
  s.ioc.stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  spdlog::info("shutdown complete");
  return 0;
}

}  // namespace analyzer::http
