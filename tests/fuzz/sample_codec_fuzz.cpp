// libFuzzer target: the POST /metrics body decoder (api::decode_samples).
//
// Each input is one request body. Besides "no crash, no sanitizer report", it checks:
//   - accepted samples are finite and in range (cpu 0..100, rps >= 0, timestamp
//     0..kMaxTimestamp, never -0), the batch is 1..max_batch samples, and a sample
//     without a timestamp gets `now`;
//   - a rejected body returns no samples and an error of the body's catalogue with a
//     short message that encodes to the documented {"error", "message"} JSON;
//   - decoding is deterministic (twice the same input, the same result), and the fast path
//     for simple bodies gives exactly what the full SAX decoder gives;
//   - the batch limit is exact: a body accepted with n samples is accepted with
//     max_batch = n and refused as batch_too_large with max_batch = n - 1;
//   - differential: the decoder accepts exactly the bodies that an independent reference
//     (nlohmann's DOM parser plus the rules of architecture.md §2) accepts, with the same
//     samples.
#include "fuzz_check.hpp"

#include "analyzer/api/error_code.hpp"
#include "analyzer/api/responses.hpp"
#include "analyzer/api/sample_codec.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

using analyzer::api::decode_error;
using analyzer::api::decode_options;
using analyzer::api::error_code;
using analyzer::api::sample;
using json = nlohmann::json;

constexpr double kNow = 1700000000.25;
constexpr std::size_t kSmallBatch = 3;
constexpr std::size_t kLargeBatch = 1000;
// append_key caps echoed keys at 64 bytes, parser details at 160: messages stay short.
constexpr std::size_t kMaxMessageBytes = 400;

struct outcome {
  std::optional<decode_error> error;
  std::vector<sample> samples;
};

outcome decode(std::string_view body, std::size_t max_batch, bool fast_path = true) {
  outcome result;
  result.samples.push_back(sample{1, 2, 3});  // decode_samples must clear it
  decode_options options;
  options.max_batch = max_batch;
  options.now = kNow;
  options.fast_path = fast_path;
  result.error = analyzer::api::decode_samples(body, options, result.samples);
  return result;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool same(const outcome& a, const outcome& b) {
  if (a.error.has_value() != b.error.has_value()) return false;
  if (a.error && (a.error->code != b.error->code || a.error->message != b.error->message)) {
    return false;
  }
  if (a.samples.size() != b.samples.size()) return false;
  for (std::size_t i = 0; i < a.samples.size(); ++i) {
    if (!same_bits(a.samples[i].timestamp, b.samples[i].timestamp) ||
        !same_bits(a.samples[i].cpu, b.samples[i].cpu) ||
        !same_bits(a.samples[i].rps, b.samples[i].rps)) {
      return false;
    }
  }
  return true;
}

bool is_body_error(error_code code) {
  switch (code) {
    case error_code::invalid_json:
    case error_code::invalid_body:
    case error_code::missing_field:
    case error_code::invalid_type:
    case error_code::out_of_range:
    case error_code::duplicate_key:
    case error_code::batch_too_large:
      return true;
    default:
      return false;
  }
}

void check_accepted(const outcome& o, std::size_t max_batch) {
  FUZZ_CHECK(!o.samples.empty(), "an accepted body has at least one sample");
  FUZZ_CHECK(o.samples.size() <= max_batch, "an accepted batch is at most max_batch samples");
  for (const sample& s : o.samples) {
    FUZZ_CHECK(std::isfinite(s.cpu) && s.cpu >= 0.0 && s.cpu <= 100.0, "cpu in 0..100");
    FUZZ_CHECK(std::isfinite(s.rps) && s.rps >= 0.0, "rps finite and >= 0");
    FUZZ_CHECK(std::isfinite(s.timestamp) && s.timestamp >= 0.0 &&
                   s.timestamp <= analyzer::api::kMaxTimestamp,
               "timestamp in 0..253402300799");
    FUZZ_CHECK(!std::signbit(s.cpu) && !std::signbit(s.rps) && !std::signbit(s.timestamp),
               "no -0 leaks out of the decoder");
  }
}

void check_rejected(const outcome& o) {
  FUZZ_CHECK(o.samples.empty(), "a rejected body leaves no samples");
  FUZZ_CHECK(is_body_error(o.error->code), "the error is one of the body errors");
  FUZZ_CHECK(!o.error->message.empty(), "the error message is not empty");
  FUZZ_CHECK(o.error->message.size() <= kMaxMessageBytes, "the error message stays short");
  // The message reaches the client through the JSON encoder: it must encode, and the
  // result must be the documented shape.
  std::string body;
  analyzer::api::encode_error(o.error->code, o.error->message, body);
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(parsed.is_object() && parsed.size() == 2, "the error body is a two-field object");
  FUZZ_CHECK(parsed.contains("error") && parsed["error"] == analyzer::api::to_string(o.error->code),
             "the error body names the code");
  FUZZ_CHECK(parsed.contains("message") && parsed["message"] == o.error->message,
             "the error body carries the message");
}

// --- the reference ----------------------------------------------------------------------

// Tracks the containers open during a DOM parse to find duplicated keys in sample objects
// (the DOM keeps only one of them).
struct duplicate_finder {
  struct container {
    bool is_object = false;
    std::set<std::string> keys;
  };
  std::vector<container> open;
  bool duplicate_in_sample = false;

  [[nodiscard]] bool in_sample_object() const {
    if (open.size() == 1) return open[0].is_object;
    return open.size() == 2 && !open[0].is_object && open[1].is_object;
  }

  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open.push_back({true, {}});
        break;
      case json::parse_event_t::array_start:
        open.push_back({false, {}});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!open.empty()) open.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open.empty() && parsed.is_string()) {
          const bool fresh = open.back().keys.insert(parsed.get<std::string>()).second;
          if (!fresh && in_sample_object()) duplicate_in_sample = true;
        }
        break;
      case json::parse_event_t::value:
        break;
    }
    return true;
  }
};

std::optional<double> number_of(const json& value) {
  if (!value.is_number()) return std::nullopt;
  return value.get<double>();
}

double positive_zero(double value) { return value == 0.0 ? 0.0 : value; }

// The samples the rules of architecture.md §2 accept, or nothing when they refuse the body.
std::optional<std::vector<sample>> reference(std::string_view body, std::size_t max_batch) {
  if (body.find('\0') != std::string_view::npos) return std::nullopt;
  duplicate_finder finder;
  const json doc = json::parse(
      body.begin(), body.end(),
      [&finder](int depth, json::parse_event_t event, json& parsed) {
        return finder(depth, event, parsed);
      },
      /*allow_exceptions=*/false, /*ignore_comments=*/false);
  if (doc.is_discarded() || finder.duplicate_in_sample) return std::nullopt;

  std::vector<const json*> elements;
  if (doc.is_object()) {
    elements.push_back(&doc);
  } else if (doc.is_array()) {
    for (const json& element : doc) elements.push_back(&element);
  }
  if (elements.empty() || elements.size() > max_batch) return std::nullopt;

  std::vector<sample> samples;
  for (const json* element : elements) {
    if (!element->is_object()) return std::nullopt;
    const auto cpu = element->contains("cpu") ? number_of(element->at("cpu")) : std::nullopt;
    const auto rps = element->contains("rps") ? number_of(element->at("rps")) : std::nullopt;
    if (!cpu || !rps) return std::nullopt;
    if (!(*cpu >= 0.0 && *cpu <= 100.0)) return std::nullopt;
    if (!(*rps >= 0.0 && std::isfinite(*rps))) return std::nullopt;
    double timestamp = kNow;
    if (element->contains("timestamp")) {
      const json& ts = element->at("timestamp");
      std::optional<double> seconds;
      if (ts.is_number()) {
        seconds = ts.get<double>();
      } else if (ts.is_string()) {
        seconds = analyzer::api::parse_rfc3339(ts.get<std::string>());
      }
      if (!seconds || !(*seconds >= 0.0 && *seconds <= analyzer::api::kMaxTimestamp)) {
        return std::nullopt;
      }
      timestamp = positive_zero(*seconds);
    }
    samples.push_back(sample{timestamp, positive_zero(*cpu), positive_zero(*rps)});
  }
  return samples;
}

void check_against_reference(std::string_view body, const outcome& o, std::size_t max_batch) {
  const auto expected = reference(body, max_batch);
  if (!expected) {
    FUZZ_CHECK(o.error.has_value(), "the decoder accepted a body the reference refuses");
    return;
  }
  FUZZ_CHECK(!o.error.has_value(), "the decoder refused a body the reference accepts");
  outcome want;
  want.samples = *expected;
  FUZZ_CHECK(same(o, want), "the decoder's samples differ from the reference's");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  for (const std::size_t max_batch : {kSmallBatch, kLargeBatch}) {
    const outcome first = decode(body, max_batch);
    if (first.error && first.error->code == error_code::internal) return 0;  // out of memory
    FUZZ_CHECK(same(first, decode(body, max_batch)), "decoding is deterministic");
    // The fast path for simple bodies (api/simple_sample_parser) must agree with the full
    // SAX decoder bit for bit, errors included (it hands every error to the full path).
    FUZZ_CHECK(same(first, decode(body, max_batch, /*fast_path=*/false)),
               "the fast path and the full decoder agree");
    if (first.error) {
      check_rejected(first);
    } else {
      check_accepted(first, max_batch);
    }
    check_against_reference(body, first, max_batch);

    if (!first.error) {
      // The batch limit is exact.
      const std::size_t n = first.samples.size();
      FUZZ_CHECK(same(first, decode(body, n)), "a body of n samples passes max_batch = n");
      if (n > 1) {
        const outcome tighter = decode(body, n - 1);
        FUZZ_CHECK(tighter.error && tighter.error->code == error_code::batch_too_large,
                   "a body of n samples is batch_too_large with max_batch = n - 1");
      }
    }
  }
  return 0;
}
