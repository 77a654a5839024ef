// The request and response as handlers see them: plain views with no Beast types, so
// routing and handlers are pure and tested without a socket.
#pragma once

#include "analyzer/http/route.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace analyzer::http {

inline constexpr std::string_view kJsonContentType = "application/json";

struct request {
  http::method verb = http::method::get;
  std::string_view target;  // as sent: path and query
  std::optional<std::string_view> content_type;
  std::optional<std::string_view> authorization;
  std::string_view body;

  [[nodiscard]] std::string_view path() const noexcept {
    return target.substr(0, target.find('?'));
  }
  // The text after '?', or nothing when the target has no '?'.
  [[nodiscard]] std::optional<std::string_view> query() const noexcept {
    const auto mark = target.find('?');
    if (mark == std::string_view::npos) return std::nullopt;
    return target.substr(mark + 1);
  }
};

struct response {
  unsigned status = 200;
  std::string_view content_type = kJsonContentType;
  std::string body;
  std::string_view allow;         // the Allow header of a 405, else empty
  bool retry_after = false;       // add Retry-After (503)
  bool www_authenticate = false;  // add WWW-Authenticate (401)
  bool close = false;             // close the connection after this response
  http::route route = http::route::other;
};

}  // namespace analyzer::http
