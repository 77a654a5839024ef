// The Lua scripts of WINDOW_SCOPE=shared (see shared_window.hpp for the key layout). Redis
// runs a script atomically: one call is one contiguous stretch of the commit order.
//
// Layout 2: the window is a ring of WINDOW_SIZE slots in one string key, a slot being the
// (cpu, rps) pair of one sample as two little-endian doubles (struct.pack '<dd': numbers
// cross Redis bit for bit); head, count and the running sums are one packed field of the
// state hash. A call reads only the slots it evicts (GETRANGE) and writes only the slots it
// adds (SETRANGE), so its cost does not grow with WINDOW_SIZE (moving a string between
// Redis and Lua costs ~1.3 ns per byte: reading and writing a whole 4096-sample window
// would cost ~200 µs per call).
//
// The statistics of each baseline are incremental but keep architecture.md §3 well
// within the tolerance the C++ analyzer is held to (shared_window_test compares them):
//   - an all-equal window has std exactly 0, so z = 0: told by the length of the run of
//     equal values at the newest end (`run`), exact, not computed;
//   - otherwise mean and population std come from running sums of t = (x − c)·2^−e in
//     double-double arithmetic: c is a centre (the window's mean when last recomputed),
//     2^−e a power-of-two frame (exact) that puts the window's deviations in (−1, 1).
//     x − c is split exactly (TwoSum), t² exactly (Veltkamp/Dekker TwoProduct), and both
//     sums are kept as unevaluated pairs, so adding and later removing a value leaves
//     ~2^−102 of its magnitude behind, not 2^−53;
//   - every step also adds a rigorous bound of that residue to e1 / e2. Before a baseline
//     is used, the bounds are checked against its own spread: e2 ≤ τ·n·var, e1 ≤ τ·n·σ and
//     |mean − c| ≤ 16σ (τ = 2^−40, so z is off by at most ~1e−11·|z| + 1e−12). When a
//     check fails (a spike 10^10 σ wide has left the window, the level moved by 16σ, a
//     value left the frame, the state is missing or is for another WINDOW_SIZE) the sums
//     are recomputed from the window: min/max, a scaled shifted mean as the new centre, a
//     new frame, the same exact accumulation (O(W), rare);
//   - the original two-pass algorithm (shifted, scaled, corrected; kept below as stats())
//     remains the fallback when even a fresh recomputation fails its checks (a spread
//     that overflows: not reachable with validated, non-negative samples).
// The state evolves sample by sample, never per call, so a result depends on the commit
// order only, not on how it was cut into requests (a replay gives the same bits).
//
// Cost (Redis 7.0, one core): ~4 µs of Redis time per sample plus ~25 µs per call, at
// W = 50 and W = 4096 alike (a batch of 1000 at W = 4096: ~4 ms; layout 1: ~310 ms); a
// recomputation costs ~0.2 µs per window value. The worst case is a stream built to defeat
// the bounds: values falling by ≥ 2^31 a sample across the double range, leaving the
// window one after the other with nothing larger left, force one recomputation each (at
// most ~67 per metric per W samples): ~30 ms for such a batch of 1000 at W = 4096.
//
// Input numbers arrive as shortest round-trip decimals (kept as they are in the results),
// z-scores leave as %.17g (Lua's tostring keeps only 14 digits); both read back exactly.
#include "analyzer/storage/shared_window.hpp"

#include <string>

namespace analyzer::storage {
namespace {

// Shared by the commit and the migration scripts: packing, and the one-time move from
// layout 1 (a hash P:shared:state and the lists P:shared:cpu / P:shared:rps of decimal
// strings: the releases before layout 2) to layout 2.
//
// migrate(v2 state, v2 window, v1 state, v1 cpu, v1 rps) returns
//   {'current'}: layout 2 exists (the v1 state key holds the fence);
//   {'fresh'}: neither exists; the fence is set;
//   {'migrated', seq, values}: the counters, the last values and the window (the newest
//     samples of both lists, in order; running sums recomputed at the first commit) were
//     copied into layout 2, the lists deleted and the v1 state hash replaced by the fence;
//   {'orphaned', seq}: layout 2 exists and so does a live layout 1 (a release before
//     layout 2 committed after the fence was removed): layout 2 stays the stream, the v1
//     keys are renamed to <key>:orphaned for inspection and fenced again;
//   an error when the v1 keys hold something else (nothing changed).
// The fence is a string at P:shared:state: every script of a release before layout 2
// reads that key with HMGET before writing anything, so it fails (WRONGTYPE: answered
// 503, nothing committed) instead of forking a stream of its own.
constexpr std::string_view kCommon = R"lua(
local spack, sunpack, srep = struct.pack, struct.unpack, string.rep

-- t[at + 1 .. at + k] = k doubles of s from value index `from` (0-based).
local function unpack_into(t, at, s, from, k)
  while k > 0 do
    local c = k
    if c > 512 then c = 512 end
    local v = {sunpack('<' .. srep('d', c), s, from * 8 + 1)}
    for i = 1, c do t[at + i] = v[i] end
    at, from, k = at + c, from + c, k - c
  end
end

-- t[i..j] as one string of little-endian doubles.
local function pack_range(t, i, j)
  if j - i < 512 then return spack('<' .. srep('d', j - i + 1), unpack(t, i, j)) end
  local parts = {}
  while i <= j do
    local c = j - i + 1
    if c > 512 then c = 512 end
    parts[#parts + 1] = spack('<' .. srep('d', c), unpack(t, i, i + c - 1))
    i = i + c
  end
  return table.concat(parts)
end

local function migrate(knew, kwindow, kstate, kcpu, krps)
  local fence = 'retired by layout 2 of the shared windows (now in ' .. knew .. '): ' ..
                'releases that keep them as lists fail on this key instead of forking the stream'
  local function kind(k) return redis.call('TYPE', k)['ok'] end
  local tstate, tcpu, trps = kind(kstate), kind(kcpu), kind(krps)
  local live = tstate == 'hash' or tcpu == 'list' or trps == 'list'
  if redis.call('EXISTS', knew) == 1 then
    if not live then
      if tstate == 'none' then redis.call('SET', kstate, fence) end
      return {'current'}
    end
    local seq = '0'
    if tstate == 'hash' then seq = redis.call('HGET', kstate, 'seq') or '0' end
    for _, k in ipairs({kstate, kcpu, krps}) do
      local t = kind(k)
      if t == 'hash' or t == 'list' then redis.call('RENAME', k, k .. ':orphaned') end
    end
    redis.call('SET', kstate, fence)
    return {'orphaned', seq}
  end
  if not live then
    if tstate == 'none' then redis.call('SET', kstate, fence) end
    return {'fresh'}
  end
  if (tstate ~= 'hash' and tstate ~= 'string' and tstate ~= 'none') or
     (tcpu ~= 'list' and tcpu ~= 'none') or (trps ~= 'list' and trps ~= 'none') then
    return redis.error_reply('shared windows: ' .. kstate .. ', ' .. kcpu .. ', ' .. krps ..
                             ' are not the list layout: not migrated')
  end
  local fields = {}
  local seq = '0'
  if tstate == 'hash' then
    local names = {'seq', 'last_timestamp', 'cpu_anomalies_total', 'rps_anomalies_total',
                   'cpu_last', 'rps_last', 'cpu_last_anomaly', 'rps_last_anomaly'}
    local v = redis.call('HMGET', kstate, unpack(names))
    for i = 1, #names do
      if v[i] then
        fields[#fields + 1] = names[i]
        fields[#fields + 1] = v[i]
      end
    end
    seq = v[1] or '0'
  end
  if seq == '0' then
    fields[#fields + 1] = 'seq'
    fields[#fields + 1] = '0'
  end
  -- Both lists always had the same length; if not, the newest samples they share.
  local text = {redis.call('LRANGE', kcpu, 0, -1), redis.call('LRANGE', krps, 0, -1)}
  local count = #text[1]
  if #text[2] < count then count = #text[2] end
  local pairs_ = {}
  for m = 1, 2 do
    local skip = #text[m] - count
    for i = 1, count do
      local x = tonumber(text[m][skip + i])
      if not x then
        return redis.error_reply('shared windows: ' .. (m == 1 and kcpu or krps) ..
                                 ' holds a value that is not a number (' ..
                                 text[m][skip + i] .. '): not migrated')
      end
      pairs_[2 * i - 2 + m] = x
    end
  end
  -- The window in order, one slot per sample: the first commit makes it a ring.
  redis.call('SET', kwindow, pack_range(pairs_, 1, 2 * count))
  redis.call('HSET', knew, unpack(fields))
  redis.call('DEL', kcpu, krps)
  redis.call('SET', kstate, fence)
  return {'migrated', seq, count}
end
)lua";

// KEYS: state hash, window ring (layout 2), request key, then the layout-1 keys: state,
//       cpu list, rps list (touched only while there is no layout-2 state).
// ARGV: window size, threshold, warmup, dedup ttl seconds (0: none), n, then n times
//       timestamp, cpu, rps, then the fingerprint of those samples.
// Returns {'new'|'dup', results}: one line per sample,
//   "seq timestamp cpu cpu_z cpu_anomaly rps rps_z rps_anomaly cpu_total rps_total";
// or {'conflict', fingerprint} when the request key holds the answer to other samples.
// The request key holds "fp:<fingerprint>\n<results>" (a value without the "fp:" line,
// written by release 0.1.0, is taken as the same request); layout 1 used the same keys
// and format, so a retry across the upgrade is still recognised.
//
// The state hash: seq, last_timestamp, cpu_anomalies_total, rps_anomalies_total,
// cpu_last, rps_last, cpu_last_anomaly, rps_last_anomaly (text, as in layout 1), and
// `sums`: 25 packed doubles: the WINDOW_SIZE they are for, count, head (the ring slot of
// the oldest sample), then for cpu and for rps: c, 2^−e, S1 hi, S1 lo, S2 hi, S2 lo, e1,
// e2, run, dirty (1: to recompute), the newest value.
constexpr std::string_view kCommitBody = R"lua(
local W = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
local warmup = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local fp = ARGV[6 + 3 * n] or ''
if ttl > 0 then
  local done = redis.call('GET', KEYS[3])
  if done then
    if string.sub(done, 1, 3) ~= 'fp:' then return {'dup', done} end
    local nl = string.find(done, '\n', 1, true)
    if not nl then nl = #done + 1 end
    local stored = string.sub(done, 4, nl - 1)
    if stored ~= fp then return {'conflict', stored} end
    return {'dup', string.sub(done, nl + 1)}
  end
end
local kMaxZ = 1.7976931348623157e308
local abs, frexp, ldexp, sqrt, format = math.abs, math.frexp, math.ldexp, math.sqrt, string.format

-- The two-pass statistics of layout 1, now the fallback: mean and population std of
-- w[first..last]; the mean of the values shifted by the oldest, then the corrected
-- two-pass sums of deviations from it; spreads outside [2^-300, 2^300] scaled by a power
-- of two (exact).
local function scaled_stats(w, first, last, lo, hi)
  local count = last - first + 1
  local _, e = frexp(hi - lo)
  if e < -1022 then e = -1022 elseif e > 1022 then e = 1022 end
  local scale, inv = ldexp(1, e), ldexp(1, -e)
  local s = 0
  for i = first, last do s = s + (w[i] - lo) * inv end
  local mean = lo + s / count * scale
  if mean < lo then mean = lo elseif mean > hi then mean = hi end
  local d, q = 0, 0
  for i = first, last do
    local t = (w[i] - mean) * inv
    d = d + t
    q = q + t * t
  end
  local var = (q - d * d / count) / count
  if var < 0 then var = 0 end
  return mean, scale * sqrt(var)
end

local function stats(w, first, last)
  local shift = w[first]
  local lo, hi = shift, shift
  local s = 0
  for i = first + 1, last do
    local v = w[i]
    if v < lo then lo = v elseif v > hi then hi = v end
    s = s + (v - shift)
  end
  if lo == hi then return lo, 0 end
  local spread = hi - lo
  if spread > 2.037035976334486e90 or spread < 4.909093465297727e-91 then
    return scaled_stats(w, first, last, lo, hi)
  end
  local count = last - first + 1
  local mean = shift + s / count
  if mean < lo then mean = lo elseif mean > hi then mean = hi end
  local d, q = 0, 0
  for i = first, last do
    local t = w[i] - mean
    d = d + t
    q = q + t * t
  end
  local var = (q - d * d / count) / count
  if var < 0 then var = 0 end
  return mean, sqrt(var)
end

local kSplit = 134217729   -- 2^27 + 1: Veltkamp's splitter
local kGamma = 2 ^ -100    -- residue bound of one double-double step, relative (≥ 10u²)
local kFloor = 2 ^ -1000   -- and absolute (underflow of the low parts)
local kTau = 2 ^ -40       -- accepted relative error of n·var, and of the mean in σ
local kTau2 = kTau * kTau
local kRecentre = 256      -- (mean − c)² ≤ 256·var, else recompute around the mean
local kFrame = 2 ^ 300     -- |t| beyond it: recompute with a wider frame

-- The window: w[1][first..last] (cpu) and w[2][first..last] (rps) in commit order, index 1
-- being the oldest stored sample; stored samples are fetched from the ring on demand.
local st = redis.call('HMGET', KEYS[1], 'seq', 'cpu_anomalies_total', 'rps_anomalies_total',
                      'sums')
if not st[1] then
  -- No layout-2 state yet: move layout 1 over (once), or fence it.
  local moved = migrate(KEYS[1], KEYS[2], KEYS[4], KEYS[5], KEYS[6])
  if moved.err then return moved end
  st = redis.call('HMGET', KEYS[1], 'seq', 'cpu_anomalies_total', 'rps_anomalies_total', 'sums')
end
local w = {{}, {}}
local count, head = 0, 0
local saved
if st[4] and #st[4] == 200 then saved = {sunpack('<' .. srep('d', 25), st[4])} end
local ready = 0          -- samples 1..ready known
local rewrite = false    -- the whole ring is written at the end
if saved and saved[1] == W then
  count, head = saved[2], saved[3]
else
  -- No state for this WINDOW_SIZE (a new or migrated window, another WINDOW_SIZE before):
  -- the stored samples in order, the newest W kept, a new ring of W slots.
  local s = redis.call('GET', KEYS[2]) or ''
  local cap = (#s - #s % 16) / 16
  count = cap
  if saved and saved[2] <= cap and saved[3] < cap then count, head = saved[2], saved[3] end
  local all = {}
  unpack_into(all, 0, s, 0, 2 * cap)
  local keep = count
  if keep > W then keep = W end
  for j = 1, keep do
    local slot = (head + count - keep + j - 1) % cap
    w[1][j], w[2][j] = all[2 * slot + 1], all[2 * slot + 2]
  end
  count, head, ready, rewrite, saved = keep, 0, keep, true, nil
end
local first, last = 1, count

-- Samples ready+1..upto (≤ count) from the ring: one or two GETRANGEs.
local function need(upto)
  if upto <= ready then return end
  local pos = (head + ready) % W
  local len = upto - ready
  local part = len
  if pos + part > W then part = W - pos end
  local s = redis.call('GETRANGE', KEYS[2], pos * 16, (pos + part) * 16 - 1)
  if part < len then s = s .. redis.call('GETRANGE', KEYS[2], 0, (len - part) * 16 - 1) end
  if #s ~= len * 16 then
    error('shared windows: ' .. KEYS[2] .. ' is shorter than ' .. KEYS[1] .. ' says')
  end
  local v = {}
  unpack_into(v, 0, s, 0, 2 * len)
  local c, r = w[1], w[2]
  for i = 1, len do c[ready + i], r[ready + i] = v[2 * i - 1], v[2 * i] end
  ready = upto
end

-- One metric's running sums: from `saved` at offset o, or to recompute. Returns
-- score(x) -> z text, anomaly flag ('0' / '1'); push(x) after appending x; pop(x) after
-- evicting x; pack(t, o) puts its 11 doubles at t[o + 1 .. o + 11].
local function metric(v, o)
  local c, sc, s1h, s1l, s2h, s2l, e1, e2, run, dirty, newest = 0, 1, 0, 0, 0, 0, 0, 0, 0, true, 0
  if saved then
    c, sc, s1h, s1l, s2h, s2l = saved[o + 1], saved[o + 2], saved[o + 3], saved[o + 4],
                                saved[o + 5], saved[o + 6]
    e1, e2, run, dirty, newest = saved[o + 7], saved[o + 8], saved[o + 9], saved[o + 10] ~= 0,
                                 saved[o + 11]
  elseif count > 0 then
    newest = v[count]
    for i = count, 1, -1 do
      if v[i] ~= newest then break end
      run = run + 1
    end
  end

  -- Adds (sg = 1) or removes (sg = -1) x's terms t and t² to the sums, with their bounds.
  local function accumulate(x, sg)
    local a = x - c
    local bv = a - x
    local tl = ((x - (a - bv)) - (c + bv)) * sc
    local th = a * sc
    if not (th < kFrame and th > -kFrame) then
      dirty = true
      return
    end
    local p = th * th
    local hh = kSplit * th
    hh = hh - (hh - th)
    local ll = th - hh
    local q = ((hh * hh - p) + 2 * hh * ll) + ll * ll + 2 * th * tl
    if sg < 0 then th, tl, p, q = -th, -tl, -p, -q end
    local y = s1h + th
    local bb = y - s1h
    local er = ((s1h - (y - bb)) + (th - bb)) + s1l + tl
    s1h = y + er
    s1l = er - (s1h - y)
    y = s2h + p
    bb = y - s2h
    er = ((s2h - (y - bb)) + (p - bb)) + s2l + q
    s2h = y + er
    s2l = er - (s2h - y)
    if th < 0 then th = -th end
    if p < 0 then p = -p end
    y = s1h
    if y < 0 then y = -y end
    e1 = e1 + kGamma * (y + th) + kFloor
    y = s2h
    if y < 0 then y = -y end
    e2 = e2 + kGamma * (y + p) + kFloor
  end

  -- The sums from the window itself: centre, frame, accumulation. False when the spread
  -- is not finite.
  local function recompute()
    need(count)
    local lo, hi = v[first], v[first]
    for i = first + 1, last do
      local x = v[i]
      if x < lo then lo = x elseif x > hi then hi = x end
    end
    local spread = hi - lo
    if not (spread < kMaxZ * 2) then return false end
    s1h, s1l, s2h, s2l, e1, e2 = 0, 0, 0, 0, 0, 0
    dirty = false
    if spread == 0 then
      c, sc = lo, 1
      return true
    end
    local _, ex = frexp(spread)
    if ex > 1000 then ex = 1000 elseif ex < -1000 then ex = -1000 end
    local inv = ldexp(1, -ex)
    local sum = 0
    for i = first, last do sum = sum + (v[i] - lo) * inv end
    local mean = lo + sum / (last - first + 1) * ldexp(1, ex)
    if mean < lo then mean = lo elseif mean > hi then mean = hi end
    local d = hi - mean
    if mean - lo > d then d = mean - lo end
    _, ex = frexp(d)
    if ex > 1000 then ex = 1000 elseif ex < -1000 then ex = -1000 end
    c, sc = mean, ldexp(1, -ex)
    -- accumulate(x, 1) for every value, with locals; all terms are added, so the partial
    -- sums never exceed Σ|t| and S2: the bounds once, from those.
    local a1h, a1l, a2h, a2l, at = 0, 0, 0, 0, 0
    for i = first, last do
      local x = v[i]
      local a = x - c
      local bv = a - x
      local tl = ((x - (a - bv)) - (c + bv)) * sc
      local th = a * sc
      local p = th * th
      local hh = kSplit * th
      hh = hh - (hh - th)
      local ll = th - hh
      local q = ((hh * hh - p) + 2 * hh * ll) + ll * ll + 2 * th * tl
      local y = a1h + th
      local bb = y - a1h
      local er = ((a1h - (y - bb)) + (th - bb)) + a1l + tl
      a1h = y + er
      a1l = er - (a1h - y)
      y = a2h + p
      bb = y - a2h
      er = ((a2h - (y - bb)) + (p - bb)) + a2l + q
      a2h = y + er
      a2l = er - (a2h - y)
      if th < 0 then at = at - th else at = at + th end
    end
    local cnt = last - first + 1
    s1h, s1l, s2h, s2l = a1h, a1l, a2h, a2l
    e1 = kGamma * 2 * cnt * at + kFloor * cnt
    e2 = kGamma * 2 * cnt * a2h + kFloor * cnt
    dirty = not (a2h == a2h and at < kFrame)  -- NaN, or a value beyond the frame
    return not dirty
  end

  -- z of x against the baseline v[first..last].
  local function score(x)
    local cnt = last - first + 1
    if cnt < warmup or cnt == 0 or run >= cnt then return '0', '0' end
    local z
    for _ = 1, 2 do
      if dirty and not recompute() then break end
      local t1 = s1h + s1l
      local m1 = t1 / cnt
      local nv = (s2h + s2l) - t1 * m1
      if nv > 0 and e2 <= kTau * nv and e1 * e1 <= kTau2 * cnt * nv and
         m1 * m1 * cnt <= kRecentre * nv then
        local sd = sqrt(nv / cnt)
        -- σ in the values' own unit must not underflow to 0 (z = 0 then, as before).
        if sd / sc > 0 then z = ((x - c) * sc - m1) / sd else z = 0 end
        break
      end
      dirty = true
    end
    if not z then
      need(count)
      local mean, sd = stats(v, first, last)
      if sd > 0 then z = (x - mean) / sd else z = 0 end
    end
    if z == 0 then return '0', '0' end
    if z > kMaxZ then z = kMaxZ elseif z < -kMaxZ then z = -kMaxZ end
    if abs(z) > threshold then return format('%.17g', z), '1' end
    return format('%.17g', z), '0'
  end

  local function push(x)
    if last > first and x == newest then run = run + 1 else run = 1 end
    newest = x
    if not dirty then accumulate(x, 1) end
  end

  local function pop(x)
    if not dirty then accumulate(x, -1) end
    if run > W then run = W end
  end

  local function pack(t, o)
    t[o + 1], t[o + 2], t[o + 3], t[o + 4], t[o + 5], t[o + 6] = c, sc, s1h, s1l, s2h, s2l
    t[o + 7], t[o + 8], t[o + 9], t[o + 10], t[o + 11] = e1, e2, run, dirty and 1 or 0, newest
  end
  return score, push, pop, pack
end

-- The stored samples this call evicts.
local evicted = count + n - W
if evicted > count then evicted = count end
if evicted > 0 then need(evicted) end
local score1, push1, pop1, pack1 = metric(w[1], 3)
local score2, push2, pop2, pack2 = metric(w[2], 14)

local seq = tonumber(st[1] or '0') or 0
local total1, total2 = st[2] or '0', st[3] or '0'
local totals_changed = false
local out = {}
local wc, wr = w[1], w[2]
local ts_text, cpu_text, rps_text, z1, f1, z2, f2
local lasta1, lasta2
for k = 0, n - 1 do
  -- The service sends shortest round-trip decimals: kept as they are (no re-formatting).
  ts_text, cpu_text, rps_text = ARGV[6 + 3 * k], ARGV[7 + 3 * k], ARGV[8 + 3 * k]
  local x1, x2 = tonumber(cpu_text), tonumber(rps_text)
  seq = seq + 1
  z1, f1 = score1(x1)
  z2, f2 = score2(x2)
  last = last + 1
  wc[last], wr[last] = x1, x2
  push1(x1)
  push2(x2)
  if last - first >= W then
    pop1(wc[first])
    pop2(wr[first])
    first = first + 1
  end
  if f1 == '1' then
    total1 = format('%d', total1 + 1)
    totals_changed = true
    lasta1 = ts_text .. ' ' .. cpu_text .. ' ' .. z1
  end
  if f2 == '1' then
    total2 = format('%d', total2 + 1)
    totals_changed = true
    lasta2 = ts_text .. ' ' .. rps_text .. ' ' .. z2
  end
  -- seq and the counters are integers far below 1e14: Lua's tostring writes them exactly.
  out[k + 1] = seq .. ' ' .. ts_text .. ' ' .. cpu_text .. ' ' .. z1 .. ' ' .. f1 .. ' ' ..
               rps_text .. ' ' .. z2 .. ' ' .. f2 .. ' ' .. total1 .. ' ' .. total2
end

if n > 0 then
  -- The ring: the new samples still in the window, w[from..last], at their slots.
  local from = count + 1
  if from < first or rewrite then from = first end
  local slots = {}
  for j = from, last do
    slots[2 * (j - from) + 1], slots[2 * (j - from) + 2] = wc[j], wr[j]
  end
  if rewrite then
    redis.call('SET', KEYS[2], pack_range(slots, 1, #slots) ..
                               srep('\0', 16 * (W + first - last - 1)))
    head = 0
  else
    local pos = (head + from - 1) % W
    local len = last - from + 1
    local part = len
    if pos + part > W then part = W - pos end
    if part > 0 then redis.call('SETRANGE', KEYS[2], pos * 16, pack_range(slots, 1, 2 * part)) end
    if part < len then
      redis.call('SETRANGE', KEYS[2], 0, pack_range(slots, 2 * part + 1, 2 * len))
    end
    head = (head + first - 1) % W
  end
  local sums = {W, last - first + 1, head}
  pack1(sums, 3)
  pack2(sums, 14)
  local set = {'seq', format('%d', seq), 'last_timestamp', ts_text,
               'cpu_last', cpu_text .. ' ' .. z1 .. ' ' .. f1,
               'rps_last', rps_text .. ' ' .. z2 .. ' ' .. f2,
               'sums', pack_range(sums, 1, 25)}
  if totals_changed then
    set[#set + 1] = 'cpu_anomalies_total'; set[#set + 1] = total1
    set[#set + 1] = 'rps_anomalies_total'; set[#set + 1] = total2
  end
  if lasta1 then set[#set + 1] = 'cpu_last_anomaly'; set[#set + 1] = lasta1 end
  if lasta2 then set[#set + 1] = 'rps_last_anomaly'; set[#set + 1] = lasta2 end
  redis.call('HSET', KEYS[1], unpack(set))
end
local result = table.concat(out, '\n')
if ttl > 0 then redis.call('SET', KEYS[3], 'fp:' .. fp .. '\n' .. result, 'EX', ttl) end
return {'new', result}
)lua";

// KEYS: the five keys of migrate(). Run once per connection before anything else.
constexpr std::string_view kMigrateBody = R"lua(
return migrate(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
)lua";

// KEYS: state hash, window ring (layout 2). ARGV: window size.
// Returns {state fields (HMGET order, nil when absent), window}: the window's newest
// samples (at most the window size), oldest first, as one or two strings (the ring may
// wrap: the parts in order) of (cpu, rps) pairs of little-endian doubles.
constexpr std::string_view kReadScript = R"lua(
local W = tonumber(ARGV[1])
local st = redis.call('HMGET', KEYS[1], 'seq', 'last_timestamp', 'cpu_anomalies_total',
                      'rps_anomalies_total', 'cpu_last', 'rps_last', 'cpu_last_anomaly',
                      'rps_last_anomaly', 'sums')
local cap = redis.call('STRLEN', KEYS[2])
cap = (cap - cap % 16) / 16
local count, head = cap, 0  -- no sums yet: a migrated window, in order
if st[9] and #st[9] == 200 then
  local saved = {struct.unpack('<ddd', st[9])}
  if saved[2] <= cap and saved[3] < cap then count, head = saved[2], saved[3] end
end
local from = head
if count > W then from, count = head + count - W, W end
local parts = {}
local pos = from
while count > 0 do
  pos = pos % cap
  local part = count
  if pos + part > cap then part = cap - pos end
  parts[#parts + 1] = redis.call('GETRANGE', KEYS[2], pos * 16, (pos + part) * 16 - 1)
  count, pos = count - part, pos + part
end
return {{st[1], st[2], st[3], st[4], st[5], st[6], st[7], st[8]}, parts}
)lua";

const std::string& commit_script() {
  static const std::string text = std::string(kCommon) + std::string(kCommitBody);
  return text;
}

const std::string& migrate_script() {
  static const std::string text = std::string(kCommon) + std::string(kMigrateBody);
  return text;
}

}  // namespace

std::string_view shared_commit_script() noexcept { return commit_script(); }
std::string_view shared_read_script() noexcept { return kReadScript; }
std::string_view shared_migrate_script() noexcept { return migrate_script(); }

}  // namespace analyzer::storage
