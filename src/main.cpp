// metrics-analyzer: configuration, wiring of the analytics core, store, telemetry and
// HTTP server, and the process lifecycle (exit 0 after a graceful shutdown, 2 on bad
// configuration, 1 when the server cannot start).
#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/build_info.hpp"
#include "analyzer/config/config.hpp"
#include "analyzer/http/lifecycle.hpp"
#include "analyzer/http/server.hpp"
#include "analyzer/http/service_context.hpp"
#include "analyzer/storage/memory_store.hpp"
#include "analyzer/storage/shared_window.hpp"
#include "analyzer/storage/store_factory.hpp"
#include "analyzer/telemetry/logging.hpp"
#include "analyzer/telemetry/service_metrics.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <variant>
#include <vector>

int main(int argc, char** argv) {
  using namespace analyzer;
  // hiredis writes with write(2): a connection Redis has reset must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto loaded = config::load(args, config::process_environment());
  if (auto* request = std::get_if<config::exit_request>(&loaded)) {
    std::fputs(request->text.c_str(), request->exit_code == 0 ? stdout : stderr);
    if (request->exit_code != 0) std::fputc('\n', stderr);
    return request->exit_code;
  }
  const config::config& cfg = std::get<config::config>(loaded);
  telemetry::setup_logging(cfg.log_level, cfg.log_fmt);

  try {
    analytics::analyzer core({cfg.window_size, cfg.anomaly_threshold, cfg.warmup}, cfg.threads + 2);
    // WINDOW_SCOPE=shared: the windows live in Redis and every commit is a script there;
    // the in-process analyzer and the per-instance store stay unused (and empty).
    const bool shared_scope = cfg.window_scope == "shared";
    const std::unique_ptr<storage::store> store =
        shared_scope ? std::make_unique<storage::memory_store>(cfg.history_size)
                     : storage::make_store(cfg);
    std::unique_ptr<storage::shared_window> shared;
    if (shared_scope) {
      shared = std::make_unique<storage::shared_window>(storage::shared_window_options::from(cfg));
    }
    telemetry::service_metrics metrics(core, *store);
    http::lifecycle life(http::phase::starting);
    http::service_context ctx{cfg, core, *store, metrics, life};
    ctx.shared = shared.get();
    metrics.attach_shared(shared.get());

    spdlog::info("metrics-analyzer {} ({}) config: {}", build::kVersion, build::kRevision,
                 config::describe(cfg));
    http::server server(ctx, http::server_options{});
    server.start();
    spdlog::info("listening on {}:{} with {} thread(s), store={}", cfg.bind_address, server.port(),
                 cfg.threads, store->status().backend);
    // /ready stays 503 and ingest answers 503 until the state is restored; a shutdown
    // during the restore abandons it and ingest stays refused. The shared scope has
    // nothing to restore: its state is in Redis.
    const auto outcome = shared_scope
                             ? storage::restore_outcome::empty
                             : storage::restore_on_startup(
                                   *store, core, storage::restore_options::from(cfg),
                                   [&life] { return life.current() == http::phase::starting; });
    if (outcome != storage::restore_outcome::abandoned) life.finish_starting();
    const int code = server.wait();
    // Before the server (and its io_context) goes: calls still in flight fail now.
    if (shared) shared->stop();
    return code;
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
}
