// The fast path of decode_samples for the bodies load generators send: objects with only
// "timestamp", "cpu" and "rps" and plain non-negative numbers, alone or in an array. It
// accepts a subset of what the full decoder accepts, with bit-identical values, and
// declines everything else (strings, escapes, unknown or duplicate keys, signs, long
// integers, out-of-range values, oversize batches...), which then goes through the full
// decoder for its verdict and its error message.
#pragma once

#include "analyzer/api/sample.hpp"
#include "analyzer/api/sample_codec.hpp"

#include <string_view>
#include <vector>

namespace analyzer::api {

// True when the body was decoded into `out` (cleared first); false when the body needs the
// full decoder (and `out` is then unspecified).
[[nodiscard]] bool parse_simple_samples(std::string_view body, const decode_options& options,
                                        std::vector<sample>& out);

}  // namespace analyzer::api
