#!/usr/bin/env bash
# Ingest benchmark of WINDOW_SCOPE=shared next to WINDOW_SCOPE=instance (issue 8), in
# one run, with the conventions of scripts/bench.sh (wrk 1 thread per target, keep-alive,
# pinned to CPU 0; services THREADS=1 pinned to CPU 1; own temp dir; only the processes
# it started are stopped; traffic to 127.0.0.1 only):
#
#   one redis-server (no persistence, CPU 0 beside wrk); then for each scope
#   (instance: the Redis store, fire-and-forget; shared: every commit a Lua script in
#   Redis) with one and with two service instances (a fresh KEY_PREFIX per case):
#     - POST /metrics, single samples (scripts/bench/post_metrics.lua)
#     - POST /metrics, 100-sample batches (scripts/bench/post_batch.lua)
#   at 64 connections in total (two instances: one wrk per instance, 32 connections each,
#   run at the same time; req/s summed, the worse p99 shown); then shared scope with
#   WINDOW_SIZE=4096 and batches of 1000 (one instance): the longest script call. Redis'
#   CPU use during each run (utime+stime from /proc) is reported as a percentage of one
#   core; samples/s divided by it is what one busy Redis core commits ("per Redis core").
#   Redis' own time per script call (INFO commandstats, EVAL + EVALSHA; instance scope:
#   the store's batched writes) is the cost of a commit inside Redis, and the longest call
#   (SLOWLOG, calls of 1 ms or more) how long Redis was held at once.
#   The summary checks the shared-scope goals: one Redis core commits >= 15 000
#   single-sample requests/s and >= 50 000 samples/s in batches of 100 (W=50), and no
#   call holds Redis for 50 ms (W=4096, batches of 1000).
#
# Two instances share CPU 1 with each other: on a 2-CPU machine the two-instance rows
# show what a second writer costs (Redis serialising the commits), not a scale-out.
#
# Usage: scripts/bench-shared.sh [--quick] [--shared-only] [--help]
#   --quick        2 s runs
#   --shared-only  no instance-scope rows (5 runs instead of 9)
# Environment: BENCH_SECONDS (10), ANALYZER_BIN (default build/release/metrics-analyzer),
#   BENCH_REPORT_DIR (default build/bench: the report plus raw wrk output)
# Exit status: 0 when every run completed cleanly, 1 when a run was invalid (non-2xx,
# socket errors, a crash) or a tool failed, 2 on a usage error.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
readonly script_dir repo_root

usage() {
  sed -n '2,33p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() { echo "bench-shared: $*" >&2; exit 2; }
fail() { echo "bench-shared: error: $*" >&2; exit 1; }
warn() { echo "bench-shared: warning: $*" >&2; }
log() { echo "bench-shared: $*" >&2; }

quick=0
shared_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --quick) quick=1 ;;
    --shared-only) shared_only=1 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done
seconds="${BENCH_SECONDS:-10}"
[ "$quick" -eq 0 ] || seconds=2
[[ "$seconds" =~ ^[1-9][0-9]{0,3}$ ]] || die "BENCH_SECONDS must be an integer 1..9999, got '$seconds'"
readonly seconds

for tool in wrk redis-server redis-cli curl taskset timeout awk; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (see scripts/setup.sh)"
done
if [ -x /usr/bin/python3 ]; then python=/usr/bin/python3; else python="$(command -v python3)" || fail "python3 not found"; fi

bin_src="${ANALYZER_BIN:-$repo_root/build/release/metrics-analyzer}"
[ -x "$bin_src" ] || fail "service binary not found: $bin_src (build it, or set ANALYZER_BIN)"

tmp_dir="$(mktemp -d "${TMPDIR:-/tmp}/bench-shared.XXXXXX")"
readonly tmp_dir
redis_pid=""
service_pids=()

alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != "Z" ]
}

stop_rc=0
stop_pid() { # stop_pid PID SIGNAL GRACE_SECONDS
  local pid="$1" signal="$2" grace="$3" deadline
  stop_rc=0
  if alive "$pid"; then
    kill "-$signal" "$pid" 2>/dev/null || true
    deadline=$((SECONDS + grace))
    while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
    if alive "$pid"; then
      warn "PID $pid still running ${grace}s after SIG$signal; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || stop_rc=$?
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  for pid in "${service_pids[@]}"; do stop_pid "$pid" TERM 15; done
  [ -z "$redis_pid" ] || stop_pid "$redis_pid" TERM 5
  rm -rf -- "$tmp_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bin="$tmp_dir/metrics-analyzer"
cp -- "$bin_src" "$bin" || fail "could not copy $bin_src"

free_port() {
  "$python" -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

wait_http() { # wait_http URL PID SECONDS
  local url="$1" pid="$2" deadline=$((SECONDS + $3))
  until curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; do
    alive "$pid" || return 1
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

client_pin=()
server_pin=()
redis_pin=()
if [ "$(nproc)" -ge 2 ] && taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
  client_pin=(taskset -c 0)
  server_pin=(taskset -c 1)
  redis_pin=(taskset -c 0)
  pinning="services on CPU 1, wrk and redis-server on CPU 0"
else
  pinning="none (fewer than two usable CPUs)"
  warn "CPUs 0 and 1 are not both usable: running without pinning"
fi
load1="$(cut -d' ' -f1 /proc/loadavg)"
warnings=()
problems=()
if awk -v l="$load1" 'BEGIN { exit !(l > 1.0) }'; then
  warnings+=("the 1-minute load average was $load1 at the start: other work on these CPUs skews the numbers")
  warn "${warnings[-1]}"
fi

# --- Redis ------------------------------------------------------------------------
redis_port="$(free_port)"
"${redis_pin[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$tmp_dir" --logfile "$tmp_dir/redis.log" &
redis_pid=$!
deadline=$((SECONDS + 10))
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do
  alive "$redis_pid" || fail "redis-server exited: $(tail -n 20 "$tmp_dir/redis.log")"
  [ "$SECONDS" -lt "$deadline" ] || fail "redis-server did not answer PING within 10s"
  sleep 0.05
done
clk_tck="$(getconf CLK_TCK)"
redis_ticks() { awk '{ print $14 + $15 }' "/proc/$redis_pid/stat"; }
# Only calls of 1 ms or more are logged: the longest one is what the summary checks.
redis-cli -p "$redis_port" config set slowlog-log-slower-than 1000 >/dev/null
redis-cli -p "$redis_port" config set slowlog-max-len 100000 >/dev/null
# The longest EVAL / EVALSHA in the slow log, in ms ("<1" when none took 1 ms).
longest_call_ms() {
  redis-cli -p "$redis_port" --json slowlog get -1 | "$python" -c 'import json, sys
calls = [e[2] for e in json.load(sys.stdin) if str(e[3][0]).lower() in ("eval", "evalsha")]
print("%.1f" % (max(calls) / 1000.0) if calls else "<1")'
}

# wrk script: POST /metrics with batches of 1000 samples (the pattern of post_batch.lua).
batch1000_lua="$tmp_dir/post_batch1000.lua"
cat >"$batch1000_lua" <<'LUA'
local batches, per_batch, requests, index = 20, 1000, {}, 0
function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  local path = wrk.path
  if path == nil or path == "" or path == "/" then path = "/metrics" end
  for b = 0, batches - 1 do
    local samples = {}
    for j = 0, per_batch - 1 do
      local i = b * per_batch + j
      samples[j + 1] = string.format('{"timestamp": %d, "cpu": %.1f, "rps": %d}',
                                     1700000000 + i, 20 + ((i * 7) % 600) / 10, 1000 + (i * 13) % 501)
    end
    requests[b + 1] = wrk.format("POST", path, headers, "[" .. table.concat(samples, ", ") .. "]")
  end
end
function request()
  index = index % batches + 1
  return requests[index]
end
LUA

# --- services ---------------------------------------------------------------------
ports=()
start_services() { # start_services SCOPE COUNT PREFIX [WINDOW_SIZE]
  local scope="$1" count="$2" prefix="$3" window="${4:-50}" i port
  ports=()
  service_pids=()
  for ((i = 0; i < count; i++)); do
    port="$(free_port)"
    "${server_pin[@]}" env THREADS=1 LOG_LEVEL=warn PORT="$port" BIND_ADDR=127.0.0.1 \
      WINDOW_SCOPE="$scope" WINDOW_SIZE="$window" REDIS_ADDR="127.0.0.1:$redis_port" KEY_PREFIX="$prefix" \
      INSTANCE_ID="bench-$i" "$bin" >"$tmp_dir/service-$prefix-$i.log" 2>&1 &
    service_pids+=($!)
    ports+=("$port")
    wait_http "http://127.0.0.1:$port/ready" "$!" 30 ||
      fail "service ($scope, $prefix-$i) not ready within 30s: $(tail -n 20 "$tmp_dir/service-$prefix-$i.log")"
  done
  # Functional check: a batch of 100 is accepted (and, shared, committed in Redis).
  local body
  body="$("$python" -c 'import json; print(json.dumps([{"cpu": 10 + i % 7, "rps": 100 + i} for i in range(100)]))')"
  curl -fsS -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:${ports[0]}/metrics" |
    grep -q '"accepted":100' || fail "functional check failed for $scope"
}

stop_services() {
  local pid
  for pid in "${service_pids[@]}"; do
    stop_pid "$pid" TERM 15
    [ "$stop_rc" -eq 0 ] || problems+=("a service exited with status $stop_rc after SIGTERM")
  done
  service_pids=()
}

wrk_percentile() {
  awk -v p="$2%" '
    /Latency Distribution/ { table = 1; next }
    table && $1 == p {
      v = $2; n = v; u = v
      sub(/[a-z]+$/, "", n); sub(/^[0-9.]+/, "", u)
      f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
      if (f > 0) printf "%.3f", n * f
      exit
    }' "$1"
}

rows=()
raw=""
declare -A summary=()
# run_case LABEL SCOPE COUNT WORKLOAD(single|batch|batch1000) [WINDOW_SIZE]
run_case() {
  local label="$1" scope="$2" count="$3" workload="$4" window="${5:-50}" script per i conns
  local shown="$workload"
  script="$script_dir/bench/post_metrics.lua"
  per=1
  if [ "$workload" = batch ]; then script="$script_dir/bench/post_batch.lua"; per=100; shown="batch of 100"; fi
  if [ "$workload" = batch1000 ]; then script="$batch1000_lua"; per=1000; shown="batch of 1000"; fi
  conns=$((64 / count))
  local -a pids=() outs=()
  local t0 t1 script_us
  redis-cli -p "$redis_port" config resetstat >/dev/null
  redis-cli -p "$redis_port" slowlog reset >/dev/null
  t0="$(redis_ticks)"
  for ((i = 0; i < count; i++)); do
    outs+=("$tmp_dir/wrk-$label-$workload-$i.txt")
    log "wrk -t1 -c$conns -d${seconds}s --latency -s $(basename "$script") http://127.0.0.1:${ports[$i]}/metrics ($label)"
    timeout --foreground $((seconds + 30)) "${client_pin[@]}" wrk -t1 "-c$conns" "-d${seconds}s" \
      --latency -s "$script" "http://127.0.0.1:${ports[$i]}/metrics" >"${outs[$i]}" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || fail "wrk failed ($label $workload)"; done
  t1="$(redis_ticks)"
  # Redis' own time per script call (EVAL + EVALSHA): the cost of one commit in Redis.
  script_us="$(redis-cli -p "$redis_port" info commandstats | tr -d '\r' | awk -F'[:,=]' '
    $1 == "cmdstat_evalsha" || $1 == "cmdstat_eval" { calls += $3; usec += $5 }
    END { if (calls > 0) printf "%.1f", usec / calls; else print "-" }')"
  local total=0 worst=0 p50=0 out r p q non2xx errors
  for out in "${outs[@]}"; do
    raw+=$'\n'"### $label $workload"$'\n'"$(cat "$out")"$'\n'
    r="$(awk '$1 == "Requests/sec:" { printf "%.0f", $2; exit }' "$out")"
    p="$(wrk_percentile "$out" 99)"
    q="$(wrk_percentile "$out" 50)"
    if [ -z "$r" ] || [ -z "$p" ]; then fail "could not parse wrk output: $(cat "$out")"; fi
    total=$((total + r))
    worst="$(awk -v a="$worst" -v b="$p" 'BEGIN { print (b > a) ? b : a }')"
    p50="$(awk -v a="$p50" -v b="$q" 'BEGIN { print (b > a) ? b : a }')"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $NF; exit }' "$out")"
    errors="$(awk '/Socket errors:/ { print; exit }' "$out")"
    [ -z "$non2xx" ] || problems+=("$label $workload: $non2xx non-2xx responses")
    [ -z "$errors" ] || problems+=("$label $workload: $errors")
  done
  for pid in "${service_pids[@]}"; do
    alive "$pid" || fail "a service died during $label $workload"
  done
  local cpu per_core longest
  cpu="$(awk -v a="$t0" -v b="$t1" -v hz="$clk_tck" -v s="$seconds" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / s }')"
  per_core="$(awk -v r="$((total * per))" -v c="$cpu" 'BEGIN { if (c > 0) printf "%.0f", r * 100 / c; else print "-" }')"
  longest="$(longest_call_ms)"
  rows+=("| $scope | $count | $window | $shown | $total | $((total * per)) | $per_core | $p50 | $worst | $cpu % | $script_us | $longest |")
  summary["$scope-$count-$workload-w$window"]="$total $((total * per)) $per_core $cpu $script_us $longest"
}

started=$SECONDS
case_n=0
scopes=(instance shared)
[ "$shared_only" -eq 0 ] || scopes=(shared)
for scope in "${scopes[@]}"; do
  for count in 1 2; do
    case_n=$((case_n + 1))
    prefix="bench-shared-$$-$case_n"
    log "--- WINDOW_SCOPE=$scope, $count instance(s) (KEY_PREFIX=$prefix)"
    start_services "$scope" "$count" "$prefix"
    run_case "$scope-$count" "$scope" "$count" single
    run_case "$scope-$count" "$scope" "$count" batch
    stop_services
  done
done
case_n=$((case_n + 1))
prefix="bench-shared-$$-$case_n"
log "--- WINDOW_SCOPE=shared, WINDOW_SIZE=4096, batches of 1000 (KEY_PREFIX=$prefix)"
start_services shared 1 "$prefix" 4096
run_case "shared-w4096" shared 1 batch1000 4096
stop_services

# The goals of the shared scope, from the one-instance rows.
goal() { # goal NAME VALUE OP LIMIT
  if awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN { exit !((op == ">=" && v >= l) || (op == "<" && v < l)) }'; then
    echo "met"
  else
    echo "NOT met"
  fi
}
read -r s_req _ s_core s_cpu s_us _ <<<"${summary[shared-1-single-w50]}"
read -r _ b_samples b_core b_cpu b_us _ <<<"${summary[shared-1-batch-w50]}"
read -r _ k_samples _ k_cpu k_us k_longest <<<"${summary[shared-1-batch1000-w4096]}"
k_longest_num="${k_longest#<}"
summary_lines=(
  "- single samples (W=50): $s_req req/s at Redis CPU $s_cpu % ($s_us µs per call): one Redis core ≈ $s_core req/s — goal ≥ 15 000: $(goal single "$s_core" ">=" 15000)"
  "- batches of 100 (W=50): $b_samples samples/s at Redis CPU $b_cpu % ($b_us µs per call): one Redis core ≈ $b_core samples/s — goal ≥ 50 000: $(goal batch "$b_core" ">=" 50000)"
  "- batches of 1000 (W=4096): $k_samples samples/s at Redis CPU $k_cpu %, $k_us µs per call, longest call $k_longest ms — goal < 50 ms: $(goal longest "$k_longest_num" "<" 50)"
)

report="$tmp_dir/report.md"
{
  echo "## scripts/bench-shared.sh — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "binary: $bin_src ($(sha256sum "$bin" | cut -c1-12)); wrk ${seconds}s runs, 64 connections in total; pinning: $pinning; load at start: $load1"
  echo
  echo "| scope | instances | W | workload | req/s | samples/s | samples/s per Redis core | p50 ms (worst) | p99 ms (worst) | redis CPU | redis µs/script call | longest call ms |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Shared scope, one instance (\"one Redis core\" = samples/s ÷ Redis CPU):"
  printf '%s\n' "${summary_lines[@]}"
  echo
  for w in "${warnings[@]}"; do echo "- warning: $w"; done
  for p in "${problems[@]}"; do echo "- PROBLEM: $p"; done
  echo "total time: $((SECONDS - started)) s"
} >"$report"
cat "$report"
report_dir="${BENCH_REPORT_DIR:-$repo_root/build/bench}"
if mkdir -p "$report_dir" 2>/dev/null; then
  out="$report_dir/bench-shared-$(date -u +%Y%m%dT%H%M%SZ).md"
  if { cat "$report"; echo; echo "## raw wrk output"; echo "$raw"; } >"$out"; then
    log "report written to $out"
  fi
fi
[ ${#problems[@]} -eq 0 ] || exit 1
