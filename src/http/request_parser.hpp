// The request parser: Beast's basic_parser, keeping only what the service reads. The
// target, the fields it uses (Content-Type, Authorization, X-Request-Id, Expect, and
// whether Content-Length or Transfer-Encoding were present) and the body go into a
// request_storage the connection owns and reuses, so once that storage has grown to the
// connection's usual requests, parsing one costs no allocation (Beast's own
// request_parser allocates once per header field and once per body). Private to the http
// module.
#pragma once

#include "analyzer/http/message.hpp"

#include <boost/beast/http/basic_parser.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace analyzer::http {

// What a parser writes into. Cleared for each request; keeps its capacity.
struct request_storage {
  std::string head;  // the target and the kept field values, back to back
  std::string body;
};

class request_parser final : public boost::beast::http::basic_parser<true> {
 public:
  explicit request_parser(request_storage& storage) noexcept;

  // Valid once the request line is parsed.
  [[nodiscard]] unsigned version() const noexcept { return version_; }
  [[nodiscard]] http::method verb() const noexcept { return verb_; }
  [[nodiscard]] std::string_view target() const noexcept { return text(target_); }

  // Valid once the head is parsed. For a field sent twice, the first value.
  [[nodiscard]] std::optional<std::string_view> content_type() const noexcept;
  [[nodiscard]] std::optional<std::string_view> authorization() const noexcept;
  [[nodiscard]] std::string_view request_id() const noexcept { return text(request_id_); }
  [[nodiscard]] bool has_content_length() const noexcept { return content_length_.present; }
  [[nodiscard]] bool has_transfer_encoding() const noexcept { return transfer_encoding_; }
  // Expect: 100-continue on an HTTP/1.1 request (HTTP/1.0 clients get no 1xx: RFC 9110
  // §10.1.1 tells servers to ignore the expectation there).
  [[nodiscard]] bool expects_continue() const noexcept;

  // The body read so far (all of it once is_done()).
  [[nodiscard]] std::string_view body() const noexcept { return storage_.body; }

  // The handlers' view of the request; the body only when `with_body`.
  [[nodiscard]] request view(bool with_body) const noexcept;

 private:
  struct span {
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
    bool present = false;
  };

  [[nodiscard]] std::string_view text(span s) const noexcept {
    return std::string_view(storage_.head).substr(s.offset, s.size);
  }
  void keep(span& s, std::string_view value);

  void on_request_impl(boost::beast::http::verb method, boost::beast::string_view method_str,
                       boost::beast::string_view target, int version,
                       boost::beast::error_code& ec) override;
  void on_response_impl(int code, boost::beast::string_view reason, int version,
                        boost::beast::error_code& ec) override;
  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         boost::beast::error_code& ec) override;
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t size, boost::beast::string_view extensions,
                            boost::beast::error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t remain, boost::beast::string_view body,
                                 boost::beast::error_code& ec) override;
  void on_finish_impl(boost::beast::error_code& ec) override;

  request_storage& storage_;
  unsigned version_ = 11;
  http::method verb_ = http::method::other;
  span target_;
  span content_type_;
  span authorization_;
  span request_id_;
  span expect_;
  span content_length_;
  bool transfer_encoding_ = false;
};

}  // namespace analyzer::http
