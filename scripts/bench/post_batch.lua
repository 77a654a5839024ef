-- wrk script for scripts/bench.sh: POST /metrics with batches of 100 varying, valid
-- samples per request (a JSON array).
--
-- Usage: wrk -t1 -c64 -d10s --latency -s scripts/bench/post_batch.lua \
--            http://127.0.0.1:PORT/metrics
--
-- Throughput in samples/s is wrk's Requests/sec x 100 (scripts/bench.sh reports it).
--
-- init() precomputes a table of complete HTTP requests (100 distinct bodies, ~5.3 KB
-- each) so that request() only advances an index: the script must not be the
-- bottleneck. Sample j of batch b has the global index i = 100 * b + j and the same
-- fixed, deterministic pattern as post_metrics.lua (no math.random), so every run
-- sends the same sequence:
--   cpu       20.0 .. 79.9 (percent), stepping by 0.7 modulo 60
--   rps       1000 .. 1500, stepping by 13 modulo 501
--   timestamp 1700000000 + i (Unix seconds)
-- Every body is a JSON array of 100 sample objects, valid per docs/architecture.md §2
-- (MAX_BATCH defaults to 1000, MAX_BODY_BYTES to 1 MiB). scripts/bench.sh posts the
-- first of these bodies once with curl (expecting 202 and "accepted":100) before the run.

local batches = 100
local per_batch = 100
local requests = {}
local index = 0

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  -- wrk.path is the path of the URL given on the command line (e.g. /metrics).
  local path = wrk.path
  if path == nil or path == "" or path == "/" then
    path = "/metrics"
  end
  for b = 0, batches - 1 do
    local samples = {}
    for j = 0, per_batch - 1 do
      local i = b * per_batch + j
      local cpu = 20 + ((i * 7) % 600) / 10
      local rps = 1000 + (i * 13) % 501
      samples[j + 1] = string.format('{"timestamp": %d, "cpu": %.1f, "rps": %d}',
                                     1700000000 + i, cpu, rps)
    end
    local body = "[" .. table.concat(samples, ", ") .. "]"
    -- wrk.format adds Host and Content-Length.
    requests[b + 1] = wrk.format("POST", path, headers, body)
  end
end

function request()
  index = index % batches + 1
  return requests[index]
end
