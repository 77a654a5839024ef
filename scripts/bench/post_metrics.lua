-- wrk script for scripts/bench.sh: POST /metrics with varying, valid single samples.
--
-- Usage: wrk -t1 -c64 -d10s --latency -s scripts/bench/post_metrics.lua \
--            http://127.0.0.1:PORT/metrics
--
-- init() precomputes a table of complete HTTP requests (~1000 distinct bodies) so
-- that request() only advances an index: the script must not be the bottleneck.
-- The values follow a fixed, deterministic pattern (no math.random), so every run
-- sends the same sequence:
--   cpu       20.0 .. 79.9 (percent), stepping by 0.7 modulo 60
--   rps       1000 .. 1500, stepping by 13 modulo 501
--   timestamp 1700000000 + i (Unix seconds)
-- Every body is one sample object, valid per docs/architecture.md §2.

local count = 1000
local requests = {}
local index = 0

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  -- wrk.path is the path of the URL given on the command line (e.g. /metrics).
  local path = wrk.path
  if path == nil or path == "" or path == "/" then
    path = "/metrics"
  end
  for i = 0, count - 1 do
    local cpu = 20 + ((i * 7) % 600) / 10
    local rps = 1000 + (i * 13) % 501
    local body = string.format('{"timestamp": %d, "cpu": %.1f, "rps": %d}',
                               1700000000 + i, cpu, rps)
    -- wrk.format adds Host and Content-Length.
    requests[i + 1] = wrk.format("POST", path, headers, body)
  end
end

function request()
  index = index % count + 1
  return requests[index]
end
