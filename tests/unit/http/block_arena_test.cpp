// The block arena behind the sessions: distinct aligned blocks, reuse of freed ones, and
// chunks handed back to the system once empty (all but one).
#include "http/block_arena.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <set>
#include <vector>

namespace analyzer::http {
namespace {

TEST(BlockArenaTest, blocks_are_distinct_aligned_and_rounded_up) {
  block_arena arena(100);
  EXPECT_EQ(arena.block_size(), 128U);
  std::set<void*> seen;
  for (int i = 0; i < 100; ++i) {
    void* p = arena.allocate();
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 64, 0U);
    EXPECT_TRUE(seen.insert(p).second) << "block handed out twice";
  }
  for (void* p : seen) arena.deallocate(p);
}

TEST(BlockArenaTest, a_freed_block_is_reused) {
  block_arena arena(256);
  void* first = arena.allocate();
  arena.deallocate(first);
  EXPECT_EQ(arena.allocate(), first);
  arena.deallocate(first);
}

TEST(BlockArenaTest, empty_chunks_go_back_to_the_system_but_one) {
  block_arena arena(1024);
  const std::size_t per_chunk = block_arena::kChunkBytes / 1024;
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < per_chunk * 5; ++i) blocks.push_back(arena.allocate());
  EXPECT_GE(arena.chunks(), 5U);
  for (void* p : blocks) arena.deallocate(p);
  EXPECT_EQ(arena.chunks(), 1U);
  // What is left still serves.
  void* again = arena.allocate();
  EXPECT_NE(again, nullptr);
  arena.deallocate(again);
}

TEST(BlockArenaTest, shared_objects_made_through_the_allocator_live_in_the_arena) {
  block_arena arena(256);
  {
    auto a = std::allocate_shared<std::uint64_t>(arena_allocator<std::uint64_t>(arena), 7U);
    auto b = std::allocate_shared<std::uint64_t>(arena_allocator<std::uint64_t>(arena), 8U);
    EXPECT_EQ(*a + *b, 15U);
    EXPECT_EQ(arena.chunks(), 1U);
  }
  // Both blocks are free again: the next two allocations reuse them.
  void* x = arena.allocate();
  void* y = arena.allocate();
  EXPECT_NE(x, y);
  arena.deallocate(x);
  arena.deallocate(y);
}

}  // namespace
}  // namespace analyzer::http
