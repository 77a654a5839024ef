// libFuzzer target: the whole request path without sockets. Each input is what one client
// sends on one connection (any number of pipelined requests). It goes through the same
// steps as src/http/session.cpp: its parse of what is already buffered, then Beast's read
// algorithms with the session's buffer limit and parser limits (http/exchange.hpp),
// after_head (availability, framing, precheck, 100 Continue), the body, router::dispatch with
// a real analyzer, memory store and metrics, and write_response; the bytes the session would
// write are then parsed back by Beast and compared with build_response's message.
//
// Invariants, per response:
//   - the status is one the service documents (100, 200, 202 or a catalogue error);
//   - written and parsed back, it is one complete HTTP response whose Content-Length
//     matches the body (for HEAD: the length GET would have), with Content-Type and a
//     valid X-Request-Id;
//   - an error has the JSON body {"error": <the catalogue's code for that status>,
//     "message": <non-empty>}, 405 an Allow header, 503 Retry-After, 401 WWW-Authenticate;
//     413 body_too_large, 431 and 400 bad_request close the connection;
//   - a 202 says how many samples it accepted, and exactly that many were committed; any
//     other response leaves the analytics state exactly as it was (nothing previously
//     accepted changes when a request is rejected);
// and per input: the sequence of statuses does not depend on how the bytes were split
// into reads (one large read vs. reads of a few bytes, as TCP may deliver them), except
// for 100 Continue and how a malformed head is refused (see same_outcome).
#include "fuzz_check.hpp"

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/api/error_code.hpp"
#include "analyzer/config/config.hpp"
#include "analyzer/http/lifecycle.hpp"
#include "analyzer/http/request_id.hpp"
#include "analyzer/http/router.hpp"
#include "analyzer/http/service_context.hpp"
#include "analyzer/http/service_metrics.hpp"
#include "analyzer/storage/instance_window_path.hpp"
#include "analyzer/storage/memory_store.hpp"
#include "http/exchange.hpp"
#include "support/inline_window_call.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace http = analyzer::http;
using analyzer::api::error_code;
using json = nlohmann::json;

// As src/http/session.cpp: the first read of a request.
constexpr std::size_t kFirstReadBytes = 2048;
// Bounds the work per input (and per connection in the service, pipelining is unbounded;
// here a few hundred requests prove as much as more would).
constexpr int kMaxRequestsPerConnection = 256;
constexpr std::string_view kToken = "fuzz-token";
// Appended to the label of a response that closed the connection because the body of an
// Expect: 100-continue request had not arrived.
constexpr std::string_view kClosedBeforeBody = " (closed before the body)";

// The service as main wires it, with small limits so that inputs reach them.
struct service {
  explicit service(bool with_token) : cfg(make_config(with_token)) {}

  static analyzer::config::config make_config(bool with_token) {
    analyzer::config::config c;
    c.max_header_bytes = 1024;
    c.max_body_bytes = 4096;
    c.max_batch = 8;
    c.window_size = 8;
    c.warmup = 4;
    c.history_size = 64;
    if (with_token) c.ingest_token = std::string(kToken);
    return c;
  }

  analyzer::config::config cfg;
  analyzer::storage::instance_window_path windows{
      {cfg.window_size, cfg.anomaly_threshold, cfg.warmup},
      4,
      std::make_unique<analyzer::storage::memory_store>(cfg.history_size),
      {}};
  analyzer::analytics::analyzer& core = windows.analyzer();
  analyzer::http::service_metrics metrics{windows};
  http::lifecycle life{http::phase::ready};
  http::service_context ctx{cfg, windows, metrics, life};
};

// The bytes of one connection, delivered in reads of at most `max_read` bytes; then EOF.
class memory_stream {
 public:
  memory_stream(std::string_view data, std::size_t max_read) : data_(data), max_read_(max_read) {}

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, beast::error_code& ec) {
    if (data_.empty()) {
      ec = net::error::eof;
      return 0;
    }
    ec = {};
    const std::size_t n =
        net::buffer_copy(buffers, net::buffer(data_.data(), std::min(max_read_, data_.size())));
    data_.remove_prefix(n);
    return n;
  }

  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    beast::error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

 private:
  std::string_view data_;
  std::size_t max_read_;
};

// Not beast::iequals: Boost 1.81's reads one byte past the end of both strings when they
// differ only in case (this target found it, on the exact-size input buffer).
bool iequals_ascii(std::string_view a, std::string_view b) {
  const auto lower = [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

bool same_bits(double a, double b) {
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

bool same_state(const analyzer::analytics::snapshot& a, const analyzer::analytics::snapshot& b) {
  if (a.seq != b.seq || !same_bits(a.last_timestamp, b.last_timestamp)) return false;
  for (std::size_t m = 0; m < analyzer::analytics::kMetricCount; ++m) {
    const auto& x = a.metrics[m];
    const auto& y = b.metrics[m];
    if (x.window.count != y.window.count || !same_bits(x.window.mean, y.window.mean) ||
        !same_bits(x.window.std_dev, y.window.std_dev) || !same_bits(x.window.min, y.window.min) ||
        !same_bits(x.window.max, y.window.max) || x.anomalies_total != y.anomalies_total ||
        x.last.has_value() != y.last.has_value() ||
        x.last_anomaly.has_value() != y.last_anomaly.has_value()) {
      return false;
    }
    if (x.last && (!same_bits(x.last->value, y.last->value) ||
                   !same_bits(x.last->z_score, y.last->z_score))) {
      return false;
    }
  }
  return true;
}

// The catalogue's codes for each error status (architecture.md §2).
bool code_fits_status(unsigned status, std::string_view code) {
  switch (status) {
    case 400:
      return code == "invalid_json" || code == "invalid_body" || code == "missing_field" ||
             code == "invalid_type" || code == "out_of_range" || code == "duplicate_key" ||
             code == "invalid_query" || code == "bad_request";
    case 401:
      return code == "unauthorized";
    case 404:
      return code == "not_found";
    case 405:
      return code == "method_not_allowed";
    case 413:
      return code == "body_too_large" || code == "batch_too_large";
    case 415:
      return code == "unsupported_media_type";
    case 431:
      return code == "headers_too_large";
    case 503:
      return code == "unavailable";
    default:
      return false;
  }
}

struct exchange_context {
  service& svc;
  bool head_request = false;
  bool keep_alive = true;
  unsigned version = 11;
  std::string request_id;
};

// Checks one response as the session would write it; returns "<status>[ <error code>]".
std::string emit(exchange_context& x, http::response res, bool close) {
  const bool keep_alive = x.keep_alive && !close && !res.close;
  const unsigned status = res.status;
  const std::string body = res.body;
  const std::string allow(res.allow);
  std::string label = std::to_string(status);

  FUZZ_CHECK(status == 200 || status == 202 || status == 400 || status == 401 || status == 404 ||
                 status == 405 || status == 413 || status == 415 || status == 431 || status == 503,
             "a documented status");

  if (status >= 400) {
    const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
    FUZZ_CHECK(parsed.is_object() && parsed.size() == 2, "an error body is a two-field object");
    FUZZ_CHECK(parsed.contains("error") && parsed["error"].is_string(), "the error is named");
    const std::string code = parsed["error"].get<std::string>();
    FUZZ_CHECK(code_fits_status(status, code), "the error code is the catalogue's for the status");
    label += " " + code;
    FUZZ_CHECK(parsed.contains("message") && parsed["message"].is_string() &&
                   !parsed["message"].get<std::string>().empty(),
               "the error has a message");
    if (code == "body_too_large" || status == 431 || code == "bad_request") {
      // (413 batch_too_large has read its whole body: the connection may stay.)
      FUZZ_CHECK(!keep_alive, "413 body_too_large, 431 and 400 bad_request close the connection");
    }
    if (status == 405) FUZZ_CHECK(!allow.empty(), "a 405 has an Allow header");
    if (status == 503) FUZZ_CHECK(res.retry_after, "a 503 has Retry-After");
    if (status == 401) FUZZ_CHECK(res.www_authenticate, "a 401 has WWW-Authenticate");
  }

  // The bytes the session writes (write_response), read back by Beast's parser.
  std::string text;
  http::write_response(text, res, x.version, keep_alive, x.head_request, x.request_id);
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(std::uint64_t{1} << 26);
  parser.skip(x.head_request);
  parser.eager(true);
  beast::error_code ec;
  const std::size_t used = parser.put(net::buffer(text), ec);
  FUZZ_CHECK(!ec && parser.is_done(), "the response as written parses as one HTTP response");
  FUZZ_CHECK(used == text.size(), "nothing follows the response");
  const auto& back = parser.get();
  FUZZ_CHECK(back.result_int() == status, "the status is written");
  const auto length = back.find(bhttp::field::content_length);
  FUZZ_CHECK(length != back.end(), "every response has a Content-Length");
  FUZZ_CHECK(length->value() == std::to_string(body.size()),
             "the Content-Length is the body's length (for HEAD, GET's)");
  FUZZ_CHECK(x.head_request ? back.body().empty() : back.body() == body,
             "the body is written whole (and not at all for HEAD)");
  FUZZ_CHECK(back.find(bhttp::field::content_type) != back.end(), "a Content-Type");
  FUZZ_CHECK(http::is_valid_request_id(back["X-Request-Id"]), "a valid X-Request-Id");
  FUZZ_CHECK(back.keep_alive() == keep_alive, "Connection says whether the connection stays");

  // The same response as a Beast message (build_response): the hand-written bytes must say
  // the same, header for header.
  http::wire_response reference;
  http::build_response(reference, std::move(res), x.version, keep_alive, x.head_request,
                       x.request_id);
  for (const auto& field : reference) {
    if (field.name() == bhttp::field::connection) continue;  // compared as keep_alive above
    FUZZ_CHECK(back.count(field.name_string()) == 1 && back[field.name_string()] == field.value(),
               "write_response writes every header build_response sets, with its value");
  }
  for (const auto& field : back) {
    if (field.name() == bhttp::field::connection) continue;
    FUZZ_CHECK(reference.count(field.name_string()) == 1,
               "write_response writes no header build_response does not set");
  }
  return label;
}

// One connection, as the session serves it; returns the statuses it answered with.
std::vector<std::string> serve(service& svc, std::string_view input, std::size_t max_read) {
  std::vector<std::string> statuses;
  memory_stream in(input, max_read);
  beast::flat_buffer buffer(http::read_buffer_limit(svc.cfg));
  http::request_storage storage;  // reused from one request to the next, as the session does

  for (int n = 0; n < kMaxRequestsPerConnection; ++n) {
    if (buffer.size() == 0) {  // wait_request: the first bytes of the next request
      beast::error_code ec;
      const std::size_t got = in.read_some(buffer.prepare(kFirstReadBytes), ec);
      if (ec) return statuses;  // the client closed an idle connection
      buffer.commit(got);
    }
    http::request_parser parser(storage);
    http::apply_limits(parser, svc.cfg);
    exchange_context x{svc, false, true, 11, {}};
    const auto before = svc.core.read();

    // A failed read: closed silently, or a closing error response.
    auto fail = [&](beast::error_code ec) {
      if (http::ends_silently(ec)) return;
      auto route = analyzer::http::route::other;
      auto method = analyzer::http::method::other;
      if (parser.is_header_done()) {
        const http::request head = parser.view(false);
        route = http::match_route(head.path());
        method = head.verb;
        x.version = parser.version();
      } else {
        x.head_request = false;
        x.version = 11;
      }
      if (x.request_id.empty()) x.request_id = http::generate_request_id();
      x.keep_alive = false;
      statuses.push_back(emit(x, http::read_error_response(svc.ctx, ec, route, method), true));
      FUZZ_CHECK(same_state(before, svc.core.read()), "a failed read commits nothing");
    };

    // As session::read_header: first parse what is already buffered (its fast path, no
    // I/O), then read the rest of the head if it is still incomplete.
    beast::error_code ec;
    std::size_t head_bytes = 0;
    head_bytes += http::parse_buffered(parser, buffer, /*head_only=*/true, ec);
    if (!ec && !parser.is_header_done()) head_bytes += bhttp::read_header(in, buffer, parser, ec);
    if (!ec && http::head_too_large(head_bytes, svc.cfg)) ec = bhttp::error::header_limit;
    if (ec) {
      fail(ec);
      return statuses;
    }
    const http::request head = parser.view(false);
    x.head_request = head.verb == analyzer::http::method::head;
    x.keep_alive = parser.keep_alive();
    x.version = parser.version();
    const auto id = parser.request_id();
    x.request_id = http::is_valid_request_id(id) ? std::string(id) : http::generate_request_id();

    http::head_decision next = http::after_head(svc.ctx, parser, /*draining=*/false);
    http::response res;
    bool close = false;
    switch (next.action) {
      case http::head_action::respond:
        FUZZ_CHECK(next.early.has_value(), "respond comes with a response");
        res = std::move(*next.early);
        close = next.close;
        break;
      case http::head_action::discard_body:
        FUZZ_CHECK(next.early.has_value(), "discard_body comes with a response");
        bhttp::read(in, buffer, parser, ec);
        if (ec) {
          fail(ec);
          return statuses;
        }
        res = std::move(*next.early);
        break;
      case http::head_action::send_continue:
        statuses.emplace_back("100");
        [[fallthrough]];
      case http::head_action::read_body:
        bhttp::read(in, buffer, parser, ec);
        if (ec) {
          fail(ec);
          return statuses;
        }
        [[fallthrough]];
      case http::head_action::dispatch:
        FUZZ_CHECK(parser.is_done(), "a request is dispatched only when complete");
        res = analyzer::test::dispatch_inline(svc.ctx, parser.view(true));
        break;
    }
    const unsigned status = res.status;
    statuses.push_back(emit(x, res, close));
    // A refusal of a request whose client waits for 100 Continue closes the connection
    // when the body has not arrived yet (after_head): marked, as it depends on the reads.
    if (close && parser.expects_continue()) {
      statuses.back() += kClosedBeforeBody;
    }

    const auto after = svc.core.read();
    if (status == 202) {
      const json body = json::parse(res.body, nullptr, false);
      FUZZ_CHECK(
          body.is_object() && body.contains("accepted") && body["accepted"].is_number_unsigned(),
          "a 202 says how many samples it accepted");
      const auto accepted = body["accepted"].get<std::uint64_t>();
      FUZZ_CHECK(accepted >= 1 && accepted <= svc.cfg.max_batch, "1..MAX_BATCH samples");
      FUZZ_CHECK(after.seq == before.seq + accepted, "exactly the accepted samples committed");
    } else {
      FUZZ_CHECK(same_state(before, after), "a request that is not a 202 changes nothing");
    }
    if (!(x.keep_alive && !close && !res.close)) return statuses;  // closing response
  }
  return statuses;
}

// Equal, except where the outcome depends on how the bytes arrive:
//   - Beast parses a head eagerly on its first read but, after a read that left the head
//     incomplete, only looks for the head's end (up to MAX_HEADER_BYTES): a malformed head
//     may be refused as 400 bad_request in one read, and as 431 or not at all (a head that
//     never ends) when it trickles in;
//   - a quoted chunk extension that is not closed before the line's CRLF is scanned to the
//     end of the buffer: in one read it is a 400, but when it trickles in every retry
//     charges the chunk's size to the body limit again, which ends as 413 body_too_large
//     (or as 400 when the session's read buffer limit is reached);
//   - the session parses a body that came with its head before it looks at the head: a
//     malformed body is then refused (400, 413) where, arriving later, the head alone would
//     have been answered first; and a refusal of an Expect: 100-continue request closes
//     the connection only when the body has not arrived (kClosedBeforeBody).
// So after the same responses, a connection's last outcome may be any closing refusal of a
// malformed request, an early refusal that closed before the body, or a close, in either
// run. 100 Continue (sent only when the body has not come with the head) is left out.
bool same_outcome(std::vector<std::string> a, std::vector<std::string> b) {
  std::erase(a, "100");
  std::erase(b, "100");
  if (a == b) return true;
  std::array<bool, 2> closed_before_body{};
  std::array<std::vector<std::string>*, 2> runs{&a, &b};
  for (std::size_t i = 0; i < 2; ++i) {
    auto& run = *runs[i];
    auto& other = *runs[1 - i];
    if (!run.empty() && run.back().ends_with(kClosedBeforeBody)) {
      closed_before_body[i] = true;
      run.back().resize(run.back().size() - kClosedBeforeBody.size());
      if (other.size() > run.size()) other.resize(run.size());
    }
  }
  if (a == b) return true;
  const std::size_t common =
      std::min(a.size(), b.size()) - (a.size() == b.size() && !a.empty() ? 1 : 0);
  const auto ends_acceptably = [common](const std::vector<std::string>& run, bool early) {
    if (run.size() == common) return true;
    if (run.size() != common + 1) return false;
    return early || run.back() == "400 bad_request" || run.back() == "431 headers_too_large" ||
           run.back() == "413 body_too_large";
  };
  return std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(common), b.begin()) &&
         ends_acceptably(a, closed_before_body[0]) && ends_acceptably(b, closed_before_body[1]);
}

bool mentions_authorization(std::string_view input) {
  constexpr std::string_view kName = "authorization:";
  if (input.size() < kName.size()) return false;
  for (std::size_t i = 0; i + kName.size() <= input.size(); ++i) {
    if (iequals_ascii(input.substr(i, kName.size()), kName)) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static service open_service(false);
  static service guarded_service(true);  // INGEST_TOKEN set: only with an Authorization header
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  service& svc = mentions_authorization(input) ? guarded_service : open_service;

  const std::vector<std::string> whole = serve(svc, input, std::size_t{1} << 16);
  const std::vector<std::string> split = serve(svc, input, 1 + size % 7);
  static const bool trace = std::getenv("ANALYZER_FUZZ_TRACE") != nullptr;
  if (trace || whole != split) {
    for (const auto* run : {&whole, &split}) {
      std::fprintf(stderr, "statuses (%s):", run == &whole ? "one read" : "small reads");
      for (const std::string& status : *run) std::fprintf(stderr, " [%s]", status.c_str());
      std::fprintf(stderr, "%s\n", run->empty() ? " none, closed" : "");
    }
  }
  FUZZ_CHECK(same_outcome(whole, split),
             "the statuses do not depend on how the bytes were split in reads");
  return 0;
}
