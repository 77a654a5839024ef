// Analytics core throughput (architecture.md §6): single-thread commits, lock-free versus
// a std::mutex baseline under contention, and the cost of a snapshot read.
#include "analyzer/analytics/analyzer.hpp"
#include "analyzer/analytics/window_stats.hpp"
#include "mutex_analyzer.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

namespace {

// The namespace and the class share a name, so spell the class through an alias.
using lock_free_analyzer = ::analyzer::analytics::analyzer;
using ::analyzer::analytics::detector_config;
using ::analyzer::bench::mutex_analyzer;

struct sample {
  double timestamp;
  double cpu;
  double rps;
};

// A power of two so the benchmark loops index with a mask; varied values keep the
// statistics honest (a constant stream would take the all-equal shortcut).
constexpr std::size_t kSampleCount = 4096;

const std::vector<sample>& samples() {
  static const std::vector<sample> data = [] {
    std::mt19937_64 rng(42);
    std::normal_distribution<double> noise(0.0, 1.0);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<sample> out;
    out.reserve(kSampleCount);
    for (std::size_t i = 0; i < kSampleCount; ++i) {
      const bool spike = u(rng) < 0.02;
      out.push_back({1.7e9 + static_cast<double>(i),
                     std::clamp(40.0 + 3.0 * noise(rng) + (spike ? 40.0 : 0.0), 0.0, 100.0),
                     1000.0 + 50.0 * noise(rng) + (spike ? 500.0 : 0.0)});
    }
    return out;
  }();
  return data;
}

template <typename Analyzer>
void commit_loop(benchmark::State& state, Analyzer& a) {
  const std::vector<sample>& data = samples();
  // Threads start at different offsets so they do not commit identical streams.
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 997;
  for (auto _ : state) {
    const sample& s = data[i++ & (kSampleCount - 1)];
    benchmark::DoNotOptimize(a.commit(s.timestamp, s.cpu, s.rps));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_commit_single(benchmark::State& state) {
  lock_free_analyzer a(detector_config{});
  commit_loop(state, a);
}
BENCHMARK(BM_commit_single);

void BM_commit_single_mutex(benchmark::State& state) {
  mutex_analyzer a(detector_config{});
  commit_loop(state, a);
}
BENCHMARK(BM_commit_single_mutex);

// Shared by the threads of one multi-threaded run; Setup runs before they start.
std::unique_ptr<lock_free_analyzer> g_lock_free;
std::unique_ptr<mutex_analyzer> g_mutex;

void make_lock_free(const benchmark::State& /*state*/) {
  g_lock_free = std::make_unique<lock_free_analyzer>(detector_config{});
}
void drop_lock_free(const benchmark::State& /*state*/) { g_lock_free.reset(); }
void make_mutex(const benchmark::State& /*state*/) {
  g_mutex = std::make_unique<mutex_analyzer>(detector_config{});
}
void drop_mutex(const benchmark::State& /*state*/) { g_mutex.reset(); }

void BM_commit_lock_free(benchmark::State& state) { commit_loop(state, *g_lock_free); }
BENCHMARK(BM_commit_lock_free)
    ->Setup(make_lock_free)
    ->Teardown(drop_lock_free)
    ->Threads(1)
    ->Threads(2)
    ->Threads(4)
    ->UseRealTime();

void BM_commit_mutex(benchmark::State& state) { commit_loop(state, *g_mutex); }
BENCHMARK(BM_commit_mutex)
    ->Setup(make_mutex)
    ->Teardown(drop_mutex)
    ->Threads(1)
    ->Threads(2)
    ->Threads(4)
    ->UseRealTime();

void BM_read(benchmark::State& state) {
  lock_free_analyzer a(detector_config{});
  for (const sample& s : samples()) {
    a.commit(s.timestamp, s.cpu, s.rps);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(a.read());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_read);

void BM_read_mutex(benchmark::State& state) {
  mutex_analyzer a(detector_config{});
  for (const sample& s : samples()) {
    a.commit(s.timestamp, s.cpu, s.rps);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(a.read());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_read_mutex);

// What one commit spends per metric on statistics (W values, three passes).
void BM_compute_window_stats(benchmark::State& state) {
  std::vector<double> window;
  for (std::int64_t i = 0; i < state.range(0); ++i) {
    window.push_back(samples()[static_cast<std::size_t>(i)].cpu);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(::analyzer::analytics::compute_window_stats(window));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_compute_window_stats)->Arg(50)->Arg(4096);

}  // namespace
