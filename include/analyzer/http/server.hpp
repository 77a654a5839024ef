// The HTTP server: one acceptor and an io_context run by THREADS threads, sessions with
// keep-alive and per-connection timeouts, and a graceful shutdown (architecture.md §4).
// Asio and Beast stay behind this header, in the few translation units that need them.
#pragma once

#include "analyzer/http/service_context.hpp"

#include <cstdint>
#include <memory>

namespace analyzer::http {

struct server_options {
  bool handle_signals = true;  // SIGTERM/SIGINT start the graceful shutdown
};

class server {
 public:
  server(service_context& ctx, server_options options);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds and listens (throws std::system_error naming the address when it cannot), then
  // starts the io threads. The phase is left as it is: main sets `ready` once the state
  // is restored.
  void start();

  // The bound port (useful with PORT=0).
  [[nodiscard]] std::uint16_t port() const noexcept;

  // Starts the graceful shutdown, as SIGTERM does. Thread-safe; later calls do nothing.
  void shutdown();

  // Blocks until the shutdown finished: connections drained (or SHUTDOWN_TIMEOUT_MS
  // passed), the store flushed and the io threads joined. Returns the exit code.
  int wait();

  // Open client connections.
  [[nodiscard]] std::size_t connections() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace analyzer::http
