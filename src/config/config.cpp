// Option table, parsing and validation of the service configuration.
#include "analyzer/config/config.hpp"

#include "analyzer/build_info.hpp"
#include "analyzer/config/redis_address.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

namespace analyzer::config {
namespace {

// A setter validates one textual value and stores it; it returns the accepted range
// (for the error message) when the value is invalid.
using setter = std::function<std::optional<std::string>(config&, std::string_view)>;

struct option {
  std::string_view env;
  std::string_view flag;
  std::string_view default_text;
  std::string_view help;
  setter set;
};

template <typename T>
std::optional<T> parse_integer(std::string_view text) {
  T value{};
  const auto* first = text.data();
  const auto* last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc{} || ptr != last || text.empty()) return std::nullopt;
  return value;
}

std::optional<double> parse_double(std::string_view text) {
  // Plain decimal only: no leading blanks or '+', no hex floats, no inf/nan.
  if (text.empty() || text.find_first_not_of("0123456789.eE+-") != std::string_view::npos ||
      text.front() == '+') {
    return std::nullopt;
  }
  std::string copy(text);
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

template <typename Field>
setter integer_in(Field config::*field, long long lo, long long hi) {
  return [=](config& cfg, std::string_view text) -> std::optional<std::string> {
    auto value = parse_integer<long long>(text);
    if (!value || *value < lo || *value > hi) {
      return "an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
    }
    cfg.*field = static_cast<Field>(*value);
    return std::nullopt;
  };
}

setter millis_in(std::chrono::milliseconds config::*field, long long lo, long long hi) {
  return [=](config& cfg, std::string_view text) -> std::optional<std::string> {
    auto value = parse_integer<long long>(text);
    if (!value || *value < lo || *value > hi) {
      return "milliseconds, an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
    }
    cfg.*field = std::chrono::milliseconds{*value};
    return std::nullopt;
  };
}

setter text_field(std::string config::*field, std::size_t max_length, bool allow_empty) {
  return [=](config& cfg, std::string_view text) -> std::optional<std::string> {
    if ((!allow_empty && text.empty()) || text.size() > max_length) {
      return (allow_empty ? "text of at most " : "non-empty text of at most ") +
             std::to_string(max_length) + " characters";
    }
    cfg.*field = std::string(text);
    return std::nullopt;
  };
}

setter one_of(std::string config::*field, std::vector<std::string_view> choices) {
  return [field, choices = std::move(choices)](
             config& cfg, std::string_view text) -> std::optional<std::string> {
    if (std::find(choices.begin(), choices.end(), text) == choices.end()) {
      std::string accepted = "one of";
      for (auto c : choices) accepted += " " + std::string(c);
      return accepted;
    }
    cfg.*field = std::string(text);
    return std::nullopt;
  };
}

const std::vector<option>& options() {
  static const std::vector<option> table = {
      {"BIND_ADDR", "--bind-addr", "0.0.0.0", "IPv4 or IPv6 address to listen on",
       [](config& cfg, std::string_view text) -> std::optional<std::string> {
         if (text.empty() || text.size() > 64) return "an IPv4 or IPv6 address";
         cfg.bind_address = std::string(text);
         return std::nullopt;
       }},
      {"PORT", "--port", "8080", "TCP port (0 picks a free port)",
       integer_in(&config::port, 0, 65535)},
      {"THREADS", "--threads", "cgroup CPU limit, else CPU count", "io_context threads",
       integer_in(&config::threads, 1, 256)},
      {"WINDOW_SIZE", "--window-size", "50", "values kept per metric (W)",
       integer_in(&config::window_size, 2, 4096)},
      {"ANOMALY_THRESHOLD", "--anomaly-threshold", "2.0", "anomaly when |z| > threshold",
       [](config& cfg, std::string_view text) -> std::optional<std::string> {
         auto value = parse_double(text);
         if (!value || *value <= 0 || *value > 1e6) return "a number > 0 and <= 1000000";
         cfg.anomaly_threshold = *value;
         return std::nullopt;
       }},
      {"WARMUP", "--warmup", "WINDOW_SIZE", "baseline size before z-scores are computed",
       integer_in(&config::warmup, 2, 4096)},
      {"MAX_BODY_BYTES", "--max-body-bytes", "1048576", "largest request body (413 beyond)",
       integer_in(&config::max_body_bytes, 64, 1LL << 30)},
      {"MAX_BATCH", "--max-batch", "1000",
       "most samples in one POST (413 beyond); at most 10000 in shared scope",
       integer_in(&config::max_batch, 1, 1000000)},
      {"MAX_HEADER_BYTES", "--max-header-bytes", "8192", "largest request head (431 beyond)",
       integer_in(&config::max_header_bytes, 512, 1 << 20)},
      {"MAX_CONNECTIONS", "--max-connections", "10000",
       "open connections served at once (503 beyond)",
       integer_in(&config::max_connections, 1, 1000000)},
      {"READ_TIMEOUT_MS", "--read-timeout-ms", "10000",
       "a request's head and body must arrive within this, from its first byte",
       millis_in(&config::read_timeout, 1, 3600000)},
      {"WRITE_TIMEOUT_MS", "--write-timeout-ms", "10000", "time to write one response",
       millis_in(&config::write_timeout, 1, 3600000)},
      {"IDLE_TIMEOUT_MS", "--idle-timeout-ms", "60000",
       "keep-alive connection closed after this long without a request",
       millis_in(&config::idle_timeout, 1, 3600000)},
      {"REDIS_ADDR", "--redis-addr", "(unset: in-memory store)", "host:port or unix:/path",
       text_field(&config::redis_addr, 1024, true)},
      {"REDIS_PASSWORD", "--redis-password", "(unset)", "AUTH password",
       text_field(&config::redis_password, 1024, true)},
      {"REDIS_DB", "--redis-db", "0", "SELECT database", integer_in(&config::redis_db, 0, 1 << 20)},
      {"KEY_PREFIX", "--key-prefix", "metrics-analyzer", "prefix of every Redis key",
       text_field(&config::key_prefix, 128, false)},
      {"INSTANCE_ID", "--instance-id", "host name", "this instance's part of its Redis keys",
       text_field(&config::instance_id, 253, false)},
      {"WINDOW_SCOPE", "--window-scope", "instance",
       "instance: each instance owns its windows; shared: all instances on one Redis analyse "
       "one stream (needs REDIS_ADDR; ingest gets 503 while Redis is unreachable)",
       one_of(&config::window_scope, {"instance", "shared"})},
      {"INGEST_TOKEN", "--ingest-token", "(unset: open)", "bearer token required by POST /metrics",
       text_field(&config::ingest_token, 4096, true)},
      {"HISTORY_SIZE", "--history-size", "1000",
       "recent samples kept by the store (>= WINDOW_SIZE)",
       integer_in(&config::history_size, 2, 10000000)},
      {"REDIS_QUEUE_LIMIT", "--redis-queue-limit", "100000",
       "samples queued for Redis before drops",
       integer_in(&config::redis_queue_limit, 1, 100000000)},
      {"REDIS_RESTORE_TIMEOUT_MS", "--redis-restore-timeout-ms", "5000",
       "deadline of one startup restore attempt (failed attempts are retried with backoff)",
       millis_in(&config::redis_restore_timeout, 1, 3600000)},
      {"REDIS_RESTORE_POLICY", "--redis-restore-policy", "wait",
       "wait: stay unready and retry until the persisted state is restored; start-empty: after "
       "one failed attempt start from seq 1 under a new generation of keys (old keys kept)",
       one_of(&config::redis_restore_policy, {"wait", "start-empty"})},
      {"REDIS_CONNECT_TIMEOUT_MS", "--redis-connect-timeout-ms", "2000",
       "deadline of one connection attempt (TCP connect, AUTH, SELECT)",
       millis_in(&config::redis_connect_timeout, 1, 600000)},
      {"REDIS_COMMAND_TIMEOUT_MS", "--redis-command-timeout-ms", "2000",
       "a reply not received within this drops the connection and reconnects",
       millis_in(&config::redis_command_timeout, 1, 600000)},
      {"SHARED_REQUEST_DEADLINE_MS", "--shared-request-deadline-ms", "5000",
       "shared scope: every ingest is answered within this (a call left unanswered by Redis is "
       "retried with the same idempotency key; 504 outcome_unknown at the deadline); "
       ">= REDIS_COMMAND_TIMEOUT_MS",
       millis_in(&config::shared_request_deadline, 1, 600000)},
      {"IDEMPOTENCY_TTL_S", "--idempotency-ttl-s", "600",
       "shared scope: how long Redis keeps each request's answer for retries with the same "
       "X-Request-Id",
       integer_in(&config::idempotency_ttl_s, 1, 86400)},
      {"SHARED_MAX_IN_FLIGHT", "--shared-max-in-flight", "1024",
       "shared scope: Redis commits and reads in flight per instance (503 beyond)",
       integer_in(&config::shared_max_in_flight, 1, 1000000)},
      {"SHUTDOWN_DELAY_MS", "--shutdown-delay-ms", "0",
       "on SIGTERM, serve this long with /ready 503 before draining",
       millis_in(&config::shutdown_delay, 0, 3600000)},
      {"SHUTDOWN_TIMEOUT_MS", "--shutdown-timeout-ms", "10000",
       "bound on draining connections and flushing the store",
       millis_in(&config::shutdown_timeout, 1, 3600000)},
      {"LOG_LEVEL", "--log-level", "info", "trace|debug|info|warn|error|critical|off",
       one_of(&config::log_level, {"trace", "debug", "info", "warn", "error", "critical", "off"})},
      {"LOG_FORMAT", "--log-format", "text", "text|json (one JSON object per line)",
       [](config& cfg, std::string_view text) -> std::optional<std::string> {
         if (text == "text") {
           cfg.log_fmt = log_format::text;
         } else if (text == "json") {
           cfg.log_fmt = log_format::json;
         } else {
           return "one of text json";
         }
         return std::nullopt;
       }},
  };
  return table;
}

std::string host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof buffer - 1) == 0 && buffer[0] != '\0') return buffer;
  return "localhost";
}

std::string invalid(std::string_view name, std::string_view value, std::string_view accepted) {
  std::string shown(value.substr(0, 64));
  return "invalid " + std::string(name) + "='" + shown + "': expected " + std::string(accepted);
}

}  // namespace

env_lookup process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    // Read at startup, before any other thread exists.
    const char* value = std::getenv(std::string(name).c_str());  // NOLINT(concurrency-mt-unsafe)
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::variant<config, exit_request> load(const std::vector<std::string>& args,
                                        const env_lookup& env) {
  config cfg;
  cfg.threads = default_thread_count();
  bool warmup_set = false;
  bool history_set = false;

  auto apply = [&](const option& opt, std::string_view shown_name,
                   std::string_view value) -> std::optional<exit_request> {
    if (auto accepted = opt.set(cfg, value)) {
      return exit_request{2, invalid(shown_name, value, *accepted)};
    }
    warmup_set = warmup_set || opt.env == "WARMUP";
    history_set = history_set || opt.env == "HISTORY_SIZE";
    return std::nullopt;
  };

  // --help and --version answer whatever the environment holds.
  for (const auto& arg : args) {
    if (arg == "--help" || arg == "-h") return exit_request{0, help_text()};
    if (arg == "--version") {
      return exit_request{
          0, std::string("metrics-analyzer ") + build::kVersion + " (" + build::kRevision + ")\n"};
    }
  }

  for (const auto& opt : options()) {
    if (auto value = env(opt.env)) {
      if (auto failure = apply(opt, opt.env, *value)) return *failure;
    }
  }

  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    const auto& table = options();
    auto it = std::find_if(table.begin(), table.end(),
                           [&](const option& opt) { return opt.flag == name; });
    if (it == table.end()) {
      return exit_request{2,
                          "unknown option '" + std::string(name.substr(0, 64)) + "' (see --help)"};
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        return exit_request{2, "option " + std::string(name) + " needs a value (see --help)"};
      }
      value = args[++i];
    }
    const std::string shown = std::string(it->flag) + " (" + std::string(it->env) + ")";
    if (auto failure = apply(*it, shown, *value)) return *failure;
  }

  if (!warmup_set) cfg.warmup = cfg.window_size;
  if (cfg.warmup > cfg.window_size) {
    return exit_request{
        2, invalid("WARMUP", std::to_string(cfg.warmup),
                   "an integer in 2..WINDOW_SIZE (" + std::to_string(cfg.window_size) + ")")};
  }
  if (!history_set) cfg.history_size = std::max(cfg.history_size, cfg.window_size);
  if (cfg.history_size < cfg.window_size) {
    return exit_request{
        2, invalid("HISTORY_SIZE", std::to_string(cfg.history_size),
                   "an integer >= WINDOW_SIZE (" + std::to_string(cfg.window_size) + ")")};
  }
  if (!cfg.redis_addr.empty() && !parse_redis_address(cfg.redis_addr)) {
    return exit_request{
        2, invalid("REDIS_ADDR", cfg.redis_addr, "host:port, [ipv6]:port or unix:/path/to/socket")};
  }
  if (cfg.window_scope == "shared" && cfg.redis_addr.empty()) {
    return exit_request{2,
                        "invalid WINDOW_SCOPE='shared': needs REDIS_ADDR (the shared windows live "
                        "in Redis); set REDIS_ADDR or use WINDOW_SCOPE=instance"};
  }
  if (cfg.window_scope == "shared" && cfg.max_batch > kSharedMaxBatch) {
    return exit_request{
        2, invalid("MAX_BATCH", std::to_string(cfg.max_batch),
                   "an integer in 1.." + std::to_string(kSharedMaxBatch) +
                       " with WINDOW_SCOPE=shared (a batch is one Redis script call: a larger "
                       "one would hold Redis, and every instance on it, for over 50 ms)")};
  }
  if (cfg.shared_request_deadline < cfg.redis_command_timeout) {
    return exit_request{2, invalid("SHARED_REQUEST_DEADLINE_MS",
                                   std::to_string(cfg.shared_request_deadline.count()),
                                   "milliseconds >= REDIS_COMMAND_TIMEOUT_MS (" +
                                       std::to_string(cfg.redis_command_timeout.count()) + ")")};
  }
  if (cfg.instance_id.empty()) cfg.instance_id = host_name();
  return cfg;
}

std::string help_text() {
  std::ostringstream out;
  out << "metrics-analyzer: ingests load samples, keeps a rolling window per metric and\n"
         "flags z-score anomalies. HTTP API: GET /health, GET /ready, POST /metrics,\n"
         "GET /analyze, GET /metrics (Prometheus).\n\n"
         "Usage: metrics-analyzer [--flag value | --flag=value]...\n\n"
         "Every option is an environment variable and a flag; flags win.\n"
         "Invalid values stop startup with exit code 2.\n\n";
  for (const auto& opt : options()) {
    out << "  " << opt.flag << " (" << opt.env << ")\n      " << opt.help
        << " [default: " << opt.default_text << "]\n";
  }
  out << "  --help, -h\n      print this text\n  --version\n      print the version\n";
  return out.str();
}

std::string describe(const config& cfg) {
  std::ostringstream out;
  out << "bind=" << cfg.bind_address << ":" << cfg.port << " threads=" << cfg.threads
      << " window_size=" << cfg.window_size << " threshold=" << cfg.anomaly_threshold
      << " warmup=" << cfg.warmup << " max_body_bytes=" << cfg.max_body_bytes
      << " max_batch=" << cfg.max_batch << " max_header_bytes=" << cfg.max_header_bytes
      << " max_connections=" << cfg.max_connections
      << " read_timeout_ms=" << cfg.read_timeout.count()
      << " write_timeout_ms=" << cfg.write_timeout.count()
      << " idle_timeout_ms=" << cfg.idle_timeout.count()
      << " store=" << (cfg.redis_addr.empty() ? "memory" : "redis " + cfg.redis_addr)
      << " redis_password=" << (cfg.redis_password.empty() ? "unset" : "set")
      << " redis_db=" << cfg.redis_db << " key_prefix=" << cfg.key_prefix
      << " redis_queue_limit=" << cfg.redis_queue_limit
      << " redis_restore_timeout_ms=" << cfg.redis_restore_timeout.count()
      << " redis_restore_policy=" << cfg.redis_restore_policy << " instance_id=" << cfg.instance_id
      << " window_scope=" << cfg.window_scope
      << " shared_max_in_flight=" << cfg.shared_max_in_flight
      << " shared_request_deadline_ms=" << cfg.shared_request_deadline.count()
      << " idempotency_ttl_s=" << cfg.idempotency_ttl_s << " history_size=" << cfg.history_size
      << " ingest_token=" << (cfg.ingest_token.empty() ? "unset" : "set")
      << " shutdown_delay_ms=" << cfg.shutdown_delay.count()
      << " shutdown_timeout_ms=" << cfg.shutdown_timeout.count() << " log_level=" << cfg.log_level
      << " log_format=" << (cfg.log_fmt == log_format::json ? "json" : "text");
  return out.str();
}

std::size_t default_thread_count() {
  // cgroup v2: "max 100000" or "<quota> <period>".
  if (std::ifstream cpu_max{"/sys/fs/cgroup/cpu.max"}; cpu_max) {
    std::string quota;
    long long period = 0;
    if (cpu_max >> quota >> period && quota != "max" && period > 0) {
      if (auto q = parse_integer<long long>(quota); q && *q > 0) {
        return static_cast<std::size_t>(std::clamp((*q + period - 1) / period, 1LL, 256LL));
      }
    }
  }
  // cgroup v1.
  std::ifstream quota_file{"/sys/fs/cgroup/cpu/cpu.cfs_quota_us"};
  std::ifstream period_file{"/sys/fs/cgroup/cpu/cpu.cfs_period_us"};
  long long quota = -1;
  long long period = 0;
  if (quota_file >> quota && period_file >> period && quota > 0 && period > 0) {
    return static_cast<std::size_t>(std::clamp((quota + period - 1) / period, 1LL, 256LL));
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return std::clamp<std::size_t>(hw == 0 ? 1 : hw, 1, 256);
}

}  // namespace analyzer::config
