// Bounded write queue, batch writer, reconnect loop and startup restore of the Redis store.
#include "analyzer/storage/redis_store.hpp"

#include "analyzer/storage/redis_connection.hpp"
#include "analyzer/storage/redis_layout.hpp"

#include <hiredis/hiredis.h>

#include <limits>

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
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
#include <random>
#include <thread>

namespace analyzer::storage {

namespace net = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

// One batch in one atomic step: push the records (oldest first, so the list stays newest
// first), trim to HISTORY_SIZE, and move the state hash forward only if this batch is
// newer than what it holds (a batch retried after a lost reply must not move it back).
constexpr std::string_view kWriteBatchScript = R"lua(
local n = tonumber(ARGV[3])
redis.call('LPUSH', KEYS[1], unpack(ARGV, 4, 3 + n))
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local current = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
if tonumber(ARGV[2]) > current then
  redis.call('HSET', KEYS[2], unpack(ARGV, 4 + n))
end
return n
)lua";

// How long a queued sample may wait for the writer when no full batch is waiting.
constexpr std::chrono::milliseconds kWriteTick{2};

constexpr std::array<double, 12> kLatencyBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                    0.05,   0.1,   0.25,   0.5,   1,    2.5};

}  // namespace

redis_store_options redis_store_options::from(const config::config& cfg) {
  redis_store_options o;
  o.address = parse_redis_address(cfg.redis_addr).value_or(redis_address{});
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
      : options(std::move(o)), keys(make_keys(options.key_prefix, options.instance_id)) {}

  redis_store_options options;
  redis_keys keys;

  // Shared with the request path.
  mutable std::mutex queue_mutex;
  std::condition_variable drained;
  std::deque<analytics::commit_result> queue;
  std::size_t in_flight_samples = 0;
  bool pump_posted = false;
  bool writer_idle = true;  // no tick armed: the next sample must wake the writer
  std::atomic<bool> connected{false};
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> reconnects{0};
  std::array<std::atomic<std::uint64_t>, kLatencyBuckets.size() + 1> latency_counts{};
  std::atomic<double> latency_sum{0.0};

  // io thread only.
  std::shared_ptr<redis_connection> conn;
  std::size_t in_flight_batches = 0;
  std::chrono::milliseconds backoff{0};
  bool attempted = false;  // a first connection attempt was made
  bool stopping = false;
  std::string last_failure;
  std::array<std::optional<std::pair<std::uint64_t, analytics::anomaly_record>>,
             analytics::kMetricCount>
      last_anomaly;
  std::minstd_rand jitter{std::random_device{}()};

  std::thread thread;
  // Declared last: destroyed first, while every member its handlers touch still exists.
  net::io_context ioc{1};
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  net::steady_timer reconnect_timer{ioc};
  net::steady_timer tick_timer{ioc};
  bool tick_armed = false;  // io thread only

  void start() {
    net::post(ioc, [this] { connect_now(); });
    thread = std::thread([this] { ioc.run(); });
  }

  void stop() {
    net::post(ioc, [this] {
      stopping = true;
      reconnect_timer.cancel();
      tick_timer.cancel();
      if (conn) conn->close("store shutting down");
    });
    work.reset();
    auto done = std::async(std::launch::async, [this] { thread.join(); });
    if (done.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
      ioc.stop();  // a hiredis callback that never came: do not hang the exit
    }
    done.wait();
  }

  void connect_now() {
    if (stopping) return;
    if (attempted) reconnects.fetch_add(1, std::memory_order_relaxed);
    attempted = true;
    redis_connection_options o{options.address, options.password, options.db,
                               options.connect_timeout, options.command_timeout};
    auto c = std::make_shared<redis_connection>(
        ioc, std::move(o), [this] { on_ready(); },
        [this](const std::string& reason) { on_closed(reason); });
    conn = c;
    c->connect();
  }

  void on_ready() {
    backoff = std::chrono::milliseconds{0};
    last_failure.clear();
    connected.store(true, std::memory_order_release);
    spdlog::info("redis: connected to {} (keys {}, {})", options.address.to_string(), keys.history,
                 keys.state);
    pump();
  }

  void on_closed(const std::string& reason) {
    const bool was_connected = connected.exchange(false, std::memory_order_acq_rel);
    conn.reset();
    if (stopping) return;
    backoff = std::clamp(backoff * 2, options.backoff_initial, options.backoff_max);
    const auto delay = std::chrono::milliseconds(
        static_cast<long long>(static_cast<double>(backoff.count()) *
                               std::uniform_real_distribution<double>(0.8, 1.2)(jitter)));
    if (was_connected) {
      spdlog::warn("redis: disconnected from {}: {}; reconnecting in {} ms",
                   options.address.to_string(), reason, delay.count());
    } else if (reason != last_failure) {
      spdlog::warn("redis: {} unavailable: {}; retrying with backoff up to {} ms",
                   options.address.to_string(), reason, options.backoff_max.count());
    }
    last_failure = reason;
    reconnect_timer.expires_after(delay);
    reconnect_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec) connect_now();
    });
  }

  void append(const analytics::commit_result& committed) {
    bool post_pump = false;
    {
      std::lock_guard lock(queue_mutex);
      if (queue.size() + in_flight_samples >= options.queue_limit) {
        // Full: keep the newest samples (they are what a restore needs); count the loss.
        dropped.fetch_add(1, std::memory_order_relaxed);
        if (queue.empty()) return;
        queue.pop_front();
      }
      queue.push_back(committed);
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
    if (!tick_armed && !stopping) {
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

  void send_ready_batches() {
    while (conn && conn->ready() && in_flight_batches < options.max_in_flight) {
      std::vector<analytics::commit_result> batch;
      {
        std::lock_guard lock(queue_mutex);
        if (queue.empty()) break;
        const std::size_t n = std::min(options.batch_size, queue.size());
        batch.assign(std::make_move_iterator(queue.begin()),
                     std::make_move_iterator(queue.begin() + static_cast<std::ptrdiff_t>(n)));
        queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
        in_flight_samples += n;
      }
      send_batch(std::move(batch));
    }
  }

  void send_batch(std::vector<analytics::commit_result> batch) {
    std::sort(batch.begin(), batch.end(),
              [](const auto& a, const auto& b) { return a.seq < b.seq; });
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

    std::vector<std::string> records;
    records.reserve(batch.size());
    for (const auto& c : batch) records.push_back(encode_record(c));
    const auto fields = state_fields(newest, anomalies);
    const std::string history_size = std::to_string(options.history_size);
    const std::string newest_seq = std::to_string(newest.seq);
    const std::string count = std::to_string(batch.size());

    std::vector<std::string_view> args;
    args.reserve(9 + records.size() + 2 * fields.size());
    for (std::string_view a :
         {std::string_view{"EVAL"}, kWriteBatchScript, std::string_view{"2"},
          std::string_view{keys.history}, std::string_view{keys.state},
          std::string_view{history_size}, std::string_view{newest_seq}, std::string_view{count}}) {
      args.push_back(a);
    }
    for (const auto& r : records) args.emplace_back(r);
    for (const auto& [field, value] : fields) {
      args.emplace_back(field);
      args.emplace_back(value);
    }

    const auto started = clock::now();
    auto shared_batch = std::make_shared<std::vector<analytics::commit_result>>(std::move(batch));
    ++in_flight_batches;
    const bool sent =
        conn->command(args, [this, shared_batch, started, c = conn](const redisReply* reply) {
          --in_flight_batches;
          const bool ok = reply != nullptr && reply->type == REDIS_REPLY_INTEGER;
          if (ok) {
            observe_latency(std::chrono::duration<double>(clock::now() - started).count());
            written.fetch_add(shared_batch->size(), std::memory_order_relaxed);
            {
              std::lock_guard lock(queue_mutex);
              in_flight_samples -= shared_batch->size();
            }
            drained.notify_all();
            net::post(ioc, [this] { pump(); });
            return;
          }
          requeue(*shared_batch);
          if (reply != nullptr) {
            // An error reply (say WRONGTYPE on our key): retrying at once would spin, so drop
            // the connection and retry after the backoff.
            const std::string text = reply->str != nullptr ? std::string(reply->str, reply->len)
                                                           : std::string("unexpected reply");
            spdlog::error("redis: batch write failed: {}", text);
            c->close("write failed: " + text);
          }
        });
    if (!sent) {
      --in_flight_batches;
      requeue(*shared_batch);
    }
  }

  // A batch that was not confirmed goes back to the front of the queue (within the limit).
  void requeue(std::vector<analytics::commit_result>& batch) {
    failed.fetch_add(batch.size(), std::memory_order_relaxed);
    {
      std::lock_guard lock(queue_mutex);
      in_flight_samples -= batch.size();
      std::size_t room = options.queue_limit > queue.size() + in_flight_samples
                             ? options.queue_limit - queue.size() - in_flight_samples
                             : 0;
      // Keep the newest of the batch when it no longer fits.
      std::size_t skip = batch.size() > room ? batch.size() - room : 0;
      dropped.fetch_add(skip, std::memory_order_relaxed);
      queue.insert(queue.begin(),
                   std::make_move_iterator(batch.begin() + static_cast<std::ptrdiff_t>(skip)),
                   std::make_move_iterator(batch.end()));
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

  restore_result restore(std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    auto promise = std::make_shared<std::promise<restore_result>>();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    auto future = promise->get_future();
    net::post(ioc,
              [this, promise, answered, deadline] { try_restore(promise, answered, deadline); });
    if (future.wait_until(deadline) != std::future_status::ready) {
      answered->store(true);
      return {std::nullopt, "Redis did not answer within REDIS_RESTORE_TIMEOUT_MS (" +
                                std::to_string(timeout.count()) + " ms)"};
    }
    return future.get();
  }

  void try_restore(const std::shared_ptr<std::promise<restore_result>>& promise,
                   const std::shared_ptr<std::atomic<bool>>& answered, clock::time_point deadline) {
    if (answered->load() || stopping) return;
    if (clock::now() >= deadline) return;  // the caller gave up already
    if (!conn || !conn->ready()) {
      auto timer = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(20));
      timer->async_wait([this, timer, promise, answered, deadline](boost::system::error_code) {
        try_restore(promise, answered, deadline);
      });
      return;
    }
    auto hash = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
    auto hash_ok = std::make_shared<bool>(false);
    conn->command({"HGETALL", keys.state}, [hash, hash_ok](const redisReply* reply) {
      if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) return;
      for (std::size_t i = 0; i + 1 < reply->elements; i += 2) {
        const auto* k = reply->element[i];
        const auto* v = reply->element[i + 1];
        hash->emplace_back(std::string(k->str, k->len), std::string(v->str, v->len));
      }
      *hash_ok = true;
    });
    conn->command({"LRANGE", keys.history, "0", "-1"}, [this, hash, hash_ok, promise, answered,
                                                        deadline](const redisReply* reply) {
      if (answered->load()) return;
      if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || !*hash_ok) {
        // Connection lost meanwhile (or an error): try again while time is left.
        net::post(
            ioc, [this, promise, answered, deadline] { try_restore(promise, answered, deadline); });
        return;
      }
      std::vector<std::string> history;
      history.reserve(reply->elements);
      for (std::size_t i = 0; i < reply->elements; ++i) {
        history.emplace_back(reply->element[i]->str, reply->element[i]->len);
      }
      rebuilt_state rebuilt = rebuild_state(*hash, history, options.window_size);
      if (answered->exchange(true)) return;
      if (!rebuilt.error.empty()) {
        promise->set_value({std::nullopt, "persisted state unreadable: " + rebuilt.error});
      } else if (!rebuilt.state) {
        promise->set_value({std::nullopt, "no state under " + keys.state});
      } else {
        // Anomalies restored count as already persisted.
        for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
          if (const auto& a = rebuilt.state->metrics[m].last_anomaly) {
            last_anomaly[m] = {{0, *a}};
          }
        }
        promise->set_value({std::move(rebuilt.state), "restored"});
      }
    });
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

redis_store::~redis_store() { impl_->stop(); }

void redis_store::append(const analytics::commit_result& committed) noexcept {
  impl_->append(committed);
}

store_status redis_store::status() const noexcept {
  store_status s;
  s.backend = "redis";
  s.connected = impl_->connected.load(std::memory_order_acquire);
  {
    std::lock_guard lock(impl_->queue_mutex);
    s.pending_writes = impl_->queue.size() + impl_->in_flight_samples;
  }
  s.written_writes = impl_->written.load(std::memory_order_relaxed);
  s.failed_writes = impl_->failed.load(std::memory_order_relaxed);
  s.dropped_writes = impl_->dropped.load(std::memory_order_relaxed);
  s.reconnects = impl_->reconnects.load(std::memory_order_relaxed);
  return s;
}

restore_result redis_store::restore(std::chrono::milliseconds timeout) {
  return impl_->restore(timeout);
}

bool redis_store::flush(std::chrono::milliseconds timeout) { return impl_->flush(timeout); }

void redis_store::collect(std::vector<prometheus::MetricFamily>& out) const {
  prometheus::MetricFamily f;
  f.name = "analyzer_storage_command_duration_seconds";
  f.help = "Time from sending a batch write to Redis to its reply.";
  f.type = prometheus::MetricType::Histogram;
  prometheus::ClientMetric m;
  m.label = {{"backend", "redis"}};
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= kLatencyBuckets.size(); ++i) {
    cumulative += impl_->latency_counts[i].load(std::memory_order_relaxed);
    prometheus::ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound =
        i < kLatencyBuckets.size() ? kLatencyBuckets[i] : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(b);
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = impl_->latency_sum.load(std::memory_order_relaxed);
  f.metric.push_back(std::move(m));
  out.push_back(std::move(f));
}

}  // namespace analyzer::storage
