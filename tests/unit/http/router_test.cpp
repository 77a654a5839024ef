// Unit tests of the router and the route handlers, called directly with http::request
// values (no socket): architecture.md §2 routes, error catalogue and readiness.
#include "analyzer/http/router.hpp"

#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/build_info.hpp"
#include "analyzer/config/config.hpp"
#include "analyzer/http/handlers.hpp"
#include "analyzer/http/lifecycle.hpp"
#include "analyzer/http/service_context.hpp"
#include "analyzer/http/service_metrics.hpp"
#include "analyzer/storage/instance_window_path.hpp"
#include "analyzer/storage/memory_store.hpp"
#include "analyzer/telemetry/text_format.hpp"
#include "support/inline_window_call.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace analyzer::http {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;
using http::method;
using http::route;

config::config test_config() {
  config::config cfg;
  cfg.bind_address = "127.0.0.1";
  cfg.port = 0;
  cfg.threads = 2;
  cfg.instance_id = "test";
  return cfg;
}

// The service wired as in main, without a server.
struct service {
  explicit service(config::config c = test_config(), phase initial = phase::ready)
      : cfg(std::move(c)),
        windows({cfg.window_size, cfg.anomaly_threshold, cfg.warmup}, cfg.threads + 2,
                std::make_unique<storage::memory_store>(cfg.history_size), {}),
        core(&windows.analyzer()),
        metrics(windows),
        life(initial),
        ctx{cfg, windows, metrics, life} {}

  response call(method verb, std::string_view target, std::string_view body = {},
                std::optional<std::string_view> content_type = std::nullopt,
                std::optional<std::string_view> authorization = std::nullopt) {
    request req;
    req.verb = verb;
    req.target = target;
    req.body = body;
    req.content_type = content_type;
    req.authorization = authorization;
    return test::dispatch_inline(ctx, req);
  }
  response post(std::string_view target, std::string_view body,
                std::optional<std::string_view> content_type = kJsonContentType,
                std::optional<std::string_view> authorization = std::nullopt) {
    return call(method::post, target, body, content_type, authorization);
  }
  response get(std::string_view target) { return call(method::get, target); }

  std::string scrape() { return test::scrape_inline(metrics, windows); }

  config::config cfg;
  storage::instance_window_path windows;
  analytics::analyzer* core;
  http::service_metrics metrics;
  lifecycle life;
  service_context ctx;
};

json parse(const response& res) {
  EXPECT_EQ(res.content_type, kJsonContentType);
  return json::parse(res.body);
}

// Checks a catalogue error: status, `error` code and a non-empty message, nothing else.
void expect_error(const response& res, unsigned status, std::string_view code) {
  EXPECT_EQ(res.status, status) << res.body;
  const json body = parse(res);
  ASSERT_TRUE(body.is_object()) << res.body;
  EXPECT_EQ(body.size(), 2U) << res.body;
  EXPECT_EQ(body.value("error", ""), code) << res.body;
  ASSERT_TRUE(body.contains("message")) << res.body;
  ASSERT_TRUE(body["message"].is_string()) << res.body;
  EXPECT_FALSE(body["message"].get<std::string>().empty()) << res.body;
}

constexpr std::string_view kOneSample = R"({"timestamp": 1700000000, "cpu": 42.5, "rps": 1200})";

std::string sample_json(double timestamp, double cpu, double rps) {
  return json{{"timestamp", timestamp}, {"cpu", cpu}, {"rps", rps}}.dump();
}

std::string batch_json(const std::vector<std::string>& samples) {
  std::string body = "[";
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (i > 0) body += ',';
    body += samples[i];
  }
  return body + "]";
}

// `count` quiet samples: cpu alternates 10/11, rps 100/110.
std::string quiet_batch(std::size_t count, double first_timestamp = 1700000000) {
  std::vector<std::string> samples;
  for (std::size_t i = 0; i < count; ++i) {
    samples.push_back(sample_json(first_timestamp + static_cast<double>(i), i % 2 == 0 ? 10 : 11,
                                  i % 2 == 0 ? 100 : 110));
  }
  return batch_json(samples);
}

// `count` samples far from the quiet ones.
std::string loud_batch(std::size_t count, double first_timestamp = 1800000000) {
  std::vector<std::string> samples;
  for (std::size_t i = 0; i < count; ++i) {
    samples.push_back(sample_json(first_timestamp + static_cast<double>(i), 99, 1e6));
  }
  return batch_json(samples);
}

TEST(RouterTest, match_route_knows_the_four_paths) {
  EXPECT_EQ(match_route("/metrics"), route::metrics);
  EXPECT_EQ(match_route("/analyze"), route::analyze);
  EXPECT_EQ(match_route("/health"), route::health);
  EXPECT_EQ(match_route("/ready"), route::ready);
  for (std::string_view path : {"", "/", "/metrics/", "/METRICS", "/healthz", "/ready/x", "metrics",
                                "//health", "/analyze%20"}) {
    EXPECT_EQ(match_route(path), route::other) << path;
  }
}

TEST(RouterTest, match_method_is_exact) {
  EXPECT_EQ(match_method("GET"), method::get);
  EXPECT_EQ(match_method("POST"), method::post);
  EXPECT_EQ(match_method("HEAD"), method::head);
  for (std::string_view name : {"get", "Post", "PUT", "DELETE", "OPTIONS", "", "GETX"}) {
    EXPECT_EQ(match_method(name), method::other) << name;
  }
}

TEST(RouterTest, unknown_path_is_404) {
  service svc;
  for (method verb : {method::get, method::head, method::post, method::other}) {
    for (std::string_view target : {"/", "/nope", "/metrics/", "/nope?analysis=true"}) {
      const response res = svc.call(verb, target, kOneSample);
      expect_error(res, 404, "not_found");
      EXPECT_EQ(res.route, route::other);
      EXPECT_TRUE(res.allow.empty());
    }
  }
  EXPECT_EQ(svc.core->read().seq, 0U);
}

TEST(RouterTest, precheck_answers_unknown_path) {
  service svc;
  request req;
  req.target = "/nope";
  const auto res = precheck(svc.ctx, req);
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->status, 404U);
}

TEST(RouterTest, precheck_lets_valid_requests_through) {
  service svc;
  for (std::string_view target : {"/health", "/ready", "/analyze", "/metrics"}) {
    request req;
    req.verb = method::get;
    req.target = target;
    EXPECT_FALSE(precheck(svc.ctx, req).has_value()) << target;
    req.verb = method::head;
    EXPECT_FALSE(precheck(svc.ctx, req).has_value()) << target;
  }
  request post;
  post.verb = method::post;
  post.target = "/metrics";
  post.content_type = kJsonContentType;
  EXPECT_FALSE(precheck(svc.ctx, post).has_value());
}

TEST(RouterTest, delete_health_is_405_with_allow_get_head) {
  service svc;
  const response res = svc.call(method::other, "/health");
  expect_error(res, 405, "method_not_allowed");
  EXPECT_EQ(res.allow, "GET, HEAD");
  EXPECT_EQ(res.route, route::health);
}

TEST(RouterTest, put_metrics_is_405_with_allow_get_head_post) {
  service svc;
  const response res = svc.call(method::other, "/metrics", kOneSample, kJsonContentType);
  expect_error(res, 405, "method_not_allowed");
  EXPECT_EQ(res.allow, "GET, HEAD, POST");
  EXPECT_EQ(res.route, route::metrics);
  EXPECT_EQ(svc.core->read().seq, 0U);
}

TEST(RouterTest, post_to_read_routes_is_405) {
  service svc;
  for (std::string_view target : {"/health", "/ready", "/analyze"}) {
    const response res = svc.post(target, kOneSample);
    expect_error(res, 405, "method_not_allowed");
    EXPECT_EQ(res.allow, "GET, HEAD") << target;
  }
  EXPECT_EQ(svc.core->read().seq, 0U);
}

TEST(RouterTest, responses_carry_their_route) {
  service svc;
  EXPECT_EQ(svc.get("/health").route, route::health);
  EXPECT_EQ(svc.get("/ready").route, route::ready);
  EXPECT_EQ(svc.get("/analyze").route, route::analyze);
  EXPECT_EQ(svc.get("/metrics").route, route::metrics);
  EXPECT_EQ(svc.post("/metrics", kOneSample).route, route::metrics);
}

TEST(RouterTest, head_is_answered_like_get) {
  service svc;
  for (std::string_view target : {"/health", "/ready", "/analyze", "/metrics"}) {
    const response get = svc.call(method::get, target);
    const response head = svc.call(method::head, target);
    EXPECT_EQ(head.status, get.status) << target;
    EXPECT_EQ(head.content_type, get.content_type) << target;
  }
}

TEST(RouterTest, post_one_sample_is_202) {
  service svc;
  const response res = svc.post("/metrics", kOneSample);
  EXPECT_EQ(res.status, 202U);
  const json body = parse(res);
  EXPECT_EQ(body, (json{{"accepted", 1}, {"anomalies", 0}}));
  // One sample can have at most 2 anomalies: one digit, so no padding is needed.
  EXPECT_EQ(res.body.size(), std::string_view(R"({"accepted":1,"anomalies":0})").size());
  EXPECT_EQ(svc.core->read().seq, 1U);
}

TEST(RouterTest, ingest_body_length_does_not_depend_on_anomaly_count) {
  config::config cfg = test_config();  // W = 50, warmup 50, threshold 2

  service quiet(cfg);
  ASSERT_EQ(quiet.post("/metrics", quiet_batch(50)).status, 202U);
  const response calm = quiet.post("/metrics", quiet_batch(50, 1700001000));
  ASSERT_EQ(calm.status, 202U);
  EXPECT_EQ(parse(calm).value("anomalies", -1), 0);

  service noisy(cfg);
  ASSERT_EQ(noisy.post("/metrics", quiet_batch(50)).status, 202U);
  const response alarm = noisy.post("/metrics", loud_batch(50));
  ASSERT_EQ(alarm.status, 202U);
  const json alarm_body = parse(alarm);
  EXPECT_EQ(alarm_body.value("accepted", -1), 50);
  // 0 and ≥ 10 anomalies differ in digits: only padding keeps the length.
  ASSERT_GE(alarm_body.value("anomalies", -1), 10) << alarm.body;

  EXPECT_EQ(alarm.body.size(), calm.body.size()) << calm.body << " vs " << alarm.body;
}

TEST(RouterTest, single_sample_body_length_is_the_same_with_anomalies) {
  config::config cfg = test_config();
  cfg.window_size = 4;
  cfg.warmup = 2;
  service quiet(cfg);
  service noisy(cfg);
  for (service* svc : {&quiet, &noisy}) {
    ASSERT_EQ(svc->post("/metrics", quiet_batch(4)).status, 202U);
  }
  const response calm = quiet.post("/metrics", sample_json(1700000100, 10.5, 105));
  const response alarm = noisy.post("/metrics", sample_json(1700000100, 99, 1e6));
  ASSERT_EQ(parse(calm).value("anomalies", -1), 0) << calm.body;
  ASSERT_EQ(parse(alarm).value("anomalies", -1), 2) << alarm.body;
  EXPECT_EQ(calm.body.size(), alarm.body.size());
}

TEST(RouterTest, post_batch_commits_every_sample) {
  service svc;
  const response res = svc.post("/metrics", quiet_batch(7));
  EXPECT_EQ(res.status, 202U);
  EXPECT_EQ(parse(res).value("accepted", -1), 7);
  EXPECT_EQ(svc.core->read().seq, 7U);
  EXPECT_EQ(dynamic_cast<storage::memory_store&>(svc.windows.persisted()).recent(100).size(), 7U);
}

TEST(RouterTest, analysis_true_returns_results_matching_an_independent_analyzer) {
  config::config cfg = test_config();
  cfg.window_size = 5;
  cfg.warmup = 3;
  cfg.anomaly_threshold = 1.5;
  service svc(cfg);
  analytics::analyzer reference({cfg.window_size, cfg.anomaly_threshold, cfg.warmup}, 2);

  struct input {
    double timestamp, cpu, rps;
  };
  const std::vector<input> inputs = {
      {1700000000, 10, 100},   {1700000001, 12, 130},    {1700000002.5, 11, 90},
      {1700000003, 13, 120},   {1700000004, 95, 100000}, {1700000005, 12.25, 101},
      {1700000006, 0, 0},      {1700000007, 100, 5000},  {1700000008, 11.1, 123.456},
      {1700000009, 11.1, 0.1},
  };
  std::vector<std::string> samples;
  std::vector<analytics::commit_result> expected;
  std::size_t expected_anomalies = 0;
  for (const auto& in : inputs) {
    samples.push_back(sample_json(in.timestamp, in.cpu, in.rps));
    expected.push_back(reference.commit(in.timestamp, in.cpu, in.rps));
    expected_anomalies += static_cast<std::size_t>(expected.back().anomaly_count());
  }
  ASSERT_GT(expected_anomalies, 0U);  // the data exercises the flag

  const response res = svc.post("/metrics?analysis=true", batch_json(samples));
  ASSERT_EQ(res.status, 202U) << res.body;
  const json body = parse(res);
  EXPECT_EQ(body.value("accepted", -1), static_cast<int>(inputs.size()));
  EXPECT_EQ(body.value("anomalies", std::size_t{0}), expected_anomalies);
  ASSERT_TRUE(body.contains("results"));
  const json& results = body["results"];
  ASSERT_TRUE(results.is_array());
  ASSERT_EQ(results.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const json& r = results[i];
    EXPECT_EQ(r.at("seq").get<std::uint64_t>(), i + 1) << i;
    EXPECT_EQ(r.at("timestamp").get<double>(), inputs[i].timestamp) << i;
    for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
      const std::string name(analytics::kMetricNames[m]);
      const json& got = r.at(name);
      const analytics::metric_result& want = expected[i].metrics[m];
      EXPECT_EQ(got.at("value").get<double>(), want.value) << i << " " << name;
      EXPECT_EQ(got.at("z_score").get<double>(), want.z_score) << i << " " << name;
      EXPECT_EQ(got.at("anomaly").get<bool>(), want.anomaly) << i << " " << name;
    }
  }
}

TEST(RouterTest, analysis_false_has_no_results) {
  service svc;
  for (std::string_view target : {"/metrics?analysis=false", "/metrics", "/metrics?"}) {
    const response res = svc.post(target, quiet_batch(2));
    EXPECT_EQ(res.status, 202U) << target;
    const json body = parse(res);
    EXPECT_FALSE(body.contains("results")) << target;
    EXPECT_EQ(body.value("accepted", -1), 2) << target;
  }
  EXPECT_EQ(svc.core->read().seq, 6U);
}

TEST(RouterTest, invalid_query_is_400_and_commits_nothing) {
  service svc;
  for (std::string_view target :
       {"/metrics?analysis=yes", "/metrics?analysis=true&analysis=false", "/metrics?foo=1",
        "/metrics?analysis", "/metrics?&", "/metrics?analysis=TRUE", "/metrics?analysis=true&",
        "/metrics?analysis=true&foo=1", "/metrics?analysis=1"}) {
    const response res = svc.post(target, kOneSample);
    expect_error(res, 400, "invalid_query");
  }
  EXPECT_EQ(svc.core->read().seq, 0U);
  EXPECT_THAT(svc.scrape(),
              HasSubstr(R"(analyzer_ingest_rejected_total{reason="invalid_query"} 9)"));
}

TEST(RouterTest, get_routes_ignore_query_strings) {
  service svc;
  EXPECT_EQ(svc.get("/analyze?x=1").status, 200U);
  EXPECT_EQ(svc.get("/health?analysis=yes").status, 200U);
  EXPECT_EQ(svc.get("/ready?&").status, 200U);
  const response scrape = svc.get("/metrics?foo=1");
  EXPECT_EQ(scrape.status, 200U);
  EXPECT_EQ(scrape.content_type, telemetry::kTextContentType);
}

TEST(RouterTest, json_content_types_are_accepted) {
  service svc;
  for (std::string_view type :
       {"application/json", "application/json; charset=utf-8", "Application/JSON",
        "application/json;charset=UTF-8", " application/json "}) {
    EXPECT_EQ(svc.post("/metrics", kOneSample, type).status, 202U) << type;
  }
}

TEST(RouterTest, absent_content_type_is_accepted) {
  service svc;
  EXPECT_EQ(svc.post("/metrics", kOneSample, std::nullopt).status, 202U);
}

TEST(RouterTest, other_content_type_is_415) {
  service svc;
  for (std::string_view type : {"text/plain", "application/x-www-form-urlencoded",
                                "application/jsonx", "application/json-patch+json", ""}) {
    expect_error(svc.post("/metrics", kOneSample, type), 415, "unsupported_media_type");
  }
  EXPECT_EQ(svc.core->read().seq, 0U);
}

TEST(RouterTest, ingest_token_is_required_when_set) {
  config::config cfg = test_config();
  cfg.ingest_token = "t0ken";
  service svc(cfg);
  for (std::optional<std::string_view> auth :
       {std::optional<std::string_view>{}, std::optional<std::string_view>{"Bearer wrong"},
        std::optional<std::string_view>{"Basic t0ken"},
        std::optional<std::string_view>{"Bearer t0ke"},
        std::optional<std::string_view>{"Bearer t0ken2"}, std::optional<std::string_view>{"t0ken"},
        std::optional<std::string_view>{"Bearer"}, std::optional<std::string_view>{"Bearer "},
        std::optional<std::string_view>{""}}) {
    const response res = svc.post("/metrics", kOneSample, kJsonContentType, auth);
    expect_error(res, 401, "unauthorized");
    EXPECT_TRUE(res.www_authenticate) << auth.value_or("(none)");
  }
  EXPECT_EQ(svc.core->read().seq, 0U);
}

TEST(RouterTest, bearer_token_is_accepted_with_any_scheme_case) {
  config::config cfg = test_config();
  cfg.ingest_token = "t0ken";
  service svc(cfg);
  for (std::string_view auth : {"Bearer t0ken", "bearer t0ken", "BEARER t0ken"}) {
    const response res = svc.post("/metrics", kOneSample, kJsonContentType, auth);
    EXPECT_EQ(res.status, 202U) << auth;
    EXPECT_FALSE(res.www_authenticate);
  }
  EXPECT_EQ(svc.core->read().seq, 3U);
}

TEST(RouterTest, read_routes_are_open_when_a_token_is_set) {
  config::config cfg = test_config();
  cfg.ingest_token = "t0ken";
  service svc(cfg);
  for (std::string_view target : {"/health", "/ready", "/analyze", "/metrics"}) {
    EXPECT_EQ(svc.get(target).status, 200U) << target;
  }
}

TEST(RouterTest, starting_refuses_ingest_with_retry_after) {
  service svc(test_config(), phase::starting);
  const response res = svc.post("/metrics", kOneSample);
  expect_error(res, 503, "unavailable");
  EXPECT_TRUE(res.retry_after);
  EXPECT_EQ(svc.core->read().seq, 0U);
}

TEST(RouterTest, starting_ready_is_503_and_health_is_200) {
  service svc(test_config(), phase::starting);
  const response ready = svc.get("/ready");
  EXPECT_EQ(ready.status, 503U);
  EXPECT_TRUE(ready.retry_after);
  EXPECT_EQ(parse(ready), (json{{"status", "starting"}}));
  EXPECT_EQ(svc.get("/health").status, 200U);
  EXPECT_EQ(svc.get("/analyze").status, 200U);
}

TEST(RouterTest, ready_phase_ready_is_200) {
  service svc(test_config(), phase::starting);
  svc.life.set(phase::ready);
  const response ready = svc.get("/ready");
  EXPECT_EQ(ready.status, 200U);
  EXPECT_FALSE(ready.retry_after);
  EXPECT_EQ(parse(ready), (json{{"status", "ready"}}));
}

TEST(RouterTest, stopping_ready_is_503_but_ingest_is_served) {
  service svc;
  svc.life.set(phase::stopping);
  const response ready = svc.get("/ready");
  EXPECT_EQ(ready.status, 503U);
  EXPECT_NE(parse(ready).value("status", ""), "ready");
  EXPECT_EQ(svc.get("/health").status, 200U);
  EXPECT_EQ(svc.post("/metrics", kOneSample).status, 202U);
}

TEST(RouterTest, health_body) {
  service svc;
  const response res = svc.get("/health");
  EXPECT_EQ(res.status, 200U);
  const json body = parse(res);
  EXPECT_EQ(body.value("status", ""), "ok");
  EXPECT_EQ(body.value("version", ""), build::kVersion);
  ASSERT_TRUE(body.contains("uptime_seconds"));
  ASSERT_TRUE(body["uptime_seconds"].is_number());
  EXPECT_GE(body["uptime_seconds"].get<double>(), 0.0);
}

TEST(RouterTest, decode_errors_map_to_their_status) {
  config::config cfg = test_config();
  cfg.max_batch = 2;
  service svc(cfg);
  struct error_case {
    std::string body;
    unsigned status;
    std::string_view code;
  };
  const std::vector<error_case> cases = {
      {R"({"cpu": 1, "rps": )", 400, "invalid_json"},
      {"", 400, "invalid_json"},
      {"not json", 400, "invalid_json"},
      {"[]", 400, "invalid_body"},
      {"42", 400, "invalid_body"},
      {R"({"cpu": 1})", 400, "missing_field"},
      {R"({"cpu": "1", "rps": 1})", 400, "invalid_type"},
      {R"({"cpu": 101, "rps": 1})", 400, "out_of_range"},
      {R"({"cpu": 1, "rps": 1e309})", 400, "out_of_range"},
      {R"({"cpu": 1, "cpu": 2, "rps": 1})", 400, "duplicate_key"},
      {quiet_batch(3), 413, "batch_too_large"},
  };
  for (const auto& c : cases) {
    const response res = svc.post("/metrics", c.body);
    expect_error(res, c.status, c.code);
  }
  EXPECT_EQ(svc.core->read().seq, 0U);
  EXPECT_EQ(svc.post("/metrics", quiet_batch(2)).status, 202U);
}

TEST(RouterTest, error_message_echoing_a_key_is_valid_json) {
  service svc;
  const response res =
      svc.post("/metrics", R"({"a\"b\u00e9": 1, "a\"b\u00e9": 2, "cpu": 1, "rps": 1})");
  expect_error(res, 400, "duplicate_key");
  EXPECT_THAT(parse(res).value("message", ""), HasSubstr("a\"b\xc3\xa9"));
}

TEST(RouterTest, rejected_batch_applies_nothing) {
  service svc;
  const response res = svc.post(
      "/metrics", R"([{"cpu": 1, "rps": 1}, {"cpu": 2, "rps": 2}, {"cpu": 300, "rps": 3}])");
  expect_error(res, 400, "out_of_range");
  EXPECT_THAT(parse(res).value("message", ""), HasSubstr("samples[2].cpu"));
  EXPECT_EQ(svc.core->read().seq, 0U);
  EXPECT_TRUE(dynamic_cast<storage::memory_store&>(svc.windows.persisted()).recent(10).empty());
}

TEST(RouterTest, rejected_requests_are_counted_by_reason) {
  service svc;
  expect_error(svc.post("/metrics", kOneSample, "text/plain"), 415, "unsupported_media_type");
  expect_error(svc.post("/metrics", "{"), 400, "invalid_json");
  const std::string text = svc.scrape();
  EXPECT_THAT(text,
              HasSubstr(R"(analyzer_ingest_rejected_total{reason="unsupported_media_type"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(analyzer_ingest_rejected_total{reason="invalid_json"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(analyzer_ingest_rejected_total{reason="out_of_range"} 0)"));
  EXPECT_THAT(text, HasSubstr("analyzer_samples_accepted_total 0"));
}

TEST(RouterTest, unauthorized_and_unavailable_are_counted) {
  config::config cfg = test_config();
  cfg.ingest_token = "t0ken";
  service svc(cfg, phase::starting);
  expect_error(svc.post("/metrics", kOneSample), 503, "unavailable");
  svc.life.set(phase::ready);
  expect_error(svc.post("/metrics", kOneSample), 401, "unauthorized");
  const std::string text = svc.scrape();
  EXPECT_THAT(text, HasSubstr(R"(analyzer_ingest_rejected_total{reason="unavailable"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(analyzer_ingest_rejected_total{reason="unauthorized"} 1)"));
}

TEST(RouterTest, accepted_samples_are_counted) {
  service svc;
  ASSERT_EQ(svc.post("/metrics", quiet_batch(3)).status, 202U);
  ASSERT_EQ(svc.post("/metrics", kOneSample).status, 202U);
  EXPECT_THAT(svc.scrape(), HasSubstr("analyzer_samples_accepted_total 4\n"));
}

TEST(RouterTest, anomalies_are_counted_by_metric) {
  config::config cfg = test_config();
  cfg.window_size = 4;
  cfg.warmup = 2;
  service svc(cfg);
  ASSERT_EQ(svc.post("/metrics", quiet_batch(4)).status, 202U);
  const response res = svc.post("/metrics", sample_json(1700000100, 99, 1e6));
  ASSERT_EQ(parse(res).value("anomalies", -1), 2);
  const std::string text = svc.scrape();
  EXPECT_THAT(text, HasSubstr(R"(analyzer_anomalies_total{metric="cpu"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(analyzer_anomalies_total{metric="rps"} 1)"));
}

TEST(RouterTest, metrics_scrape_is_prometheus_text) {
  service svc;
  ASSERT_EQ(svc.post("/metrics", kOneSample).status, 202U);
  const response res = svc.get("/metrics");
  EXPECT_EQ(res.status, 200U);
  EXPECT_EQ(res.content_type, telemetry::kTextContentType);
  EXPECT_THAT(res.body, HasSubstr("# TYPE analyzer_samples_accepted_total counter"));
  EXPECT_THAT(res.body, HasSubstr("analyzer_samples_accepted_total 1"));
}

std::set<std::string> keys_of(const json& object) {
  std::set<std::string> keys;
  for (const auto& item : object.items()) keys.insert(item.key());
  return keys;
}

const std::set<std::string> kAnalyzeKeys = {"timestamp",     "window_size", "threshold", "warmup",
                                            "samples_total", "metrics",     "storage"};
const std::set<std::string> kMetricKeys = {
    "data_points", "rolling_average", "std_dev",         "min",         "max", "last",
    "z_score",     "anomaly",         "anomalies_total", "last_anomaly"};
const std::set<std::string> kStorageKeys = {"backend", "connected", "pending_writes",
                                            "failed_writes", "dropped_writes"};

TEST(RouterTest, analyze_of_an_empty_service) {
  service svc;
  const double before = unix_now();
  const response res = svc.get("/analyze");
  const double after = unix_now();
  EXPECT_EQ(res.status, 200U);
  const json body = parse(res);
  EXPECT_EQ(keys_of(body), kAnalyzeKeys);
  EXPECT_GE(body.at("timestamp").get<double>(), before);
  EXPECT_LE(body.at("timestamp").get<double>(), after);
  EXPECT_EQ(body.at("window_size"), 50);
  EXPECT_EQ(body.at("threshold"), 2.0);
  EXPECT_EQ(body.at("warmup"), 50);
  EXPECT_EQ(body.at("samples_total"), 0);
  EXPECT_EQ(keys_of(body.at("metrics")), (std::set<std::string>{"cpu", "rps"}));
  for (const char* name : {"cpu", "rps"}) {
    const json& m = body.at("metrics").at(name);
    EXPECT_EQ(keys_of(m), kMetricKeys) << name;
    EXPECT_EQ(m.at("data_points"), 0) << name;
    for (const char* key : {"rolling_average", "std_dev", "min", "max", "last", "z_score",
                            "anomaly", "last_anomaly"}) {
      EXPECT_TRUE(m.at(key).is_null()) << name << "." << key << " = " << m.at(key);
    }
    EXPECT_EQ(m.at("anomalies_total"), 0) << name;
  }
  const json& storage = body.at("storage");
  EXPECT_EQ(keys_of(storage), kStorageKeys);
  EXPECT_EQ(storage.at("backend"), "memory");
  EXPECT_EQ(storage.at("connected"), true);
  EXPECT_EQ(storage.at("pending_writes"), 0);
  EXPECT_EQ(storage.at("failed_writes"), 0);
  EXPECT_EQ(storage.at("dropped_writes"), 0);
}

TEST(RouterTest, analyze_reports_the_committed_state) {
  config::config cfg = test_config();
  cfg.window_size = 4;
  cfg.warmup = 2;
  cfg.anomaly_threshold = 1.5;
  service svc(cfg);
  analytics::analyzer reference({cfg.window_size, cfg.anomaly_threshold, cfg.warmup}, 2);
  const std::vector<std::array<double, 3>> inputs = {{1700000000, 10, 100}, {1700000001, 11, 110},
                                                     {1700000002, 10, 100}, {1700000003, 11, 110},
                                                     {1700000004, 90, 105}, {1700000005, 12, 108}};
  std::vector<std::string> samples;
  for (const auto& in : inputs) {
    samples.push_back(sample_json(in[0], in[1], in[2]));
    (void)reference.commit(in[0], in[1], in[2]);
  }
  ASSERT_EQ(svc.post("/metrics", batch_json(samples)).status, 202U);
  const analytics::snapshot want = reference.read();
  ASSERT_TRUE(want.of(analytics::metric::cpu).last_anomaly.has_value());

  const json body = parse(svc.get("/analyze"));
  EXPECT_EQ(keys_of(body), kAnalyzeKeys);
  EXPECT_EQ(body.at("window_size"), 4);
  EXPECT_EQ(body.at("threshold"), 1.5);
  EXPECT_EQ(body.at("warmup"), 2);
  EXPECT_EQ(body.at("samples_total"), inputs.size());
  for (std::size_t i = 0; i < analytics::kMetricCount; ++i) {
    const std::string name(analytics::kMetricNames[i]);
    const json& m = body.at("metrics").at(name);
    const analytics::metric_snapshot& w = want.metrics[i];
    EXPECT_EQ(keys_of(m), kMetricKeys) << name;
    EXPECT_EQ(m.at("data_points"), 4) << name;
    EXPECT_EQ(m.at("rolling_average").get<double>(), w.window.mean) << name;
    EXPECT_EQ(m.at("std_dev").get<double>(), w.window.std_dev) << name;
    EXPECT_EQ(m.at("min").get<double>(), w.window.min) << name;
    EXPECT_EQ(m.at("max").get<double>(), w.window.max) << name;
    ASSERT_TRUE(w.last.has_value());
    EXPECT_EQ(m.at("last").get<double>(), w.last->value) << name;
    EXPECT_EQ(m.at("last").get<double>(), inputs.back()[i + 1]) << name;
    EXPECT_EQ(m.at("z_score").get<double>(), w.last->z_score) << name;
    EXPECT_EQ(m.at("anomaly").get<bool>(), w.last->anomaly) << name;
    EXPECT_EQ(m.at("anomalies_total").get<std::uint64_t>(), w.anomalies_total) << name;
    if (w.last_anomaly) {
      const json& a = m.at("last_anomaly");
      EXPECT_EQ(keys_of(a), (std::set<std::string>{"timestamp", "value", "z_score"}));
      EXPECT_EQ(a.at("timestamp").get<double>(), w.last_anomaly->timestamp) << name;
      EXPECT_EQ(a.at("value").get<double>(), w.last_anomaly->value) << name;
      EXPECT_EQ(a.at("z_score").get<double>(), w.last_anomaly->z_score) << name;
    } else {
      EXPECT_TRUE(m.at("last_anomaly").is_null()) << name;
    }
  }
  // cpu: 90 against {10, 11, 10, 11} is an anomaly, recorded with its timestamp.
  EXPECT_EQ(body.at("metrics").at("cpu").at("last_anomaly").at("timestamp"), 1700000004);
  EXPECT_EQ(body.at("metrics").at("cpu").at("last_anomaly").at("value"), 90);
  EXPECT_EQ(body.at("storage").at("backend"), "memory");
  EXPECT_EQ(body.at("storage").at("connected"), true);
  EXPECT_EQ(body.at("storage").at("pending_writes"), 0);
}

TEST(RouterTest, error_response_has_the_catalogue_body) {
  const response res = error_response(413, api::error_code::body_too_large, "over 1048576 bytes");
  EXPECT_EQ(res.status, 413U);
  EXPECT_EQ(res.content_type, kJsonContentType);
  EXPECT_EQ(json::parse(res.body),
            (json{{"error", "body_too_large"}, {"message", "over 1048576 bytes"}}));
}

TEST(RouterTest, request_path_and_query) {
  request req;
  req.target = "/metrics?analysis=true";
  EXPECT_EQ(req.path(), "/metrics");
  ASSERT_TRUE(req.query().has_value());
  EXPECT_EQ(*req.query(), "analysis=true");
  req.target = "/metrics";
  EXPECT_EQ(req.path(), "/metrics");
  EXPECT_FALSE(req.query().has_value());
  req.target = "/metrics?";
  ASSERT_TRUE(req.query().has_value());
  EXPECT_EQ(*req.query(), "");
}

// GET /analyze's metrics object is cached per thread and commit seq: two services read
// on one thread at the same seq must each get their own numbers.
TEST(RouterTest, analyze_never_answers_with_another_services_numbers_at_the_same_seq) {
  service first;
  ASSERT_EQ(first.post("/metrics", sample_json(1700000000, 5, 100)).status, 202U);
  EXPECT_EQ(parse(first.get("/analyze"))["metrics"]["cpu"]["last"], 5.0);
  service second;
  ASSERT_EQ(second.post("/metrics", sample_json(1700000000, 9, 100)).status, 202U);
  EXPECT_EQ(parse(second.get("/analyze"))["metrics"]["cpu"]["last"], 9.0);
  EXPECT_EQ(parse(first.get("/analyze"))["metrics"]["cpu"]["last"], 5.0);
}

}  // namespace
}  // namespace analyzer::http
