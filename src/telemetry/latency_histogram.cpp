#include "analyzer/telemetry/latency_histogram.hpp"

#include <algorithm>

namespace analyzer::telemetry {

void latency_histogram::observe(std::chrono::nanoseconds elapsed) noexcept {
  const std::int64_t ns = std::max<std::int64_t>(elapsed.count(), 0);
  // Bounds are inclusive (Prometheus' `le`): the first bound >= ns.
  const auto* bound = std::lower_bound(kBoundsNs.begin(), kBoundsNs.end(), ns);
  const auto index = static_cast<std::size_t>(bound - kBoundsNs.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
}

latency_histogram::reading latency_histogram::read() const noexcept {
  reading r;
  add_to(r);
  return r;
}

void latency_histogram::add_to(reading& total) const noexcept {
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    total.cumulative[i] += running;
  }
  total.count += running;
  // Nanoseconds add exactly; the division happens once per shard.
  total.sum_seconds += static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
}

bool latency_histogram::empty() const noexcept {
  return std::all_of(buckets_.begin(), buckets_.end(),
                     [](const auto& b) { return b.load(std::memory_order_relaxed) == 0; });
}

}  // namespace analyzer::telemetry
