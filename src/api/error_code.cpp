// Wire names of the API error codes: the `error` field of every error response.
#include "analyzer/api/error_code.hpp"

namespace analyzer::api {

std::string_view to_string(error_code code) noexcept {
  // No default: -Wswitch flags an enumerator added without a name here.
  switch (code) {
    case error_code::invalid_json:
      return "invalid_json";
    case error_code::invalid_body:
      return "invalid_body";
    case error_code::missing_field:
      return "missing_field";
    case error_code::invalid_type:
      return "invalid_type";
    case error_code::out_of_range:
      return "out_of_range";
    case error_code::duplicate_key:
      return "duplicate_key";
    case error_code::invalid_query:
      return "invalid_query";
    case error_code::bad_request:
      return "bad_request";
    case error_code::unauthorized:
      return "unauthorized";
    case error_code::not_found:
      return "not_found";
    case error_code::method_not_allowed:
      return "method_not_allowed";
    case error_code::body_too_large:
      return "body_too_large";
    case error_code::batch_too_large:
      return "batch_too_large";
    case error_code::unsupported_media_type:
      return "unsupported_media_type";
    case error_code::headers_too_large:
      return "headers_too_large";
    case error_code::unavailable:
      return "unavailable";
    case error_code::request_id_conflict:
      return "request_id_conflict";
    case error_code::outcome_unknown:
      return "outcome_unknown";
    case error_code::internal:
      return "internal";
  }
  // Only reachable through a value cast from outside the enumeration.
  return "internal";
}

}  // namespace analyzer::api
