// Reads /proc/self/stat, /proc/self/status, /proc/self/fd and /proc/stat at scrape time.
#include "analyzer/telemetry/process_collector.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace analyzer::telemetry {
namespace {

struct stat_fields {
  double utime_ticks = 0;
  double stime_ticks = 0;
  double start_ticks = 0;  // since boot
  double vsize_bytes = 0;
};

// /proc/self/stat: the command name (field 2) may hold spaces, so parse after its ')'.
stat_fields read_stat() {
  stat_fields out;
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return out;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return out;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  // Fields from 3 (state) on; utime is 14, stime 15, starttime 22, vsize 23.
  for (int index = 3; rest >> field; ++index) {
    if (index == 14) out.utime_ticks = std::stod(field);
    if (index == 15) out.stime_ticks = std::stod(field);
    if (index == 22) out.start_ticks = std::stod(field);
    if (index == 23) {
      out.vsize_bytes = std::stod(field);
      break;
    }
  }
  return out;
}

double resident_bytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      double kib = 0;
      in >> kib;
      return kib * 1024.0;
    }
    in.ignore(4096, '\n');
  }
  return 0;
}

double open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  double count = 0;
  // readdir is safe here: each call walks its own DIR stream.
  while (const dirent* entry = ::readdir(dir)) {  // NOLINT(concurrency-mt-unsafe)
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;  // the descriptor opendir itself holds
}

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double seconds = 0;
      in >> seconds;
      return seconds;
    }
    in.ignore(1 << 16, '\n');
  }
  return 0;
}

prometheus::MetricFamily single(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(m);
  return f;
}

}  // namespace

process_collector::process_collector() {
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  start_time_seconds_ = boot_time_seconds() + read_stat().start_ticks / ticks;
}

std::vector<prometheus::MetricFamily> process_collector::Collect() const {
  using prometheus::MetricType;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const stat_fields stat = read_stat();
  rlimit limit{};
  const double max_fds =
      ::getrlimit(RLIMIT_NOFILE, &limit) == 0 ? static_cast<double>(limit.rlim_cur) : 0.0;
  return {
      single("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
             MetricType::Counter, (stat.utime_ticks + stat.stime_ticks) / ticks),
      single("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
             resident_bytes()),
      single("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
             stat.vsize_bytes),
      single("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, open_fds()),
      single("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
             max_fds),
      single("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
             MetricType::Gauge, start_time_seconds_),
  };
}

}  // namespace analyzer::telemetry
