// Counts the heap allocations the service makes per request in steady state on the routes
// of the performance goals: POST /metrics (one sample), GET /analyze and GET /health, over
// a keep-alive connection to the in-process service (THREADS=1, in-memory store).
//
// Every global operator new of the process is counted. The client half of this program
// uses a socket and buffers set up before counting starts, so what is counted is the
// server's. Each route is warmed up first (buffers, pools and caches reach their size),
// then measured over kMeasured requests.
//
// Prints a Markdown table (allocations and bytes per request) and exits 1 when a route
// allocates, 2 when a request fails. Usage: request_allocations [REPORT_FILE]
#include "support/blocking_client.hpp"
#include "support/test_service.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string_view>

namespace {

std::atomic<std::uint64_t> allocations{0};
std::atomic<std::uint64_t> allocated_bytes{0};

void* counted(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  allocated_bytes.fetch_add(n, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}

void* counted_aligned(std::size_t n, std::align_val_t align) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  allocated_bytes.fetch_add(n, std::memory_order_relaxed);
  const auto a = static_cast<std::size_t>(align);
  return std::aligned_alloc(a, (n + a - 1) / a * a);
}

}  // namespace

// The replaceable global allocation functions, counting.
void* operator new(std::size_t n) {
  if (void* p = counted(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = counted_aligned(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = counted_aligned(n, a)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

constexpr int kWarmUp = 2000;
constexpr int kMeasured = 20000;

constexpr std::string_view kPost =
    "POST /metrics HTTP/1.1\r\nHost: bench\r\nUser-Agent: request_allocations\r\n"
    "Content-Type: application/json\r\nContent-Length: 20\r\n\r\n"
    R"({"cpu":42,"rps":420})";
constexpr std::string_view kAnalyze =
    "GET /analyze HTTP/1.1\r\nHost: bench\r\nUser-Agent: request_allocations\r\n"
    "Accept: */*\r\n\r\n";
constexpr std::string_view kHealth =
    "GET /health HTTP/1.1\r\nHost: bench\r\nUser-Agent: request_allocations\r\n"
    "Accept: */*\r\n\r\n";

struct route_case {
  const char* name;
  std::string_view request;
  unsigned status;
};

}  // namespace

int main(int argc, char** argv) {
  analyzer::config::config cfg = analyzer::test::test_config();
  cfg.threads = 1;
  analyzer::test::test_service svc(cfg);
  analyzer::test::blocking_client c(svc.port());

  const route_case routes[] = {
      {"POST /metrics (1 sample)", kPost, 202},
      {"GET /analyze", kAnalyze, 200},
      {"GET /health", kHealth, 200},
  };
  char report[2048];
  int used = std::snprintf(report, sizeof report,
                           "| route | requests | allocations/request | bytes/request |\n"
                           "|---|---:|---:|---:|\n");
  bool allocating = false;
  for (const auto& r : routes) {
    for (int i = 0; i < kWarmUp; ++i) {
      if (c.exchange(r.request) != r.status) {
        std::fprintf(stderr, "request_allocations: %s did not answer %u\n", r.name, r.status);
        return 2;
      }
    }
    const std::uint64_t count_before = allocations.load();
    const std::uint64_t bytes_before = allocated_bytes.load();
    for (int i = 0; i < kMeasured; ++i) {
      if (c.exchange(r.request) != r.status) {
        std::fprintf(stderr, "request_allocations: %s did not answer %u\n", r.name, r.status);
        return 2;
      }
    }
    const double per_request = static_cast<double>(allocations.load() - count_before) / kMeasured;
    const double bytes_per_request =
        static_cast<double>(allocated_bytes.load() - bytes_before) / kMeasured;
    allocating = allocating || per_request > 0;
    used += std::snprintf(report + used, sizeof report - static_cast<std::size_t>(used),
                          "| %s | %d | %.3f | %.1f |\n", r.name, kMeasured, per_request,
                          bytes_per_request);
  }
  std::fputs(report, stdout);
  if (argc > 1) {
    if (FILE* out = std::fopen(argv[1], "w")) {
      std::fputs(report, out);
      std::fclose(out);
    }
  }
  if (allocating) std::fputs("request_allocations: FAIL: a route allocates per request\n", stderr);
  return allocating ? 1 : 0;
}
