// Blocking Beast client used by the integration tests.
#include "support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <poll.h>
#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace analyzer::test {

namespace bhttp = boost::beast::http;
namespace net = boost::asio;

http_client::http_client(std::uint16_t port, std::string host)
    : socket_(ioc_), host_(std::move(host)) {
  socket_.connect({net::ip::make_address(host_), port});
  socket_.set_option(net::ip::tcp::no_delay(true));
}

http_reply http_client::request(std::string_view method, std::string_view target,
                                std::string_view body, const header_list& headers) {
  bhttp::request<bhttp::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(bhttp::field::host, host_);
  for (const auto& [name, value] : headers) req.set(name, value);
  if (!body.empty() || method == "POST") {
    req.body() = std::string(body);
    req.prepare_payload();
  }
  bhttp::write(socket_, req);
  return read_reply(method == "HEAD");
}

http_reply http_client::post_json(std::string_view target, std::string_view body,
                                  header_list headers) {
  headers.emplace_back("Content-Type", "application/json");
  return request("POST", target, body, headers);
}

void http_client::send_raw(std::string_view bytes) {
  net::write(socket_, net::buffer(bytes.data(), bytes.size()));
}

http_reply http_client::read_reply(bool head) {
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  parser.skip(head);
  bhttp::read(socket_, buffer_, parser);
  const auto& res = parser.get();
  http_reply out;
  out.status = res.result_int();
  for (const auto& field : res) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.headers[name] = std::string(field.value());
  }
  out.body = res.body();
  out.keep_alive = res.keep_alive();
  return out;
}

bool http_client::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char scratch[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    if (buffer_.size() > 0) buffer_.consume(buffer_.size());
    pollfd pfd{socket_.native_handle(), POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (::poll(&pfd, 1, static_cast<int>(std::max<long long>(left.count(), 1))) <= 0) continue;
    boost::system::error_code ec;
    const std::size_t n = socket_.read_some(net::buffer(scratch), ec);
    if (ec || n == 0) return true;
  }
  return false;
}

void http_client::shutdown_send() { socket_.shutdown(net::ip::tcp::socket::shutdown_send); }

}  // namespace analyzer::test
