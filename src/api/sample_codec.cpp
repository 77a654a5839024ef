// POST /metrics body decoding (architecture.md §2): a SAX handler over nlohmann/json that
// validates samples as the parser streams them, plus the RFC 3339 timestamp parser.
#include "analyzer/api/sample_codec.hpp"

#include "analyzer/api/simple_sample_parser.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <unordered_set>
#include <utility>

namespace analyzer::api {
namespace {

using json = nlohmann::json;

constexpr std::string_view kBodyShapeMessage =
    "body must be a sample object or a non-empty array of samples";
constexpr std::string_view kCpuRangeMessage = ": must be between 0 and 100";
constexpr std::string_view kRpsRangeMessage = ": must be a finite number >= 0";
constexpr std::string_view kTimestampRangeMessage =
    ": must be between 0 and 253402300799 Unix seconds";
constexpr std::string_view kNumberTypeMessage = ": must be a number";
constexpr std::string_view kTimestampTypeMessage =
    ": must be a number of Unix seconds or an RFC 3339 string";

constexpr double kMaxCpu = 100.0;
// nlohmann reports an unrepresentable number (1e309) as out_of_range.406 instead of a value.
constexpr int kNumberOverflowId = 406;
// Smallest element of a batch, `{"cpu":0,"rps":0},`: bounds the reservation for a batch
// by what the body can actually hold.
constexpr std::size_t kMinSampleBytes = 18;
// Unknown keys are compared linearly up to this many per sample, then hashed, so an
// object with 100 000 distinct keys stays linear instead of quadratic.
constexpr std::size_t kLinearKeyLimit = 16;
// Echoed client text (keys, parser detail) is capped so an error response stays small.
constexpr std::size_t kMaxEchoedKeyBytes = 64;
constexpr std::size_t kMaxParserDetailBytes = 160;

constexpr unsigned kSeenCpu = 1U;
constexpr unsigned kSeenRps = 2U;
constexpr unsigned kSeenTimestamp = 4U;

enum class field : std::uint8_t { none, cpu, rps, timestamp, unknown };

// Where the next value or container start lands.
enum class position : std::uint8_t { top, element, field_value, skipped };

// A client's key as it may appear in a message: cut to kMaxEchoedKeyBytes without splitting
// a UTF-8 sequence (an invalid one would make the JSON serializer of the response throw),
// and control characters replaced, so that a key cannot forge lines in a text log.
void append_key(std::string& message, std::string_view key) {
  if (key.size() > kMaxEchoedKeyBytes) {
    std::size_t cut = kMaxEchoedKeyBytes;
    while (cut > 0 && (static_cast<unsigned char>(key[cut]) & 0xC0U) == 0x80U) {
      --cut;
    }
    key = key.substr(0, cut);
  }
  for (const char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    message.push_back(byte < 0x20U || byte == 0x7FU ? '?' : c);
  }
}

// nlohmann's text echoes raw input (the last token read), which may be invalid UTF-8 or
// control bytes precisely because it was rejected: keep printable ASCII only.
std::string printable_detail(std::string_view what) {
  // "[json.exception.parse_error.101] parse error at line 1, column 9: <detail>"
  std::string_view detail = what;
  if (const auto at = what.find("parse error"); at != std::string_view::npos) {
    if (const auto colon = what.find(": ", at); colon != std::string_view::npos) {
      detail = what.substr(colon + 2);
    }
  } else if (const auto bracket = what.find("] "); bracket != std::string_view::npos) {
    detail = what.substr(bracket + 2);
  }
  const bool cut = detail.size() > kMaxParserDetailBytes;
  detail = detail.substr(0, kMaxParserDetailBytes);
  std::string result;
  result.reserve(detail.size() + 3);
  for (const char c : detail) {
    const auto byte = static_cast<unsigned char>(c);
    result.push_back(byte >= 0x20U && byte < 0x7FU ? c : '?');
  }
  if (cut) {
    result += "...";
  }
  return result;
}

// Receives nlohmann's SAX events and builds samples directly, so no DOM is ever built and
// nesting costs a counter, not stack. Every callback returns false on the first problem,
// which stops the parser at once: errors come in document order and hostile bodies are cut
// short (e.g. element max_batch+1 is rejected before the rest is read).
class sample_handler {
 public:
  sample_handler(std::string_view body, const decode_options& options, std::vector<sample>& out)
      : body_size_(body.size()), options_(options), out_(out) {}

  [[nodiscard]] std::optional<decode_error>& error() noexcept { return error_; }

  // --- nlohmann SAX interface -------------------------------------------------------------
  bool null() { return on_non_number(nullptr); }
  bool boolean(bool /*value*/) { return on_non_number(nullptr); }
  bool number_integer(json::number_integer_t value) {
    return on_number(static_cast<double>(value));
  }
  bool number_unsigned(json::number_unsigned_t value) {
    return on_number(static_cast<double>(value));
  }
  bool number_float(json::number_float_t value, const json::string_t& /*text*/) {
    return on_number(value);
  }
  bool string(json::string_t& value) { return on_non_number(&value); }
  bool binary(json::binary_t& /*value*/) { return on_non_number(nullptr); }
  bool start_object(std::size_t /*elements*/) { return on_container_start(true); }
  bool start_array(std::size_t /*elements*/) { return on_container_start(false); }
  bool end_object() {
    if (skip_depth_ > 0) {
      --skip_depth_;
      return true;
    }
    return close_sample();
  }
  bool end_array() {
    if (skip_depth_ > 0) {
      --skip_depth_;
      return true;
    }
    // Only the body's own array reaches here: arrays inside a sample are skipped or refused.
    if (out_.empty()) {
      return fail(error_code::invalid_body, std::string(kBodyShapeMessage));
    }
    return true;
  }
  bool key(json::string_t& name) {
    if (skip_depth_ > 0) {
      return true;
    }
    const std::string_view key_name = name;
    if (key_name == "cpu") {
      return expect(field::cpu, kSeenCpu, key_name);
    }
    if (key_name == "rps") {
      return expect(field::rps, kSeenRps, key_name);
    }
    if (key_name == "timestamp") {
      return expect(field::timestamp, kSeenTimestamp, key_name);
    }
    if (!remember_unknown_key(key_name)) {
      return duplicate(key_name);
    }
    unknown_key_.assign(key_name);
    expecting_ = field::unknown;
    return true;
  }
  bool parse_error(std::size_t byte, const std::string& /*last_token*/, const json::exception& ex) {
    if (ex.id == kNumberOverflowId) {
      return on_number_overflow();
    }
    return fail(error_code::invalid_json, "malformed JSON at byte " + std::to_string(byte) + ": " +
                                              printable_detail(ex.what()));
  }

 private:
  [[nodiscard]] position where() const noexcept {
    if (skip_depth_ > 0) {
      return position::skipped;
    }
    if (in_sample_) {
      return position::field_value;
    }
    return started_ ? position::element : position::top;
  }

  bool on_number(double value) {
    switch (where()) {
      case position::skipped:
        return true;
      case position::field_value:
        return set_number(value);
      case position::element:
        return element_not_object();
      case position::top:
        return fail(error_code::invalid_body, std::string(kBodyShapeMessage));
    }
    return true;
  }

  // `text` is the string's value, or null for null, booleans and binary.
  bool on_non_number(const json::string_t* text) {
    switch (where()) {
      case position::skipped:
        return true;
      case position::field_value:
        if (expecting_ == field::unknown) {
          expecting_ = field::none;
          return true;
        }
        if (expecting_ == field::timestamp && text != nullptr) {
          return set_timestamp_text(*text);
        }
        return type_error();
      case position::element:
        return element_not_object();
      case position::top:
        return fail(error_code::invalid_body, std::string(kBodyShapeMessage));
    }
    return true;
  }

  bool on_container_start(bool is_object) {
    switch (where()) {
      case position::skipped:
        ++skip_depth_;
        return true;
      case position::field_value:
        if (expecting_ == field::unknown) {
          expecting_ = field::none;
          skip_depth_ = 1;
          return true;
        }
        return type_error();
      case position::element:
        if (!is_object) {
          return element_not_object();
        }
        if (!element_fits()) {
          return false;
        }
        open_sample();
        return true;
      case position::top:
        started_ = true;
        if (is_object) {
          out_.reserve(1);
          open_sample();
          return true;
        }
        array_body_ = true;
        out_.reserve(std::min(options_.max_batch, body_size_ / kMinSampleBytes + 1));
        return true;
    }
    return true;
  }

  // A number that does not fit a double is out of range wherever a number is allowed.
  bool on_number_overflow() {
    switch (where()) {
      case position::skipped:
        return fail(error_code::out_of_range, path(unknown_key_) + ": number is too large");
      case position::field_value:
        switch (expecting_) {
          case field::cpu:
          case field::rps:
          case field::timestamp:
            return range_error();
          case field::none:
          case field::unknown:
            return fail(error_code::out_of_range, path(unknown_key_) + ": number is too large");
        }
        return range_error();
      case position::element:
        return element_not_object();
      case position::top:
        return fail(error_code::invalid_body, std::string(kBodyShapeMessage));
    }
    return false;
  }

  bool set_number(double value) {
    // Negated comparisons so that NaN would fail too, should a parser ever deliver one.
    switch (expecting_) {
      case field::cpu:
        if (!(value >= 0.0 && value <= kMaxCpu)) {
          return range_error();
        }
        current_.cpu = positive_zero(value);
        break;
      case field::rps:
        if (!(value >= 0.0 && std::isfinite(value))) {
          return range_error();
        }
        current_.rps = positive_zero(value);
        break;
      case field::timestamp:
        return set_timestamp(value);
      case field::unknown:
      case field::none:
        break;
    }
    expecting_ = field::none;
    return true;
  }

  bool set_timestamp(double value) {
    if (!(value >= 0.0 && value <= kMaxTimestamp)) {
      return range_error();
    }
    current_.timestamp = positive_zero(value);
    expecting_ = field::none;
    return true;
  }

  bool set_timestamp_text(std::string_view text) {
    const std::optional<double> seconds = parse_rfc3339(text);
    if (!seconds) {
      return type_error();
    }
    return set_timestamp(*seconds);
  }

  // -0 passes `>= 0` but must not leak out: stored values compare and print as 0.
  static double positive_zero(double value) noexcept { return value == 0.0 ? 0.0 : value; }

  bool expect(field which, unsigned bit, std::string_view name) {
    if ((seen_ & bit) != 0U) {
      return duplicate(name);
    }
    seen_ |= bit;
    expecting_ = which;
    return true;
  }

  bool element_fits() {
    if (out_.size() < options_.max_batch) {
      return true;
    }
    return fail(
        error_code::batch_too_large,
        "batch has more than " + std::to_string(options_.max_batch) + " samples (MAX_BATCH)");
  }

  bool element_not_object() {
    if (!element_fits()) {
      return false;
    }
    return fail(error_code::invalid_body,
                "samples[" + std::to_string(out_.size()) + "]: must be an object");
  }

  void open_sample() {
    in_sample_ = true;
    seen_ = 0;
    expecting_ = field::none;
    current_ = sample{};
    unknown_keys_.clear();
    unknown_set_.clear();
  }

  bool close_sample() {
    if ((seen_ & kSeenCpu) == 0U) {
      return fail(error_code::missing_field, path("cpu") + ": required");
    }
    if ((seen_ & kSeenRps) == 0U) {
      return fail(error_code::missing_field, path("rps") + ": required");
    }
    if ((seen_ & kSeenTimestamp) == 0U) {
      current_.timestamp = options_.now;
    }
    out_.push_back(current_);
    in_sample_ = false;
    return true;
  }

  // False when `name` was already a key of the current sample.
  bool remember_unknown_key(std::string_view name) {
    if (unknown_set_.empty()) {
      for (const std::string& seen : unknown_keys_) {
        if (seen == name) {
          return false;
        }
      }
      if (unknown_keys_.size() < kLinearKeyLimit) {
        unknown_keys_.emplace_back(name);
        return true;
      }
      for (std::string& seen : unknown_keys_) {
        unknown_set_.insert(std::move(seen));
      }
      unknown_keys_.clear();
    }
    return unknown_set_.emplace(name).second;
  }

  bool duplicate(std::string_view name) {
    return fail(error_code::duplicate_key, path(name) + ": duplicate key");
  }

  bool type_error() {
    switch (expecting_) {
      case field::timestamp:
        return fail(error_code::invalid_type, path("timestamp").append(kTimestampTypeMessage));
      case field::cpu:
        return fail(error_code::invalid_type, path("cpu").append(kNumberTypeMessage));
      case field::rps:
      case field::unknown:
      case field::none:
        break;
    }
    return fail(error_code::invalid_type, path("rps").append(kNumberTypeMessage));
  }

  bool range_error() {
    switch (expecting_) {
      case field::cpu:
        return fail(error_code::out_of_range, path("cpu").append(kCpuRangeMessage));
      case field::timestamp:
        return fail(error_code::out_of_range, path("timestamp").append(kTimestampRangeMessage));
      case field::rps:
      case field::unknown:
      case field::none:
        break;
    }
    return fail(error_code::out_of_range, path("rps").append(kRpsRangeMessage));
  }

  // "cpu" for a single-object body, "samples[3].cpu" inside a batch.
  [[nodiscard]] std::string path(std::string_view name) const {
    std::string result;
    if (array_body_) {
      result.append("samples[").append(std::to_string(out_.size())).append("].");
    }
    append_key(result, name);
    return result;
  }

  bool fail(error_code code, std::string message) {
    if (!error_) {
      error_ = decode_error{code, std::move(message)};
    }
    return false;
  }

  std::size_t body_size_;
  const decode_options& options_;
  std::vector<sample>& out_;
  std::optional<decode_error> error_;

  sample current_;
  std::size_t skip_depth_ = 0;  // open containers inside an unknown field's value
  unsigned seen_ = 0;           // kSeen* bits of the current sample
  field expecting_ = field::none;
  bool started_ = false;
  bool array_body_ = false;
  bool in_sample_ = false;
  std::string unknown_key_;  // last unknown key, for the message of an overflow inside it
  std::vector<std::string> unknown_keys_;
  std::unordered_set<std::string> unknown_set_;
};

bool is_json_whitespace(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Proleptic Gregorian date → days since 1970-01-01 (H. Hinnant's days_from_civil).
constexpr std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) noexcept {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

constexpr bool is_leap_year(unsigned year) noexcept {
  return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

constexpr unsigned days_in_month(unsigned year, unsigned month) noexcept {
  constexpr std::array<unsigned, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

// Reads exactly `count` ASCII digits at `at`.
constexpr bool read_digits(std::string_view text, std::size_t at, std::size_t count,
                           unsigned& value) noexcept {
  if (at + count > text.size()) {
    return false;
  }
  value = 0;
  for (std::size_t i = at; i < at + count; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return true;
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<decode_error> decode_samples(std::string_view body, const decode_options& options,
                                           std::vector<sample>& out) {
  // The common, simple bodies first; anything else (and every error) takes the full path.
  if (options.fast_path && parse_simple_samples(body, options, out)) {
    return std::nullopt;
  }
  out.clear();
  if (std::all_of(body.begin(), body.end(), is_json_whitespace)) {
    return decode_error{error_code::invalid_json, "empty body"};
  }
  sample_handler handler(body, options, out);
  try {
    // strict: anything after the top-level value is an error, not silently ignored.
    const bool ok = json::sax_parse(body.data(), body.data() + body.size(), &handler,
                                    json::input_format_t::json, /*strict=*/true,
                                    /*ignore_comments=*/false);
    if (ok && !handler.error()) {
      // nlohmann's lexer takes a NUL byte for the end of input, so "{...}\0junk" parses.
      // A NUL is valid nowhere in JSON text, and any earlier one would have failed the
      // parse: one here trails the document.
      const auto nul = body.find('\0');
      if (nul == std::string_view::npos) {
        return std::nullopt;
      }
      out.clear();
      return decode_error{error_code::invalid_json,
                          "malformed JSON at byte " + std::to_string(nul + 1) +
                              ": syntax error while parsing value - unexpected NUL byte; "
                              "expected end of input"};
    }
    out.clear();
    if (handler.error()) {
      return std::move(handler.error());
    }
    // The parser stopped without telling the handler why; should not happen.
    return decode_error{error_code::invalid_json, "malformed JSON"};
  } catch (const json::exception& ex) {
    // nlohmann's SAX parser reports through parse_error, but keep its throws off the caller.
    out.clear();
    return decode_error{error_code::invalid_json, "malformed JSON: " + printable_detail(ex.what())};
  } catch (const std::bad_alloc&) {
    out.clear();
    return decode_error{error_code::internal, "out of memory while decoding the body"};
  } catch (const std::exception&) {
    out.clear();
    return decode_error{error_code::invalid_json, "malformed JSON"};
  }
}

std::optional<double> parse_rfc3339(std::string_view text) noexcept {
  // date-time = YYYY-MM-DD "T" hh:mm:ss [ "." 1*DIGIT ] ( "Z" / ("+" / "-") hh:mm )
  unsigned year = 0;
  unsigned month = 0;
  unsigned day = 0;
  unsigned hour = 0;
  unsigned minute = 0;
  unsigned second = 0;
  if (!read_digits(text, 0, 4, year) || text.size() < 20 || text[4] != '-' ||
      !read_digits(text, 5, 2, month) || text[7] != '-' || !read_digits(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != 't') || !read_digits(text, 11, 2, hour) || text[13] != ':' ||
      !read_digits(text, 14, 2, minute) || text[16] != ':' || !read_digits(text, 17, 2, second)) {
    return std::nullopt;
  }
  // Leap seconds (60) are refused: Unix time has no representation for them.
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return std::nullopt;
  }

  std::size_t at = 19;
  double fraction = 0.0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    const std::size_t first = at;
    // Digits past what a double can carry are validated but not accumulated.
    constexpr std::size_t kMaxFractionDigits = 17;
    std::uint64_t digits = 0;
    double scale = 1.0;
    while (at < text.size() && is_digit(text[at])) {
      if (at - first < kMaxFractionDigits) {
        digits = digits * 10 + static_cast<std::uint64_t>(text[at] - '0');
        scale *= 10.0;
      }
      ++at;
    }
    if (at == first) {
      return std::nullopt;
    }
    fraction = static_cast<double>(digits) / scale;
  }

  std::int64_t offset_seconds = 0;
  if (at >= text.size()) {
    return std::nullopt;  // the offset is mandatory
  }
  if (text[at] == 'Z' || text[at] == 'z') {
    ++at;
  } else if (text[at] == '+' || text[at] == '-') {
    unsigned offset_hour = 0;
    unsigned offset_minute = 0;
    if (!read_digits(text, at + 1, 2, offset_hour) || at + 3 >= text.size() ||
        text[at + 3] != ':' || !read_digits(text, at + 4, 2, offset_minute) || offset_hour > 23 ||
        offset_minute > 59) {
      return std::nullopt;
    }
    offset_seconds = static_cast<std::int64_t>(offset_hour) * 3600 +
                     static_cast<std::int64_t>(offset_minute) * 60;
    if (text[at] == '+') {
      offset_seconds = -offset_seconds;  // local time ahead of UTC: subtract to get UTC
    }
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != text.size()) {
    return std::nullopt;
  }

  const std::int64_t seconds = days_from_civil(year, month, day) * 86400 +
                               static_cast<std::int64_t>(hour) * 3600 +
                               static_cast<std::int64_t>(minute) * 60 + second + offset_seconds;
  return static_cast<double>(seconds) + fraction;
}

}  // namespace analyzer::api
