// WINDOW_SCOPE=shared: both windows, the counters, seq, the last sample and the last
// anomalies live in Redis under {KEY_PREFIX}:shared:*, and every commit is one Lua script
// run atomically by Redis (EVALSHA, reloaded on NOSCRIPT), so every instance on one Redis
// analyses one stream with one commit order. The script applies architecture.md §3 exactly
// (baseline before the append, population std with a shifted, scaled, compensated two-pass
// sum, exact 0 for an all-equal window, warmup, |z| > threshold strictly).
//
// Keys (P = KEY_PREFIX):
//   P:shared:state   hash: seq, last_timestamp, cpu_anomalies_total, rps_anomalies_total,
//                    cpu_last / rps_last ("value z anomaly"), cpu_last_anomaly /
//                    rps_last_anomaly ("timestamp value z"); numbers as %.17g
//   P:shared:cpu, P:shared:rps   lists, oldest first, at most WINDOW_SIZE values (%.17g)
//   P:shared:req:<key>  "fp:<fingerprint of the samples>\n<results>" of one request,
//                    expiring after IDEMPOTENCY_TTL_S: a repeated key with the same samples
//                    returns the results without committing again; with other samples it
//                    is a conflict. The key is the client's X-Request-Id, or one generated
//                    per request (kept only as long as the request's deadline) so that the
//                    service's own retries commit once.
//
// One connection on its own io thread (like the Redis store) with reconnect and capped
// backoff; calls are pipelined; at most max_in_flight calls at once (overloaded beyond).
// A commit that cannot be sent fails at once (unavailable: surely not committed). A commit
// sent and left unanswered (command timeout, connection lost) is sent again with the same
// key after the reconnect, until its deadline; then it fails as outcome_unknown.
#pragma once

#include "analyzer/analytics/snapshot.hpp"
#include "analyzer/api/sample.hpp"
#include "analyzer/config/config.hpp"
#include "analyzer/storage/redis_address.hpp"
#include "analyzer/storage/shared_failure.hpp"
#include "analyzer/storage/store.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace analyzer::storage {

struct shared_window_options {
  redis_address address;
  std::string password;
  int db = 0;
  std::string key_prefix = "metrics-analyzer";
  std::size_t window_size = 50;
  double threshold = 2.0;
  std::size_t warmup = 50;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{2000};
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{2000};
  std::size_t max_in_flight = 1024;
  std::chrono::seconds dedup_ttl{600};               // IDEMPOTENCY_TTL_S
  std::chrono::milliseconds request_deadline{5000};  // SHARED_REQUEST_DEADLINE_MS

  static shared_window_options from(const config::config& cfg);
};

struct shared_commit_outcome {
  std::optional<shared_failure> failure;  // set: nothing to report (see detail)
  std::string detail;
  bool duplicate = false;  // a repeated request id: the stored results, nothing committed
  bool conflict = false;   // the request id was used with other samples: nothing committed
  std::vector<analytics::commit_result> results;
};

struct shared_read_outcome {
  std::optional<shared_failure> failure;
  std::string detail;
  analytics::snapshot snap;  // window statistics computed with compute_window_stats
};

struct shared_window_status {
  bool connected = false;
  std::uint64_t in_flight = 0;
  std::uint64_t commits = 0;   // samples committed by this instance
  std::uint64_t failures = 0;  // calls that failed
  std::uint64_t reconnects = 0;
};

// The Lua texts (src/storage/shared_window_script.cpp).
[[nodiscard]] std::string_view shared_commit_script() noexcept;
[[nodiscard]] std::string_view shared_read_script() noexcept;

class shared_window {
 public:
  using commit_callback = std::function<void(shared_commit_outcome)>;
  using read_callback = std::function<void(shared_read_outcome)>;

  // Starts the io thread and the first connection attempt.
  explicit shared_window(shared_window_options options);
  ~shared_window();
  shared_window(const shared_window&) = delete;
  shared_window& operator=(const shared_window&) = delete;

  // Commits `samples` in order as one script call. `request_id` (may be empty: a key is
  // generated) names the request for idempotent retries; `request_body` is the body they
  // were decoded from, whose fingerprint tells a retry (the same bytes) from another
  // request under the same id. `done` runs once, within the request deadline, on the
  // storage thread (or on the caller's thread when refused at once: overloaded, stopped).
  void commit(std::span<const api::sample> samples, std::string_view request_id,
              std::string_view request_body, commit_callback done);
  // Reads the shared state as one consistent cut.
  void read(read_callback done);

  [[nodiscard]] shared_window_status status() const noexcept;
  [[nodiscard]] const shared_window_options& options() const noexcept;

  // Closes the connection (calls in flight fail) and joins the thread. Idempotent.
  void stop();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace analyzer::storage
