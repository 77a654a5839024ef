// Wiring of the service from its configuration, and its startup and shutdown order.
#include "analyzer/app/service.hpp"

#include "analyzer/storage/instance_window_path.hpp"
#include "analyzer/storage/window_path_factory.hpp"

#include <spdlog/spdlog.h>

namespace analyzer::app {

service::service(const config::config& cfg, http::server_options options)
    : service(cfg, options, storage::make_window_path(cfg)) {}

service::service(config::config cfg, http::server_options options,
                 std::unique_ptr<storage::window_path> windows)
    : cfg_(std::move(cfg)),
      windows_(std::move(windows)),
      metrics_(*windows_),
      life_(http::phase::starting),
      ctx_{cfg_, *windows_, metrics_, life_},
      server_(std::make_unique<http::server>(ctx_, options)) {}

service::~service() {
  if (started_ && !waited_) {
    shutdown();
    (void)wait();
  }
  // The server (its io threads joined by wait() or its destructor) goes before the window
  // path it calls; a path never opened or never stopped by the server is stopped here.
  server_.reset();
  windows_->stop(std::chrono::milliseconds(2000));
}

analytics::analyzer* service::analyzer() noexcept {
  auto* instance = dynamic_cast<storage::instance_window_path*>(windows_.get());
  return instance != nullptr ? &instance->analyzer() : nullptr;
}

storage::store* service::store() noexcept {
  auto* instance = dynamic_cast<storage::instance_window_path*>(windows_.get());
  return instance != nullptr ? &instance->persisted() : nullptr;
}

void service::start() {
  server_->start();
  started_ = true;
  spdlog::info("listening on {}:{} with {} thread(s), scope={}, store={}", cfg_.bind_address,
               server_->port(), cfg_.threads, windows_->scope(), windows_->status().backend);
}

storage::restore_outcome service::open() {
  const auto outcome = windows_->open([this] { return life_.current() == http::phase::starting; });
  if (outcome != storage::restore_outcome::abandoned) life_.finish_starting();
  return outcome;
}

void service::shutdown() { server_->shutdown(); }

int service::wait() {
  waited_ = true;
  return server_->wait();
}

}  // namespace analyzer::app
