// redis-server child processes (fork/exec, stopped by PID), the blocking hiredis client
// used for assertions, and the silent TCP listener.
#include "support/redis_server.hpp"

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace analyzer::test {

namespace {

using namespace std::chrono_literals;

const char* const kRedisBinary = "/usr/bin/redis-server";
constexpr int kPortAttempts = 8;

std::runtime_error sys_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

struct reply_deleter {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

reply_ptr run_argv(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.c_str());
    lengths.push_back(a.size());
  }
  return reply_ptr(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data())));
}

// Element strings of a reply (one element for a scalar reply).
std::vector<std::string> flatten(const redisReply& r) {
  switch (r.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return {std::string(r.str, r.len)};
    case REDIS_REPLY_INTEGER:
      return {std::to_string(r.integer)};
    case REDIS_REPLY_NIL:
      return {};
    case REDIS_REPLY_ARRAY: {
      std::vector<std::string> out;
      out.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) {
        const auto inner = flatten(*r.element[i]);
        out.push_back(inner.empty() ? std::string{} : inner.front());
      }
      return out;
    }
    default:
      return {};
  }
}

// A fresh connection, or nullptr. AUTHs and SELECTs when asked.
redisContext* open_connection(const std::string& socket_path, std::uint16_t port,
                              const std::string& password, int db,
                              std::chrono::milliseconds timeout) {
  const timeval tv = to_timeval(timeout);
  redisContext* c = socket_path.empty() ? redisConnectWithTimeout("127.0.0.1", port, tv)
                                        : redisConnectUnixWithTimeout(socket_path.c_str(), tv);
  if (c == nullptr) return nullptr;
  if (c->err != 0 || redisSetTimeout(c, to_timeval(10s)) != REDIS_OK) {
    redisFree(c);
    return nullptr;
  }
  auto ok = [&](const std::vector<std::string>& args) {
    const reply_ptr r = run_argv(c, args);
    return r && r->type != REDIS_REPLY_ERROR;
  };
  if ((!password.empty() && !ok({"AUTH", password})) ||
      (db != 0 && !ok({"SELECT", std::to_string(db)}))) {
    redisFree(c);
    return nullptr;
  }
  return c;
}

}  // namespace

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw sys_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const auto error = sys_error("bind 127.0.0.1:0");
    ::close(fd);
    throw error;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// ---------------------------------------------------------------------------------------

redis_server::redis_server(redis_server_options options) : options_(std::move(options)) {
  char pattern[] = "/tmp/redis-test-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw sys_error("mkdtemp");
  dir_ = pattern;
  if (options_.unix_socket) socket_path_ = dir_ + "/redis.sock";
  try {
    start();
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

redis_server::~redis_server() {
  {
    std::lock_guard lock(mutex_);
    drop_connection_locked();
  }
  if (running()) reap(SIGTERM, 5s);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string redis_server::address() const {
  if (!socket_path_.empty()) return "unix:" + socket_path_;
  return "127.0.0.1:" + std::to_string(port_);
}

void redis_server::start() {
  if (!socket_path_.empty()) {
    if (!spawn_and_wait()) throw std::runtime_error("redis-server did not start; see " + dir_);
    return;
  }
  // The free port may be taken between our probe and redis' bind: try another one.
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    port_ = free_loopback_port();
    if (spawn_and_wait()) return;
  }
  throw std::runtime_error("redis-server did not start on a free port; see " + dir_ + "/redis.log");
}

void redis_server::restart() {
  {
    std::lock_guard lock(mutex_);
    drop_connection_locked();
  }
  if (running()) reap(SIGTERM, 5s);
  // Same port: a listener the kernel still holds in TIME_WAIT does not stop redis (it sets
  // SO_REUSEADDR), so a failure here is another process on the port.
  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (!spawn_and_wait()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("redis-server did not restart; see " + dir_ + "/redis.log");
    }
  }
}

bool redis_server::spawn_and_wait() {
  std::vector<std::string> args{kRedisBinary,
                                "--dir",
                                dir_,
                                "--save",
                                "",
                                "--appendonly",
                                "no",
                                "--daemonize",
                                "no",
                                "--bind",
                                "127.0.0.1",
                                "--port",
                                std::to_string(socket_path_.empty() ? port_ : 0),
                                "--enable-debug-command",
                                "local",
                                "--loglevel",
                                "warning"};
  if (!socket_path_.empty()) {
    for (const char* a : {"--unixsocket", socket_path_.c_str(), "--unixsocketperm", "700"}) {
      args.emplace_back(a);
    }
  }
  if (!options_.password.empty()) {
    args.emplace_back("--requirepass");
    args.push_back(options_.password);
  }
  // Everything the child touches is prepared before fork: after it only async-signal-safe
  // calls are allowed (the test process has threads).
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log_path = dir_ + "/redis.log";
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) throw sys_error("open " + log_path);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    throw sys_error("fork");
  }
  if (pid == 0) {
    // Never outlive the test process, even when it crashes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    // The service's sockets (no CLOEXEC in Asio) must not stay open in redis.
    if (::close_range(3, ~0U, 0) != 0) {
      for (int fd = 3; fd < 65536; ++fd) ::close(fd);
    }
    ::execv(kRedisBinary, argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  pid_ = pid;

  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken, bad option…
      pid_ = -1;
      return false;
    }
    if (ping()) return true;
    std::this_thread::sleep_for(5ms);  // polling interval, not a wait for an outcome
  }
  reap(SIGKILL, 5s);
  return false;
}

void redis_server::reap(int signo, std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  ::kill(pid_, signo);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(2ms);
  }
  pid_ = -1;
}

void redis_server::kill() {
  {
    std::lock_guard lock(mutex_);
    drop_connection_locked();
  }
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void redis_server::stop() {
  {
    std::lock_guard lock(mutex_);
    drop_connection_locked();
  }
  reap(SIGTERM, 10s);
}

// --- blocking client --------------------------------------------------------------------

void redis_server::drop_connection_locked() {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
}

redisContext* redis_server::connection_locked() {
  if (context_ == nullptr) {
    context_ = open_connection(socket_path_, port_, options_.password, db_, 1s);
  }
  return context_;
}

std::vector<std::string> redis_server::run_locked(const std::vector<std::string>& args) {
  // One retry on a fresh connection: the previous one may have been killed by the test.
  for (int attempt = 0; attempt < 2; ++attempt) {
    redisContext* c = connection_locked();
    if (c == nullptr) continue;
    const reply_ptr reply = run_argv(c, args);
    if (!reply) {
      drop_connection_locked();
      continue;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      throw std::runtime_error(args.front() + ": " + std::string(reply->str, reply->len));
    }
    return flatten(*reply);
  }
  throw std::runtime_error("redis at " + address() + " unreachable for " + args.front());
}

void redis_server::use_db(int db) {
  std::lock_guard lock(mutex_);
  db_ = db;
  drop_connection_locked();
}

bool redis_server::ping() {
  std::lock_guard lock(mutex_);
  if (context_ == nullptr) {
    context_ = open_connection(socket_path_, port_, options_.password, db_, 200ms);
    if (context_ == nullptr) return false;
  }
  const reply_ptr reply = run_argv(context_, {"PING"});
  if (!reply) {
    drop_connection_locked();
    return false;
  }
  return reply->type == REDIS_REPLY_STATUS && std::string(reply->str, reply->len) == "PONG";
}

std::vector<std::string> redis_server::lrange(const std::string& key, long long start,
                                              long long stop) {
  std::lock_guard lock(mutex_);
  return run_locked({"LRANGE", key, std::to_string(start), std::to_string(stop)});
}

std::map<std::string, std::string> redis_server::hgetall(const std::string& key) {
  std::lock_guard lock(mutex_);
  const auto flat = run_locked({"HGETALL", key});
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i + 1 < flat.size(); i += 2) out[flat[i]] = flat[i + 1];
  return out;
}

long long redis_server::llen(const std::string& key) {
  std::lock_guard lock(mutex_);
  const auto flat = run_locked({"LLEN", key});
  return flat.empty() ? 0 : std::stoll(flat.front());
}

std::vector<std::string> redis_server::keys(const std::string& pattern) {
  std::lock_guard lock(mutex_);
  return run_locked({"KEYS", pattern});
}

std::string redis_server::command_argv(const std::vector<std::string>& args) {
  if (args.empty()) throw std::invalid_argument("redis command without a name");
  std::lock_guard lock(mutex_);
  const auto flat = run_locked(args);
  std::string out;
  for (std::size_t i = 0; i < flat.size(); ++i) {
    if (i != 0) out += '\n';
    out += flat[i];
  }
  return out;
}

// --- silent listener --------------------------------------------------------------------

silent_listener::silent_listener() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) throw sys_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::listen(listen_fd_, 128) != 0 || ::pipe2(wake_fds_, O_CLOEXEC) != 0) {
    const auto error = sys_error("silent listener");
    ::close(listen_fd_);
    throw error;
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { run(); });
}

silent_listener::~silent_listener() {
  const char byte = 0;
  while (::write(wake_fds_[1], &byte, 1) < 0 && errno == EINTR) {
  }
  thread_.join();
  for (const int fd : connections_) ::close(fd);
  ::close(listen_fd_);
  ::close(wake_fds_[0]);
  ::close(wake_fds_[1]);
}

std::string silent_listener::address() const { return "127.0.0.1:" + std::to_string(port_); }

void silent_listener::run() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if ((fds[1].revents & POLLIN) != 0) return;
    if ((fds[0].revents & POLLIN) != 0) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        connections_.push_back(fd);  // held open, never read
        accepted_.fetch_add(1);
      }
    }
  }
}

}  // namespace analyzer::test
