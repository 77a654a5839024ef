// Decodes a POST /metrics body into validated samples (architecture.md §2).
//
// The body is one sample object or a JSON array of 1..max_batch of them. Decoding is
// all-or-nothing: on any error no sample is returned and the error names the index and
// field ("samples[3].cpu: must be between 0 and 100"). The decoder never throws and never
// recurses on input nesting, so hostile bodies cannot exhaust the stack.
#pragma once

#include "analyzer/api/error_code.hpp"
#include "analyzer/api/sample.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace analyzer::api {

struct decode_error {
  error_code code = error_code::invalid_json;
  std::string message;
};

struct decode_options {
  std::size_t max_batch = 1000;  // more array elements than this → batch_too_large (413)
  double now = 0.0;              // timestamp given to samples without one
  bool fast_path = true;         // try parse_simple_samples first (tests turn it off to compare)
};

// Appends the decoded samples to `out` (cleared first) and returns nothing on success;
// on error `out` is left empty and the error is returned.
[[nodiscard]] std::optional<decode_error> decode_samples(std::string_view body,
                                                         const decode_options& options,
                                                         std::vector<sample>& out);

// Parses an RFC 3339 date-time ("2023-11-14T22:13:20.5Z", "...+02:00") into Unix
// seconds; nothing when the text is not RFC 3339.
[[nodiscard]] std::optional<double> parse_rfc3339(std::string_view text) noexcept;

// Bounds of a timestamp in Unix seconds: 0 .. 9999-12-31T23:59:59Z.
inline constexpr double kMaxTimestamp = 253402300799.0;

}  // namespace analyzer::api
