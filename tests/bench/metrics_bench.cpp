// Cost of the request-path metrics (issue 4: "no per-request map lookups or mutexes"):
// what one POST /metrics records (request latency + accepted samples), against the same
// two updates through prometheus-cpp's Counter and Histogram (a mutex per Observe), and
// the cost of a full scrape of /metrics.
#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/http/service_metrics.hpp"
#include "analyzer/storage/instance_window_path.hpp"
#include "analyzer/storage/memory_store.hpp"
#include "support/inline_window_call.hpp"

#include <benchmark/benchmark.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>

namespace {

namespace http = ::analyzer::http;

struct service_fixture {
  ::analyzer::storage::instance_window_path windows{
      ::analyzer::analytics::detector_config{},
      8,
      std::make_unique<::analyzer::storage::memory_store>(1000),
      {}};
  ::analyzer::analytics::analyzer& core = windows.analyzer();
  http::service_metrics metrics{windows};
};

service_fixture& shared_service() {
  static service_fixture f;
  return f;
}

void BM_record_post_request(benchmark::State& state) {
  auto& metrics = shared_service().metrics;
  std::chrono::nanoseconds elapsed{state.thread_index() * 1000 + 700};
  for (auto _ : state) {
    metrics.record_accepted(1, 0, 0);
    metrics.record_request(http::route::metrics, http::method::post, 202, elapsed);
    elapsed += std::chrono::nanoseconds(13);
  }
}
BENCHMARK(BM_record_post_request)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

struct prometheus_cpp_fixture {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Counter& accepted =
      prometheus::BuildCounter().Name("accepted_total").Register(*registry).Add({});
  prometheus::Histogram& latency =
      prometheus::BuildHistogram()
          .Name("latency_seconds")
          .Register(*registry)
          .Add({{"route", "/metrics"}}, prometheus::Histogram::BucketBoundaries{
                                            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                            0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
};

void BM_record_post_request_prometheus_cpp(benchmark::State& state) {
  static prometheus_cpp_fixture f;
  double seconds = static_cast<double>(state.thread_index()) * 1e-6 + 7e-7;
  for (auto _ : state) {
    f.accepted.Increment();
    f.latency.Observe(seconds);
    seconds += 1.3e-8;
  }
}
BENCHMARK(BM_record_post_request_prometheus_cpp)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

void BM_scrape(benchmark::State& state) {
  service_fixture f;
  for (int i = 0; i < 60; ++i) (void)f.core.commit(i, 40.0 + i % 7, 1000.0 + i % 11);
  for (auto r :
       {http::route::health, http::route::ready, http::route::analyze, http::route::metrics}) {
    f.metrics.record_request(r, http::method::get, 200, std::chrono::microseconds(300));
  }
  std::string out;
  for (auto _ : state) {
    out = ::analyzer::test::scrape_inline(f.metrics, f.windows);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_scrape);

}  // namespace
