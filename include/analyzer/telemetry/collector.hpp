// How a module adds its own metric families to a scrape without knowing the Prometheus
// client: it implements `collector` and writes through a `metric_writer`; telemetry turns
// what was written into the exposition format. The storage backends export their command
// latency and restore counters this way.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace analyzer::telemetry {

enum class metric_type : std::uint8_t { counter, gauge, histogram };

struct label {
  std::string_view name;
  std::string_view value;
};

class metric_writer {
 public:
  // Starts a family; the series written next belong to it until the next family().
  virtual void family(std::string_view name, std::string_view help, metric_type type) = 0;
  // One series of a counter or gauge family.
  virtual void value(std::span<const label> labels, double v) = 0;
  // One series of a histogram family: `cumulative[i]` values were ≤ `upper_bounds[i]`; a
  // +Inf bucket holding `count` values is added after the last bound.
  virtual void histogram(std::span<const label> labels, std::span<const double> upper_bounds,
                         std::span<const std::uint64_t> cumulative, std::uint64_t count,
                         double sum) = 0;

 protected:
  ~metric_writer() = default;
};

class collector {
 public:
  // Called at scrape time, on the scraping thread: reads atomics, never blocks.
  virtual void collect(metric_writer& out) const = 0;

 protected:
  ~collector() = default;
};

}  // namespace analyzer::telemetry
