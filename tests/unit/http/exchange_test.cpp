// The hand-written response writer (write_response) against Beast's own serializer of the
// same response (build_response + operator<<): byte for byte, over every header the
// service can send, both HTTP versions, keep-alive or not, GET and HEAD.
#include "http/exchange.hpp"

#include <gtest/gtest.h>
#include <boost/beast/http/write.hpp>

#include <sstream>
#include <string>

namespace analyzer::http {
namespace {

std::string beast_bytes(const response& res, unsigned version, bool keep_alive, bool head) {
  wire_response wire;
  build_response(wire, res, version, keep_alive, head, "req-1");
  std::ostringstream os;
  os << wire;
  return os.str();
}

std::string our_bytes(const response& res, unsigned version, bool keep_alive, bool head) {
  std::string out = "stale bytes of the previous response";
  out.clear();  // the session reuses the buffer
  write_response(out, res, version, keep_alive, head, "req-1");
  return out;
}

std::vector<response> responses() {
  std::vector<response> out;
  response ok;
  ok.body = R"({"status":"ok"})";
  out.push_back(ok);
  response accepted;
  accepted.status = 202;
  accepted.body = R"({"accepted":1,"anomalies":0})";
  out.push_back(accepted);
  response allow;
  allow.status = 405;
  allow.allow = "GET, HEAD";
  allow.body = R"({"error":"method_not_allowed"})";
  out.push_back(allow);
  response busy;
  busy.status = 503;
  busy.retry_after = true;
  busy.close = true;
  busy.body = R"({"error":"unavailable"})";
  out.push_back(busy);
  response auth;
  auth.status = 401;
  auth.www_authenticate = true;
  auth.body = R"({"error":"unauthorized"})";
  out.push_back(auth);
  response text;
  text.content_type = "text/plain; version=0.0.4; charset=utf-8";
  text.body = std::string(70'000, 'x');
  out.push_back(text);
  response empty;
  empty.status = 404;
  out.push_back(empty);
  for (unsigned status : {400U, 413U, 415U, 431U, 500U}) {
    response e;
    e.status = status;
    e.body = "{}";
    out.push_back(e);
  }
  return out;
}

TEST(WriteResponseTest, matches_beast_serialization_byte_for_byte) {
  int cases = 0;
  for (const auto& res : responses()) {
    for (unsigned version : {10U, 11U}) {
      for (bool keep_alive : {true, false}) {
        for (bool head : {false, true}) {
          EXPECT_EQ(our_bytes(res, version, keep_alive, head),
                    beast_bytes(res, version, keep_alive, head))
              << "status " << res.status << " HTTP/" << version / 10 << '.' << version % 10
              << (keep_alive ? " keep-alive" : " close") << (head ? " HEAD" : " GET");
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 12 * 8);
}

TEST(WriteResponseTest, appends_to_what_the_buffer_holds) {
  response res;
  res.body = "{}";
  std::string out = "previous";
  write_response(out, res, 11, true, false, "id");
  EXPECT_EQ(out.rfind("previousHTTP/1.1 200 OK\r\n", 0), 0U) << out;
}

}  // namespace
}  // namespace analyzer::http
