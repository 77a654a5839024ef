// metrics-analyzer: configuration and logging, then the service (app::service wires the
// parts) through its lifecycle: exit 0 after a graceful shutdown, 2 on bad configuration,
// 1 when the server cannot start.
#include "analyzer/app/logging.hpp"
#include "analyzer/app/service.hpp"
#include "analyzer/build_info.hpp"
#include "analyzer/config/config.hpp"

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
  app::setup_logging(cfg.log_level, cfg.log_fmt);

  try {
    app::service service(cfg, http::server_options{});
    spdlog::info("metrics-analyzer {} ({}) config: {}", build::kVersion, build::kRevision,
                 config::describe(cfg));
    service.start();
    // /ready stays 503 and ingest answers 503 until the state is restored; a shutdown
    // during the restore abandons it and ingest stays refused.
    (void)service.open();
    return service.wait();
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
}
