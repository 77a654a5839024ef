// The request parser (see request_parser.hpp).
#include "request_parser.hpp"

#include "analyzer/http/router.hpp"

#include <algorithm>

namespace analyzer::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

// Case-insensitive ASCII comparison. Not beast::iequals: Boost 1.81's reads one byte past the
// end of both strings when they differ only in case (found by tests/fuzz/request_path_fuzz).
bool iequals_ascii(std::string_view a, std::string_view b) noexcept {
  const auto lower = [](char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

}  // namespace

request_parser::request_parser(request_storage& storage) noexcept : storage_(storage) {
  storage_.head.clear();
  storage_.body.clear();
}

std::optional<std::string_view> request_parser::content_type() const noexcept {
  if (!content_type_.present) return std::nullopt;
  return text(content_type_);
}

std::optional<std::string_view> request_parser::authorization() const noexcept {
  if (!authorization_.present) return std::nullopt;
  return text(authorization_);
}

bool request_parser::expects_continue() const noexcept {
  return version_ >= 11 && expect_.present && iequals_ascii(text(expect_), "100-continue");
}

request request_parser::view(bool with_body) const noexcept {
  request out;
  out.verb = verb_;
  out.target = target();
  out.content_type = content_type();
  out.authorization = authorization();
  if (with_body) out.body = storage_.body;
  return out;
}

void request_parser::keep(span& s, std::string_view value) {
  // The head is bounded by MAX_HEADER_BYTES, far below 4 GiB.
  s.offset = static_cast<std::uint32_t>(storage_.head.size());
  s.size = static_cast<std::uint32_t>(value.size());
  s.present = true;
  storage_.head.append(value);
}

void request_parser::on_request_impl(bhttp::verb /*method*/, beast::string_view method_str,
                                     beast::string_view target, int version,
                                     beast::error_code& /*ec*/) {
  verb_ = match_method(method_str);
  version_ = static_cast<unsigned>(version);
  keep(target_, target);
}

void request_parser::on_response_impl(int /*code*/, beast::string_view /*reason*/, int /*version*/,
                                      beast::error_code& ec) {
  ec = bhttp::error::bad_version;  // a request parser never sees a status line
}

void request_parser::on_field_impl(bhttp::field name, beast::string_view name_string,
                                   beast::string_view value, beast::error_code& /*ec*/) {
  const auto first = [&](span& s) {
    if (!s.present) keep(s, value);
  };
  switch (name) {
    case bhttp::field::content_type:
      first(content_type_);
      return;
    case bhttp::field::authorization:
      first(authorization_);
      return;
    case bhttp::field::expect:
      first(expect_);
      return;
    case bhttp::field::content_length:
      content_length_.present = true;  // Beast checks its value and repeats
      return;
    case bhttp::field::transfer_encoding:
      transfer_encoding_ = true;
      return;
    default:
      break;
  }
  if (iequals_ascii(name_string, "X-Request-Id")) first(request_id_);
}

void request_parser::on_header_impl(beast::error_code& /*ec*/) {}

void request_parser::on_body_init_impl(const boost::optional<std::uint64_t>& /*content_length*/,
                                       beast::error_code& /*ec*/) {
  storage_.body.clear();
}

std::size_t request_parser::on_body_impl(beast::string_view body, beast::error_code& /*ec*/) {
  storage_.body.append(body.data(), body.size());
  return body.size();
}

void request_parser::on_chunk_header_impl(std::uint64_t /*size*/, beast::string_view /*extensions*/,
                                          beast::error_code& /*ec*/) {}

std::size_t request_parser::on_chunk_body_impl(std::uint64_t /*remain*/, beast::string_view body,
                                               beast::error_code& /*ec*/) {
  storage_.body.append(body.data(), body.size());
  return body.size();
}

void request_parser::on_finish_impl(beast::error_code& /*ec*/) {}

}  // namespace analyzer::http
