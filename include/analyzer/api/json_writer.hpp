// A small append-only JSON writer for response bodies: no DOM, no allocation beyond the
// output string, shortest round-trip doubles, non-finite numbers written as null.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace analyzer::api {

class json_writer {
 public:
  explicit json_writer(std::string& out) : out_(out) {}

  void begin_object() {
    separate();
    out_ += '{';
    first_ = true;
  }
  void end_object() {
    out_ += '}';
    first_ = false;
  }
  void begin_array() {
    separate();
    out_ += '[';
    first_ = true;
  }
  void end_array() {
    out_ += ']';
    first_ = false;
  }

  // Writes "key": and leaves the writer expecting the value.
  void key(std::string_view name);

  void value(double number);
  void value(std::uint64_t number);
  void value(bool flag);
  void value(std::string_view text);
  void null();
  // A value already encoded as JSON, written as it is.
  void raw(std::string_view json);

  // JSON-escapes `text` into `out` (quotes not included).
  static void escape(std::string_view text, std::string& out);

 private:
  void separate() {
    if (!first_ && !after_key_) out_ += ',';
    first_ = false;
    after_key_ = false;
  }

  std::string& out_;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace analyzer::api
