// The `error` codes of the API's error catalogue (architecture.md §2).
#pragma once

#include <cstdint>
#include <string_view>

namespace analyzer::api {

enum class error_code : std::uint8_t {
  invalid_json,
  invalid_body,
  missing_field,
  invalid_type,
  out_of_range,
  duplicate_key,
  invalid_query,
  bad_request,
  unauthorized,
  not_found,
  method_not_allowed,
  body_too_large,
  batch_too_large,
  unsupported_media_type,
  headers_too_large,
  unavailable,
  request_id_conflict,  // shared scope: an X-Request-Id reused with another body (409)
  outcome_unknown,      // shared scope: sent to Redis, no answer by the deadline (504)
  internal,
};

[[nodiscard]] std::string_view to_string(error_code code) noexcept;

}  // namespace analyzer::api
