// The block arena (see block_arena.hpp).
#include "block_arena.hpp"

#include <sys/mman.h>

#include <cstdint>

namespace analyzer::http {

// At the start of every chunk; the blocks follow it.
struct block_arena::chunk {
  void* free = nullptr;  // the chunk's free blocks, linked through their first word
  std::size_t live = 0;
  chunk* prev = nullptr;  // in partial_, when the chunk has a free block
  chunk* next = nullptr;
  bool listed = false;
};

namespace {

constexpr std::size_t kAlign = 64;

std::size_t round_up(std::size_t n, std::size_t to) noexcept { return (n + to - 1) / to * to; }

// kChunkBytes of memory aligned to kChunkBytes: map twice as much, unmap the excess.
void* map_aligned_chunk() {
  const std::size_t size = block_arena::kChunkBytes;
  void* raw = ::mmap(nullptr, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  auto* const base = static_cast<char*>(raw);
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::size_t head = round_up(start, size) - start;  // bytes before the aligned chunk
  if (head > 0) ::munmap(base, head);
  const std::size_t tail = size - head;  // bytes after it
  if (tail > 0) ::munmap(base + head + size, tail);
  return base + head;
}

}  // namespace

block_arena::block_arena(std::size_t block_size) noexcept
    : block_size_(round_up(block_size < sizeof(void*) ? sizeof(void*) : block_size, kAlign)) {}

block_arena::~block_arena() {
  // Chunks with live blocks are left mapped: their objects may outlive the arena's owner.
  while (partial_ != nullptr) {
    chunk* c = partial_;
    unlink(c);
    if (c->live == 0) ::munmap(c, kChunkBytes);
  }
}

void block_arena::unlink(chunk* c) noexcept {
  if (c->prev != nullptr) c->prev->next = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  if (partial_ == c) partial_ = c->next;
  c->prev = c->next = nullptr;
  c->listed = false;
}

void* block_arena::allocate() {
  std::lock_guard lock(mutex_);
  if (partial_ == nullptr) {
    auto* c = new (map_aligned_chunk()) chunk{};
    auto* base = reinterpret_cast<char*>(c);
    for (std::size_t at = round_up(sizeof(chunk), kAlign); at + block_size_ <= kChunkBytes;
         at += block_size_) {
      void* block = base + at;
      *static_cast<void**>(block) = c->free;
      c->free = block;
    }
    c->listed = true;
    partial_ = c;
    ++chunks_;
  }
  chunk* c = partial_;
  void* block = c->free;
  c->free = *static_cast<void**>(block);
  ++c->live;
  if (c->free == nullptr) unlink(c);
  return block;
}

void block_arena::deallocate(void* block) noexcept {
  if (block == nullptr) return;
  auto* const at = static_cast<char*>(block);
  const std::size_t offset = reinterpret_cast<std::uintptr_t>(block) & (kChunkBytes - 1);
  auto* c = reinterpret_cast<chunk*>(at - offset);
  std::lock_guard lock(mutex_);
  *static_cast<void**>(block) = c->free;
  c->free = block;
  --c->live;
  if (!c->listed) {
    c->next = partial_;
    if (partial_ != nullptr) partial_->prev = c;
    partial_ = c;
    c->listed = true;
  }
  // An empty chunk goes back to the system, unless it is the only one with room.
  if (c->live == 0 && (c->prev != nullptr || c->next != nullptr)) {
    unlink(c);
    c->~chunk();
    ::munmap(c, kChunkBytes);
    --chunks_;
  }
}

std::size_t block_arena::chunks() const {
  std::lock_guard lock(mutex_);
  return chunks_;
}

}  // namespace analyzer::http
