#include "analyzer/api/simple_sample_parser.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <system_error>

namespace analyzer::api {
namespace {

class cursor {
 public:
  explicit cursor(std::string_view text) noexcept : p_(text.data()), end_(p_ + text.size()) {}

  void skip_ws() noexcept {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  [[nodiscard]] bool at_end() const noexcept { return p_ == end_; }
  [[nodiscard]] bool eat(char c) noexcept {
    skip_ws();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }
  [[nodiscard]] bool peek(char c) noexcept {
    skip_ws();
    return p_ != end_ && *p_ == c;
  }

  // A key without escapes: the text between the quotes.
  [[nodiscard]] std::optional<std::string_view> key() noexcept {
    if (!eat('"')) return std::nullopt;
    const char* start = p_;
    while (p_ != end_ && *p_ != '"') {
      if (*p_ == '\\' || static_cast<unsigned char>(*p_) < 0x20) return std::nullopt;
      ++p_;
    }
    if (p_ == end_) return std::nullopt;
    const std::string_view k(start, static_cast<std::size_t>(p_ - start));
    ++p_;
    return k;
  }

  // A non-negative JSON number, converted as nlohmann converts it: integers through
  // uint64, others by correctly rounded decimal conversion (as strtod does). Declines
  // signs, over 19 integer digits (nlohmann's uint64 boundary) and results out of range.
  [[nodiscard]] std::optional<double> number() noexcept {
    skip_ws();
    const char* start = p_;
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return std::nullopt;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    bool integer = true;
    if (p_ != end_ && *p_ == '.') {
      integer = false;
      ++p_;
      if (!digits()) return std::nullopt;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digits()) return std::nullopt;
    }
    if (integer) {
      if (p_ - start > 19) return std::nullopt;
      std::uint64_t value = 0;
      for (const char* d = start; d != p_; ++d)
        value = value * 10 + static_cast<unsigned>(*d - '0');
      return static_cast<double>(value);
    }
    double value = 0;
    const auto [ptr, ec] = std::from_chars(start, p_, value);
    if (ec != std::errc() || ptr != p_ || !std::isfinite(value)) return std::nullopt;
    // Underflow to zero or a subnormal: leave the edge cases to the full decoder.
    if (value != 0 && !std::isnormal(value)) return std::nullopt;
    return value;
  }

 private:
  bool digits() noexcept {
    const char* start = p_;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    return p_ != start;
  }

  const char* p_;
  const char* end_;
};

// One sample object; nothing when anything about it is not the simple shape or is out
// of range (the full decoder then names the problem).
std::optional<sample> parse_object(cursor& in, const decode_options& options) {
  if (!in.eat('{')) return std::nullopt;
  std::optional<double> timestamp;
  std::optional<double> cpu;
  std::optional<double> rps;
  do {
    const auto k = in.key();
    if (!k || !in.eat(':')) return std::nullopt;
    std::optional<double>* slot = nullptr;
    if (*k == "cpu") {
      slot = &cpu;
    } else if (*k == "rps") {
      slot = &rps;
    } else if (*k == "timestamp") {
      slot = &timestamp;
    } else {
      return std::nullopt;  // unknown keys may hold anything: the full decoder skips them
    }
    if (slot->has_value()) return std::nullopt;  // duplicate key
    *slot = in.number();
    if (!slot->has_value()) return std::nullopt;
  } while (in.eat(','));
  if (!in.eat('}') || !cpu || !rps) return std::nullopt;
  if (*cpu > 100.0) return std::nullopt;
  if (timestamp && *timestamp > kMaxTimestamp) return std::nullopt;
  return sample{timestamp.value_or(options.now), *cpu, *rps};
}

}  // namespace

bool parse_simple_samples(std::string_view body, const decode_options& options,
                          std::vector<sample>& out) {
  out.clear();
  cursor in(body);
  if (in.peek('[')) {
    (void)in.eat('[');
    do {
      if (out.size() >= options.max_batch) return false;
      const auto s = parse_object(in, options);
      if (!s) return false;
      out.push_back(*s);
    } while (in.eat(','));
    if (!in.eat(']')) return false;
  } else {
    const auto s = parse_object(in, options);
    if (!s) return false;
    out.push_back(*s);
  }
  in.skip_ws();
  return in.at_end();
}

}  // namespace analyzer::api
