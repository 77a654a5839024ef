// The whole service wired as in main (app::service), in process, listening on 127.0.0.1
// port 0.
#pragma once

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/app/service.hpp"
#include "analyzer/config/config.hpp"
#include "analyzer/http/lifecycle.hpp"
#include "analyzer/http/server.hpp"
#include "analyzer/http/service_context.hpp"
#include "analyzer/http/service_metrics.hpp"
#include "analyzer/storage/store.hpp"
#include "analyzer/storage/window_path.hpp"

#include <cstdint>
#include <memory>

namespace analyzer::test {

// A configuration for tests: loopback, port 0, two threads, defaults otherwise.
config::config test_config();

class test_service {
 public:
  // With `initial` ready, the service restores from its store (as main does) and then
  // turns ready; with `starting` it stays starting until the test sets the phase.
  explicit test_service(config::config cfg = test_config(),
                        http::phase initial = http::phase::ready);
  // Around a given window path (one with scripted timing, say).
  test_service(config::config cfg, std::unique_ptr<storage::window_path> windows,
               http::phase initial = http::phase::ready);
  ~test_service();
  test_service(const test_service&) = delete;
  test_service& operator=(const test_service&) = delete;

  [[nodiscard]] std::uint16_t port() const { return service_->port(); }
  // Starts the graceful shutdown and waits for it; returns the exit code.
  int stop();

 private:
  std::unique_ptr<app::service> service_;

 public:
  const config::config& cfg;
  // Instance scope only (null in shared scope): the analyzer and its store.
  analytics::analyzer* core;
  storage::store* store;
  http::service_metrics& metrics;
  http::lifecycle& life;
  http::service_context& ctx;
  [[nodiscard]] http::server& server() { return service_->server(); }

 private:
  bool stopped_ = false;
};

}  // namespace analyzer::test
