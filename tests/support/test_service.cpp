// In-process service for integration tests.
#include "support/test_service.hpp"

#include "analyzer/app/logging.hpp"

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
std::unique_ptr<app::service> make_service(config::config cfg,
                                           std::unique_ptr<storage::window_path> windows = {}) {
  std::signal(SIGPIPE, SIG_IGN);  // as main does, for hiredis' write(2)
  app::setup_logging(cfg.log_level, cfg.log_fmt);
  if (windows) {
    return std::make_unique<app::service>(std::move(cfg), http::server_options{false},
                                          std::move(windows));
  }
  return std::make_unique<app::service>(std::move(cfg), http::server_options{false});
}
}  // namespace

test_service::test_service(config::config c, http::phase initial)
    : test_service(std::move(c), nullptr, initial) {}

test_service::test_service(config::config c, std::unique_ptr<storage::window_path> windows,
                           http::phase initial)
    : service_(make_service(std::move(c), std::move(windows))),
      cfg(service_->cfg()),
      core(service_->analyzer()),
      store(service_->store()),
      metrics(service_->metrics()),
      life(service_->life()),
      ctx(service_->context()) {
  service_->start();
  if (initial == http::phase::ready) {
    (void)service_->open();
  } else {
    life.set(initial);
  }
}

test_service::~test_service() { stop(); }

int test_service::stop() {
  if (stopped_) return 0;
  stopped_ = true;
  service_->shutdown();
  return service_->wait();
}

}  // namespace analyzer::test
