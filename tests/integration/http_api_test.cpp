// End-to-end tests of every route, status and error body over real loopback sockets,
// against the in-process service listening on port 0.
#include "support/http_client.hpp"
#include "support/test_service.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <thread>

namespace analyzer::test {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr std::string_view kSample = R"({"timestamp": 1700000000, "cpu": 42.5, "rps": 1200})";

void expect_error(const http_reply& r, unsigned status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_FALSE(r.header("x-request-id").empty());
  const auto body = json::parse(r.body);
  EXPECT_EQ(body.at("error"), code) << r.body;
  EXPECT_FALSE(body.at("message").get<std::string>().empty());
}

TEST(HttpApiTest, health_reports_ok_version_and_uptime) {
  test_service svc;
  http_client client(svc.port());
  const auto r = client.get("/health");
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(r.header("content-type"), "application/json");
  const auto body = json::parse(r.body);
  EXPECT_EQ(body.at("status"), "ok");
  EXPECT_FALSE(body.at("version").get<std::string>().empty());
  EXPECT_GE(body.at("uptime_seconds").get<double>(), 0.0);
}

TEST(HttpApiTest, request_id_is_echoed_when_valid_and_generated_otherwise) {
  test_service svc;
  http_client client(svc.port());
  auto r = client.request("GET", "/health", {}, {{"X-Request-Id", "abc-123_x.y"}});
  EXPECT_EQ(r.header("x-request-id"), "abc-123_x.y");
  r = client.request("GET", "/health", {}, {{"X-Request-Id", "has space"}});
  EXPECT_NE(r.header("x-request-id"), "has space");
  EXPECT_EQ(r.header("x-request-id").size(), 16U);
  r = client.request("GET", "/health", {}, {{"X-Request-Id", std::string(129, 'a')}});
  EXPECT_EQ(r.header("x-request-id").size(), 16U);
  r = client.request("GET", "/health", {}, {{"X-Request-Id", std::string(128, 'a')}});
  EXPECT_EQ(r.header("x-request-id"), std::string(128, 'a'));
  const auto first = client.get("/health").header("x-request-id");
  EXPECT_NE(first, client.get("/health").header("x-request-id"));
}

TEST(HttpApiTest, ready_is_503_while_starting_and_ingest_is_refused) {
  test_service svc(test_config(), http::phase::starting);
  http_client client(svc.port());
  auto r = client.get("/ready");
  EXPECT_EQ(r.status, 503U);
  EXPECT_EQ(json::parse(r.body).at("status"), "starting");
  r = client.post_json("/metrics", kSample);
  expect_error(r, 503, "unavailable");
  EXPECT_EQ(r.header("retry-after"), "1");
  EXPECT_EQ(client.get("/health").status, 200U);
  svc.life.set(http::phase::ready);
  EXPECT_EQ(client.get("/ready").status, 200U);
  EXPECT_EQ(client.post_json("/metrics", kSample).status, 202U);
}

TEST(HttpApiTest, ingest_single_and_batch_then_analyze) {
  test_service svc;
  http_client client(svc.port());
  auto r = client.post_json("/metrics", kSample);
  EXPECT_EQ(r.status, 202U);
  EXPECT_EQ(r.header("content-type"), "application/json");
  auto body = json::parse(r.body);
  EXPECT_EQ(body.at("accepted"), 1);
  EXPECT_EQ(body.at("anomalies"), 0);

  r = client.post_json("/metrics", R"([{"cpu": 10, "rps": 5}, {"cpu": 20, "rps": 15}])");
  EXPECT_EQ(r.status, 202U);
  EXPECT_EQ(json::parse(r.body).at("accepted"), 2);

  r = client.get("/analyze");
  ASSERT_EQ(r.status, 200U);
  body = json::parse(r.body);
  EXPECT_EQ(body.at("samples_total"), 3);
  EXPECT_EQ(body.at("window_size"), 50);
  EXPECT_EQ(body.at("threshold"), 2.0);
  const auto& cpu = body.at("metrics").at("cpu");
  EXPECT_EQ(cpu.at("data_points"), 3);
  EXPECT_DOUBLE_EQ(cpu.at("rolling_average").get<double>(), (42.5 + 10 + 20) / 3);
  EXPECT_EQ(cpu.at("min"), 10.0);
  EXPECT_EQ(cpu.at("max"), 42.5);
  EXPECT_EQ(cpu.at("last"), 20.0);
  EXPECT_EQ(body.at("storage").at("backend"), "memory");
  EXPECT_GT(body.at("timestamp").get<double>(), 1.7e9);
}

TEST(HttpApiTest, ingest_body_length_does_not_depend_on_anomalies) {
  auto cfg = test_config();
  cfg.window_size = 4;
  cfg.warmup = 2;
  test_service svc(cfg);
  http_client client(svc.port());
  std::size_t length = 0;
  for (const char* body : {R"({"cpu": 10, "rps": 10})", R"({"cpu": 12, "rps": 10})",
                           R"({"cpu": 11, "rps": 11})", R"({"cpu": 99, "rps": 900})"}) {
    const auto r = client.post_json("/metrics", body);
    ASSERT_EQ(r.status, 202U);
    if (length == 0) length = r.body.size();
    EXPECT_EQ(r.body.size(), length) << r.body;
  }
  EXPECT_EQ(json::parse(client.get("/analyze").body)["metrics"]["cpu"]["anomalies_total"], 1);
}

TEST(HttpApiTest, analysis_true_returns_every_sample_in_commit_order) {
  auto cfg = test_config();
  cfg.window_size = 3;
  cfg.warmup = 2;
  test_service svc(cfg);
  http_client client(svc.port());
  const auto r = client.post_json(
      "/metrics?analysis=true",
      R"([{"timestamp": 1, "cpu": 1, "rps": 10}, {"timestamp": 2, "cpu": 3, "rps": 10},
          {"timestamp": 3, "cpu": 5, "rps": 30}])");
  ASSERT_EQ(r.status, 202U) << r.body;
  const auto body = json::parse(r.body);
  ASSERT_EQ(body.at("results").size(), 3U);
  const auto& third = body.at("results").at(2);
  EXPECT_EQ(third.at("seq"), 3);
  EXPECT_EQ(third.at("timestamp"), 3.0);
  // Baseline {1, 3}: mean 2, population std 1 → z = 3 for cpu 5; rps std 0 → z 0.
  EXPECT_DOUBLE_EQ(third.at("cpu").at("z_score").get<double>(), 3.0);
  EXPECT_EQ(third.at("cpu").at("anomaly"), true);
  EXPECT_EQ(third.at("rps").at("z_score"), 0.0);
  EXPECT_EQ(third.at("rps").at("anomaly"), false);
  EXPECT_EQ(body.at("anomalies"), 1);
  EXPECT_EQ(body.at("results").at(0).at("seq"), 1);

  const auto plain = client.post_json("/metrics?analysis=false", kSample);
  EXPECT_EQ(plain.status, 202U);
  EXPECT_FALSE(json::parse(plain.body).contains("results"));
}

TEST(HttpApiTest, bad_query_parameters_are_rejected_on_ingest_only) {
  test_service svc;
  http_client client(svc.port());
  for (const char* target : {"/metrics?analysis=yes", "/metrics?analysis=true&analysis=true",
                             "/metrics?foo=1", "/metrics?analysis", "/metrics?&"}) {
    expect_error(client.post_json(target, kSample), 400, "invalid_query");
  }
  EXPECT_EQ(client.get("/analyze?foo=bar").status, 200U);
  EXPECT_EQ(client.get("/health?x").status, 200U);
  EXPECT_EQ(json::parse(client.get("/analyze").body).at("samples_total"), 0);
}

TEST(HttpApiTest, every_body_error_of_the_catalogue) {
  auto cfg = test_config();
  cfg.max_batch = 3;
  test_service svc(cfg);
  http_client client(svc.port());
  expect_error(client.post_json("/metrics", R"({"cpu": 1,)"), 400, "invalid_json");
  expect_error(client.post_json("/metrics", "[]"), 400, "invalid_body");
  expect_error(client.post_json("/metrics", "42"), 400, "invalid_body");
  expect_error(client.post_json("/metrics", R"({"cpu": 1})"), 400, "missing_field");
  expect_error(client.post_json("/metrics", R"({"cpu": "1", "rps": 2})"), 400, "invalid_type");
  expect_error(client.post_json("/metrics", R"({"cpu": 101, "rps": 2})"), 400, "out_of_range");
  expect_error(client.post_json("/metrics", R"({"cpu": 1e309, "rps": 2})"), 400, "out_of_range");
  expect_error(client.post_json("/metrics", R"({"cpu": 1, "cpu": 2, "rps": 2})"), 400,
               "duplicate_key");
  expect_error(client.post_json("/metrics", R"([{"cpu":1,"rps":1},{"cpu":1,"rps":1},
                 {"cpu":1,"rps":1},{"cpu":1,"rps":1}])"),
               413, "batch_too_large");
  expect_error(client.post_json("/metrics", ""), 400, "invalid_json");
  // The message names the element and the field.
  const auto r = client.post_json("/metrics", R"([{"cpu": 1, "rps": 1}, {"cpu": -1, "rps": 1}])");
  expect_error(r, 400, "out_of_range");
  EXPECT_THAT(json::parse(r.body).at("message").get<std::string>(), HasSubstr("samples[1].cpu"));
  // All-or-nothing: none of the rejected batches left anything behind.
  EXPECT_EQ(json::parse(client.get("/analyze").body).at("samples_total"), 0);
}

TEST(HttpApiTest, unknown_path_and_wrong_method) {
  test_service svc;
  http_client client(svc.port());
  expect_error(client.get("/nope"), 404, "not_found");
  expect_error(client.request("POST", "/nope", "x"), 404, "not_found");
  auto r = client.request("DELETE", "/health");
  expect_error(r, 405, "method_not_allowed");
  EXPECT_EQ(r.header("allow"), "GET, HEAD");
  r = client.request("PUT", "/metrics", kSample);
  expect_error(r, 405, "method_not_allowed");
  EXPECT_EQ(r.header("allow"), "GET, HEAD, POST");
  r = client.request("POST", "/analyze", kSample);
  EXPECT_EQ(r.header("allow"), "GET, HEAD");
  // The connection is still usable after errors that had bodies.
  EXPECT_EQ(client.get("/health").status, 200U);
}

TEST(HttpApiTest, head_has_get_headers_and_no_body) {
  test_service svc;
  http_client client(svc.port());
  for (const char* target : {"/health", "/ready", "/analyze", "/metrics"}) {
    const auto get = client.get(target);
    const auto head = client.request("HEAD", target);
    EXPECT_EQ(head.status, get.status) << target;
    EXPECT_TRUE(head.body.empty()) << target;
    EXPECT_EQ(head.header("content-type"), get.header("content-type")) << target;
    // Only /ready has a body that does not change between two requests.
    if (std::string(target) == "/ready") {
      EXPECT_EQ(head.header("content-length"), std::to_string(get.body.size())) << target;
    } else {
      EXPECT_GT(std::stoul(head.header("content-length")), 0UL) << target;
    }
  }
  // Still in sync after HEAD responses without bodies.
  EXPECT_EQ(client.get("/ready").status, 200U);
}

TEST(HttpApiTest, content_type_rules) {
  test_service svc;
  http_client client(svc.port());
  expect_error(client.request("POST", "/metrics", kSample, {{"Content-Type", "text/plain"}}), 415,
               "unsupported_media_type");
  EXPECT_EQ(client
                .request("POST", "/metrics", kSample,
                         {{"Content-Type", "application/json; charset=utf-8"}})
                .status,
            202U);
  EXPECT_EQ(client.request("POST", "/metrics", kSample).status, 202U);  // no Content-Type
}

TEST(HttpApiTest, body_over_limit_is_413_with_a_body) {
  auto cfg = test_config();
  cfg.max_body_bytes = 1024;
  test_service svc(cfg);
  {
    http_client client(svc.port());
    const std::string big = "[" + std::string(2000, ' ') + "]";
    const auto r = client.post_json("/metrics", big);
    expect_error(r, 413, "body_too_large");
    EXPECT_FALSE(r.keep_alive);
  }
  {
    http_client client(svc.port());
    std::string chunked =
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 3; ++i) chunked += "200\r\n" + std::string(512, ' ') + "\r\n";
    chunked += "0\r\n\r\n";
    client.send_raw(chunked);
    expect_error(client.read_reply(), 413, "body_too_large");
    EXPECT_TRUE(client.wait_closed(std::chrono::seconds(5)));
  }
  // A body exactly at the limit is read (and judged on its content).
  http_client client(svc.port());
  std::string at_limit = std::string(kSample);
  at_limit.append(1024 - at_limit.size(), ' ');
  EXPECT_EQ(client.post_json("/metrics", at_limit).status, 202U);
}

TEST(HttpApiTest, head_over_limit_is_431) {
  auto cfg = test_config();
  cfg.max_header_bytes = 1024;
  test_service svc(cfg);
  http_client client(svc.port());
  client.send_raw("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') +
                  "\r\n\r\n");
  expect_error(client.read_reply(), 431, "headers_too_large");
  EXPECT_TRUE(client.wait_closed(std::chrono::seconds(5)));
}

TEST(HttpApiTest, bearer_token_protects_ingest_only) {
  auto cfg = test_config();
  cfg.ingest_token = "s3cret-token";
  test_service svc(cfg);
  http_client client(svc.port());
  auto r = client.post_json("/metrics", kSample);
  expect_error(r, 401, "unauthorized");
  EXPECT_THAT(r.header("www-authenticate"), HasSubstr("Bearer"));
  expect_error(client.post_json("/metrics", kSample, {{"Authorization", "Bearer wrong"}}), 401,
               "unauthorized");
  EXPECT_EQ(
      client.post_json("/metrics", kSample, {{"Authorization", "Bearer s3cret-token"}}).status,
      202U);
  EXPECT_EQ(client.get("/analyze").status, 200U);
  EXPECT_EQ(client.get("/metrics").status, 200U);
}

TEST(HttpApiTest, expect_100_continue_is_answered) {
  test_service svc;
  http_client client(svc.port());
  const std::string body(kSample);
  client.send_raw(
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  EXPECT_EQ(client.read_reply().status, 100U);
  client.send_raw(body);
  EXPECT_EQ(client.read_reply().status, 202U);

  // Refused from the head alone: the final status comes instead of 100 Continue.
  http_client other(svc.port());
  other.send_raw(
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
      "Expect: 100-continue\r\nContent-Length: 10\r\n\r\n");
  expect_error(other.read_reply(), 415, "unsupported_media_type");
}

TEST(HttpApiTest, keep_alive_and_pipelined_requests_answer_in_order) {
  test_service svc;
  http_client client(svc.port());
  const std::string body(kSample);
  std::string batch;
  batch += "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  batch +=
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  batch += "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
  batch += "GET /analyze HTTP/1.1\r\nHost: x\r\n\r\n";
  client.send_raw(batch);
  EXPECT_EQ(client.read_reply().status, 200U);
  EXPECT_EQ(client.read_reply().status, 202U);
  EXPECT_EQ(client.read_reply().status, 404U);
  const auto analyze = client.read_reply();
  EXPECT_EQ(analyze.status, 200U);
  EXPECT_EQ(json::parse(analyze.body).at("samples_total"), 1);
  EXPECT_TRUE(analyze.keep_alive);
}

TEST(HttpApiTest, http10_and_connection_close_are_honoured) {
  test_service svc;
  http_client client(svc.port());
  client.send_raw("GET /health HTTP/1.0\r\n\r\n");
  const auto r = client.read_reply();
  EXPECT_EQ(r.status, 200U);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(client.wait_closed(std::chrono::seconds(5)));

  http_client second(svc.port());
  const auto closing = second.request("GET", "/health", {}, {{"Connection", "close"}});
  EXPECT_FALSE(closing.keep_alive);
  EXPECT_TRUE(second.wait_closed(std::chrono::seconds(5)));
}

TEST(HttpApiTest, idle_connection_is_closed_after_idle_timeout) {
  auto cfg = test_config();
  cfg.idle_timeout = std::chrono::milliseconds(200);
  test_service svc(cfg);
  http_client client(svc.port());
  EXPECT_EQ(client.get("/health").status, 200U);
  EXPECT_TRUE(client.wait_closed(std::chrono::seconds(10)));
}

TEST(HttpApiTest, slow_request_is_closed_after_read_timeout) {
  auto cfg = test_config();
  cfg.read_timeout = std::chrono::milliseconds(300);
  test_service svc(cfg);
  http_client client(svc.port());
  client.send_raw("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"cpu\"");
  EXPECT_TRUE(client.wait_closed(std::chrono::seconds(10)));
  EXPECT_EQ(json::parse(http_client(svc.port()).get("/analyze").body).at("samples_total"), 0);
}

TEST(HttpApiTest, malformed_request_line_is_400) {
  test_service svc;
  http_client client(svc.port());
  client.send_raw("THIS IS NOT HTTP\r\n\r\n");
  expect_error(client.read_reply(), 400, "bad_request");
  EXPECT_TRUE(client.wait_closed(std::chrono::seconds(5)));
}

TEST(HttpApiTest, prometheus_scrape_counts_requests_samples_and_anomalies) {
  auto cfg = test_config();
  cfg.window_size = 3;
  cfg.warmup = 2;
  test_service svc(cfg);
  http_client client(svc.port());
  ASSERT_EQ(client
                .post_json("/metrics", R"([{"cpu": 1, "rps": 10}, {"cpu": 3, "rps": 10},
                                            {"cpu": 5, "rps": 10}])")
                .status,
            202U);
  ASSERT_EQ(client.post_json("/metrics", "{").status, 400U);
  ASSERT_EQ(client.get("/health").status, 200U);
  const auto r = client.get("/metrics");
  ASSERT_EQ(r.status, 200U);
  EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(r.body, HasSubstr("analyzer_samples_accepted_total 3\n"));
  EXPECT_THAT(r.body, HasSubstr("analyzer_anomalies_total{metric=\"cpu\"} 1\n"));
  EXPECT_THAT(r.body, HasSubstr("analyzer_anomalies_total{metric=\"rps\"} 0\n"));
  EXPECT_THAT(r.body, HasSubstr("analyzer_ingest_rejected_total{reason=\"invalid_json\"} 1\n"));
  EXPECT_THAT(
      r.body,
      HasSubstr("http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1\n"));
  EXPECT_THAT(r.body, HasSubstr("http_request_duration_seconds_bucket{method=\"POST\","
                                "route=\"/metrics\",status=\"202\",le=\"+Inf\"} 1\n"));
  EXPECT_THAT(r.body, HasSubstr("# TYPE http_request_duration_seconds histogram\n"));
  EXPECT_THAT(r.body, HasSubstr("analyzer_rolling_average{metric=\"cpu\"} 3\n"));
  // Unknown paths and methods keep label values bounded.
  ASSERT_EQ(client.request("BREW", "/pot/" + std::string(50, 'x')).status, 404U);
  EXPECT_THAT(client.get("/metrics").body,
              HasSubstr("http_requests_total{method=\"OTHER\",route=\"other\",status=\"404\"} 1"));
}

TEST(HttpApiTest, connections_over_the_limit_get_a_fast_503) {
  auto cfg = test_config();
  cfg.max_connections = 2;
  test_service svc(cfg);
  http_client a(svc.port());
  http_client b(svc.port());
  ASSERT_EQ(a.get("/health").status, 200U);
  ASSERT_EQ(b.get("/health").status, 200U);
  http_client c(svc.port());
  c.send_raw("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto refused = c.read_reply();
  expect_error(refused, 503, "unavailable");
  EXPECT_EQ(refused.header("retry-after"), "1");
  EXPECT_TRUE(c.wait_closed(std::chrono::seconds(5)));
  EXPECT_EQ(a.get("/health").status, 200U);  // existing connections keep being served
  const std::string scrape = a.get("/metrics").body;
  EXPECT_THAT(scrape, HasSubstr("analyzer_http_connections_total{outcome=\"refused\"} 1\n"));
  EXPECT_THAT(scrape, HasSubstr("analyzer_http_connections_total{outcome=\"served\"} 2\n"));
  EXPECT_THAT(scrape, HasSubstr("analyzer_http_open_connections 2\n"));
}

TEST(HttpApiTest, shutdown_closes_idle_connections_and_returns_zero) {
  test_service svc;
  http_client idle(svc.port());
  ASSERT_EQ(idle.get("/health").status, 200U);
  EXPECT_EQ(svc.stop(), 0);
  EXPECT_TRUE(idle.wait_closed(std::chrono::seconds(5)));
  EXPECT_EQ(svc.life.current(), http::phase::draining);
}

TEST(HttpApiTest, shutdown_lets_an_in_flight_request_finish_with_connection_close) {
  test_service svc;
  http_client client(svc.port());
  const std::string body(kSample);
  // 100 Continue proves the server has the head: the request is in flight, not idle.
  client.send_raw(
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  ASSERT_EQ(client.read_reply().status, 100U);
  svc.server().shutdown();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (svc.life.current() != http::phase::draining &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_EQ(svc.life.current(), http::phase::draining);
  EXPECT_THROW(http_client{svc.port()}, std::exception);  // the listener is closed
  client.send_raw(body);
  const auto r = client.read_reply();
  EXPECT_EQ(r.status, 202U);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_EQ(svc.stop(), 0);
  EXPECT_EQ(svc.core->read().seq, 1U);
}

TEST(HttpApiTest, ready_turns_503_during_shutdown_delay_while_other_routes_serve) {
  auto cfg = test_config();
  cfg.shutdown_delay = std::chrono::milliseconds(1500);
  test_service svc(cfg);
  http_client client(svc.port());
  svc.server().shutdown();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  unsigned ready = 200;
  while (ready == 200 && std::chrono::steady_clock::now() < deadline) {
    ready = client.get("/ready").status;
  }
  EXPECT_EQ(ready, 503U);
  EXPECT_EQ(client.post_json("/metrics", kSample).status, 202U);
  EXPECT_EQ(client.get("/health").status, 200U);
  EXPECT_EQ(svc.stop(), 0);
}

// GET /analyze encodes its metrics once per commit seq: a commit must show at once, and a
// second service in the same process (at the same seq) must not get the first's numbers.
TEST(HttpApiTest, analyze_reflects_every_commit_and_never_another_services_numbers) {
  auto cfg = test_config();
  cfg.threads = 1;  // one io thread: one cache, so a stale entry would be served
  const auto post = [](http_client& client, double cpu) {
    return client.post_json("/metrics", R"({"cpu": )" + std::to_string(cpu) + R"(, "rps": 1})")
        .status;
  };
  const auto last_cpu = [](http_client& client) {
    return json::parse(client.get("/analyze").body)["metrics"]["cpu"]["last"];
  };
  {
    test_service svc(cfg);
    http_client client(svc.port());
    ASSERT_EQ(post(client, 5), 202U);
    EXPECT_EQ(last_cpu(client), 5.0);
    ASSERT_EQ(post(client, 11), 202U);
    EXPECT_EQ(last_cpu(client), 11.0) << "a commit after a read must show";
  }
  // A new service reaches the seq the first one was last read at (2), with other numbers.
  test_service svc(cfg);
  http_client client(svc.port());
  ASSERT_EQ(post(client, 5), 202U);
  ASSERT_EQ(post(client, 77), 202U);
  EXPECT_EQ(last_cpu(client), 77.0) << "another service's numbers at the same seq";
}

}  // namespace
}  // namespace analyzer::test
