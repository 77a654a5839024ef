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

}  // namespace analyzer::http
