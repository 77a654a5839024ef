// Fixed-size blocks for long-lived per-connection objects (the sessions), carved from
// chunks mapped from the system apart from the malloc heap, and returned to the system
// when a chunk empties. A session lives as long as its connection; allocated from the heap
// between short-lived buffers and Asio's per-descriptor state (which Asio keeps for
// reuse), 10 000 sessions left the heap's pages pinned after every connection closed.
// Private to the http module.
#pragma once

#include <cstddef>
#include <mutex>
#include <new>

namespace analyzer::http {

class block_arena {
 public:
  // Blocks of `block_size` bytes (rounded up to 64), aligned to 64.
  explicit block_arena(std::size_t block_size) noexcept;
  ~block_arena();
  block_arena(const block_arena&) = delete;
  block_arena& operator=(const block_arena&) = delete;

  [[nodiscard]] std::size_t block_size() const noexcept { return block_size_; }
  // A block; throws std::bad_alloc when the system has no memory to map.
  [[nodiscard]] void* allocate();
  void deallocate(void* block) noexcept;

  // Chunks mapped now (for tests).
  [[nodiscard]] std::size_t chunks() const;

  // Bytes of one chunk (a power of two: a block finds its chunk by masking its address).
  static constexpr std::size_t kChunkBytes = std::size_t{256} * 1024;

 private:
  struct chunk;
  void unlink(chunk* c) noexcept;

  std::size_t block_size_;
  mutable std::mutex mutex_;  // sessions are made on the accept thread, freed on any
  chunk* partial_ = nullptr;  // chunks with a free block
  std::size_t chunks_ = 0;
};

// The allocator std::allocate_shared needs, over a block_arena: an object (with its
// control block) that fits a block takes one; anything else comes from operator new.
template <class T>
class arena_allocator {
 public:
  using value_type = T;
  explicit arena_allocator(block_arena& arena) noexcept : arena_(&arena) {}
  template <class U>
  arena_allocator(const arena_allocator<U>& other) noexcept  // NOLINT: rebinding converts
      : arena_(other.arena()) {}

  [[nodiscard]] T* allocate(std::size_t n) {
    if (n * sizeof(T) <= arena_->block_size() && alignof(T) <= 64) {
      return static_cast<T*>(arena_->allocate());
    }
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n * sizeof(T) <= arena_->block_size() && alignof(T) <= 64) {
      arena_->deallocate(p);
    } else {
      ::operator delete(p);
    }
  }
  [[nodiscard]] block_arena* arena() const noexcept { return arena_; }
  template <class U>
  bool operator==(const arena_allocator<U>& other) const noexcept {
    return arena_ == other.arena();
  }

 private:
  block_arena* arena_;
};

}  // namespace analyzer::http
