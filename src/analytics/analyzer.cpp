// The lock-free analytics state: a pool of state slots published through one tagged
// atomic word (architecture.md §3, "Concurrency").
//
// Why it is correct, in short:
// - A slot is written only by the writer that owns it (owned == true) and that checked,
//   after taking ownership, that the slot is not the head. Only an owner publishes a slot,
//   so it cannot become the head while it is being written.
// - The head word carries the seq, which only grows (restore is refused once anything has
//   been committed or restored, so it never lowers it), so a head value is never published
//   twice. A copier reads the slot of head h, then re-reads the head: if it still is h, the
//   copy is whole. Were any word of it another writer's store, that store (a release) would
//   synchronise with the copier's load (an acquire), so the writer's ownership re-check,
//   which saw a head newer than h, would happen before the copier's re-read of the head,
//   and that re-read could not return h.
// - Copies are incremental: a writer's thread-local copy and each slot remember which
//   state their rings hold (ring_mark), so usually only the header and the ring positions
//   committed since are copied; a single writer copies nothing and stores the header plus
//   two values per ring.
// - Every shared word is a std::atomic, so there is no data race, even in a torn copy that
//   is thrown away. Per-word acquire/release instead of relaxed words between fences:
//   ThreadSanitizer does not model fences (g++ rejects them under -fsanitize=thread with
//   -Werror), and on x86-64 both compile to plain moves.
#include "analyzer/analytics/analyzer.hpp"

#include "analyzer/analytics/detector.hpp"
#include "analyzer/analytics/window_stats.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>

namespace analyzer::analytics {
namespace {

constexpr unsigned kIndexBits = 16;
constexpr std::uint64_t kIndexMask = (std::uint64_t{1} << kIndexBits) - 1;
constexpr std::uint64_t kMaxSeq = (std::uint64_t{1} << (64 - kIndexBits)) - 1;
constexpr std::size_t kMinWindow = 2;
constexpr std::size_t kMaxWindow = 4096;

// Slot layout. The header comes first so that readers copy only it; the rings follow
// (cpu then rps), with the value of seq s at ring position (s − 1) mod W.
constexpr std::size_t kTimestampWord = 0;
constexpr std::size_t kCountWord = 1;  // window length, the same for both metrics
constexpr std::size_t kMetricBase = 2;
constexpr std::size_t kMeanWord = 0;
constexpr std::size_t kStdWord = 1;
constexpr std::size_t kMinWord = 2;
constexpr std::size_t kMaxWord = 3;
constexpr std::size_t kLastValueWord = 4;
constexpr std::size_t kLastZWord = 5;
constexpr std::size_t kFlagsWord = 6;
constexpr std::size_t kAnomaliesWord = 7;
constexpr std::size_t kAnomalyTimestampWord = 8;
constexpr std::size_t kAnomalyValueWord = 9;
constexpr std::size_t kAnomalyZWord = 10;
constexpr std::size_t kMetricWords = 11;
constexpr std::size_t kHeaderWords = kMetricBase + kMetricCount * kMetricWords;

constexpr std::uint64_t kHasLast = 1;
constexpr std::uint64_t kLastAnomaly = 2;
constexpr std::uint64_t kHasLastAnomaly = 4;

constexpr std::size_t kCacheLineWords = 64 / sizeof(std::uint64_t);

using header_words = std::array<std::uint64_t, kHeaderWords>;

std::uint64_t to_word(double d) noexcept { return std::bit_cast<std::uint64_t>(d); }
double to_double(std::uint64_t w) noexcept { return std::bit_cast<double>(w); }

std::uint64_t* metric_words(header_words& h, std::size_t m) noexcept {
  return h.data() + kMetricBase + m * kMetricWords;
}
const std::uint64_t* metric_words(const header_words& h, std::size_t m) noexcept {
  return h.data() + kMetricBase + m * kMetricWords;
}

constexpr std::uint64_t kUnknownSeq = ~std::uint64_t{0};

// Generations name commit histories; 0 is never handed out, so a fresh scratch matches none.
std::atomic<std::uint64_t> g_next_generation{1};

// Which state a copy of the rings holds: state `seq` of its history, except at the
// positions of seqs after `seq`, which may hold anything (see ring_delta). `next` is
// seq mod W, the position the value of seq + 1 goes to, kept so that the hot path never
// divides.
struct ring_mark {
  std::uint64_t seq = kUnknownSeq;
  std::size_t next = 0;
};

ring_mark mark_at(std::uint64_t seq, std::size_t w) noexcept {
  return {seq, static_cast<std::size_t>(seq % w)};
}

// A writer's private copy of the state. Thread-local so a commit never allocates after a
// thread's first one; it grows to the largest window any analyzer on the thread uses.
struct scratch {
  header_words header{};
  std::vector<double> rings;     // kMetricCount rings of W values, then W for unwrapping
  std::uint64_t generation = 0;  // the history `mark` refers to
  std::size_t window = 0;
  ring_mark mark;
  // The state `header` holds, when it holds one whole (after this thread published it): a
  // thread committing again before anyone else then copies nothing.
  std::uint64_t header_seq = kUnknownSeq;

  double* ring(std::size_t m, std::size_t w) noexcept { return rings.data() + m * w; }
};

scratch& thread_scratch(std::size_t window) {
  thread_local scratch t_scratch;
  const std::size_t need = (kMetricCount + 1) * window;
  if (t_scratch.rings.size() < need) {
    t_scratch.rings.resize(need);
  }
  return t_scratch;
}

// Rings marked `from` are brought to state `to` (≥ from.seq) of the same history by the
// positions of seqs from.seq + 1 .. to: calls f(first, last) for those position ranges, or
// for the whole ring when they cover it or `from` is unknown; returns the new mark.
// A failed attempt (torn copy, lost compare-exchange) keeps the old mark and dirties only
// positions of seqs up to the head it saw, or that head + 1; every later head is newer
// than that, so the next delta repairs them.
template <typename F>
ring_mark ring_delta(const ring_mark& from, std::uint64_t to, std::size_t w, F&& f) {
  if (from.seq == kUnknownSeq || from.seq > to || to - from.seq >= w) {
    f(std::size_t{0}, w);
    return mark_at(to, w);
  }
  const auto k = static_cast<std::size_t>(to - from.seq);
  const std::size_t start = from.next;
  if (start + k <= w) {
    f(start, start + k);
    return {to, start + k == w ? 0 : start + k};
  }
  f(start, w);
  f(std::size_t{0}, start + k - w);
  return {to, start + k - w};
}

// Statistics of the `count` newest values, the newest at position next − 1, in
// ring-position order (the same order in every analyzer, so replaying a commit order
// reproduces every bit).
window_stats ring_stats(const double* ring, std::size_t w, std::size_t count, std::size_t next,
                        double* unwrap) noexcept {
  if (count == w) {
    return compute_window_stats({ring, w});
  }
  const std::size_t start = next >= count ? next - count : next + w - count;
  if (start + count <= w) {
    return compute_window_stats({ring + start, count});
  }
  // Only after restoring a window shorter than min(seq, W): it wraps around the ring end.
  const std::size_t head_part = w - start;
  std::copy(ring + start, ring + w, unwrap);
  std::copy(ring, ring + (count - head_part), unwrap + head_part);
  return compute_window_stats({unwrap, count});
}

void put_stats(std::uint64_t* mw, const window_stats& s) noexcept {
  mw[kMeanWord] = to_word(s.mean);
  mw[kStdWord] = to_word(s.std_dev);
  mw[kMinWord] = to_word(s.min);
  mw[kMaxWord] = to_word(s.max);
}

// Applies one sample to a private copy of the state whose rings are marked at its seq;
// the returned mark is the one the copy has once the result is published.
commit_result advance(scratch& st, const detector_config& config, double timestamp,
                      const std::array<double, kMetricCount>& values,
                      ring_mark& published) noexcept {
  const std::size_t w = config.window_size;
  const auto count = static_cast<std::size_t>(st.header[kCountWord]);
  const std::uint64_t seq = st.mark.seq + 1;
  const std::size_t pos = st.mark.next;
  const std::size_t next = pos + 1 == w ? 0 : pos + 1;
  const std::size_t new_count = count < w ? count + 1 : w;
  published = {seq, next};

  commit_result result;
  result.seq = seq;
  result.timestamp = timestamp;
  for (std::size_t m = 0; m < kMetricCount; ++m) {
    std::uint64_t* mw = metric_words(st.header, m);
    // The cached statistics of the current window are the baseline: the window is
    // scanned once per commit, after the append.
    const window_stats baseline{.count = count,
                                .mean = to_double(mw[kMeanWord]),
                                .std_dev = to_double(mw[kStdWord]),
                                .min = to_double(mw[kMinWord]),
                                .max = to_double(mw[kMaxWord])};
    const metric_result r = score(values[m], baseline, config.warmup, config.threshold);
    result.metrics[m] = r;

    double* ring = st.ring(m, w);
    ring[pos] = values[m];
    put_stats(mw, ring_stats(ring, w, new_count, next, st.ring(kMetricCount, w)));

    std::uint64_t flags = (mw[kFlagsWord] & kHasLastAnomaly) | kHasLast;
    mw[kLastValueWord] = to_word(r.value);
    mw[kLastZWord] = to_word(r.z_score);
    if (r.anomaly) {
      flags |= kLastAnomaly | kHasLastAnomaly;
      ++mw[kAnomaliesWord];
      mw[kAnomalyTimestampWord] = to_word(timestamp);
      mw[kAnomalyValueWord] = to_word(r.value);
      mw[kAnomalyZWord] = to_word(r.z_score);
    }
    mw[kFlagsWord] = flags;
    result.anomalies_total[m] = mw[kAnomaliesWord];
  }
  st.header[kTimestampWord] = to_word(timestamp);
  st.header[kCountWord] = new_count;
  return result;
}

snapshot decode(const header_words& h, std::uint64_t seq) noexcept {
  snapshot snap;
  snap.seq = seq;
  snap.last_timestamp = to_double(h[kTimestampWord]);
  const auto count = static_cast<std::size_t>(h[kCountWord]);
  for (std::size_t m = 0; m < kMetricCount; ++m) {
    const std::uint64_t* mw = metric_words(h, m);
    metric_snapshot& out = snap.metrics[m];
    out.window = {.count = count,
                  .mean = to_double(mw[kMeanWord]),
                  .std_dev = to_double(mw[kStdWord]),
                  .min = to_double(mw[kMinWord]),
                  .max = to_double(mw[kMaxWord])};
    const std::uint64_t flags = mw[kFlagsWord];
    if ((flags & kHasLast) != 0) {
      out.last = metric_result{.value = to_double(mw[kLastValueWord]),
                               .z_score = to_double(mw[kLastZWord]),
                               .anomaly = (flags & kLastAnomaly) != 0};
    }
    out.anomalies_total = mw[kAnomaliesWord];
    if ((flags & kHasLastAnomaly) != 0) {
      out.last_anomaly = anomaly_record{.timestamp = to_double(mw[kAnomalyTimestampWord]),
                                        .value = to_double(mw[kAnomalyValueWord]),
                                        .z_score = to_double(mw[kAnomalyZWord])};
    }
  }
  return snap;
}

void validate_config(const detector_config& config, std::size_t max_writers) {
  if (config.window_size < kMinWindow || config.window_size > kMaxWindow) {
    throw std::invalid_argument("window_size must be between 2 and 4096, got " +
                                std::to_string(config.window_size));
  }
  if (config.warmup < kMinWindow || config.warmup > config.window_size) {
    throw std::invalid_argument("warmup must be between 2 and window_size, got " +
                                std::to_string(config.warmup));
  }
  if (!(config.threshold > 0.0) || !std::isfinite(config.threshold)) {
    throw std::invalid_argument("threshold must be finite and > 0");
  }
  if (max_writers == 0 || max_writers > kIndexMask - 2) {
    throw std::invalid_argument("max_writers must be between 1 and 65533, got " +
                                std::to_string(max_writers));
  }
}

}  // namespace

struct analyzer::slot {
  slot(std::size_t slot_index, std::size_t words)
      : index(slot_index),
        storage(std::make_unique<std::atomic<std::uint64_t>[]>(words + kCacheLineWords - 1)) {
    // Start the header on a cache line: a reader then touches exactly three lines.
    const auto addr = reinterpret_cast<std::uintptr_t>(storage.get());
    const std::size_t skew = (addr / sizeof(std::uint64_t)) % kCacheLineWords;
    data = storage.get() + (skew == 0 ? 0 : kCacheLineWords - skew);
  }

  std::size_t index;
  std::unique_ptr<std::atomic<std::uint64_t>[]> storage;
  std::atomic<std::uint64_t>* data;  // state_words_ words inside storage
  // Which state the rings in `data` hold. Only the owner touches it: ownership passes
  // through `owned` with acquire/release.
  ring_mark mark{0, 0};  // every slot starts as state 0 (all zero)
  // Own cache line: claimers poll it while the owner's data lines stay put.
  alignas(64) std::atomic<bool> owned{false};
};

analyzer::analyzer(const detector_config& config, std::size_t max_writers)
    : config_(config),
      state_words_(kHeaderWords + kMetricCount * config.window_size),
      generation_(g_next_generation.fetch_add(1, std::memory_order_relaxed)),
      head_(0) {
  validate_config(config, max_writers);
  // One slot per concurrent writer, one for the head, and one spare so that a writer
  // always finds a free slot even while another briefly holds the head's flag.
  const std::size_t slots = max_writers + 2;
  pool_.reserve(slots);
  for (std::size_t i = 0; i < slots; ++i) {
    pool_.push_back(std::make_unique<slot>(i, state_words_));
  }
}

analyzer::~analyzer() = default;

namespace {

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("isb" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

// Contention management for the retry loop. Without it, writers on different cores that
// commit back to back keep voiding each other's attempts (and moving the state's cache
// lines between cores): two such writers together managed about half the commits of one.
// After each lost compare-exchange a writer waits a random number of pauses below a bound
// that doubles with every loss (kMaxSpins pauses: about 40 µs on the Xeon the benchmark ran
// on). The winner is never delayed, so the commit stays lock-free.
class backoff {
 public:
  void operator()() noexcept {
    limit_ = limit_ == 0 ? kMinSpins : std::min(limit_ * 2, kMaxSpins);
    for (std::uint32_t i = next_random() % limit_; i != 0; --i) {
      cpu_relax();
    }
  }

 private:
  static constexpr std::uint32_t kMinSpins = 4;
  static constexpr std::uint32_t kMaxSpins = 4096;

  static std::uint32_t next_random() noexcept {  // xorshift32, per thread
    thread_local std::uint32_t t_state = 0;
    if (t_state == 0) {
      t_state =
          static_cast<std::uint32_t>(std::hash<std::thread::id>{}(std::this_thread::get_id())) | 1U;
    }
    t_state ^= t_state << 13;
    t_state ^= t_state >> 17;
    t_state ^= t_state << 5;
    return t_state;
  }

  std::uint32_t limit_ = 0;
};

// The slot this thread published before its last one: in a run of commits by one thread
// the two alternate, so a claimed slot is two commits behind and the writer stores only
// the header and two values per ring (see ring_delta).
thread_local std::size_t t_claim_hint = 0;
thread_local std::size_t t_last_published = 0;
}  // namespace

// With at most max_writers threads committing at once a free slot always exists; more
// writers than that stay correct but may spin here until one is released.
analyzer::slot& analyzer::claim_slot() noexcept {
  const std::size_t slots = pool_.size();
  std::size_t i = t_claim_hint % slots;
  for (;;) {
    slot& s = *pool_[i];
    bool expected = false;
    if (!s.owned.load(std::memory_order_relaxed) &&
        s.owned.compare_exchange_strong(expected, true, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
      // The acquire above synchronises with the release of whoever last published this
      // slot, so this load sees that publication or a later head.
      if ((head_.load(std::memory_order_acquire) & kIndexMask) != i) {
        return s;
      }
      release_slot(s);
    }
    i = i + 1 == slots ? 0 : i + 1;
  }
}

void analyzer::release_slot(slot& s) noexcept { s.owned.store(false, std::memory_order_release); }

commit_result analyzer::commit(double timestamp, double cpu, double rps) noexcept {
  assert(std::isfinite(cpu) && std::isfinite(rps));
  const std::size_t w = config_.window_size;
  scratch& st = thread_scratch(w);
  if (st.generation != generation_ || st.window != w) {
    st.generation = generation_;
    st.window = w;
    st.mark = ring_mark{};
    st.header_seq = kUnknownSeq;
  }

  slot& mine = claim_slot();

  std::uint64_t h = head_.load(std::memory_order_acquire);
  backoff wait;
  for (;;) {
    if (const std::uint64_t seq = h >> kIndexBits; st.header_seq != seq) {
      const std::atomic<std::uint64_t>* src = pool_[h & kIndexMask]->data;
      for (std::size_t i = 0; i < kHeaderWords; ++i) {
        st.header[i] = src[i].load(std::memory_order_acquire);
      }
      const ring_mark copied =
          ring_delta(st.mark, seq, w, [&](std::size_t first, std::size_t last) {
            for (std::size_t m = 0; m < kMetricCount; ++m) {
              const std::atomic<std::uint64_t>* from = src + kHeaderWords + m * w;
              double* to = st.ring(m, w);
              for (std::size_t i = first; i < last; ++i) {
                to[i] = to_double(from[i].load(std::memory_order_acquire));
              }
            }
          });
      if (head_.load(std::memory_order_relaxed) != h) {
        // Torn copy. The mark stays: the next delta re-copies every position just copied.
        h = head_.load(std::memory_order_acquire);
        continue;
      }
      st.mark = copied;
    }

    ring_mark published;
    st.header_seq = kUnknownSeq;  // advance() changes it
    const commit_result result = advance(st, config_, timestamp, {cpu, rps}, published);

    std::atomic<std::uint64_t>* dst = mine.data;
    for (std::size_t i = 0; i < kHeaderWords; ++i) {
      dst[i].store(st.header[i], std::memory_order_release);
    }
    ring_delta(mine.mark, result.seq, w, [&](std::size_t first, std::size_t last) {
      for (std::size_t m = 0; m < kMetricCount; ++m) {
        std::atomic<std::uint64_t>* to = dst + kHeaderWords + m * w;
        const double* from = st.ring(m, w);
        for (std::size_t i = first; i < last; ++i) {
          to[i].store(to_word(from[i]), std::memory_order_release);
        }
      }
    });
    // Until published, the slot (like the scratch) holds state h plus one more value.
    mine.mark = st.mark;
    if (commit_hook* hook = hook_.load(std::memory_order_relaxed); hook != nullptr) [[unlikely]] {
      hook->before_publish(result.seq);
    }
    const std::uint64_t next = (result.seq << kIndexBits) | mine.index;
    if (head_.compare_exchange_strong(h, next, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      mine.mark = published;
      st.mark = published;
      st.header_seq = published.seq;
      t_claim_hint = t_last_published;
      t_last_published = mine.index;
      // Now the head: the claim re-check keeps other writers off it until it is replaced.
      release_slot(mine);
      return result;
    }
    wait();
    h = head_.load(std::memory_order_acquire);
  }
}

snapshot analyzer::read() const noexcept {
  header_words words;
  for (;;) {
    const std::uint64_t h = head_.load(std::memory_order_acquire);
    const std::atomic<std::uint64_t>* src = pool_[h & kIndexMask]->data;
    for (std::size_t i = 0; i < kHeaderWords; ++i) {
      words[i] = src[i].load(std::memory_order_acquire);
    }
    if (head_.load(std::memory_order_relaxed) == h) {
      return decode(words, h >> kIndexBits);
    }
  }
}

void analyzer::restore(const restored_state& state) {
  // A fresh analyzer's head is exactly 0 (seq 0, slot 0); every commit raises the seq and a
  // restore publishes slot 1, so any other value means it has been used.
  if (const std::uint64_t h = head_.load(std::memory_order_acquire); h != 0) {
    throw std::logic_error(
        "analyzer::restore: only a fresh analyzer can be restored, this one is at seq " +
        std::to_string(h >> kIndexBits) +
        " after commits or an earlier restore (a restore could make the head tag repeat)");
  }
  const std::size_t w = config_.window_size;
  const std::size_t count = state.metrics[0].window.size();
  for (const auto& m : state.metrics) {
    if (m.window.size() > w) {
      throw std::invalid_argument("restored window holds " + std::to_string(m.window.size()) +
                                  " values, more than window_size " + std::to_string(w));
    }
    if (m.window.size() != count) {
      throw std::invalid_argument("restored metric windows differ in length");
    }
    if (!std::all_of(m.window.begin(), m.window.end(), [](double v) { return std::isfinite(v); })) {
      throw std::invalid_argument("restored window holds a non-finite value");
    }
  }
  if (count > state.seq) {
    throw std::invalid_argument("restored window holds more values than seq " +
                                std::to_string(state.seq) + " says were committed");
  }
  if (state.seq > kMaxSeq) {
    throw std::invalid_argument("restored seq exceeds 2^48 - 1");
  }

  scratch st;
  st.rings.assign((kMetricCount + 1) * w, 0.0);
  st.header[kTimestampWord] = to_word(state.last_timestamp);
  st.header[kCountWord] = count;
  for (std::size_t m = 0; m < kMetricCount; ++m) {
    const auto& in = state.metrics[m];
    double* ring = st.ring(m, w);
    // Oldest first: the value of seq s goes to position (s − 1) mod W, as if committed.
    for (std::size_t k = 0; k < count; ++k) {
      const std::uint64_t seq = state.seq - count + 1 + k;
      ring[static_cast<std::size_t>((seq - 1) % w)] = in.window[k];
    }
    std::uint64_t* mw = metric_words(st.header, m);
    put_stats(mw, ring_stats(ring, w, count, mark_at(state.seq, w).next, st.ring(kMetricCount, w)));
    std::uint64_t flags = 0;
    if (in.last) {
      flags |= kHasLast | (in.last->anomaly ? kLastAnomaly : 0);
      mw[kLastValueWord] = to_word(in.last->value);
      mw[kLastZWord] = to_word(in.last->z_score);
    }
    mw[kAnomaliesWord] = in.anomalies_total;
    if (in.last_anomaly) {
      flags |= kHasLastAnomaly;
      mw[kAnomalyTimestampWord] = to_word(in.last_anomaly->timestamp);
      mw[kAnomalyValueWord] = to_word(in.last_anomaly->value);
      mw[kAnomalyZWord] = to_word(in.last_anomaly->z_score);
    }
    mw[kFlagsWord] = flags;
  }

  // Write into a slot that is not the head (slot 0), then publish it: readers (/analyze
  // during the startup restore) only ever copy the published slot, so they never see a
  // half-written state. Commits must not run concurrently (ingest is refused while starting).
  // The new head word, (seq << 16) | 1, differs from 0, the only value the head had.
  constexpr std::size_t target_index = 1;
  slot& target = *pool_[target_index];
  for (std::size_t i = 0; i < kHeaderWords; ++i) {
    target.data[i].store(st.header[i], std::memory_order_relaxed);
  }
  for (std::size_t i = 0; i < kMetricCount * w; ++i) {
    target.data[kHeaderWords + i].store(to_word(st.rings[i]), std::memory_order_relaxed);
  }
  for (auto& s : pool_) {
    s->mark = ring_mark{};
    s->owned.store(false, std::memory_order_relaxed);
  }
  target.mark = mark_at(state.seq, w);
  // A new history: writers' thread-local rings from the old one must not be reused.
  generation_ = g_next_generation.fetch_add(1, std::memory_order_relaxed);
  head_.store((state.seq << kIndexBits) | target_index, std::memory_order_release);
}

}  // namespace analyzer::analytics
