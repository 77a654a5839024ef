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
#include "support/test_service.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

// A blocking keep-alive client that allocates nothing per request.
class client {
 public:
  explicit client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) fd_ = -1;
  }
  ~client() {
    if (fd_ >= 0) ::close(fd_);
  }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Sends the request and reads its whole response; returns its status, 0 on failure.
  unsigned exchange(std::string_view request) {
    if (fd_ < 0 || ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
                       static_cast<ssize_t>(request.size())) {
      return 0;
    }
    std::size_t have = 0;
    std::size_t head_end = 0;
    std::size_t total = 0;
    while (total == 0 || have < total) {
      const ssize_t n = ::recv(fd_, buffer_ + have, sizeof buffer_ - have, 0);
      if (n <= 0) return 0;
      have += static_cast<std::size_t>(n);
      if (total != 0) continue;
      const std::string_view text(buffer_, have);
      head_end = text.find("\r\n\r\n");
      if (head_end == std::string_view::npos) continue;
      const auto at = text.find("Content-Length: ");
      if (at == std::string_view::npos || at > head_end) return 0;
      total = head_end + 4 + std::strtoul(buffer_ + at + 16, nullptr, 10);
    }
    if (have != total || have < 12) return 0;  // one response at a time, nothing after it
    return static_cast<unsigned>(std::strtoul(buffer_ + 9, nullptr, 10));
  }

 private:
  int fd_ = -1;
  char buffer_[1 << 16]{};
};

}  // namespace

int main(int argc, char** argv) {
  analyzer::config::config cfg = analyzer::test::test_config();
  cfg.threads = 1;
  analyzer::test::test_service svc(cfg);
  client c(svc.port());

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
