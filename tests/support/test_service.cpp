// In-process service for integration tests.
#include "support/test_service.hpp"

#include "analyzer/storage/store_factory.hpp"
#include "analyzer/telemetry/logging.hpp"

#include <csignal>

namespace analyzer::test {

config::config test_config() {
  config::config cfg;
  cfg.bind_address = "127.0.0.1";
  cfg.port = 0;
  cfg.threads = 2;
  cfg.instance_id = "test";
  cfg.log_level = "warn";
  return cfg;
}

namespace {
// As main does: the logger exists before any io thread (spdlog's registry is created on
// first use, and libspdlog is not instrumented for ThreadSanitizer).
const config::config& with_logging(const config::config& cfg) {
  std::signal(SIGPIPE, SIG_IGN);  // as main does, for hiredis' write(2)
  telemetry::setup_logging(cfg.log_level, cfg.log_fmt);
  return cfg;
}
}  // namespace

test_service::test_service(config::config c, http::phase initial)
    : cfg(with_logging(c)),
      core({cfg.window_size, cfg.anomaly_threshold, cfg.warmup}, cfg.threads + 2),
      store(storage::make_store(cfg)),
      metrics(core, *store),
      life(http::phase::starting),
      ctx{cfg, core, *store, metrics, life},
      server_(std::make_unique<http::server>(ctx, http::server_options{false})) {
  server_->start();
  if (initial == http::phase::ready) {
    const auto outcome =
        storage::restore_on_startup(*store, core, storage::restore_options::from(cfg),
                                    [this] { return life.current() == http::phase::starting; });
    if (outcome != storage::restore_outcome::abandoned) life.finish_starting();
  } else {
    life.set(initial);
  }
}

test_service::~test_service() { stop(); }

int test_service::stop() {
  if (stopped_) return 0;
  stopped_ = true;
  server_->shutdown();
  return server_->wait();
}

}  // namespace analyzer::test
