// Wiring of the service from its configuration, and its startup and shutdown order.
#include "analyzer/app/service.hpp"

#include "analyzer/storage/memory_store.hpp"

#include <spdlog/spdlog.h>

namespace analyzer::app {
namespace {

bool shared_scope(const config::config& cfg) { return cfg.window_scope == "shared"; }

std::unique_ptr<storage::store> make_store_for(const config::config& cfg) {
  if (shared_scope(cfg)) return std::make_unique<storage::memory_store>(cfg.history_size);
  return storage::make_store(cfg);
}

std::unique_ptr<storage::shared_window> make_shared_for(const config::config& cfg) {
  if (!shared_scope(cfg)) return nullptr;
  return std::make_unique<storage::shared_window>(storage::shared_window_options::from(cfg));
}

}  // namespace

service::service(config::config cfg, http::server_options options)
    : cfg_(std::move(cfg)),
      core_({cfg_.window_size, cfg_.anomaly_threshold, cfg_.warmup}, cfg_.threads + 2),
      store_(make_store_for(cfg_)),
      shared_(make_shared_for(cfg_)),
      metrics_(core_, *store_),
      life_(http::phase::starting),
      ctx_{cfg_, core_, *store_, metrics_, life_},
      server_(std::make_unique<http::server>(ctx_, options)) {
  ctx_.shared = shared_.get();
  metrics_.attach_shared(shared_.get());
}

service::~service() {
  if (started_ && !waited_) {
    shutdown();
    (void)wait();
  }
  // Before the storage goes: the server's io threads are joined by wait() (or by its
  // destructor), then calls still in flight on the shared windows fail.
  server_.reset();
  if (shared_) shared_->stop();
}

void service::start() {
  server_->start();
  started_ = true;
  spdlog::info("listening on {}:{} with {} thread(s), store={}", cfg_.bind_address, server_->port(),
               cfg_.threads, shared_ ? "shared" : store_->status().backend);
}

storage::restore_outcome service::open() {
  // The shared scope has nothing to restore: its state is in Redis.
  const auto outcome = shared_ ? storage::restore_outcome::empty
                               : storage::restore_on_startup(
                                     *store_, core_, storage::restore_options::from(cfg_),
                                     [this] { return life_.current() == http::phase::starting; });
  if (outcome != storage::restore_outcome::abandoned) life_.finish_starting();
  return outcome;
}

void service::shutdown() { server_->shutdown(); }

int service::wait() {
  waited_ = true;
  const int code = server_->wait();
  // Before the server (and its io_context) goes: calls still in flight fail now.
  if (shared_) shared_->stop();
  return code;
}

}  // namespace analyzer::app
