// X-Request-Id: the client's when it is 1–128 characters of [A-Za-z0-9._-], else ours.
#pragma once

#include <string>
#include <string_view>

namespace analyzer::http {

[[nodiscard]] bool is_valid_request_id(std::string_view id) noexcept;

// A new 16-hex-digit id, unique within the process and unlikely to repeat across processes.
[[nodiscard]] std::string generate_request_id();
// The same, written over `out` (no allocation when `out` can hold 16 characters).
void generate_request_id(std::string& out);

}  // namespace analyzer::http
