// Wait-free ring of recent commits for the in-memory store.
#include "analyzer/storage/memory_store.hpp"

#include <algorithm>
#include <bit>

namespace analyzer::storage {

namespace {
constexpr std::size_t kWords = 7;  // seq, timestamp, cpu(value, z), rps(value, z), flags

std::uint64_t bits(double d) noexcept { return std::bit_cast<std::uint64_t>(d); }
double real(std::uint64_t w) noexcept { return std::bit_cast<double>(w); }
}  // namespace

// version is odd while a writer fills the record; it holds 2·seq once the record is whole.
struct memory_store::record {
  std::atomic<std::uint64_t> version{0};
  std::atomic<std::uint64_t> words[kWords]{};
};

memory_store::memory_store(std::size_t capacity)
    : capacity_(std::max<std::size_t>(capacity, 1)), records_(new record[capacity_]) {}

memory_store::~memory_store() = default;

void memory_store::append(const analytics::commit_result& committed) noexcept {
  record& r = records_[committed.seq % capacity_];
  // Claim the slot unless a newer commit already holds it (a writer that stalled for a
  // whole ring turn must not overwrite the newer record).
  std::uint64_t current = r.version.load(std::memory_order_relaxed);
  do {
    if (current >= 2 * committed.seq - 1) return;
  } while (
      !r.version.compare_exchange_weak(current, 2 * committed.seq - 1, std::memory_order_relaxed));
  const auto& cpu = committed.of(analytics::metric::cpu);
  const auto& rps = committed.of(analytics::metric::rps);
  const std::uint64_t words[kWords] = {committed.seq,
                                       bits(committed.timestamp),
                                       bits(cpu.value),
                                       bits(cpu.z_score),
                                       bits(rps.value),
                                       bits(rps.z_score),
                                       (cpu.anomaly ? 1U : 0U) | (rps.anomaly ? 2U : 0U)};
  // Release stores (plain moves on x86): a reader that sees any of these words also
  // sees the odd version above, so its re-check fails (seqlock without fences, which
  // ThreadSanitizer does not model).
  for (std::size_t i = 0; i < kWords; ++i) r.words[i].store(words[i], std::memory_order_release);
  r.version.store(2 * committed.seq, std::memory_order_release);
  // newest_seq_ only grows; commits may reach the store slightly out of seq order.
  std::uint64_t newest = newest_seq_.load(std::memory_order_relaxed);
  while (newest < committed.seq &&
         !newest_seq_.compare_exchange_weak(newest, committed.seq, std::memory_order_release,
                                            std::memory_order_relaxed)) {
  }
}

store_status memory_store::status() const noexcept { return store_status{"memory", true, 0, 0, 0}; }

bool memory_store::flush(std::chrono::milliseconds /*timeout*/) { return true; }

std::vector<analytics::commit_result> memory_store::recent(std::size_t limit) const {
  std::vector<analytics::commit_result> out;
  const std::uint64_t newest = newest_seq_.load(std::memory_order_acquire);
  const std::uint64_t count = std::min<std::uint64_t>({limit, capacity_, newest});
  out.reserve(count);
  for (std::uint64_t seq = newest; seq > newest - count; --seq) {
    const record& r = records_[seq % capacity_];
    const std::uint64_t before = r.version.load(std::memory_order_acquire);
    std::uint64_t words[kWords];
    for (std::size_t i = 0; i < kWords; ++i) words[i] = r.words[i].load(std::memory_order_acquire);
    if (before != 2 * seq || r.version.load(std::memory_order_relaxed) != before) continue;
    analytics::commit_result c;
    c.seq = words[0];
    c.timestamp = real(words[1]);
    c.metrics[0] = {real(words[2]), real(words[3]), (words[6] & 1U) != 0};
    c.metrics[1] = {real(words[4]), real(words[5]), (words[6] & 2U) != 0};
    out.push_back(c);
  }
  return out;
}

}  // namespace analyzer::storage
