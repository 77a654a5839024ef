// The Lua scripts of WINDOW_SCOPE=shared (see shared_window.hpp). Redis runs a script
// atomically: one call is one contiguous stretch of the commit order.
//
// Lua numbers are doubles, so the statistics follow window_stats.cpp: an all-equal window
// has mean = its value and std exactly 0; otherwise the mean of the values shifted by the
// oldest one, then the corrected two-pass sums of deviations
// from that mean (which cancel the mean's own rounding). Spreads outside [2^-300, 2^300]
// are scaled by a power of two first (exact), so nothing overflows or goes subnormal.
// Every number crosses the Redis boundary as a string that reads back as the same double:
// the service sends shortest round-trip decimals (kept as they are in the windows and the
// results), the script writes the z-scores it computes with %.17g (Lua's tostring keeps
// only 14 digits).
#include "analyzer/storage/shared_window.hpp"

namespace analyzer::storage {
namespace {

// KEYS: state hash, cpu list, rps list, request key.
// ARGV: window size, threshold, warmup, dedup ttl seconds (0: none), n, then n times
//       timestamp, cpu, rps, then the fingerprint of those samples.
// Returns {'new'|'dup', results}: one line per sample,
//   "seq timestamp cpu cpu_z cpu_anomaly rps rps_z rps_anomaly cpu_total rps_total";
// or {'conflict', fingerprint} when the request key holds the answer to other samples.
// The request key holds "fp:<fingerprint>\n<results>" (a value without the "fp:" line,
// written by release 0.1.0, is taken as the same request).
constexpr std::string_view kCommitScript = R"lua(
local W = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
local warmup = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local fp = ARGV[6 + 3 * n] or ''
if ttl > 0 then
  local done = redis.call('GET', KEYS[4])
  if done then
    if string.sub(done, 1, 3) ~= 'fp:' then return {'dup', done} end
    local nl = string.find(done, '\n', 1, true)
    if not nl then nl = #done + 1 end
    local stored = string.sub(done, 4, nl - 1)
    if stored ~= fp then return {'conflict', stored} end
    return {'dup', string.sub(done, nl + 1)}
  end
end
local fmt = function(x) return string.format('%.17g', x) end
local kMaxZ = 1.7976931348623157e308
local abs, frexp, ldexp, sqrt = math.abs, math.frexp, math.ldexp, math.sqrt

-- mean and population std of w[first..last] (count = last - first + 1 >= 1).
-- Rare path: a spread outside [2^-300, 2^300] is scaled by a power of two (exact) so that
-- neither the sums nor the squares leave the normal range.
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

-- Pass 1: min, max and the sum of the values shifted by the oldest (x - shift is exact
-- for values close to each other, so a window around 1e9 with a tiny spread sums its
-- deviations, not its magnitude). Pass 2: the corrected two-pass sums of deviations from
-- that mean (Σe²/n − (Σe/n)²: the second term cancels the mean's own rounding error).
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

-- The windows as rings w[first..last], oldest first, at most W values.
local win, first, last, total, lastv, lasta = {}, {}, {}, {}, {}, {}
local st = redis.call('HMGET', KEYS[1], 'seq', 'cpu_anomalies_total', 'rps_anomalies_total')
local seq = tonumber(st[1] or '0') or 0
total[1] = tonumber(st[2] or '0') or 0
total[2] = tonumber(st[3] or '0') or 0
for m = 1, 2 do
  local values = redis.call('LRANGE', KEYS[m + 1], 0, -1)
  local w = {}
  local skip = #values - W
  if skip < 0 then skip = 0 end
  for i = skip + 1, #values do w[i - skip] = tonumber(values[i]) end
  win[m], first[m], last[m] = w, 1, #values - skip
end

local out = {}
local pushed = {{}, {}}
local ts, ts_text
for k = 0, n - 1 do
  -- The service sends shortest round-trip decimals: kept as they are (no re-formatting).
  ts_text = ARGV[6 + 3 * k]
  ts = tonumber(ts_text)
  local text = {ARGV[7 + 3 * k], ARGV[8 + 3 * k]}
  local x = {tonumber(text[1]), tonumber(text[2])}
  seq = seq + 1
  for m = 1, 2 do
    local w = win[m]
    local count = last[m] - first[m] + 1
    local z, zt, flag = 0, '0', 0
    if count >= warmup and count > 0 then
      local mean, sd = stats(w, first[m], last[m])
      if sd > 0 then
        z = (x[m] - mean) / sd
        if z > kMaxZ then z = kMaxZ elseif z < -kMaxZ then z = -kMaxZ end
        zt = fmt(z)
        if abs(z) > threshold then flag = 1 end
      end
    end
    last[m] = last[m] + 1
    w[last[m]] = x[m]
    if last[m] - first[m] + 1 > W then
      w[first[m]] = nil
      first[m] = first[m] + 1
    end
    local p = pushed[m]
    p[#p + 1] = text[m]
    lastv[m] = text[m] .. ' ' .. zt .. ' ' .. flag
    if flag == 1 then
      total[m] = total[m] + 1
      lasta[m] = ts_text .. ' ' .. text[m] .. ' ' .. zt
    end
  end
  -- seq and the counters are integers far below 1e14: Lua's tostring writes them exactly.
  out[#out + 1] = seq .. ' ' .. ts_text .. ' ' .. lastv[1] .. ' ' .. lastv[2] .. ' ' ..
                  total[1] .. ' ' .. total[2]
end

if n > 0 then
  for m = 1, 2 do
    local p = pushed[m]
    local from = 1
    if #p > W then from = #p - W + 1 end
    while from <= #p do
      local to = from + 999
      if to > #p then to = #p end
      redis.call('RPUSH', KEYS[m + 1], unpack(p, from, to))
      from = to + 1
    end
    redis.call('LTRIM', KEYS[m + 1], -W, -1)
  end
  local fields = {'seq', string.format('%d', seq), 'last_timestamp', ts_text,
                  'cpu_anomalies_total', string.format('%d', total[1]),
                  'rps_anomalies_total', string.format('%d', total[2]),
                  'cpu_last', lastv[1], 'rps_last', lastv[2]}
  if lasta[1] then fields[#fields + 1] = 'cpu_last_anomaly'; fields[#fields + 1] = lasta[1] end
  if lasta[2] then fields[#fields + 1] = 'rps_last_anomaly'; fields[#fields + 1] = lasta[2] end
  redis.call('HSET', KEYS[1], unpack(fields))
end
local result = table.concat(out, '\n')
if ttl > 0 then redis.call('SET', KEYS[4], 'fp:' .. fp .. '\n' .. result, 'EX', ttl) end
return {'new', result}
)lua";

// KEYS: state hash, cpu list, rps list. ARGV: window size.
// Returns {state fields (HMGET order, nil when absent), cpu values, rps values}.
constexpr std::string_view kReadScript = R"lua(
local W = tonumber(ARGV[1])
local st = redis.call('HMGET', KEYS[1], 'seq', 'last_timestamp', 'cpu_anomalies_total',
                      'rps_anomalies_total', 'cpu_last', 'rps_last', 'cpu_last_anomaly',
                      'rps_last_anomaly')
return {st, redis.call('LRANGE', KEYS[2], -W, -1), redis.call('LRANGE', KEYS[3], -W, -1)}
)lua";

}  // namespace

std::string_view shared_commit_script() noexcept { return kCommitScript; }
std::string_view shared_read_script() noexcept { return kReadScript; }

}  // namespace analyzer::storage
