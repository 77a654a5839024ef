// hiredis async context bound to Asio: interest hooks, connect/command deadlines, cleanup.
#include "redis_connection.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <netdb.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include <array>
#include <cerrno>
#include <mutex>
#include <system_error>
#include <thread>

namespace analyzer::storage {

namespace net = boost::asio;

struct redis_connection::pending_command {
  reply_handler done;
  bool internal = false;  // handshake commands are not counted as pipelined work
};

// Shared by the connection and its resolving thread. The thread posts its result to `ioc`
// under `mutex` unless the connection abandoned the job (ioc null) first; so once abandon()
// returned, the thread no longer touches the io_context.
struct redis_connection::resolve_job {
  std::mutex mutex;
  net::io_context* ioc = nullptr;  // under mutex; null once abandoned
};

namespace {

redis_connection* owner(const redisAsyncContext* ctx) {
  return static_cast<redis_connection*>(ctx->ev.data);
}

// Error replies of a node that cannot take our writes now: a demoted master (READONLY), a
// node loading its data set (LOADING), a replica without its master (MASTERDOWN).
bool node_unavailable(const redisReply* reply) {
  if (reply == nullptr || reply->type != REDIS_REPLY_ERROR || reply->str == nullptr) return false;
  const std::string_view text(reply->str, reply->len);
  for (std::string_view prefix : {"READONLY", "LOADING", "MASTERDOWN"}) {
    if (text.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

bool is_numeric_host(const std::string& host) {
  boost::system::error_code ec;
  (void)net::ip::make_address(host, ec);
  return !ec;
}

// getaddrinfo, the first address as numeric text (what Asio's resolver gave: any family,
// AI_ADDRCONFIG).
resolved_host system_resolve(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) {
    return {
        {},
        rc == EAI_SYSTEM ? std::system_category().message(errno) : std::string(gai_strerror(rc))};
  }
  resolved_host out{{}, "no address"};
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    std::array<char, NI_MAXHOST> text{};
    if (::getnameinfo(a->ai_addr, a->ai_addrlen, text.data(), text.size(), nullptr, 0,
                      NI_NUMERICHOST) == 0) {
      out = {text.data(), {}};
      break;
    }
  }
  ::freeaddrinfo(found);
  return out;
}

std::string reply_text(const redisReply* reply) {
  if (reply == nullptr) return "no reply";
  if (reply->str != nullptr) return std::string(reply->str, reply->len);
  return "reply type " + std::to_string(reply->type);
}

}  // namespace

redis_connection::redis_connection(net::io_context& ioc, redis_connection_options options,
                                   ready_handler on_ready, closed_handler on_closed)
    : ioc_(ioc),
      options_(std::move(options)),
      on_ready_(std::move(on_ready)),
      on_closed_(std::move(on_closed)),
      descriptor_(ioc),
      connect_timer_(ioc),
      command_timer_(ioc) {}

redis_connection::~redis_connection() {
  abandon();
  // Owners close() before letting go; this only guards against a context still open (an
  // io_context stopped before the close ran). hiredis closes the descriptor itself, so
  // Asio lets go of it first; without hooks and owner, the replies hiredis still holds
  // complete without calling back into an owner that may be gone.
  if (context_ != nullptr) {
    (void)descriptor_.release();
    context_->ev = {};
    redisAsyncFree(context_);
    context_ = nullptr;
  }
}

void redis_connection::connect() {
  const auto& addr = options_.address;
  auto self = shared_from_this();
  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait([self](boost::system::error_code ec) {
    if (!ec && !self->ready_ && !self->finished_) {
      self->close("connect timeout after " +
                  std::to_string(self->options_.connect_timeout.count()) + " ms");
    }
  });
  if (addr.is_unix() || is_numeric_host(addr.host)) {
    connect_to(addr.host);
    return;
  }
  start_resolve();
}

void redis_connection::start_resolve() {
  auto job = std::make_shared<resolve_job>();
  job->ioc = &ioc_;
  resolving_ = job;
  std::weak_ptr<redis_connection> weak = shared_from_this();
  auto work = [job, weak, resolve = options_.resolve, host = options_.address.host,
               port = options_.address.port] {
    resolved_host result = resolve ? resolve(host, port) : system_resolve(host, port);
    std::lock_guard lock(job->mutex);
    if (job->ioc == nullptr) return;  // abandoned: the io_context may be gone
    net::post(*job->ioc, [job, weak, result = std::move(result)] {
      auto self = weak.lock();
      if (!self || self->resolving_ != job) return;  // closed meanwhile
      self->resolving_.reset();
      if (self->finished_ || self->context_ != nullptr) return;
      if (!result.error.empty() || result.numeric.empty()) {
        self->finish("cannot resolve " + self->options_.address.host + ": " +
                     (result.error.empty() ? std::string("no address") : result.error));
        return;
      }
      self->connect_to(result.numeric);
    });
  };
  try {
    std::thread(std::move(work)).detach();
  } catch (const std::system_error& e) {
    resolving_.reset();
    finish("cannot resolve " + options_.address.host + ": no thread for it: " + e.what());
  }
}

void redis_connection::abandon() noexcept {
  if (!resolving_) return;
  {
    std::lock_guard lock(resolving_->mutex);
    resolving_->ioc = nullptr;
  }
  resolving_.reset();
}

void redis_connection::connect_to(const std::string& numeric_host) {
  const auto& addr = options_.address;
  context_ = addr.is_unix() ? redisAsyncConnectUnix(addr.unix_path.c_str())
                            : redisAsyncConnect(numeric_host.c_str(), addr.port);
  if (context_ == nullptr) {
    finish("cannot allocate a hiredis context");
    return;
  }
  if (context_->err != 0) {
    std::string error = context_->errstr;
    redisAsyncFree(context_);  // no hooks yet: nothing else runs
    context_ = nullptr;
    finish("connect to " + addr.to_string() + " failed: " + error);
    return;
  }
  // Before the hooks: setting the connect callback already asks for write interest.
  descriptor_.assign(context_->c.fd);
  context_->ev.data = this;
  context_->ev.addRead = &redis_connection::add_read;
  context_->ev.delRead = &redis_connection::del_read;
  context_->ev.addWrite = &redis_connection::add_write;
  context_->ev.delWrite = &redis_connection::del_write;
  context_->ev.cleanup = &redis_connection::cleanup;
  redisAsyncSetConnectCallback(context_, &redis_connection::on_connect);
  redisAsyncSetDisconnectCallback(context_, &redis_connection::on_disconnect);
  handshake();
}

void redis_connection::handshake() {
  auto self = shared_from_this();
  auto check = [self](const char* what) {
    return [self, what](const redisReply* reply) {
      if (reply == nullptr) return;  // the connection is already going away
      if (reply->type == REDIS_REPLY_ERROR) {
        const std::string text = reply_text(reply);
        if (std::string_view(what) == "AUTH") {
          spdlog::error("redis AUTH failed at {}: {} (check REDIS_PASSWORD)",
                        self->options_.address.to_string(), text);
        }
        self->close(std::string(what) + " failed: " + text);
      }
    };
  };
  if (!options_.password.empty()) send({"AUTH", options_.password}, check("AUTH"), true);
  const std::string db = std::to_string(options_.db);
  if (options_.db != 0) send({"SELECT", db}, check("SELECT"), true);
  send(
      {"PING"},
      [self, inner = check("PING")](const redisReply* reply) {
        inner(reply);
        if (reply == nullptr || reply->type == REDIS_REPLY_ERROR || self->finished_) return;
        self->ready_ = true;
        self->connect_timer_.cancel();
        net::post(self->ioc_, [self] {
          if (self->ready_) self->on_ready_();
        });
      },
      true);
}

bool redis_connection::command(const std::vector<std::string_view>& args, reply_handler done) {
  if (!ready_ || context_ == nullptr) return false;
  return send(args, std::move(done), false);
}

bool redis_connection::send(const std::vector<std::string_view>& args, reply_handler done,
                            bool internal) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (auto a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  auto* pending = new pending_command{std::move(done), internal};
  if (redisAsyncCommandArgv(context_, &redis_connection::on_reply, pending,
                            static_cast<int>(argv.size()), argv.data(),
                            lengths.data()) != REDIS_OK) {
    delete pending;
    return false;
  }
  sent_at_.push_back(std::chrono::steady_clock::now());
  if (sent_at_.size() == 1) arm_command_timer();
  return true;
}

void redis_connection::arm_command_timer() {
  if (sent_at_.empty()) {
    command_timer_.cancel();
    return;
  }
  command_timer_.expires_at(sent_at_.front() + options_.command_timeout);
  command_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->finished_ || self->sent_at_.empty()) return;
    if (std::chrono::steady_clock::now() >=
        self->sent_at_.front() + self->options_.command_timeout) {
      self->close("no reply within " + std::to_string(self->options_.command_timeout.count()) +
                  " ms (REDIS_COMMAND_TIMEOUT_MS)");
    } else {
      self->arm_command_timer();
    }
  });
}

void redis_connection::close(const std::string& reason) {
  if (close_reason_.empty()) close_reason_ = reason;
  ready_ = false;
  if (context_ != nullptr) {
    redisAsyncFree(context_);  // deferred by hiredis when called inside its callback
  } else {
    abandon();
    finish(reason);
  }
}

void redis_connection::finish(const std::string& reason) {
  if (finished_) return;
  finished_ = true;
  ready_ = false;
  connect_timer_.cancel();
  command_timer_.cancel();
  net::post(ioc_, [self = shared_from_this(), reason] { self->on_closed_(reason); });
}

void redis_connection::on_connect(const redisAsyncContext* ctx, int status) {
  auto* self = owner(ctx);
  if (self != nullptr && status != REDIS_OK && self->close_reason_.empty()) {
    self->close_reason_ = std::string("connect to ") + self->options_.address.to_string() +
                          " failed: " + (ctx->errstr != nullptr ? ctx->errstr : "error");
  }
}

void redis_connection::on_disconnect(const redisAsyncContext* ctx, int /*status*/) {
  (void)ctx;  // cleanup (called just before) has already recorded the reason
}

void redis_connection::on_reply(redisAsyncContext* ctx, void* reply, void* privdata) {
  std::unique_ptr<pending_command> pending(static_cast<pending_command*>(privdata));
  auto* self = owner(ctx);
  if (self == nullptr) return;  // freed by the destructor: nobody to tell
  if (!self->sent_at_.empty()) {
    self->sent_at_.pop_front();
    if (reply != nullptr) self->arm_command_timer();
  }
  const auto* r = static_cast<const redisReply*>(reply);
  if (pending->done) pending->done(r);
  if (node_unavailable(r) && !self->finished_) {
    self->close("node cannot serve writes: " + reply_text(r));
  }
}

void redis_connection::add_read(void* p) {
  auto* self = static_cast<redis_connection*>(p);
  self->want_read_ = true;
  self->wait_readable();
}

void redis_connection::del_read(void* p) { static_cast<redis_connection*>(p)->want_read_ = false; }

void redis_connection::add_write(void* p) {
  auto* self = static_cast<redis_connection*>(p);
  self->want_write_ = true;
  self->wait_writable();
}

void redis_connection::del_write(void* p) {
  static_cast<redis_connection*>(p)->want_write_ = false;
}

void redis_connection::cleanup(void* p) {
  auto* self = static_cast<redis_connection*>(p);
  if (self->close_reason_.empty()) {
    self->close_reason_ = self->context_ != nullptr && self->context_->err != 0
                              ? std::string("connection lost: ") + self->context_->errstr
                              : std::string("connection closed");
  }
  if (self->context_ != nullptr) self->context_->ev.data = nullptr;
  self->context_ = nullptr;
  self->want_read_ = false;
  self->want_write_ = false;
  self->sent_at_.clear();
  // hiredis closes the fd itself; pending waits complete with operation_aborted.
  (void)self->descriptor_.release();
  self->finish(self->close_reason_);
}

void redis_connection::wait_readable() {
  if (read_waiting_ || context_ == nullptr) return;
  read_waiting_ = true;
  descriptor_.async_wait(net::posix::stream_descriptor::wait_read,
                         [self = shared_from_this()](boost::system::error_code ec) {
                           self->read_waiting_ = false;
                           if (ec || self->context_ == nullptr || !self->want_read_) return;
                           redisAsyncHandleRead(self->context_);
                           if (self->context_ != nullptr && self->want_read_) self->wait_readable();
                         });
}

void redis_connection::wait_writable() {
  if (write_waiting_ || context_ == nullptr) return;
  write_waiting_ = true;
  descriptor_.async_wait(net::posix::stream_descriptor::wait_write,
                         [self = shared_from_this()](boost::system::error_code ec) {
                           self->write_waiting_ = false;
                           if (ec || self->context_ == nullptr || !self->want_write_) return;
                           redisAsyncHandleWrite(self->context_);
                           if (self->context_ != nullptr && self->want_write_) {
                             self->wait_writable();
                           }
                         });
}

}  // namespace analyzer::storage
