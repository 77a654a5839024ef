// Service configuration: environment variables overridden by command-line flags
// (architecture.md §5). Every option has a default, a range and a line in --help.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace analyzer::config {

enum class log_format : std::uint8_t { text, json };

// WINDOW_SCOPE=shared: the largest MAX_BATCH. One batch is one Redis script call, atomic
// and contiguous in the commit order, which costs ~4 µs of Redis time per sample at
// WINDOW_SIZE 4096: 10 000 samples hold Redis at most ~45 ms.
inline constexpr std::size_t kSharedMaxBatch = 10000;

struct config {
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = 8080;
  std::size_t threads = 1;

  std::size_t window_size = 50;
  double anomaly_threshold = 2.0;
  std::size_t warmup = 50;

  std::size_t max_body_bytes = std::size_t{1024} * 1024;
  std::size_t max_batch = 1000;
  std::size_t max_header_bytes = std::size_t{8} * 1024;
  std::size_t max_connections = 10000;
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds write_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};

  std::string redis_addr;  // empty: the in-memory store
  std::string redis_password;
  int redis_db = 0;
  std::string key_prefix = "metrics-analyzer";
  std::string instance_id;                                  // default: the host name
  std::string window_scope = "instance";                    // "instance" or "shared"
  std::size_t shared_max_in_flight = 1024;                  // shared scope: Redis calls in flight
  std::chrono::milliseconds shared_request_deadline{5000};  // shared scope: answer within
  std::size_t idempotency_ttl_s = 600;  // shared scope: request answers kept for retries
  std::string ingest_token;             // empty: ingest is open
  std::size_t history_size = 1000;
  std::size_t redis_queue_limit = 100000;
  std::chrono::milliseconds redis_restore_timeout{5000};
  std::string redis_restore_policy = "wait";  // "wait" or "start-empty"
  std::chrono::milliseconds redis_connect_timeout{2000};
  std::chrono::milliseconds redis_command_timeout{2000};
  std::chrono::milliseconds shutdown_delay{0};
  std::chrono::milliseconds shutdown_timeout{10000};

  std::string log_level = "info";
  log_format log_fmt = log_format::text;
};

// What the process should do instead of serving: print `text` and exit with `exit_code`
// (0 for --help/--version, 2 for invalid configuration).
struct exit_request {
  int exit_code = 0;
  std::string text;
};

using env_lookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment.
[[nodiscard]] env_lookup process_environment();

// Parses the environment, then `args` (argv without the program name); flags win.
[[nodiscard]] std::variant<config, exit_request> load(const std::vector<std::string>& args,
                                                      const env_lookup& env);

// The --help text: every option with its variable, flag, default and range.
[[nodiscard]] std::string help_text();

// One line describing the effective configuration (secrets redacted), for the startup log.
[[nodiscard]] std::string describe(const config& cfg);

// CPU limit of the container's cgroup rounded up, else the hardware concurrency.
[[nodiscard]] std::size_t default_thread_count();

}  // namespace analyzer::config
