// What /analyze and the scrape report of where the state is kept: the store of the
// instance scope, or the connection to the shared windows.
#pragma once

#include <cstdint>
#include <string_view>

namespace analyzer::api {

struct storage_status {
  std::string_view backend;  // "memory" or "redis"
  bool connected = false;
  std::uint64_t pending_writes = 0;  // queued or in flight
  std::uint64_t written_writes = 0;  // samples confirmed written
  std::uint64_t failed_writes = 0;   // sample writes that failed (retried while queued)
  std::uint64_t dropped_writes = 0;  // samples dropped because the queue was full
  std::uint64_t reconnects = 0;      // connection attempts after the first, successful or not
};

}  // namespace analyzer::api
