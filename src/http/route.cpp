// Route and method names, as the request metrics label them.
#include "analyzer/http/route.hpp"

namespace analyzer::http {

std::string_view to_string(route r) noexcept {
  switch (r) {
    case route::health:
      return "/health";
    case route::ready:
      return "/ready";
    case route::metrics:
      return "/metrics";
    case route::analyze:
      return "/analyze";
    case route::other:
      break;
  }
  return "other";
}

std::string_view to_string(method m) noexcept {
  switch (m) {
    case method::get:
      return "GET";
    case method::head:
      return "HEAD";
    case method::post:
      return "POST";
    case method::other:
      break;
  }
  return "OTHER";
}

}  // namespace analyzer::http
