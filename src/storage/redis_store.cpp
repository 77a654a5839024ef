// Bounded write queue, batch writer, reconnect loop and startup restore of the Redis store.
#include "analyzer/storage/redis_store.hpp"

#include "analyzer/storage/redis_layout.hpp"
#include "log_throttle.hpp"
#include "redis_client.hpp"
#include "redis_connection.hpp"

#include <hiredis/hiredis.h>

#include <limits>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>

namespace analyzer::storage {

namespace net = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

// One batch in one atomic step, idempotent by seq. KEYS: samples, state, generation.
// ARGV: HISTORY_SIZE, generation, allow_gap, n, then n (seq, record) pairs in seq order,
// then the state hash's field/value pairs for the newest record.
// - A batch must continue the persisted seqs (first ≤ persisted + 1) unless allow_gap says
//   the samples in between are gone for good (queue overflow) or it seeds a migration;
//   otherwise it is refused with a GAP error and retried after the batches before it.
// - Records at or below the persisted seq are already there: a batch executed again (its
//   reply was lost) changes nothing, and the state hash never moves back.
constexpr std::string_view kWriteBatchScript = R"lua(
local n = tonumber(ARGV[4])
local cur = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
local first = tonumber(ARGV[5])
local last = tonumber(ARGV[3 + 2 * n])
if first > cur + 1 and ARGV[3] ~= '1' then
  return redis.error_reply('GAP persisted seq ' .. cur .. ', batch starts at ' .. first)
end
redis.call('SET', KEYS[3], ARGV[2])
if last <= cur then
  return 0
end
local add = {}
for i = 0, n - 1 do
  if tonumber(ARGV[5 + 2 * i]) > cur then
    add[#add + 1] = ARGV[5 + 2 * i]
    add[#add + 1] = ARGV[6 + 2 * i]
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], cur + 1, last)
redis.call('ZADD', KEYS[1], unpack(add))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', last - tonumber(ARGV[1]))
redis.call('HSET', KEYS[2], unpack(ARGV, 5 + 2 * n))
return #add / 2
)lua";

// How long a queued sample may wait for the writer when no full batch is waiting.
constexpr std::chrono::milliseconds kWriteTick{2};

constexpr std::array<double, 12> kLatencyBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                    0.05,   0.1,   0.25,   0.5,   1,    2.5};

}  // namespace

redis_store_options redis_store_options::from(const config::config& cfg) {
  redis_store_options o;
  o.address = config::parse_redis_address(cfg.redis_addr).value_or(config::redis_address{});
  o.password = cfg.redis_password;
  o.db = cfg.redis_db;
  o.key_prefix = cfg.key_prefix;
  o.instance_id = cfg.instance_id;
  o.history_size = cfg.history_size;
  o.queue_limit = cfg.redis_queue_limit;
  o.window_size = cfg.window_size;
  o.connect_timeout = cfg.redis_connect_timeout;
  o.command_timeout = cfg.redis_command_timeout;
  return o;
}

struct redis_store::impl {
  explicit impl(redis_store_options o)
      : options(std::move(o)),
        legacy(make_legacy_keys(options.key_prefix, options.instance_id)),
        generation_pointer(generation_key(options.key_prefix, options.instance_id)),
        client(client_options(options),
               {.on_ready = [this](const auto&) { on_ready(); },
                .on_closed = [this](const std::string& reason) { note_failure(reason); },
                .on_stopping = [this] { tick_timer.cancel(); }}) {}

  static redis_client_options client_options(const redis_store_options& o) {
    redis_client_options c;
    c.connection = {o.address, o.password, o.db, o.connect_timeout, o.command_timeout, {}};
    c.backoff_initial = o.backoff_initial;
    c.backoff_max = o.backoff_max;
    c.log_name = "redis";
    return c;
  }

  redis_store_options options;
  legacy_redis_keys legacy;
  std::string generation_pointer;

  // Shared with the request path. The queue is kept in seq order.
  mutable std::mutex queue_mutex;
  std::condition_variable drained;
  std::deque<analytics::commit_result> queue;
  std::size_t in_flight_samples = 0;
  std::uint64_t dropped_max = 0;  // the newest seq dropped on overflow
  bool pump_posted = false;
  bool writer_idle = true;  // no tick armed: the next sample must wake the writer
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> restore_attempts{0};
  std::atomic<std::uint64_t> restore_skipped{0};
  std::atomic<std::uint64_t> lost_in_redis{0};  // times Redis had lost confirmed samples
  std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size() + 1> latency_counts{};
  std::atomic<double> latency_sum{0.0};

  // The io thread, the connection, reconnects with backoff. Declared before everything
  // bound to its io_context (destroyed after it).
  redis_client client;
  net::io_context& ioc = client.ioc();

  // io thread only.
  std::size_t in_flight_batches = 0;
  log_throttle write_log{std::chrono::seconds(10)};
  // The keys written; nothing is written before a restore or a new generation chose them.
  std::optional<redis_keys> keys;
  std::uint64_t next_seq = 1;        // the oldest seq not yet handed to a batch
  std::uint64_t gap_allowed_at = 0;  // a batch starting at this seq may skip seqs
  std::array<std::optional<std::pair<std::uint64_t, analytics::anomaly_record>>,
             analytics::kMetricCount>
      last_anomaly;

  net::steady_timer tick_timer{ioc};
  bool tick_armed = false;  // io thread only

  void start() { client.start(); }

  // Stops the writer's tick, closes the connection (batches in flight fail and stay
  // queued) and joins the io thread, bounded by `budget`. Idempotent.
  void stop(std::chrono::milliseconds budget) { client.stop(clock::now() + budget); }

  void on_ready() {
    client.mark_connected();
    pump();
  }

  // A command succeeded: the server is usable, so the next failure starts the backoff over.
  void on_command_succeeded() { client.command_succeeded(); }

  // Inserts in seq order (io threads append in nearly that order; a straggler goes a few
  // places back).
  void insert_sorted(const analytics::commit_result& committed) {
    if (queue.empty() || queue.back().seq < committed.seq) {
      queue.push_back(committed);
      return;
    }
    const auto at = std::upper_bound(
        queue.begin(), queue.end(), committed.seq,
        [](std::uint64_t seq, const analytics::commit_result& c) { return seq < c.seq; });
    queue.insert(at, committed);
  }

  void drop_oldest_locked() {
    dropped.fetch_add(1, std::memory_order_relaxed);
    dropped_max = std::max(dropped_max, queue.front().seq);
    queue.pop_front();
  }

  void append(const analytics::commit_result& committed) {
    bool post_pump = false;
    {
      std::lock_guard lock(queue_mutex);
      if (queue.size() + in_flight_samples >= options.queue_limit) {
        // Full: keep the newest samples (they are what a restore needs); count the loss.
        if (queue.empty() || queue.front().seq > committed.seq) {
          dropped.fetch_add(1, std::memory_order_relaxed);
          dropped_max = std::max(dropped_max, committed.seq);
          return;
        }
        drop_oldest_locked();
      }
      insert_sorted(committed);
      // Waking the writer thread per sample would cost a context switch per request. It
      // is woken when it sleeps (idle → busy) or when a full batch is waiting; otherwise
      // its tick picks the samples up within kWriteTick.
      if (!pump_posted && (writer_idle || queue.size() >= options.batch_size)) {
        pump_posted = true;
        writer_idle = false;
        post_pump = true;
      }
    }
    if (post_pump) net::post(ioc, [this] { pump(); });
  }

  void pump() {
    {
      std::lock_guard lock(queue_mutex);
      pump_posted = false;
    }
    send_ready_batches();
    // Keep ticking while samples arrive: the writer sleeps (and the next sample wakes it)
    // only after a whole tick found nothing to do.
    if (!tick_armed && !client.stopping()) {
      tick_armed = true;
      tick_timer.expires_after(kWriteTick);
      tick_timer.async_wait([this](boost::system::error_code ec) {
        tick_armed = false;
        if (ec) return;
        {
          std::lock_guard lock(queue_mutex);
          if (queue.empty() && in_flight_samples == 0) {
            writer_idle = true;
            return;
          }
        }
        pump();
      });
    }
  }

  // Takes the next batch: consecutive seqs from next_seq on. A sample committed but not
  // appended yet (its io thread is between commit and append) holds the batch back until
  // the next tick; a hole left by dropped samples is skipped (and the batch says so).
  bool take_batch(std::vector<analytics::commit_result>& batch, bool& allow_gap) {
    std::lock_guard lock(queue_mutex);
    if (queue.empty()) return false;
    const std::uint64_t first = queue.front().seq;
    if (first > next_seq) {
      if (dropped_max < next_seq && gap_allowed_at != first) return false;  // in transit
      gap_allowed_at = first;
    }
    allow_gap = gap_allowed_at == first;
    std::size_t n = 1;
    while (n < options.batch_size && n < queue.size() && queue[n].seq == first + n) ++n;
    batch.assign(std::make_move_iterator(queue.begin()),
                 std::make_move_iterator(queue.begin() + static_cast<std::ptrdiff_t>(n)));
    queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
    in_flight_samples += n;
    next_seq = std::max(next_seq, batch.back().seq + 1);
    return true;
  }

  void send_ready_batches() {
    while (keys && client.ready_connection() && in_flight_batches < options.max_in_flight) {
      std::vector<analytics::commit_result> batch;
      bool allow_gap = false;
      if (!take_batch(batch, allow_gap)) break;
      send_batch(std::move(batch), allow_gap);
    }
  }

  void send_batch(std::vector<analytics::commit_result> batch, bool allow_gap) {
    const analytics::commit_result& newest = batch.back();
    for (const auto& c : batch) {
      for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
        if (c.metrics[m].anomaly && (!last_anomaly[m] || last_anomaly[m]->first < c.seq)) {
          last_anomaly[m] = {{c.seq, {c.timestamp, c.metrics[m].value, c.metrics[m].z_score}}};
        }
      }
    }
    std::array<std::optional<analytics::anomaly_record>, analytics::kMetricCount> anomalies;
    for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
      if (last_anomaly[m] && last_anomaly[m]->first <= newest.seq) {
        anomalies[m] = last_anomaly[m]->second;
      }
    }

    std::vector<std::string> text;  // seqs and records, in argument order
    text.reserve(2 * batch.size());
    for (const auto& c : batch) {
      text.push_back(std::to_string(c.seq));
      text.push_back(encode_record(c));
    }
    const auto fields = state_fields(newest, anomalies);
    const std::string history_size = std::to_string(options.history_size);
    const std::string count = std::to_string(batch.size());

    std::vector<std::string_view> args;
    args.reserve(10 + text.size() + 2 * fields.size());
    for (std::string_view a : {std::string_view{"EVAL"}, kWriteBatchScript, std::string_view{"3"},
                               std::string_view{keys->samples}, std::string_view{keys->state},
                               std::string_view{keys->generation}, std::string_view{history_size},
                               std::string_view{current_generation},
                               std::string_view{allow_gap ? "1" : "0"}, std::string_view{count}}) {
      args.push_back(a);
    }
    for (const auto& t : text) args.emplace_back(t);
    for (const auto& [field, value] : fields) {
      args.emplace_back(field);
      args.emplace_back(value);
    }

    const auto started = clock::now();
    auto shared_batch = std::make_shared<std::vector<analytics::commit_result>>(std::move(batch));
    ++in_flight_batches;
    const auto conn = client.connection();
    const bool sent =
        conn->command(args, [this, shared_batch, started, c = conn](const redisReply* reply) {
          --in_flight_batches;
          const bool ok = reply != nullptr && reply->type == REDIS_REPLY_INTEGER;
          if (ok) {
            on_command_succeeded();
            observe_latency(std::chrono::duration<double>(clock::now() - started).count());
            written.fetch_add(shared_batch->size(), std::memory_order_relaxed);
            {
              std::lock_guard lock(queue_mutex);
              in_flight_samples -= shared_batch->size();
              if (gap_allowed_at == shared_batch->front().seq) gap_allowed_at = 0;
            }
            drained.notify_all();
            net::post(ioc, [this] { pump(); });
            return;
          }
          requeue(*shared_batch);
          if (is_gap(reply) && resume_after_lost_data(*shared_batch, reply)) return;
          if (reply != nullptr) {
            // An error reply (OOM, WRONGTYPE on our key, GAP after an earlier batch failed):
            // retrying at once would spin, so drop the connection and retry after the backoff,
            // every batch again in seq order.
            const std::string reason = reply->str != nullptr ? std::string(reply->str, reply->len)
                                                             : std::string("unexpected reply");
            std::uint64_t suppressed = 0;
            if (write_log.allow(suppressed)) {
              spdlog::error(
                  "redis: batch write failed: {}{}", reason,
                  suppressed > 0 ? fmt::format(" ({} similar lines left out)", suppressed) : "");
            }
            if (c == client.connection()) client.close("write failed: " + reason);
          }
        });
    if (!sent) {
      --in_flight_batches;
      requeue(*shared_batch);
    }
  }

  static bool is_gap(const redisReply* reply) {
    return reply != nullptr && reply->type == REDIS_REPLY_ERROR && reply->str != nullptr &&
           std::string_view(reply->str, reply->len).substr(0, 3) == "GAP";
  }

  // A GAP refusal of the oldest sample this store still holds (nothing older queued or in
  // flight: replies come in order) means Redis no longer has what it confirmed before: it
  // restarted without persistence, failed over to a replica that lagged, or the keys were
  // deleted. Those samples cannot be written again; the batch is sent again allowed to
  // skip them, and the loss is logged and counted. False when an older batch is pending
  // (then the GAP resolves once that one is written).
  bool resume_after_lost_data(const std::vector<analytics::commit_result>& batch,
                              const redisReply* reply) {
    {
      std::lock_guard lock(queue_mutex);
      if (queue.empty() || queue.front().seq != batch.front().seq) return false;
      gap_allowed_at = batch.front().seq;
    }
    lost_in_redis.fetch_add(1, std::memory_order_relaxed);
    spdlog::error(
        "redis: {} no longer holds samples this store wrote ({}); writing on from seq {} "
        "(was Redis restarted without persistence, or failed over to a replica that lagged?)",
        options.address.to_string(), std::string(reply->str, reply->len), batch.front().seq);
    net::post(ioc, [this] { pump(); });
    return true;
  }

  // A batch that was not confirmed goes back into the queue at its place in seq order
  // (within the limit), and the writer resumes from its first seq.
  void requeue(std::vector<analytics::commit_result>& batch) {
    failed.fetch_add(batch.size(), std::memory_order_relaxed);
    {
      std::lock_guard lock(queue_mutex);
      in_flight_samples -= batch.size();
      const std::size_t room = options.queue_limit > queue.size() + in_flight_samples
                                   ? options.queue_limit - queue.size() - in_flight_samples
                                   : 0;
      // Keep the newest of the batch when it no longer fits.
      const std::size_t skip = batch.size() > room ? batch.size() - room : 0;
      if (skip > 0) {
        dropped.fetch_add(skip, std::memory_order_relaxed);
        dropped_max = std::max(dropped_max, batch[skip - 1].seq);
      }
      if (skip < batch.size()) {
        const std::uint64_t first = batch[skip].seq;
        const auto at = std::lower_bound(
            queue.begin(), queue.end(), first,
            [](const analytics::commit_result& c, std::uint64_t seq) { return c.seq < seq; });
        queue.insert(at, std::make_move_iterator(batch.begin() + static_cast<std::ptrdiff_t>(skip)),
                     std::make_move_iterator(batch.end()));
        next_seq = std::min(next_seq, first);
      }
    }
    drained.notify_all();
  }

  void observe_latency(double seconds) {
    std::size_t i = 0;
    while (i < kLatencyBuckets.size() && seconds > kLatencyBuckets[i]) ++i;
    latency_counts[i].fetch_add(1, std::memory_order_relaxed);
    double sum = latency_sum.load(std::memory_order_relaxed);
    while (!latency_sum.compare_exchange_weak(sum, sum + seconds, std::memory_order_relaxed)) {
    }
  }

  // --- startup restore ---------------------------------------------------------------

  std::string current_generation;  // io thread only; valid once `keys` is set

  // The keys of `generation` are the ones written from now on, starting after `seq`.
  void choose_generation(std::string generation, std::uint64_t seq) {
    current_generation = std::move(generation);
    keys = make_keys(options.key_prefix, options.instance_id, current_generation);
    std::lock_guard lock(queue_mutex);
    next_seq = seq + 1;
  }

  struct restore_call {
    std::promise<restore_result> promise;
    std::atomic<bool> answered{false};
    clock::time_point deadline;
  };

  restore_result restore(std::chrono::milliseconds timeout) {
    restore_attempts.fetch_add(1, std::memory_order_relaxed);
    auto call = std::make_shared<restore_call>();
    call->deadline = clock::now() + timeout;
    auto future = call->promise.get_future();
    net::post(ioc, [this, call] { try_restore(call); });
    if (future.wait_until(call->deadline) != std::future_status::ready) {
      if (!call->answered.exchange(true)) {
        return {restore_status::failed, std::nullopt,
                "Redis did not answer within REDIS_RESTORE_TIMEOUT_MS (" +
                    std::to_string(timeout.count()) + " ms)" +
                    (last_failure_copy().empty() ? "" : "; last error: " + last_failure_copy()),
                0};
      }
    }
    return future.get();
  }

  // The connection's last failure, for the restore's log line (read from another thread).
  mutable std::mutex failure_mutex;
  std::string failure_for_restore;
  std::string last_failure_copy() const {
    std::lock_guard lock(failure_mutex);
    return failure_for_restore;
  }
  void note_failure(const std::string& reason) {
    std::lock_guard lock(failure_mutex);
    failure_for_restore = reason;
  }

  // Answers the attempt once; `apply` runs only if the caller still waits for it.
  template <typename Apply>
  void answer(const std::shared_ptr<restore_call>& call, restore_result result, Apply&& apply) {
    if (call->answered.exchange(true)) return;
    apply();
    call->promise.set_value(std::move(result));
  }
  void fail(const std::shared_ptr<restore_call>& call, const std::string& reason) {
    note_failure(reason);
    answer(call, {restore_status::failed, std::nullopt, reason, 0}, [] {});
  }

  static std::string error_text(const redisReply* reply) {
    if (reply == nullptr) return "connection lost";
    if (reply->str != nullptr) return std::string(reply->str, reply->len);
    return "unexpected reply type " + std::to_string(reply->type);
  }

  static std::vector<std::pair<std::string, std::string>> pairs_of(const redisReply* reply) {
    std::vector<std::pair<std::string, std::string>> out;
    for (std::size_t i = 0; i + 1 < reply->elements; i += 2) {
      const auto* k = reply->element[i];
      const auto* v = reply->element[i + 1];
      out.emplace_back(std::string(k->str, k->len), std::string(v->str, v->len));
    }
    return out;
  }

  // Step 1: which generation is in use, and whether layout-1 keys exist.
  void try_restore(const std::shared_ptr<restore_call>& call) {
    if (call->answered.load() || client.stopping()) return;
    const auto conn = client.ready_connection();
    if (!conn) {
      // Not connected (yet): look again shortly; the caller's deadline ends the attempt.
      auto timer = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(20));
      timer->async_wait([this, timer, call](boost::system::error_code) { try_restore(call); });
      return;
    }
    auto pointer = std::make_shared<std::optional<std::string>>();
    auto pointer_error = std::make_shared<std::string>();
    conn->command({"GET", generation_pointer}, [pointer, pointer_error](const redisReply* reply) {
      if (reply != nullptr && reply->type == REDIS_REPLY_STRING) {
        *pointer = std::string(reply->str, reply->len);
      } else if (reply == nullptr || reply->type != REDIS_REPLY_NIL) {
        *pointer_error = error_text(reply);
      }
    });
    conn->command({"HGETALL", legacy.state}, [this, call, pointer,
                                              pointer_error](const redisReply* reply) {
      if (call->answered.load()) return;
      if (!pointer_error->empty()) return fail(call, "reading the generation: " + *pointer_error);
      if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) {
        return fail(call, "reading " + legacy.state + ": " + error_text(reply));
      }
      on_command_succeeded();
      if (*pointer) return read_generation(call, **pointer);
      if (reply->elements > 0) return read_legacy(call, pairs_of(reply));
      answer(call, {restore_status::empty, std::nullopt, "nothing persisted for this instance", 0},
             [this] { choose_generation(std::string(kFirstGeneration), 0); });
    });
  }

  // Step 2 (layout 2): the state hash and the newest window of records.
  void read_generation(const std::shared_ptr<restore_call>& call, const std::string& generation) {
    const auto conn = client.ready_connection();
    if (!conn) return fail(call, "connection lost");
    const redis_keys k = make_keys(options.key_prefix, options.instance_id, generation);
    auto hash = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
    auto hash_error = std::make_shared<std::string>();
    conn->command({"HGETALL", k.state}, [hash, hash_error](const redisReply* reply) {
      if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) {
        *hash_error = error_text(reply);
        return;
      }
      *hash = pairs_of(reply);
    });
    const std::string limit = std::to_string(options.window_size);
    conn->command(
        {"ZREVRANGEBYSCORE", k.samples, "+inf", "-inf", "WITHSCORES", "LIMIT", "0", limit},
        [this, call, hash, hash_error, k, generation](const redisReply* reply) {
          if (call->answered.load()) return;
          if (!hash_error->empty()) {
            return fail(call, "reading " + k.state + ": " + *hash_error);
          }
          if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) {
            return fail(call, "reading " + k.samples + ": " + error_text(reply));
          }
          on_command_succeeded();
          std::vector<scored_record> records;
          records.reserve(reply->elements / 2);
          for (std::size_t i = 0; i + 1 < reply->elements; i += 2) {
            const auto* m = reply->element[i];
            const auto* sc = reply->element[i + 1];
            records.emplace_back(std::string(m->str, m->len), std::string(sc->str, sc->len));
          }
          finish_restore(call, rebuild_state(*hash, records, options.window_size), generation,
                         "generation " + generation, false);
        });
  }

  // Step 2 (layout 1 of release 0.1.0): read it once; its window seeds layout 2.
  void read_legacy(const std::shared_ptr<restore_call>& call,
                   std::vector<std::pair<std::string, std::string>> hash) {
    const auto conn = client.ready_connection();
    if (!conn) return fail(call, "connection lost");
    auto shared_hash =
        std::make_shared<std::vector<std::pair<std::string, std::string>>>(std::move(hash));
    conn->command(
        {"LRANGE", legacy.history, "0", "-1"}, [this, call, shared_hash](const redisReply* reply) {
          if (call->answered.load()) return;
          if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) {
            return fail(call, "reading " + legacy.history + ": " + error_text(reply));
          }
          on_command_succeeded();
          std::vector<std::string> history;
          history.reserve(reply->elements);
          for (std::size_t i = 0; i < reply->elements; ++i) {
            history.emplace_back(reply->element[i]->str, reply->element[i]->len);
          }
          finish_restore(call, rebuild_legacy_state(*shared_hash, history, options.window_size),
                         std::string(kFirstGeneration),
                         "the release 0.1.0 layout (" + legacy.state +
                             "), migrated to generation " + std::string(kFirstGeneration),
                         true);
        });
  }

  void finish_restore(const std::shared_ptr<restore_call>& call, rebuilt_state rebuilt,
                      const std::string& generation, const std::string& from, bool migrate) {
    restore_skipped.fetch_add(rebuilt.skipped_records, std::memory_order_relaxed);
    if (!rebuilt.error.empty()) {
      return fail(call, "persisted state in " + from + " unreadable: " + rebuilt.error);
    }
    if (!rebuilt.state) {
      answer(call, {restore_status::empty, std::nullopt, "no state in " + from, 0},
             [this, generation] { choose_generation(generation, 0); });
      return;
    }
    const std::uint64_t seq = rebuilt.state->seq;
    const std::uint64_t skipped = rebuilt.skipped_records;
    auto records =
        std::make_shared<std::vector<analytics::commit_result>>(std::move(rebuilt.window_records));
    restore_result result{restore_status::restored, std::move(rebuilt.state),
                          "restored from " + from, skipped};
    const auto anomalies = result.state->metrics;
    answer(call, std::move(result), [this, generation, seq, migrate, records, anomalies] {
      // Anomalies restored count as already persisted (older than any new sample).
      for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
        if (const auto& a = anomalies[m].last_anomaly) last_anomaly[m] = {{0, *a}};
      }
      if (migrate && !records->empty()) {
        // Layout 2 gets the restored window before any new sample: the first batch seeds it.
        choose_generation(generation, records->front().seq - 1);
        records->back().anomalies_total = {anomalies[0].anomalies_total,
                                           anomalies[1].anomalies_total};
        std::lock_guard lock(queue_mutex);
        gap_allowed_at = records->front().seq;
        queue.insert(queue.begin(), records->begin(), records->end());
        return;
      }
      choose_generation(generation, seq);
    });
  }

  void start_new_generation() {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    net::post(ioc, [this, now, done] {
      choose_generation(std::to_string(now), 0);
      spdlog::warn("redis: writing generation {} from seq 1 ({}); earlier keys are kept",
                   current_generation, keys->state);
      for (auto& a : last_anomaly) a.reset();
      done->set_value();
      pump();
    });
    // After stop() the io thread is gone (its io_context stopped) and nothing runs it.
    while (future.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
      if (ioc.stopped()) return;
    }
  }

  bool flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(queue_mutex);
    return drained.wait_for(lock, timeout,
                            [this] { return queue.empty() && in_flight_samples == 0; });
  }
};

redis_store::redis_store(redis_store_options options)
    : impl_(std::make_shared<impl>(std::move(options))) {
  impl_->start();
}

redis_store::~redis_store() { impl_->stop(redis_client::kDefaultStopBudget); }

void redis_store::stop(std::chrono::milliseconds budget) { impl_->stop(budget); }

void redis_store::append(const analytics::commit_result& committed) noexcept {
  impl_->append(committed);
}

store_status redis_store::status() const noexcept {
  store_status s;
  s.backend = "redis";
  s.connected = impl_->client.connected();
  {
    std::lock_guard lock(impl_->queue_mutex);
    s.pending_writes = impl_->queue.size() + impl_->in_flight_samples;
  }
  s.written_writes = impl_->written.load(std::memory_order_relaxed);
  s.failed_writes = impl_->failed.load(std::memory_order_relaxed);
  s.dropped_writes = impl_->dropped.load(std::memory_order_relaxed);
  s.reconnects = impl_->client.reconnects();
  return s;
}

restore_result redis_store::restore(std::chrono::milliseconds timeout) {
  return impl_->restore(timeout);
}

void redis_store::start_new_generation() { impl_->start_new_generation(); }

bool redis_store::flush(std::chrono::milliseconds timeout) { return impl_->flush(timeout); }

void redis_store::collect(telemetry::metric_writer& out) const {
  const std::array<telemetry::label, 1> backend{{{"backend", "redis"}}};
  std::array<std::uint64_t, kLatencyBuckets.size()> cumulative{};
  std::uint64_t count = 0;
  for (std::size_t i = 0; i <= kLatencyBuckets.size(); ++i) {
    count += impl_->latency_counts[i].load(std::memory_order_relaxed);
    if (i < kLatencyBuckets.size()) cumulative[i] = count;
  }
  out.family("analyzer_storage_command_duration_seconds",
             "Time from sending a batch write to Redis to its reply.",
             telemetry::metric_type::histogram);
  out.histogram(backend, kLatencyBuckets, cumulative, count,
                impl_->latency_sum.load(std::memory_order_relaxed));

  auto counter = [&](std::string_view name, std::string_view help, std::uint64_t value) {
    out.family(name, help, telemetry::metric_type::counter);
    out.value(backend, static_cast<double>(value));
  };
  counter("analyzer_storage_restore_attempts_total",
          "Startup restore attempts (retried with backoff until one succeeds).",
          impl_->restore_attempts.load(std::memory_order_relaxed));
  counter("analyzer_storage_restore_skipped_records_total",
          "Persisted records a restore could not use (unreadable, or two for one seq).",
          impl_->restore_skipped.load(std::memory_order_relaxed));
  counter("analyzer_storage_redis_data_lost_total",
          "Times Redis no longer held samples it had confirmed (restart without persistence, "
          "failover to a lagging replica, deleted keys).",
          impl_->lost_in_redis.load(std::memory_order_relaxed));
}

}  // namespace analyzer::storage
