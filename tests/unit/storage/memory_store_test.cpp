// Unit tests of the in-memory store: newest-first recent records, capacity, status, and
// concurrent appends from several threads.
#include "analyzer/storage/memory_store.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace analyzer::storage {
namespace {

// Every field of the record is a function of seq, so a read-back can be checked.
analytics::commit_result record_for(std::uint64_t seq) {
  analytics::commit_result r;
  r.seq = seq;
  const auto s = static_cast<double>(seq);
  r.timestamp = 1700000000.0 + s * 0.5;
  r.metrics[0] = {s / 1000.0, s * -0.25, seq % 3 == 0};
  r.metrics[1] = {s * 10.0 + 0.125, s / 7.0, seq % 5 == 0};
  return r;
}

void expect_record(const analytics::commit_result& got, std::uint64_t seq) {
  const analytics::commit_result want = record_for(seq);
  EXPECT_EQ(got.seq, want.seq);
  EXPECT_EQ(got.timestamp, want.timestamp) << seq;
  for (std::size_t m = 0; m < analytics::kMetricCount; ++m) {
    EXPECT_EQ(got.metrics[m].value, want.metrics[m].value) << seq << " metric " << m;
    EXPECT_EQ(got.metrics[m].z_score, want.metrics[m].z_score) << seq << " metric " << m;
    EXPECT_EQ(got.metrics[m].anomaly, want.metrics[m].anomaly) << seq << " metric " << m;
  }
}

TEST(MemoryStoreTest, empty_store_has_nothing_recent) {
  memory_store store(8);
  EXPECT_TRUE(store.recent(8).empty());
  EXPECT_TRUE(store.recent(0).empty());
}

TEST(MemoryStoreTest, recent_is_newest_first) {
  memory_store store(8);
  for (std::uint64_t seq = 1; seq <= 5; ++seq) store.append(record_for(seq));
  const auto recent = store.recent(10);
  ASSERT_EQ(recent.size(), 5U);
  for (std::size_t i = 0; i < recent.size(); ++i) expect_record(recent[i], 5 - i);
}

TEST(MemoryStoreTest, recent_respects_the_limit) {
  memory_store store(8);
  for (std::uint64_t seq = 1; seq <= 5; ++seq) store.append(record_for(seq));
  const auto recent = store.recent(2);
  ASSERT_EQ(recent.size(), 2U);
  expect_record(recent[0], 5);
  expect_record(recent[1], 4);
  EXPECT_TRUE(store.recent(0).empty());
}

TEST(MemoryStoreTest, recent_is_capped_at_capacity) {
  memory_store store(4);
  EXPECT_EQ(store.capacity(), 4U);
  for (std::uint64_t seq = 1; seq <= 11; ++seq) store.append(record_for(seq));
  const auto recent = store.recent(100);
  ASSERT_EQ(recent.size(), 4U);
  for (std::size_t i = 0; i < recent.size(); ++i) expect_record(recent[i], 11 - i);
}

TEST(MemoryStoreTest, appends_slightly_out_of_order_are_all_kept) {
  memory_store store(8);
  for (std::uint64_t seq : {2, 1, 4, 3, 5}) store.append(record_for(seq));
  const auto recent = store.recent(8);
  ASSERT_EQ(recent.size(), 5U);
  for (std::size_t i = 0; i < recent.size(); ++i) expect_record(recent[i], 5 - i);
}

TEST(MemoryStoreTest, status_is_memory_connected_and_empty_queue) {
  memory_store store(8);
  store.append(record_for(1));
  const store_status st = store.status();
  EXPECT_EQ(st.backend, "memory");
  EXPECT_TRUE(st.connected);
  EXPECT_EQ(st.pending_writes, 0U);
  EXPECT_EQ(st.failed_writes, 0U);
  EXPECT_EQ(st.dropped_writes, 0U);
}

TEST(MemoryStoreTest, flush_has_nothing_to_wait_for) {
  memory_store store(8);
  store.append(record_for(1));
  EXPECT_TRUE(store.flush(std::chrono::milliseconds{0}));
  EXPECT_EQ(store.recent(8).size(), 1U);
}

TEST(MemoryStoreTest, concurrent_appends_keep_the_newest_records) {
  constexpr std::uint64_t kThreads = 4;
  constexpr std::uint64_t kPerThread = 10000;
  constexpr std::uint64_t kTotal = kThreads * kPerThread;
  // A multiple of kThreads: each ring slot is only ever written by one thread, in
  // increasing seq order, so the final content does not depend on scheduling.
  constexpr std::size_t kCapacity = 1000;
  memory_store store(kCapacity);

  std::vector<std::thread> writers;
  for (std::uint64_t t = 0; t < kThreads; ++t) {
    writers.emplace_back([&store, t] {
      for (std::uint64_t seq = t + 1; seq <= kTotal; seq += kThreads) store.append(record_for(seq));
    });
  }
  for (auto& w : writers) w.join();

  const auto recent = store.recent(kCapacity);
  ASSERT_EQ(recent.size(), kCapacity);
  for (std::size_t i = 0; i < recent.size(); ++i) {
    ASSERT_EQ(recent[i].seq, kTotal - i) << "position " << i;
    expect_record(recent[i], kTotal - i);
  }
}

TEST(MemoryStoreTest, reads_during_concurrent_appends_are_untorn) {
  constexpr std::uint64_t kThreads = 4;
  constexpr std::uint64_t kTotal = 4 * 10000;
  constexpr std::size_t kCapacity = 64;
  memory_store store(kCapacity);

  std::vector<std::thread> writers;
  for (std::uint64_t t = 0; t < kThreads; ++t) {
    writers.emplace_back([&store, t] {
      for (std::uint64_t seq = t + 1; seq <= kTotal; seq += kThreads) store.append(record_for(seq));
    });
  }
  // Whatever a read returns while writers run is a whole record, newest first.
  std::size_t reads = 0;
  while (reads < 2000) {
    const auto recent = store.recent(kCapacity);
    ++reads;
    for (std::size_t i = 0; i < recent.size(); ++i) {
      expect_record(recent[i], recent[i].seq);
      if (i > 0) {
        ASSERT_LT(recent[i].seq, recent[i - 1].seq);
      }
    }
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(store.recent(kCapacity).size(), kCapacity);
  EXPECT_EQ(store.recent(kCapacity).front().seq, kTotal);
}

}  // namespace
}  // namespace analyzer::storage
