// Parsing of REDIS_ADDR.
#include "analyzer/config/redis_address.hpp"

#include <charconv>

namespace analyzer::config {

std::string redis_address::to_string() const {
  if (is_unix()) return "unix:" + unix_path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<redis_address> parse_redis_address(std::string_view text) {
  redis_address out;
  if (text.substr(0, 5) == "unix:") {
    const std::string_view path = text.substr(5);
    if (path.empty() || path.front() != '/' || path.size() > 107) return std::nullopt;
    out.unix_path = std::string(path);
    return out;
  }
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs []
  }
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || port.empty() || ec != std::errc{} || ptr != port.data() + port.size() ||
      value == 0 || value > 65535) {
    return std::nullopt;
  }
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(value);
  return out;
}

}  // namespace analyzer::config
