// fork/exec of the service binary with its stderr on a pipe.
#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace analyzer::test {

child_process::child_process(const std::string& binary, const std::vector<std::string>& args,
                             const std::vector<std::pair<std::string, std::string>>& env) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(fds[1], STDERR_FILENO);
    ::dup2(fds[1], STDOUT_FILENO);
    for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  stderr_fd_ = fds[0];
}

child_process::~child_process() {
  if (!status_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (stderr_fd_ >= 0) ::close(stderr_fd_);
}

void child_process::read_available(std::chrono::milliseconds timeout) {
  pollfd pfd{stderr_fd_, POLLIN, 0};
  if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return;
  char buffer[4096];
  const ssize_t n = ::read(stderr_fd_, buffer, sizeof buffer);
  if (n > 0) output_.append(buffer, static_cast<std::size_t>(n));
}

std::optional<std::string> child_process::wait_for_line(const std::string& needle,
                                                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto at = output_.find(needle, scanned_);
    if (at != std::string::npos) {
      const auto eol = output_.find('\n', at);
      if (eol != std::string::npos) {
        const auto bol = output_.rfind('\n', at);
        const std::size_t begin = bol == std::string::npos ? 0 : bol + 1;
        scanned_ = eol + 1;
        return output_.substr(begin, eol - begin);
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    read_available(std::chrono::milliseconds(50));
  }
}

void child_process::signal(int signo) { ::kill(pid_, signo); }

std::optional<int> child_process::wait_exit(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      while (true) {  // collect the rest of its output
        const auto before = output_.size();
        read_available(std::chrono::milliseconds(10));
        if (output_.size() == before) break;
      }
      return status_;
    }
    read_available(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

}  // namespace analyzer::test
