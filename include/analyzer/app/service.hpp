// The whole service, built from its configuration in one place: the window path of the
// configured scope (the in-process analyzer and its store, or the shared windows in Redis),
// the metrics, the lifecycle and the HTTP server. main runs it; the integration tests run
// it in process.
#pragma once

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/config/config.hpp"
#include "analyzer/http/lifecycle.hpp"
#include "analyzer/http/server.hpp"
#include "analyzer/http/service_context.hpp"
#include "analyzer/http/service_metrics.hpp"
#include "analyzer/storage/store.hpp"
#include "analyzer/storage/store_factory.hpp"
#include "analyzer/storage/window_path.hpp"

#include <cstdint>
#include <memory>

namespace analyzer::app {

class service {
 public:
  // Builds every part; nothing listens yet and the phase is `starting`. Throws what the
  // parts throw (an invalid detector configuration: std::invalid_argument).
  service(const config::config& cfg, http::server_options options);
  // The same around a given window path (tests: a path with scripted timing).
  service(config::config cfg, http::server_options options,
          std::unique_ptr<storage::window_path> windows);
  // A service still running is shut down first.
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  // Listens (std::system_error naming the address when it cannot) and starts the io
  // threads: /health answers, /ready and ingest answer 503 until open().
  void start();
  // Opens the window path (instance scope with Redis: the startup restore, attempts retried
  // until one succeeds unless REDIS_RESTORE_POLICY=start-empty), then turns ready. A
  // shutdown that begins meanwhile abandons the restore: ingest then stays refused.
  storage::restore_outcome open();
  // Starts the graceful shutdown, as SIGTERM does.
  void shutdown();
  // Waits for the graceful shutdown to finish; returns the exit code.
  int wait();

  [[nodiscard]] std::uint16_t port() const noexcept { return server_->port(); }
  [[nodiscard]] const config::config& cfg() const noexcept { return cfg_; }
  [[nodiscard]] storage::window_path& windows() noexcept { return *windows_; }
  // Instance scope only (null in shared scope): the analyzer and its store.
  [[nodiscard]] analytics::analyzer* analyzer() noexcept;
  [[nodiscard]] storage::store* store() noexcept;
  [[nodiscard]] http::service_metrics& metrics() noexcept { return metrics_; }
  [[nodiscard]] http::lifecycle& life() noexcept { return life_; }
  [[nodiscard]] http::service_context& context() noexcept { return ctx_; }
  [[nodiscard]] http::server& server() noexcept { return *server_; }

 private:
  config::config cfg_;
  std::unique_ptr<storage::window_path> windows_;
  http::service_metrics metrics_;
  http::lifecycle life_;
  http::service_context ctx_;
  std::unique_ptr<http::server> server_;
  bool started_ = false;
  bool waited_ = false;
};

}  // namespace analyzer::app
