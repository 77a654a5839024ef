// JSON output primitives shared by every response body.
#include "analyzer/api/json_writer.hpp"

#include <array>
#include <charconv>
#include <cmath>

namespace analyzer::api {

void json_writer::key(std::string_view name) {
  separate();
  out_ += '"';
  escape(name, out_);
  out_ += "\":";
  after_key_ = true;
}

void json_writer::value(double number) {
  separate();
  if (!std::isfinite(number)) {
    out_ += "null";
    return;
  }
  if (number == 0.0) number = 0.0;  // never print "-0"
  std::array<char, 32> buffer{};
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), number);
  out_.append(buffer.data(), static_cast<std::size_t>(end - buffer.data()));
}

void json_writer::value(std::uint64_t number) {
  separate();
  std::array<char, 24> buffer{};
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), number);
  out_.append(buffer.data(), static_cast<std::size_t>(end - buffer.data()));
}

void json_writer::value(bool flag) {
  separate();
  out_ += flag ? "true" : "false";
}

void json_writer::value(std::string_view text) {
  separate();
  out_ += '"';
  escape(text, out_);
  out_ += '"';
}

void json_writer::raw(std::string_view json) {
  separate();
  out_.append(json);
}

void json_writer::null() {
  separate();
  out_ += "null";
}

void json_writer::escape(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  // Runs of characters that need no escape (all of them in keys and ordinary values) are
  // appended whole: appending byte by byte cost a third of a GET /analyze.
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        const char escaped[] = {'\\', 'u', '0', '0', kHex[byte >> 4], kHex[byte & 0xf]};
        out.append(escaped, sizeof escaped);
      }
    }
  }
  out.append(text.data() + run, text.size() - run);
}

}  // namespace analyzer::api
