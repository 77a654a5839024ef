// The one path every request takes to the windows: commit these samples, read a snapshot,
// report status. Two implementations, chosen by WINDOW_SCOPE:
//   instance_window_path: the lock-free analyzer in this process plus its write-behind store
//     (memory or Redis). Every call completes inline, on the calling thread, before it
//     returns: no allocation, no std::function, no thread hop.
//   shared_window_path: the windows in Redis (storage::shared_window). A call completes
//     later, on the storage thread (or inline when refused at once: overloaded, stopped).
// The HTTP layer is written once against this interface: the answer always arrives through
// the window_receiver, whichever thread it comes on.
#pragma once

#include "analyzer/analytics/detector_config.hpp"
#include "analyzer/analytics/snapshot.hpp"
#include "analyzer/api/sample.hpp"
#include "analyzer/api/storage_status.hpp"
#include "analyzer/storage/shared_failure.hpp"
#include "analyzer/storage/store_factory.hpp"
#include "analyzer/telemetry/collector.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace analyzer::storage {

struct commit_request {
  std::span<const api::sample> samples;  // committed in this order, as one unit
  std::string_view request_id;           // the client's X-Request-Id; empty: none
  std::string_view body;                 // the bytes the samples were decoded from
};

// Views into the implementation's buffers, valid during the receiver's call only.
struct commit_outcome {
  std::optional<shared_failure> failure;  // set: nothing is reported committed (see detail)
  std::string_view detail;
  bool duplicate = false;  // a repeated request id with the same samples: nothing committed
  bool conflict = false;   // a repeated request id with other samples: nothing committed
  std::span<const analytics::commit_result> results;  // one per sample, in order
};

struct read_outcome {
  std::optional<shared_failure> failure;  // set: no snapshot (see detail)
  std::string_view detail;
  const analytics::snapshot* snap = nullptr;  // one consistent cut; null on failure
  api::storage_status status;                 // the store, or the connection to Redis
};

// Who gets the answer of a call; exactly one of its callbacks runs once per call.
class window_receiver {
 public:
  virtual void on_commit(const commit_outcome& out) = 0;
  virtual void on_read(const read_outcome& out) = 0;
  // A call that completes later keeps the receiver alive with this until it has answered.
  [[nodiscard]] virtual std::shared_ptr<window_receiver> retain() = 0;

 protected:
  ~window_receiver() = default;
};

class window_path {
 public:
  virtual ~window_path() = default;

  [[nodiscard]] virtual std::string_view scope() const noexcept = 0;  // "instance" | "shared"
  [[nodiscard]] virtual const analytics::detector_config& config() const noexcept = 0;

  // Commits `req.samples` (answer: to.on_commit). Called concurrently from every io thread
  // once open() returned restored, empty or new_generation.
  virtual void commit(const commit_request& req, window_receiver& to) = 0;
  // Reads the windows as one consistent cut (answer: to.on_read).
  virtual void read(window_receiver& to) = 0;
  [[nodiscard]] virtual api::storage_status status() const noexcept = 0;
  // The implementation's own metric families for the scrape (store latency, connection).
  virtual void collect(telemetry::metric_writer& out) const = 0;

  // Brings the windows to the persisted state before the first commit (the instance scope's
  // startup restore; the shared scope has nothing to restore). keep_trying() false
  // abandons it (a shutdown began).
  virtual restore_outcome open(const std::function<bool()>& keep_trying) = 0;
  // Stops the storage thread within `budget`: calls still in flight fail. Idempotent.
  virtual void stop(std::chrono::milliseconds budget) = 0;
};

}  // namespace analyzer::storage
