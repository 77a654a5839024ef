// The per-thread pool of connection buffers (see connection_buffers.hpp).
#include "connection_buffers.hpp"

#include <vector>

namespace analyzer::http {
namespace {

constexpr std::size_t kRequestIdCapacity = 128;

std::vector<std::unique_ptr<connection_buffers>>& pool() noexcept {
  thread_local std::vector<std::unique_ptr<connection_buffers>> sets;
  return sets;
}

// A new body's first capacity: most answers (202, /health, errors) fit.
constexpr std::size_t kFirstBodyCapacity = 256;

std::vector<std::string>& bodies() noexcept {
  thread_local std::vector<std::string> pooled;
  return pooled;
}

void release_if_large(std::string& s) noexcept {
  if (s.capacity() > kPooledBufferCapacity) std::string().swap(s);
  s.clear();
}

}  // namespace

std::unique_ptr<connection_buffers> take_buffers(std::size_t read_limit) {
  auto& sets = pool();
  std::unique_ptr<connection_buffers> out;
  if (sets.empty()) {
    out = std::make_unique<connection_buffers>();
    out->request_id.reserve(kRequestIdCapacity);
  } else {
    out = std::move(sets.back());
    sets.pop_back();
  }
  out->read.max_size(read_limit);
  return out;
}

void give_back(std::unique_ptr<connection_buffers> buffers) {
  if (!buffers) return;
  auto& sets = pool();
  if (sets.size() >= kPooledBuffersPerThread) return;  // freed here
  buffers->read.clear();
  if (buffers->read.capacity() > kPooledBufferCapacity) buffers->read.shrink_to_fit();
  release_if_large(buffers->request.head);
  release_if_large(buffers->request.body);
  release_if_large(buffers->out);
  buffers->request_id.clear();
  if (sets.capacity() == 0) sets.reserve(kPooledBuffersPerThread);  // one allocation, ever
  sets.push_back(std::move(buffers));
}

std::size_t pooled_buffers() noexcept { return pool().size(); }

std::string take_body() {
  auto& pooled = bodies();
  if (pooled.empty()) {
    std::string body;
    body.reserve(kFirstBodyCapacity);
    return body;
  }
  std::string body = std::move(pooled.back());
  pooled.pop_back();
  return body;
}

void give_back_body(std::string&& body) {
  auto& pooled = bodies();
  if (pooled.size() >= kPooledBuffersPerThread || body.capacity() > kPooledBufferCapacity) {
    std::string().swap(body);
    return;
  }
  body.clear();
  if (pooled.capacity() == 0) pooled.reserve(kPooledBuffersPerThread);  // one allocation, ever
  pooled.push_back(std::move(body));
}

}  // namespace analyzer::http
