// Runs the real metrics-analyzer binary as a child process for lifecycle tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace analyzer::test {

class child_process {
 public:
  // Starts `binary` with `args`, the current environment plus `env`, stderr captured.
  child_process(const std::string& binary, const std::vector<std::string>& args,
                const std::vector<std::pair<std::string, std::string>>& env);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // Reads stderr until a line contains `needle`; returns that line.
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds timeout);
  void signal(int signo);
  // The exit code (or 128+signal), or nothing if it did not exit within `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  [[nodiscard]] const std::string& output() const { return output_; }
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  void read_available(std::chrono::milliseconds timeout);
  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  std::string output_;
  std::size_t scanned_ = 0;
  std::optional<int> status_;
};

}  // namespace analyzer::test
