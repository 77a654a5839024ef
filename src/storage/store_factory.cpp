// Store selection and the startup restore sequence shared by main and the tests.
#include "analyzer/storage/store_factory.hpp"

#include "analyzer/storage/memory_store.hpp"
#include "analyzer/storage/redis_store.hpp"
#include "log_throttle.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <thread>

namespace analyzer::storage {

std::unique_ptr<store> make_store(const config::config& cfg) {
  if (cfg.redis_addr.empty()) return std::make_unique<memory_store>(cfg.history_size);
  return std::make_unique<redis_store>(redis_store_options::from(cfg));
}

restore_options restore_options::from(const config::config& cfg) {
  restore_options o;
  o.attempt_timeout = cfg.redis_restore_timeout;
  o.start_empty_on_failure = cfg.redis_restore_policy == "start-empty";
  return o;
}

namespace {

using clock = std::chrono::steady_clock;

long long ms_since(clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start).count();
}

// Waits `delay` in short steps so that a shutdown is noticed promptly; false if it began.
bool pause(std::chrono::milliseconds delay, const std::function<bool()>& keep_trying) {
  const auto until = clock::now() + delay;
  while (clock::now() < until) {
    if (!keep_trying()) return false;
    std::this_thread::sleep_for(
        std::min<clock::duration>(std::chrono::milliseconds(20), until - clock::now()));
  }
  return keep_trying();
}

}  // namespace

restore_outcome restore_on_startup(store& s, analytics::analyzer& core,
                                   const restore_options& options,
                                   const std::function<bool()>& keep_trying) {
  const auto started = clock::now();
  std::chrono::milliseconds backoff{0};
  std::minstd_rand jitter{std::random_device{}()};
  log_throttle failure_log{std::chrono::seconds(10)};
  for (std::uint64_t attempt = 1;; ++attempt) {
    if (!keep_trying()) {
      spdlog::warn("restore: abandoned after {} attempt(s) ({} ms): shutting down", attempt - 1,
                   ms_since(started));
      return restore_outcome::abandoned;
    }
    restore_result r = s.restore(options.attempt_timeout);
    std::string failure;
    if (r.status == restore_status::empty) {
      spdlog::info("restore: starting empty ({}; {} ms)", r.detail, ms_since(started));
      return restore_outcome::empty;
    }
    if (r.status == restore_status::restored && r.state) {
      try {
        core.restore(*r.state);
        spdlog::info("restore: seq {} with a window of {} values {} in {} ms{}", r.state->seq,
                     r.state->metrics[0].window.size(), r.detail, ms_since(started),
                     r.skipped_records > 0
                         ? fmt::format("; {} unreadable record(s) skipped", r.skipped_records)
                         : "");
        return restore_outcome::restored;
      } catch (const std::invalid_argument& e) {
        failure = std::string("persisted state rejected: ") + e.what();
      }
    } else {
      failure = r.detail;
    }
    if (options.start_empty_on_failure) {
      spdlog::warn("restore: attempt failed ({}); REDIS_RESTORE_POLICY=start-empty", failure);
      s.start_new_generation();
      return restore_outcome::new_generation;
    }
    backoff = std::clamp(backoff * 2, options.backoff_initial, options.backoff_max);
    const auto delay = std::chrono::milliseconds(
        static_cast<long long>(static_cast<double>(backoff.count()) *
                               std::uniform_real_distribution<double>(0.8, 1.2)(jitter)));
    std::uint64_t suppressed = 0;
    if (failure_log.allow(suppressed)) {
      spdlog::warn(
          "restore: attempt {} failed ({}); /ready and ingest stay 503, retrying in {} ms "
          "(REDIS_RESTORE_POLICY=start-empty would start over under new keys){}",
          attempt, failure, delay.count(),
          suppressed > 0 ? fmt::format(" ({} similar lines left out)", suppressed) : "");
    }
    if (!pause(delay, keep_trying)) {
      spdlog::warn("restore: abandoned after {} attempt(s) ({} ms): shutting down", attempt,
                   ms_since(started));
      return restore_outcome::abandoned;
    }
  }
}

}  // namespace analyzer::storage
