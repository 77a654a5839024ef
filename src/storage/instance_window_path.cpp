// The in-process window path: commit into the analyzer, append to the store, answer inline.
#include "analyzer/storage/instance_window_path.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace analyzer::storage {

instance_window_path::instance_window_path(const analytics::detector_config& detector,
                                           std::size_t max_writers,
                                           std::unique_ptr<store> persisted,
                                           restore_options restore)
    : core_(detector, max_writers), store_(std::move(persisted)), restore_(restore) {}

void instance_window_path::commit(const commit_request& req, window_receiver& to) {
  // Per-thread: the ingest path allocates nothing once it has grown to the largest batch.
  thread_local std::vector<analytics::commit_result> results;
  results.clear();
  for (const auto& s : req.samples) {
    results.push_back(core_.commit(s.timestamp, s.cpu, s.rps));
    store_->append(results.back());
  }
  commit_outcome out;
  out.results = results;
  to.on_commit(out);
}

void instance_window_path::read(window_receiver& to) {
  const analytics::snapshot snap = core_.read();
  read_outcome out;
  out.snap = &snap;
  out.status = store_->status();
  to.on_read(out);
}

restore_outcome instance_window_path::open(const std::function<bool()>& keep_trying) {
  return restore_on_startup(*store_, core_, restore_, keep_trying);
}

void instance_window_path::stop(std::chrono::milliseconds budget) {
  if (stopped_.exchange(true)) return;
  // One deadline for both: what the flush leaves of the budget bounds the store's stop.
  const auto deadline = std::chrono::steady_clock::now() + budget;
  if (!store_->flush(budget)) {
    spdlog::warn("shutdown: store still had pending writes at the deadline");
  }
  store_->stop(std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now()),
                        std::chrono::milliseconds{0}));
}

}  // namespace analyzer::storage
