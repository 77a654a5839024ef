// WINDOW_SCOPE=shared: the window, the counters, seq, the last sample and the last
// anomalies live in Redis under {KEY_PREFIX}:shared:*, and every commit is one Lua script
// run atomically by Redis (EVALSHA, reloaded on NOSCRIPT), so every instance on one Redis
// analyses one stream with one commit order. The script applies architecture.md §3 (baseline
// before the append, population std, exact 0 for an all-equal window, warmup,
// |z| > threshold strictly) with incremental sums that are checked against a rigorous error
// bound and recomputed from the window when it is exceeded (shared_window_script.cpp), so
// a call costs O(samples), not O(WINDOW_SIZE·samples): a batch of MAX_BATCH = 1000 holds
// Redis ~5 ms at any WINDOW_SIZE up to 4096. A batch is one script call (all or nothing,
// contiguous in the commit order); it is not split (a MAX_BATCH far above the default
// holds Redis ~5 µs per sample).
//
// Keys, layout 2 (P = KEY_PREFIX):
//   P:shared:v2:state   hash: seq, last_timestamp, cpu_anomalies_total, rps_anomalies_total,
//                    cpu_last / rps_last ("value z anomaly"), cpu_last_anomaly /
//                    rps_last_anomaly ("timestamp value z"): text, numbers as shortest
//                    round-trip or %.17g; `sums`: 25 little-endian doubles: the
//                    WINDOW_SIZE they are for, count, head, and per metric the running sums
//                    and their error bounds (shared_window_script.cpp)
//   P:shared:v2:window  string: a ring of WINDOW_SIZE slots, one per sample: its cpu and rps
//                    as two little-endian doubles (bit-exact); `count` slots from `head`
//                    (wrapping) are the window, oldest first. A call reads the slots it
//                    evicts and writes the slots it adds (GETRANGE / SETRANGE). A change of
//                    WINDOW_SIZE re-rings it at the next commit (the newest values kept).
//   P:shared:req:<key>  "fp:<fingerprint of the samples>\n<results>" of one request,
//                    expiring after IDEMPOTENCY_TTL_S: a repeated key with the same samples
//                    returns the results without committing again; with other samples it
//                    is a conflict. The key is the client's X-Request-Id, or one generated
//                    per request (kept only as long as the request's deadline) so that the
//                    service's own retries commit once. Unchanged from layout 1, so a retry
//                    across the upgrade is recognised.
//   P:shared:state   the fence (a string; see below).
//
// Layout 1 (the releases before this one): P:shared:state as the hash above, and the
// windows as the lists P:shared:cpu / P:shared:rps of decimal strings. Startup check, on
// every connect before the first call: a script (shared_migrate_script) migrates layout 1
// ONCE and atomically when it exists and layout 2 does not (counters and last values
// copied, the list values parsed into the ring, running sums recomputed at the first
// commit), deletes the lists, and replaces the P:shared:state hash by a fence string; with
// neither layout it sets the fence; if it fails (the old keys hold something else) the
// connection is refused with an error naming the keys and nothing is committed (503) until
// it succeeds. The commit script runs the same migration when it finds no layout-2 state
// (e.g. Redis was flushed and an old replica wrote again). The fence is what keeps a
// rolling update safe: every script of a layout-1 release reads P:shared:state with HMGET
// before it writes anything, so from the moment the first new replica has connected, the
// old replicas' commits and reads fail with WRONGTYPE (503: nothing committed; clients
// retry and reach a new replica) instead of silently forking a stream of their own (202
// for samples the shared windows never see). They cannot touch the layout-2 keys. If a
// layout-1 release did commit next to layout 2 (the fence removed by hand), the next
// connect renames its keys to <key>:orphaned and fences again. Rolling back to a layout-1
// release: delete P:shared:state (it starts an empty stream of its own).
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
#include "analyzer/config/redis_address.hpp"
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
  config::redis_address address;
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
[[nodiscard]] std::string_view shared_migrate_script() noexcept;  // the startup check

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
  void stop();  // within 2 s
  // The same within `budget` (e.g. what remains of SHUTDOWN_TIMEOUT_MS).
  void stop(std::chrono::milliseconds budget);

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace analyzer::storage
