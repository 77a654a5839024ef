// A real HTTP/1.1 client over a loopback socket for integration tests (Beast, blocking),
// plus raw byte access for malformed and pipelined requests.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace analyzer::test {

struct http_reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool keep_alive = false;

  [[nodiscard]] std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
  [[nodiscard]] bool has_header(const std::string& name) const { return headers.count(name) != 0; }
};

using header_list = std::vector<std::pair<std::string, std::string>>;

class http_client {
 public:
  explicit http_client(std::uint16_t port, std::string host = "127.0.0.1");

  // Sends one request on the kept-alive connection and reads its response.
  http_reply request(std::string_view method, std::string_view target, std::string_view body = {},
                     const header_list& headers = {});
  http_reply get(std::string_view target) { return request("GET", target); }
  http_reply post_json(std::string_view target, std::string_view body, header_list headers = {});

  // Writes bytes as they are.
  void send_raw(std::string_view bytes);
  // Reads one response (for HEAD requests pass head=true: no body follows).
  http_reply read_reply(bool head = false);
  // True when the server closes the connection within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout);
  // Half-closes our sending side.
  void shutdown_send();

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::string host_;
};

}  // namespace analyzer::test
