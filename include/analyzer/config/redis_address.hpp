// REDIS_ADDR: "host:port", "[ipv6]:port" or "unix:/path/to/socket".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace analyzer::config {

struct redis_address {
  std::string host;        // empty for a unix socket
  std::uint16_t port = 0;  // 0 for a unix socket
  std::string unix_path;   // empty for TCP

  [[nodiscard]] bool is_unix() const noexcept { return !unix_path.empty(); }
  [[nodiscard]] std::string to_string() const;
};

// Nothing when the text is not one of the accepted forms.
[[nodiscard]] std::optional<redis_address> parse_redis_address(std::string_view text);

}  // namespace analyzer::config
