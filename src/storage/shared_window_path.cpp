// The shared window path: shared_window's callbacks turned into window_receiver calls.
#include "analyzer/storage/shared_window_path.hpp"

#include <array>
#include <utility>

namespace analyzer::storage {

shared_window_path::shared_window_path(shared_window_options options)
    : detector_{options.window_size, options.threshold, options.warmup},
      windows_(std::move(options)) {}

void shared_window_path::commit(const commit_request& req, window_receiver& to) {
  windows_.commit(req.samples, req.request_id, req.body,
                  [keep = to.retain()](const shared_commit_outcome& result) {
                    commit_outcome out;
                    out.failure = result.failure;
                    out.detail = result.detail;
                    out.duplicate = result.duplicate;
                    out.conflict = result.conflict;
                    out.results = result.results;
                    keep->on_commit(out);
                  });
}

void shared_window_path::read(window_receiver& to) {
  windows_.read([this, keep = to.retain()](const shared_read_outcome& result) {
    read_outcome out;
    out.failure = result.failure;
    out.detail = result.detail;
    if (!result.failure) out.snap = &result.snap;
    out.status = status();
    keep->on_read(out);
  });
}

api::storage_status shared_window_path::status() const noexcept {
  const shared_window_status shared = windows_.status();
  api::storage_status status;
  status.backend = "redis";
  status.connected = shared.connected;
  status.pending_writes = shared.in_flight;
  status.written_writes = shared.commits;
  status.failed_writes = shared.failures;
  status.reconnects = shared.reconnects;
  return status;
}

void shared_window_path::collect(telemetry::metric_writer& out) const {
  const shared_window_status status = windows_.status();
  const std::span<const telemetry::label> none;
  out.family("analyzer_shared_connected",
             "WINDOW_SCOPE=shared: 1 when the connection to the shared windows in Redis is up, "
             "else 0.",
             telemetry::metric_type::gauge);
  out.value(none, status.connected ? 1.0 : 0.0);
  out.family("analyzer_shared_in_flight",
             "WINDOW_SCOPE=shared: Redis calls (commits, reads) in flight.",
             telemetry::metric_type::gauge);
  out.value(none, static_cast<double>(status.in_flight));
  out.family("analyzer_shared_commits_total",
             "WINDOW_SCOPE=shared: samples committed by the Redis script from this instance.",
             telemetry::metric_type::counter);
  out.value(none, static_cast<double>(status.commits));
}

restore_outcome shared_window_path::open(const std::function<bool()>& keep_trying) {
  (void)keep_trying;
  return restore_outcome::empty;
}

void shared_window_path::stop(std::chrono::milliseconds budget) { windows_.stop(budget); }

}  // namespace analyzer::storage
